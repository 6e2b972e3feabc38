import Logging
import SQLKit

/// The database as the domain sees it: serialized, atomic write transactions and concurrent reads.
///
/// Guarantees of every implementation:
/// - `write` runs its body in one transaction: all of its statements commit together, durably (the commit has
///   reached stable storage when `write` returns), or none do if the body throws.
/// - Writes are serialized: two `write` bodies never interleave.
/// - `read` sees only committed data. Its body may run more than once (a PostgreSQL connection found dead before
///   it answered anything is replaced, and the body run again on the new one), so it must only read.
public protocol CofferDatabase: Sendable {
    /// Which SQL dialect the repositories must speak.
    var dialect: SQLDialectKind { get }
    func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    func write<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// Makes destroyed rows unrecoverable from the files (after a purge): deleted content is already zeroed in
    /// place; this also truncates the write-ahead log that still holds older page images.
    func compact() async throws
    func close() async
    /// Runs `body` only if no other process sharing this database is running `task` (`nil` if one is): background
    /// work that one instance at a time must do. The claim ends when `body` returns or throws, or when the process
    /// that holds it dies.
    func exclusively<T: Sendable>(_ task: BackgroundTask, _ body: @Sendable () async throws -> T) async throws -> T?
    /// Where tasks that mostly wait on `write` should run, if the store commits on a thread of its own: they then
    /// resume without queueing behind request tasks. `nil`: anywhere.
    var writeExecutor: (any TaskExecutor)? { get }
}

extension CofferDatabase {
    public var writeExecutor: (any TaskExecutor)? { nil }
}

/// Background work that runs on one instance at a time (``CofferDatabase/exclusively(_:_:)``).
public enum BackgroundTask: Int, Sendable {
    /// The data-key re-encryption job.
    case keyReencryption = 1
    /// The rotation scheduler's tick (automatic rotation, audit retention).
    case rotationScheduler = 2
}

/// The SQL dialects Coffer's schema is written for.
public enum SQLDialectKind: String, Sendable {
    case sqlite
    case postgres

    /// The column type for raw bytes.
    var blob: String { self == .sqlite ? "BLOB" : "BYTEA" }
}

extension SQLDatabase {
    /// Whether this connection speaks PostgreSQL (else SQLite).
    var isPostgres: Bool { dialect.name == "postgresql" }

    /// The column that orders secret versions by where they are stored, stable across updates: SQLite's `rowid`,
    /// PostgreSQL's identity column `pos` (its `ctid` changes on every update).
    var versionPosition: String { isPostgres ? "pos" : "rowid" }

    /// Runs a statement that returns no rows.
    func exec(_ query: SQLQueryString) async throws { try await raw(query).run() }

    /// Runs one statement per `rowsPerStatement` items, each built by `statement` from a comma-separated list of
    /// the items' `row`s: a batch takes a few statements instead of one per item. Callers choose
    /// `rowsPerStatement` so that a statement's parameters stay under SQLite's limit of 32,766.
    func execRows<Item>(
        _ items: some RandomAccessCollection<Item>, rowsPerStatement: Int, row: (Item) -> SQLQueryString,
        statement: (SQLQueryString) -> SQLQueryString
    ) async throws {
        var start = items.startIndex
        while start != items.endIndex {
            let end = items.index(start, offsetBy: rowsPerStatement, limitedBy: items.endIndex) ?? items.endIndex
            try await exec(statement(items[start..<end].map(row).joined(separator: ", ")))
            start = end
        }
    }
}

/// Decodes rows into records whose property names are the columns' names in camelCase.
///
/// SQLKit's own `.convertFromSnakeCase` classifies every character of every key through Unicode properties, for
/// every column of every row: profiled, it took more CPU than running the SQL (issue 6). Column names here are
/// ASCII identifiers with one capital a word (`createdByUserId`), so a byte loop gives the same names.
let rowDecoder = SQLRowDecoder(keyDecodingStrategy: .custom({ path in
    ColumnKey(stringValue: ColumnKey.snakeCase(path.last?.stringValue ?? ""))
}))

/// A column name as a coding key.
struct ColumnKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }

    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }

    /// `createdByUserId` → `created_by_user_id`, for ASCII camelCase names.
    static func snakeCase(_ key: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(key.utf8.count + 4)
        for byte in key.utf8 {
            if byte >= UInt8(ascii: "A"), byte <= UInt8(ascii: "Z") {
                if !bytes.isEmpty { bytes.append(UInt8(ascii: "_")) }
                bytes.append(byte + 32)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
