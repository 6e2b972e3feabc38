import Logging
import SQLKit

/// The database as the domain sees it: serialized, atomic write transactions and concurrent reads.
///
/// Guarantees of every implementation:
/// - `write` runs its body in one transaction: all of its statements commit together, durably (the commit has
///   reached stable storage when `write` returns), or none do if the body throws.
/// - Writes are serialized: two `write` bodies never interleave.
/// - `read` sees only committed data.
public protocol CofferDatabase: Sendable {
    /// Which SQL dialect the repositories must speak.
    var dialect: SQLDialectKind { get }
    func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    func write<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// Makes destroyed rows unrecoverable from the files (after a purge): deleted content is already zeroed in
    /// place; this also truncates the write-ahead log that still holds older page images.
    func compact() async throws
    func close() async
}

/// The SQL dialects Coffer's schema is written for.
public enum SQLDialectKind: String, Sendable {
    case sqlite
    case postgres

    /// The column type for raw bytes.
    var blob: String { self == .sqlite ? "BLOB" : "BYTEA" }
}

extension SQLDatabase {
    /// Runs a statement that returns no rows.
    func exec(_ query: SQLQueryString) async throws { try await raw(query).run() }
}

/// Decodes rows into records whose property names are the columns' names in camelCase.
let rowDecoder = SQLRowDecoder(keyDecodingStrategy: .convertFromSnakeCase)
