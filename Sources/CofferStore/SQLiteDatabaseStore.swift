import Foundation
import Logging
import SQLKit
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The embedded default: one SQLite file in WAL mode.
///
/// - One writer connection. Writes that arrive while one is committing are committed together (group commit):
///   one `BEGIN IMMEDIATE … COMMIT` with `synchronous=FULL` for the group, each `write` body inside its own
///   savepoint, in arrival order. A body that throws is rolled back to its savepoint alone; the others commit.
///   Every `write` returns only after its group's commit is durable, so an acknowledged write survives a crash
///   or power loss, and a failed commit fails every write of the group (none of them is applied).
/// - Read-only connections, each used by one `read` at a time (checked out and back in; a new one is opened when
///   all are busy), so reads never wait for a write to commit, nor for each other.
/// - Statements run on connections Coffer drives itself (``SQLiteHandle``): prepared once, run in the calling
///   task. Write groups (their bodies and the commit, which waits for the disk) run on the store's own writer
///   thread, so they neither queue behind request tasks nor block one of the threads that run them.
/// - The write-ahead log is checkpointed into the database file by ``WALCheckpointer`` on its own connection,
///   not inside the commit that fills it.
/// - The database file and its WAL are created with mode 0600; SQL statement logging is off, so bound values
///   (ciphertexts, password hashes) never reach a log.
public final class SQLiteDatabaseStore: CofferDatabase {
    public let dialect = SQLDialectKind.sqlite
    private let path: String
    private let writer: SQLiteHandle
    private let checkpointer: WALCheckpointer
    private let readers = Mutex(ReaderPool())
    private let writeLock = AsyncLock()
    private let writerThread = DedicatedThreadExecutor.writer
    public var writeExecutor: (any TaskExecutor)? { writerThread }
    private let writes = GroupCommitQueue(executor: DedicatedThreadExecutor.writer)
    /// Checkpoints run off the writer thread so far (for the tests).
    var checkpoints: Int { checkpointer.completed.load(ordering: .relaxed) }
    /// Transactions committed for `write`s (the tests check that concurrent writes share them).
    let groupTransactions = Atomic<Int>(0)
    /// Idle read connections kept open; more are opened while reads overlap, and closed when they end. A read
    /// holds its connection across its awaits, so the HTTP connections of a busy server overlap about as many
    /// reads: below that, every read past the limit opened a connection and parsed the schema again. An idle
    /// connection keeps little memory under writes, since a write elsewhere empties its page cache.
    static let idleReaders = 32
    private let logger: Logger

    /// Pragmas for every connection. LIKE compares case-sensitively, as on PostgreSQL (tag filters are exact).
    /// Statement journals (multi-row statements inside a transaction) stay in memory, not in a temporary file
    /// created and deleted per commit; they serve rollback, not durability.
    private static let everyConnection = [
        "PRAGMA busy_timeout = 10000", "PRAGMA case_sensitive_like = ON", "PRAGMA temp_store = MEMORY",
    ]

    private init(
        path: String, writer: SQLiteHandle, checkpointer: WALCheckpointer, readers: [SQLiteHandle], logger: Logger
    ) {
        self.path = path
        self.writer = writer
        self.checkpointer = checkpointer
        self.logger = logger
        self.readers.withLock { $0.idle = readers }
    }

    /// Opens (creating if needed) the database at `path` and applies pending schema migrations.
    public static func open(path: String, readerCount: Int = 4, logger: Logger) async throws -> SQLiteDatabaseStore {
        try await open(path: path, readerCount: readerCount, logger: logger, schemaThrough: Migrator.latestVersion)
    }

