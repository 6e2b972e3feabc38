import Foundation
import Logging
import PostgresKit
import PostgresNIO
import SQLKit
import Synchronization

/// PostgreSQL, for several Coffer instances on one database (`COFFER_DATABASE_URL`).
///
/// - Connections come from postgres-nio's `PostgresClient` pool; SQL statement logging is off, so bound values
///   (ciphertexts, password hashes) never reach a log, and the password appears in no log or error.
/// - Writes: group commit per instance (``GroupCommitQueue``), and every write transaction first takes one
///   transaction-level advisory lock, so write transactions are serialized across every instance on the database
///   as they are within one. That is what keeps the audit chain one chain: the head a transaction reads is the
///   head it extends. PostgreSQL's own commit (`synchronous_commit` on, the default) makes an acknowledged write
///   durable.
/// - Reads run each statement on its own (autocommit), as SQLite's read connections do: each sees everything
///   committed before it started. A read of several statements that must agree orders them so that they do
///   (the audit verification reads the chain's head first, then the records up to it).
/// - Every `read` and `write` waits at most ``timeout`` for a connection, and its transaction may then take at most
///   ``transactionTimeout``: a database that is down or unreachable fails requests with `store_unavailable` instead
///   of holding them, and the pool reconnects on its own once it is back.
///   The server side bounds the rest: a write waits at most `lock_timeout` for another instance's lock, and a
///   transaction left open by a stopped instance is ended by `idle_in_transaction_session_timeout`.
public final class PostgresDatabaseStore: CofferDatabase {
    public let dialect = SQLDialectKind.postgres
    public let url: PostgresURL
    /// The longest a `read` or `write` waits for a connection.
    public let timeout: Duration
    /// The longest a transaction may take once it has its connection (a batch import of thousands of secrets is
    /// one transaction).
    public let transactionTimeout: Duration
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let writes = GroupCommitQueue(executor: nil)
    private let writeLock = AsyncLock()
    let watches = ConnectionWatches()
    private let logger: Logger

    /// The transaction-level advisory lock every write transaction holds (any constant no other application on
    /// the database uses: "coffer" in ASCII).
    static let writeLockKey: Int64 = 0x636F_6666_6572

    private init(url: PostgresURL, client: PostgresClient, runner: Task<Void, Never>, timeout: Duration, logger: Logger) {
        self.url = url
        self.client = client
        self.runner = runner
        self.timeout = timeout
        self.transactionTimeout = max(.seconds(60), timeout * 4)
        self.logger = logger
    }

    /// Connects (checking that the server answers within `timeout`) and applies pending schema migrations.
    /// - Throws: ``StoreError`` `.unavailable` when the server cannot be reached or refuses the credentials.
    public static func open(
        url: PostgresURL, poolSize: Int = 10, timeout: Duration = .seconds(5), logger: Logger
    ) async throws -> PostgresDatabaseStore {
        try await open(url: url, poolSize: poolSize, timeout: timeout, logger: logger, schemaThrough: Migrator.latestVersion)
    }

    static func open(
        url: PostgresURL, poolSize: Int, timeout: Duration, logger: Logger, schemaThrough: Int
    ) async throws -> PostgresDatabaseStore {
        // One direct connection first: a refused password, a missing database or a certificate that does not
        // verify is reported as such (the pool would only retry until the time limit).
        var background = logger
        background.logLevel = max(logger.logLevel, .warning)
        do {
            try await withDirectConnection(to: url, logger: background) { _ in }
        } catch {
            throw StoreError(.unavailable, "Cannot use the PostgreSQL database at \(url): \(Self.translate(error)).")
        }
        var configuration = try url.clientConfiguration(poolSize: poolSize)
        let seconds = max(1, timeout.components.seconds)
        configuration.options.additionalStartupParameters += [
            ("lock_timeout", "\(seconds * 1000)"),
            ("idle_in_transaction_session_timeout", "\(max(30, seconds * 4) * 1000)"),
        ]
        // The pool's own messages (connection failures) at warning and above; they carry no credentials.
        let client = PostgresClient(configuration: configuration, backgroundLogger: background)
        let runner = Task { await client.run() }
        let store = PostgresDatabaseStore(url: url, client: client, runner: runner, timeout: timeout, logger: logger)
        do {
            try await Migrator.migrate(store, through: schemaThrough)
        } catch {
            await store.close()
            throw StoreError(
                .unavailable, "Cannot use the PostgreSQL database at \(url): \(Self.translate(error)).")
        }
        return store
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        do {
            return try await withoutActuallyEscaping(body) { body in
                try await bounded { db in try await body(db) }
            }
        } catch {
            throw Self.translate(error)
        }
    }

