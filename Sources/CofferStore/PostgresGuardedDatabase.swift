import Logging
import NIOCore
import PostgresKit
import PostgresNIO
import SQLKit

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
    private let database: any SQLDatabase

    init(_ connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.database = connection.sql(queryLogLevel: nil, logger: logger)
    }

    var logger: Logger { database.logger }
    var eventLoop: any EventLoop { database.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { database.version }
    var dialect: any SQLDialect { database.dialect }
    var queryLogLevel: Logger.Level? { nil }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        let settled = connection.eventLoop.makePromise(of: Void.self)
        // Both callbacks run on the connection's event loop; the second completion is ignored.
        connection.closeFuture.whenComplete { _ in settled.fail(ConnectionLost()) }
        database.execute(sql: query, onRow).cascade(to: settled)
        return settled.futureResult
    }

    /// Runs one statement with no parameters and no result rows (`BEGIN`, `COMMIT`, a lock).
    func run(_ sql: String) async throws {
        try await execute(sql: SQLRaw(sql)) { _ in }
    }
}

/// The connection a statement ran on closed before the statement finished (the server went away, or the store
/// closed it at a deadline); whether a `COMMIT` in flight took effect is unknown.
struct ConnectionLost: Error, CustomStringConvertible {
    var description: String { "the database connection closed" }
}
