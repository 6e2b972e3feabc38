import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import SQLiteNIO
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The embedded default: one SQLite file in WAL mode.
///
/// - One writer connection behind a fair lock: every `write` is `BEGIN IMMEDIATE … COMMIT` with
///   `synchronous=FULL`, so an acknowledged write survives a crash or power loss.
/// - A few read-only connections, used round-robin, so reads never wait for a write to commit.
/// - The database file and its WAL are created with mode 0600; SQL statement logging is off, so bound values
///   (ciphertexts, password hashes) never reach a log.
public final class SQLiteDatabaseStore: CofferDatabase {
    public let dialect = SQLDialectKind.sqlite
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let writeLock = AsyncLock()
    private let nextReader = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)
    private let logger: Logger

    private init(writer: SQLiteConnection, readers: [SQLiteConnection], logger: Logger) {
        self.writer = writer
        self.readers = readers
        self.logger = logger
    }

    /// Opens (creating if needed) the database at `path` and applies pending schema migrations.
    public static func open(path: String, readerCount: Int = 4, logger: Logger) async throws -> SQLiteDatabaseStore {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError(.unavailable, "Cannot open the database file \(path): \(String(cString: strerror(errno))).")
        }
        fchmod(fd, 0o600)
        Glibc.close(fd)
        let threadPool = NIOThreadPool.singleton
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        var opened: [SQLiteConnection] = []
        do {
            let writer = try await SQLiteConnection.open(
                storage: .file(path: path), threadPool: threadPool, logger: logger, on: eventLoop)
            opened.append(writer)
            // For every connection. LIKE compares case-sensitively, as on PostgreSQL (tag filters are exact).
            // Statement journals (multi-row statements inside a transaction) stay in memory, not in a temporary
            // file created and deleted per commit; they serve rollback, not durability.
            let everyConnection = [
                "PRAGMA busy_timeout = 10000", "PRAGMA case_sensitive_like = ON", "PRAGMA temp_store = MEMORY",
            ]
            for pragma in everyConnection + [
                "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON",
                "PRAGMA secure_delete = ON",
            ] {
                _ = try await writer.query(pragma, [])
            }
            var readers: [SQLiteConnection] = []
            for _ in 0..<max(1, readerCount) {
                let reader = try await SQLiteConnection.open(
                    storage: .file(path: path), threadPool: threadPool, logger: logger, on: eventLoop)
                opened.append(reader)
                for pragma in everyConnection + ["PRAGMA query_only = ON"] {
                    _ = try await reader.query(pragma, [])
                }
                readers.append(reader)
            }
            let store = SQLiteDatabaseStore(writer: writer, readers: readers, logger: logger)
            try await Migrator.migrate(store)
            return store
        } catch {
            // Connections must be closed before they are released.
            for connection in opened { try? await connection.close() }
            if error is StoreError { throw error }
            throw StoreError(.unavailable, "Cannot open the SQLite database at \(path): \(error).")
        }
    }

    /// A store dropped without `close()` (an error path) still closes its connections: the close work keeps each
    /// connection alive until it has run.
    deinit {
        if !closed.load(ordering: .relaxed) {
            for connection in readers + [writer] { _ = connection.close() }
        }
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let index = nextReader.wrappingAdd(1, ordering: .relaxed).oldValue
        let connection = readers[(index & Int.max) % readers.count]
        return try await body(connection.sql(queryLogLevel: nil))
    }

    public func write<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await writeLock.withLock {
            let db = writer.sql(queryLogLevel: nil)
            _ = try await writer.query("BEGIN IMMEDIATE", [])
            do {
                let result = try await body(db)
                _ = try await writer.query("COMMIT", [])
                return result
            } catch {
                do {
                    _ = try await writer.query("ROLLBACK", [])
                } catch {
                    logger.error("ROLLBACK failed", metadata: ["error": "\(error)"])
                }
                throw StoreError.translate(error)
            }
        }
    }

    public func compact() async throws {
        try await writeLock.withLock {
            _ = try await writer.query("PRAGMA wal_checkpoint(TRUNCATE)", [])
        }
    }

    /// Closes every connection. Idempotent, and completes even when the calling task is cancelled (the
    /// future-based close does not observe cancellation), so shutdown never leaves a connection open.
    public func close() async {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        for connection in readers + [writer] {
            try? await connection.close().get()
        }
    }
}

extension StoreError {
    /// Maps driver errors to store errors; unique-constraint violations become `.conflict`.
    static func translate(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        if let sqlite = error as? SQLiteError {
            if sqlite.reason == .constraintUniqueFailed || sqlite.reason == .constraintPrimaryKeyFailed {
                return StoreError(.conflict, "A record with that identity already exists.")
            }
            return StoreError(.queryFailed, "A database statement failed (\(sqlite.reason)).")
        }
        return error
    }
}