    public func write<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await writes.submit(body, translate: Self.translate) { await self.commit($0) }
    }

    /// One transaction for `group` under the cross-instance write lock. Groups of this instance go one at a time.
    private func commit(_ group: [GroupedWrite]) async {
        await writeLock.withLock {
            let started = Flag()
            do {
                try await bounded { db in
                    // Before the bodies run, a dead connection fails only this closure, and `bounded` leases another.
                    try await db.run("BEGIN")
                    do {
                        try await db.run("SELECT pg_advisory_xact_lock(\(Self.writeLockKey))")
                    } catch {
                        try? await db.run("ROLLBACK")
                        throw error
                    }
                    started.set()
                    await GroupCommitQueue.runGroup(group, on: db, begin: [], translate: Self.translate) { sql in
                        try await db.run(sql)
                    }
                }
            } catch {
                // No connection, or no transaction, within the time allowed: the group never started, and fails as
                // a whole, with the writes queued behind it (so that none waits more than once). A group that
                // started has been finished by `runGroup`, whatever ended it.
                if !started.isSet {
                    GroupCommitQueue.fail(group, with: Self.translate(error))
                    writes.failWaiting(with: Self.translate(error))
                }
            }
        }
    }

    /// How many connections one operation may lease when each is found dead before answering.
    static let leaseAttempts = 3

    /// Runs `operation` on a leased connection. Fails with `store_unavailable` when no connection comes within
    /// ``timeout`` (the lease is cancelled), or when the work on it takes longer than ``transactionTimeout``: then
    /// the connection is closed, which ends the statement in flight (``GuardedPostgresDatabase``) and so the
    /// operation, and returns only once the operation has ended. A connection the server closes ends it the same way;
    /// but one found dead before it answered anything (``GuardedPostgresDatabase/diedBeforeAnswering(_:)``) is
    /// replaced by another lease, up to ``leaseAttempts`` in all, while ``timeout`` has not passed.
    private func bounded<T: Sendable>(
        _ operation: @escaping @Sendable (GuardedPostgresDatabase) async throws -> T
    ) async throws -> T {
        let timeout = self.timeout
        let transactionTimeout = self.transactionTimeout
        let lease = Lease()
        // A dead connection is replaced only while a lease may still be waited for: a later lease would wait past
        // ``timeout``, on the transaction's time.
        let leaseDeadline = ContinuousClock.now + timeout
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                var attempt = 1
                while true {
                    do {
                        return try await self.client.withConnection { connection in
                            guard lease.begin(on: connection) else {
                                throw StoreError(.unavailable, "The database did not answer in time.")
                            }
                            let db = GuardedPostgresDatabase(connection, watches: self.watches, logger: self.logger)
                            do {
                                return try await operation(db)
                            } catch {
                                if db.diedBeforeAnswering(error), attempt < Self.leaseAttempts,
                                    ContinuousClock.now < leaseDeadline, lease.end()
                                {
                                    throw DeadConnection()
                                }
                                throw OperationFailed(error: error)
                            }
                        }
                    } catch is DeadConnection {
                        attempt += 1
                    } catch let failed as OperationFailed {
                        throw failed.error
                    } catch let error as StoreError {
                        throw error
                    } catch {
                        // No connection: the pool is closed, or the database cannot be reached.
                        throw StoreError(.unavailable, "No database connection (\(Self.translate(error))).")
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                if lease.isLeased { try await Task.sleep(for: transactionTimeout) }
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                if let connection = lease.expire() { try? await connection.close() }
                throw StoreError(.unavailable, "The database did not answer in time.")
            }
            return value
        }
    }

    /// Runs `body` only if no other process on this database is running `task`; `nil` when one is. The claim is a
    /// session-level advisory lock on a connection held for the duration: it ends with `body`, or when this
    /// process dies and its connection closes, so another instance takes the work over.
    public func exclusively<T: Sendable>(
        _ task: BackgroundTask, _ body: @Sendable () async throws -> T
    ) async throws -> T? {
        let key = Self.writeLockKey + Int64(task.rawValue)
        return try await withoutActuallyEscaping(body) { body in
            try await self.client.withConnection { connection -> T? in
                let db = GuardedPostgresDatabase(connection, watches: self.watches, logger: self.logger)
                let claimed = try await db.raw("SELECT pg_try_advisory_lock(\(bind: key)) AS claimed")
                    .first(decodingColumn: "claimed", as: Bool.self)
                guard claimed == true else { return nil }
                // The claim ends with the session too: on a connection that has closed meanwhile (the server
                // restarted, or ended the session) there is nothing left to release.
                func release() async {
                    guard !connection.isClosed else { return }
                    try? await db.run("SELECT pg_advisory_unlock(\(key))")
                }
                do {
                    let value = try await body()
                    await release()
                    return value
                } catch {
                    await release()
                    throw error
                }
            }
        }
    }

    /// Rewrites the table of secret versions (`VACUUM FULL`), so that rows deleted by a purge are in none of its
    /// current files. It holds an exclusive lock on that table while it runs (reads of values wait for it).
    public func compact() async throws {
        try await bounded { db in try await db.run("VACUUM (FULL) secret_versions") }
    }

    /// Stops the pool. Idempotent.
    public func close() async {
        runner.cancel()
        _ = await runner.value
    }

    /// Maps driver errors to store errors: unique violations become `.conflict`, lost or refused connections
    /// `.unavailable`. The server's message is kept out (it may quote a value); its SQLSTATE is kept.
    static func translate(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        if error is ConnectionLost {
            return StoreError(.unavailable, "The database connection was lost.")
        }
        if error is CancellationError {
            // A transaction cut off by the time limits (or by shutdown).
            return StoreError(.unavailable, "The database did not answer in time.")
        }
        guard let psql = error as? PSQLError else { return error }
        if let state = psql.serverInfo?[.sqlState] {
            switch state {
            case "23505":
                return StoreError(.conflict, "A record with that identity already exists.")
            case "55P03", "57014", "57P01", "57P02", "57P03", "53300", "08000", "08003", "08006":
                // lock timeout, statement cancelled, server shutting down, too many connections, connection lost
                return StoreError(.unavailable, "The database is unavailable (SQLSTATE \(state)).")
            case "53100":
                return StoreError(.storageFull, "The database server's disk is full (SQLSTATE 53100).")
            case "28P01", "28000":
                return StoreError(.unavailable, "The database refused the credentials (SQLSTATE \(state)).")
            case "3D000":
                return StoreError(.unavailable, "The database does not exist (SQLSTATE \(state)).")
            default:
                return StoreError(.queryFailed, "A database statement failed (SQLSTATE \(state)).")
            }
        }
        switch psql.code {
        case .server:
            return StoreError(.queryFailed, "A database statement failed.")
        default:
            return StoreError(.unavailable, "The database connection failed (\(psql.code)).")
        }
    }
}

