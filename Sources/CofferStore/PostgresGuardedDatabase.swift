import Logging
import NIOCore
import PostgresKit
import PostgresNIO
import SQLKit
import Synchronization

/// The `SQLDatabase` the PostgreSQL store hands to its bodies: one leased connection, whose every statement ends
/// when the connection closes, even if the driver never answers it.
///
/// postgres-nio can lose a statement sent to a connection that is closing at that moment (the server stopped or
/// ended the session): it is written to a channel whose handler is already gone, and its result never comes nor
/// fails, nor does cancelling the task end it. Each statement here instead finishes with whichever comes first,
/// its own result or the connection's close (``ConnectionLost``). Closing the connection (``PostgresDatabaseStore``
/// does so at its deadlines) therefore ends every statement on it.
struct GuardedPostgresDatabase: SQLDatabase {
    let connection: PostgresConnection
    private let watch: ConnectionWatch
    private let database: any SQLDatabase
    private let answered = Flag()

    init(_ connection: PostgresConnection, watches: ConnectionWatches, logger: Logger) {
        self.connection = connection
        self.watch = watches.watch(connection)
        self.database = connection.sql(queryLogLevel: nil, logger: logger)
    }

    var logger: Logger { database.logger }
    var eventLoop: any EventLoop { database.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { database.version }
    var dialect: any SQLDialect { database.dialect }
    var queryLogLevel: Logger.Level? { nil }

    func execute(
        sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void
    ) -> EventLoopFuture<Void> {
        let settled = connection.eventLoop.makePromise(of: Void.self)
        guard let ticket = watch.track(settled) else {
            settled.fail(ConnectionLost())
            return settled.futureResult
        }
        let watch = self.watch
        // A second completion (the close came first) is ignored.
        let answered = self.answered
        database.execute(sql: query, onRow).whenComplete { result in
            watch.untrack(ticket)
            if case .success = result { answered.set() }
            settled.completeWith(result)
        }
        return settled.futureResult
    }

    /// Whether `error`, thrown by work on this connection, says only that the connection was already dead when
    /// the work began: it closed before any statement of it was answered, so nothing it sent took effect (a
    /// transaction that never reached `COMMIT` is rolled back with its session), and the work may be run again on
    /// another connection. The pool can hand out a connection whose server side has ended a moment before its
    /// close is seen.
    func diedBeforeAnswering(_ error: any Error) -> Bool {
        guard !answered.isSet else { return false }
        if error is ConnectionLost || connection.isClosed { return true }
        guard let psql = error as? PSQLError else { return false }
        return [.serverClosedConnection, .clientClosedConnection, .uncleanShutdown].contains(psql.code)
    }

    /// Runs one statement with no parameters and no result rows (`BEGIN`, `COMMIT`, a lock).
    func run(_ sql: String) async throws {
        try await execute(sql: SQLRaw(sql)) { _ in }
    }
}

/// A flag one task sets and another reads.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}

/// One ``ConnectionWatch`` per open connection of a pool, each dropped when its connection closes.
final class ConnectionWatches: Sendable {
    private let watches = Mutex([Int: ConnectionWatch]())

    /// The connections watched, and the statements in flight on them.
    var counts: (connections: Int, inFlight: Int) {
        let watches = self.watches.withLock { Array($0.values) }
        return (watches.count, watches.reduce(0) { $0 + $1.inFlightCount })
    }

    /// The watch of `connection`, made (and tied to its close) the first time it is asked for.
    func watch(_ connection: PostgresConnection) -> ConnectionWatch {
        let id = connection.id
        let (watch, isNew) = watches.withLock { watches -> (ConnectionWatch, Bool) in
            if let watch = watches[id] { return (watch, false) }
            let watch = ConnectionWatch()
            watches[id] = watch
            return (watch, true)
        }
        if isNew {
            connection.closeFuture.whenComplete { _ in
                watch.closed()
                self.watches.withLock { _ = $0.removeValue(forKey: id) }
            }
        }
        return watch
    }
}

/// The statements in flight on one connection, failed with ``ConnectionLost`` when it closes. One registration on
/// the connection's close, however many statements it runs.
final class ConnectionWatch: Sendable {
    private struct State {
        var next = 0
        var inFlight: [Int: EventLoopPromise<Void>] = [:]
        var closed = false
    }
    private let state = Mutex(State())

    /// Tracks `promise` until ``untrack(_:)``; `nil` (not tracked) when the connection has already closed.
    func track(_ promise: EventLoopPromise<Void>) -> Int? {
        state.withLock { state in
            guard !state.closed else { return nil }
            state.next += 1
            state.inFlight[state.next] = promise
            return state.next
        }
    }

    var inFlightCount: Int { state.withLock { $0.inFlight.count } }

    func untrack(_ ticket: Int) {
        state.withLock { _ = $0.inFlight.removeValue(forKey: ticket) }
    }

    func closed() {
        let inFlight = state.withLock { state -> [EventLoopPromise<Void>] in
            state.closed = true
            defer { state.inFlight.removeAll() }
            return Array(state.inFlight.values)
        }
        for promise in inFlight { promise.fail(ConnectionLost()) }
    }
}

/// The connection a statement ran on closed before the statement finished (the server went away, or the store
/// closed it at a deadline); whether a `COMMIT` in flight took effect is unknown.
struct ConnectionLost: Error, CustomStringConvertible {
    var description: String { "the database connection closed" }
}