    /// As ``open(path:readerCount:logger:)``, migrating only through `schemaThrough` (the tests build older
    /// databases with it).
    static func open(
        path: String, readerCount: Int = 4, logger: Logger, schemaThrough: Int
    ) async throws -> SQLiteDatabaseStore {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError(.unavailable, "Cannot open the database file \(path): \(String(cString: strerror(errno))).")
        }
        fchmod(fd, 0o600)
        Glibc.close(fd)
        do {
            let writer = try openConnection(path: path, pragmas: [
                "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON",
                "PRAGMA secure_delete = ON",
            ])
            // The log is copied back into the file off the writer thread, not inside the commit that fills it.
            let checkpointer = WALCheckpointer(
                connection: try openConnection(path: path, pragmas: ["PRAGMA synchronous = FULL"]), logger: logger)
            writer.observeWAL { [weak checkpointer] frames in checkpointer?.logGrew(to: frames) }
            let readers = try (0..<max(1, readerCount)).map { _ in try openReader(path: path) }
            let store = SQLiteDatabaseStore(
                path: path, writer: writer, checkpointer: checkpointer, readers: readers, logger: logger)
            try await Migrator.migrate(store, through: schemaThrough)
            return store
        } catch {
            // Connections that were opened close as they are released.
            if error is StoreError { throw error }
            throw StoreError(.unavailable, "Cannot open the SQLite database at \(path): \(error).")
        }
    }

    /// A connection with the pragmas every connection gets, then `pragmas`.
    private static func openConnection(path: String, pragmas: [String]) throws -> SQLiteHandle {
        let connection = try SQLiteHandle(path: path)
        for pragma in everyConnection + pragmas {
            try connection.run(pragma, [])
        }
        return connection
    }

    private static func openReader(path: String) throws -> SQLiteHandle {
        try openConnection(path: path, pragmas: ["PRAGMA query_only = ON"])
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let reader = try checkOutReader()
        defer { checkIn(reader) }
        return try await body(SQLiteHandleDatabase(handle: reader, logger: logger))
    }

    /// An idle read connection, or a new one when every one is in use (a `read` never waits for another, so
    /// nested or overlapping reads cannot deadlock).
    private func checkOutReader() throws -> SQLiteHandle {
        let idle = try readers.withLock { pool -> SQLiteHandle? in
            guard !pool.closed else { throw StoreError(.unavailable, "The database is closed.") }
            return pool.idle.popLast()
        }
        if let idle { return idle }
        do {
            return try Self.openReader(path: path)
        } catch {
            throw StoreError(.unavailable, "Cannot open a read connection to the database: \(error).")
        }
    }

    private func checkIn(_ reader: SQLiteHandle) {
        let kept = readers.withLock { pool -> Bool in
            guard !pool.closed, pool.idle.count < Self.idleReaders else { return false }
            pool.idle.append(reader)
            return true
        }
        if !kept { reader.close() }
    }

    public func write<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        guard !readers.withLock({ $0.closed }) else { throw StoreError(.unavailable, "The database is closed.") }
        return try await writes.submit(body, translate: StoreError.translate) { await self.commit($0) }
    }

    /// One transaction for `group`, on the writer thread, under the write lock: the only user of the writer
    /// connection. The commit waits for the disk there (the log is checkpointed elsewhere).
    private func commit(_ group: [GroupedWrite]) async {
        await writeLock.withLock {
            let db = SQLiteHandleDatabase(handle: writer, logger: logger)
            let committed = await GroupCommitQueue.runGroup(
                group, on: db, begin: ["BEGIN IMMEDIATE"], translate: StoreError.translate
            ) { sql in try writer.run(sql, []) }
            if committed { groupTransactions.add(1, ordering: .relaxed) }
        }
    }

    /// Runs `body`: one process at a time uses a SQLite file, so nothing else can hold the task.
    public func exclusively<T: Sendable>(
        _ task: BackgroundTask, _ body: @Sendable () async throws -> T
    ) async throws -> T? {
        try await body()
    }

    public func compact() async throws {
        try await withTaskExecutorPreference(writerThread) {
            try await writeLock.withLock { try writer.run("PRAGMA wal_checkpoint(TRUNCATE)", []) }
        }
    }

    /// Closes every connection. Idempotent; a read still under way closes its connection when it ends.
    public func close() async {
        let idle = readers.withLock { pool -> [SQLiteHandle] in
            pool.closed = true
            defer { pool.idle.removeAll() }
            return pool.idle
        }
        for reader in idle { reader.close() }
        await checkpointer.close()
        await writeLock.withLock { writer.close() }
    }
}

extension StoreError {
    /// Maps driver errors to store errors; unique-constraint violations become `.conflict`, a full disk
    /// `.storageFull` (SQLite rolls the transaction back).
    static func translate(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        if let sqlite = error as? SQLiteStatusError {
            if sqlite.isUniquenessConflict {
                return StoreError(.conflict, "A record with that identity already exists.")
            }
            if sqlite.isDiskFull {
                return StoreError(.storageFull, "The disk under the database is full.")
            }
            return StoreError(.queryFailed, "A database statement failed (\(sqlite)).")
        }
        return error
    }
}

/// Idle read connections.
private struct ReaderPool {
    var idle: [SQLiteHandle] = []
    var closed = false
}