extension PostgresDatabaseStore {
    /// Runs `body` on one connection of its own, outside the pool, closed afterwards.
    static func withDirectConnection(
        to url: PostgresURL, logger: Logger, _ body: (PostgresConnection) async throws -> Void
    ) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: try url.connectionConfiguration(), id: 0, logger: logger)
        do {
            try await body(connection)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    /// Creates an empty database `name` on the server of `url` (for set-up scripts and tests); `name` must be a
    /// plain identifier (letters, digits, `_`).
    public static func createDatabase(named name: String, on url: PostgresURL, logger: Logger) async throws {
        guard !name.isEmpty, name.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || ($0 < 128 && isalnum(Int32($0)) != 0) })
        else { throw StoreError(.unavailable, "A database name must be letters, digits and underscores.") }
        do {
            try await withDirectConnection(to: url, logger: logger) { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
            }
        } catch {
            throw translate(error)
        }
    }
}

/// The connection ``PostgresDatabaseStore/bounded(_:)`` leased, if any, and whether its time ran out: a
/// connection leased after that is not used.
private final class Lease: Sendable {
    private enum State {
        case waiting
        case leased(PostgresConnection)
        case expired
    }
    private let state = Mutex(State.waiting)

    var isLeased: Bool {
        state.withLock { if case .leased = $0 { true } else { false } }
    }

    /// Records `connection` as leased; `false` if the time has already run out.
    func begin(on connection: PostgresConnection) -> Bool {
        state.withLock { state in
            guard case .waiting = state else { return false }
            state = .leased(connection)
            return true
        }
    }

    /// Gives the leased connection up so that another may be leased in the same time; `false` if the time has
    /// already run out.
    func end() -> Bool {
        state.withLock { state in
            guard case .leased = state else { return false }
            state = .waiting
            return true
        }
    }

    /// Marks the time as run out; returns the connection leased, for the caller to close.
    func expire() -> PostgresConnection? {
        state.withLock { state in
            defer { state = .expired }
            if case .leased(let connection) = state { return connection }
            return nil
        }
    }
}

/// The leased connection was dead before the work on it got an answer: lease another.
private struct DeadConnection: Error {}

/// An error thrown by the work done on a leased connection, told apart from a failure to lease one.
private struct OperationFailed: Error {
    let error: any Error
}
