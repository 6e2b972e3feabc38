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
    private let pendingWrites = Mutex(PendingWrites())
    /// Checkpoints run off the writer thread so far (for the tests).
    var checkpoints: Int { checkpointer.completed.load(ordering: .relaxed) }
    /// Transactions committed for `write`s (the tests check that concurrent writes share them).
    let groupTransactions = Atomic<Int>(0)
    /// Most write bodies one transaction takes, so that a group's latency stays bounded.
    static let maxGroup = 64
    /// Idle read connections kept open; more are opened while reads overlap, and closed when they end.
    static let idleReaders = 8
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
        // The body is queued for whoever commits the group but never outlives this call: it is dropped before
        // this write is finished (``GroupedWrite/run(on:)``).
        try await withoutActuallyEscaping(body) { body in
            let outcome = WriteOutcome<T>()
            let write = GroupedWrite { db in
                do {
                    outcome.value = .success(try await body(db))
                } catch {
                    outcome.value = .failure(error)
                }
                return outcome.succeeded
            }
            let startFlusher = pendingWrites.withLock { pending -> Bool in
                pending.writes.append(write)
                if pending.flushing { return false }
                pending.flushing = true
                return true
            }
            // With no commit under way, a flusher starts on the writer thread and commits this write at once;
            // writes that arrive meanwhile wait for it and then go together. The caller's own task stays off the
            // writer thread: what it does after its write must not delay the next commit.
            if startFlusher { Task(executorPreference: writerThread) { await self.flushWrites() } }
            try await write.finished()
            switch outcome.value! {
            case .success(let value): return value
            case .failure(let error): throw StoreError.translate(error)
            }
        }
    }

    /// The next group: up to ``maxGroup`` writes in arrival order; when none is left, the store is idle again.
    private func takeGroup() -> [GroupedWrite] {
        pendingWrites.withLock { pending -> [GroupedWrite] in
            let count = min(pending.writes.count, Self.maxGroup)
            let group = Array(pending.writes.prefix(count))
            pending.writes.removeFirst(count)
            if group.isEmpty { pending.flushing = false }
            return group
        }
    }

    /// Commits queued writes, a group at a time, until none is left.
    private func flushWrites() async {
        while true {
            let group = takeGroup()
            if group.isEmpty { return }
            await writeLock.withLock { await commit(group) }
        }
    }

    /// One transaction for `group`: each body in its own savepoint, then one durable commit. Runs on the writer
    /// thread, under the write lock, the only user of the writer connection.
    private func commit(_ group: [GroupedWrite]) async {
        let db = SQLiteHandleDatabase(handle: writer, logger: logger)
        var failure: (any Error)?
        do {
            try writer.run("BEGIN IMMEDIATE", [])
            if group.count == 1 {
                // Alone in its group (the usual case without contention): the transaction is the write's own, and
                // a failed body rolls all of it back, with no savepoint statements around it.
                guard await group[0].run(on: db) else { throw BodyFailed() }
            } else {
                for write in group {
                    try writer.run("SAVEPOINT coffer_write", [])
                    if await write.run(on: db) {
                        try writer.run("RELEASE coffer_write", [])
                    } else {
                        try writer.run("ROLLBACK TO coffer_write", [])
                        try writer.run("RELEASE coffer_write", [])
                    }
                }
            }
            // The commit waits for the disk, on the writer thread (the log is checkpointed elsewhere).
            try writer.run("COMMIT", [])
            groupTransactions.add(1, ordering: .relaxed)
        } catch is BodyFailed {
            // A lone write's body threw: roll its transaction back; the caller reads its own error.
            do {
                try writer.run("ROLLBACK", [])
            } catch {
                logger.error("ROLLBACK failed", metadata: ["error": "\(error)"])
            }
        } catch {
            // The transaction itself failed (a savepoint, the commit, or an error that made SQLite roll back on
            // its own): nothing of the group is applied, and every write of it fails.
            failure = StoreError.translate(error)
            for write in group { write.drop() }
            do {
                try writer.run("ROLLBACK", [])
            } catch {
                logger.debug("ROLLBACK after a failed group", metadata: ["error": "\(error)"])
            }
        }
        for write in group { write.finish(failure: failure) }
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
    /// Maps driver errors to store errors; unique-constraint violations become `.conflict`.
    static func translate(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        if let sqlite = error as? SQLiteStatusError {
            if sqlite.isUniquenessConflict {
                return StoreError(.conflict, "A record with that identity already exists.")
            }
            return StoreError(.queryFailed, "A database statement failed (\(sqlite)).")
        }
        return error
    }
}

/// A lone write's body threw (its error is in its outcome).
private struct BodyFailed: Error {}

/// Idle read connections.
private struct ReaderPool {
    var idle: [SQLiteHandle] = []
    var closed = false
}

/// Writes waiting for the next group commit.
private struct PendingWrites {
    var writes: [GroupedWrite] = []
    var flushing = false
}

/// The result of one write body, read by its caller once the group has committed.
private final class WriteOutcome<T: Sendable>: @unchecked Sendable {
    /// Set by the flusher before it resumes the caller, read by the caller after: never at the same time.
    var value: Result<T, any Error>?

    var succeeded: Bool {
        if case .success = value { return true }
        return false
    }
}

/// One queued `write`: its body (until it has run), and whether its group has committed.
private final class GroupedWrite: @unchecked Sendable {
    /// Only the committing task touches `body`, one group at a time.
    private var body: ((any SQLDatabase) async -> Bool)?
    private struct Completion {
        var result: Result<Void, any Error>?
        var waiter: CheckedContinuation<Void, any Error>?
    }
    private let completion = Mutex(Completion())

    init(body: @escaping (any SQLDatabase) async -> Bool) {
        self.body = body
    }

    /// Runs the body (once); `false` if it threw. The body is released right after, before its caller can resume.
    func run(on db: any SQLDatabase) async -> Bool {
        guard let body else { return false }
        self.body = nil
        return await body(db)
    }

    /// Releases a body that will not run.
    func drop() { body = nil }

    /// Ends the write: with the group's failure if the transaction failed, else for the caller to read its own
    /// outcome.
    func finish(failure: (any Error)?) {
        body = nil
        let result: Result<Void, any Error> = failure.map { .failure($0) } ?? .success(())
        let waiter = completion.withLock { completion -> CheckedContinuation<Void, any Error>? in
            completion.result = result
            defer { completion.waiter = nil }
            return completion.waiter
        }
        waiter?.resume(with: result)
    }

    /// Returns once ``finish(failure:)`` has run (at once if it already has).
    func finished() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let result = completion.withLock { completion -> Result<Void, any Error>? in
                if completion.result == nil { completion.waiter = continuation }
                return completion.result
            }
            if let result { continuation.resume(with: result) }
        }
    }
}
