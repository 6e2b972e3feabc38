import CCofferSQLite
import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import SQLiteNIO
import Synchronization
// The SQLite that SQLiteNIO compiles into the binary (its vendored C target, visible to every module that depends
// on SQLiteNIO, though not a product of it). Coffer drives its connections itself, through the very same copy, so
// there is one SQLite in the process: two copies would keep separate POSIX lock tables and could corrupt a WAL
// database they both opened. If a future sqlite-nio renames the module, the build fails; nothing changes silently.
import VaporCSQLite

/// One SQLite connection that Coffer drives directly.
///
/// Guarantees:
/// - Statements run synchronously on the calling thread: no thread-pool hop and no event-loop hop per statement.
/// - Each statement text is prepared once and kept (up to ``cacheLimit`` of them), and never recompiled for new
///   values (the query planner stability guarantee is on); it is reset and its bindings cleared after every use,
///   so a kept statement never holds a read snapshot or a bound value (a ciphertext or a password hash) between
///   uses. Statements with many parameters (bulk inserts) are not kept.
/// - Not thread-safe by itself (it is opened without SQLite's per-connection mutex): its owner guarantees that
///   one task at a time uses it, which ``SQLiteDatabaseStore`` does (readers are checked out, the writer is used
///   under the write lock, the checkpointer's connection by one checkpoint at a time).
/// - Nothing is logged: no SQL, no bound value.
final class SQLiteHandle: @unchecked Sendable {
    private let connection: OpaquePointer
    private var statements: [String: PreparedStatement] = [:]
    private var closed = false
    /// Kept only to keep alive the callback SQLite holds an unretained pointer to.
    private var walObserver: WALObserver?
    /// Kept statements per connection; beyond it the cache starts over (statements built with literal values or
    /// a varying number of rows are the ones that pile up).
    static let cacheLimit = 256
    /// Statements with more parameters than this are prepared for one use: bulk statements are large and rare.
    static let maxKeptParameters = 512

    /// Opens (creating if needed) the database file at `path`.
    init(path: String) throws {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let status = sqlite_nio_sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "out of memory"
            if let handle { sqlite_nio_sqlite3_close_v2(handle) }
            throw SQLiteStatusError(code: status, message: message)
        }
        connection = handle
        // Plans that do not depend on bound values: otherwise SQLite recompiles a kept statement on every new
        // binding whenever the planner looked at a value (a join checked against a partial index, a LIMIT).
        let qpsg = coffer_sqlite_enable_qpsg(UnsafeMutableRawPointer(handle))
        guard qpsg == SQLITE_OK else {
            sqlite_nio_sqlite3_close_v2(handle)
            throw SQLiteStatusError(code: qpsg, message: "cannot enable the query planner stability guarantee")
        }
    }

    deinit { close() }

    /// Finalizes every kept statement and closes the connection. Idempotent.
    func close() {
        guard !closed else { return }
        closed = true
        for kept in statements.values { sqlite_nio_sqlite3_finalize(kept.statement) }
        statements.removeAll()
        sqlite_nio_sqlite3_close_v2(connection)
    }

    /// Runs one statement with `binds`, calling `onRow` for each result row.
    func run(_ sql: String, _ binds: [SQLiteData], onRow: (SQLiteResultRow) throws -> Void = { _ in }) throws {
        guard !closed else { throw SQLiteStatusError(code: SQLITE_MISUSE, message: "the connection is closed") }
        let keep = binds.count <= Self.maxKeptParameters
        let prepared = try prepare(sql, keep: keep)
        let statement = prepared.statement
        defer {
            sqlite_nio_sqlite3_reset(statement)
            sqlite_nio_sqlite3_clear_bindings(statement)
            if !keep { sqlite_nio_sqlite3_finalize(statement) }
        }
        for (offset, value) in binds.enumerated() {
            try check(bind(value, at: Int32(offset + 1), of: statement))
        }
        var columns: SQLiteColumnIndex?
        while true {
            let status = sqlite_nio_sqlite3_step(statement)
            if status == SQLITE_DONE { return }
            guard status == SQLITE_ROW else { throw error(status) }
            let index = columns ?? prepared.columnIndex()
            columns = index
            var values: [SQLiteData] = []
            values.reserveCapacity(index.names.count)
            for column in 0..<Int32(index.names.count) {
                values.append(value(at: column, of: statement))
            }
            try onRow(SQLiteResultRow(columns: index, values: values))
        }
    }

    /// Calls `observer` after each commit of this connection with the number of frames in the write-ahead log.
    /// It replaces SQLite's automatic checkpoint, which would otherwise run inside the commit. `observer` runs
    /// inside the commit: it must not use this connection.
    func observeWAL(_ observer: @escaping @Sendable (Int) -> Void) {
        let box = WALObserver(observer)
        walObserver = box
        sqlite_nio_sqlite3_wal_hook(connection, { context, _, _, frames in
            guard let context else { return SQLITE_OK }
            Unmanaged<WALObserver>.fromOpaque(context).takeUnretainedValue().observe(Int(frames))
            return SQLITE_OK
        }, Unmanaged.passUnretained(box).toOpaque())
    }

    /// How many times SQLite recompiled the kept statement `sql`, or nil if it is not kept (for the tests).
    func recompilations(of sql: String) -> Int32? {
        statements[sql].map { sqlite_nio_sqlite3_stmt_status($0.statement, SQLITE_STMTSTATUS_REPREPARE, 0) }
    }

    private func prepare(_ sql: String, keep: Bool) throws -> PreparedStatement {
        if keep, let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let flags = keep ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let status = sqlite_nio_sqlite3_prepare_v3(connection, sql, -1, flags, &statement, nil)
        guard status == SQLITE_OK, let statement else {
            if let statement { sqlite_nio_sqlite3_finalize(statement) }
            throw status == SQLITE_OK ? SQLiteStatusError(code: SQLITE_MISUSE, message: "empty statement") : error(status)
        }
        let prepared = PreparedStatement(statement)
        if keep {
            if statements.count >= Self.cacheLimit {
                for kept in statements.values { sqlite_nio_sqlite3_finalize(kept.statement) }
                statements.removeAll(keepingCapacity: true)
            }
            statements[sql] = prepared
        }
        return prepared
    }

    private func bind(_ value: SQLiteData, at index: Int32, of statement: OpaquePointer) -> Int32 {
        switch value {
        case .integer(let integer):
            return sqlite_nio_sqlite3_bind_int64(statement, index, Int64(integer))
        case .float(let double):
            return sqlite_nio_sqlite3_bind_double(statement, index, double)
        case .text(let text):
            return text.withCString {
                sqlite_nio_sqlite3_bind_text64(
                    statement, index, $0, UInt64(text.utf8.count), transientDestructor, UInt8(SQLITE_UTF8))
            }
        case .blob(let buffer):
            return buffer.withUnsafeReadableBytes {
                // A zero-length blob is still a blob, not NULL: SQLite needs a non-nil pointer for that.
                sqlite_nio_sqlite3_bind_blob64(
                    statement, index, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), UInt64($0.count),
                    transientDestructor)
            }
        case .null:
            return sqlite_nio_sqlite3_bind_null(statement, index)
        }
    }

    private func value(at column: Int32, of statement: OpaquePointer) -> SQLiteData {
        switch sqlite_nio_sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER:
            return .integer(Int(sqlite_nio_sqlite3_column_int64(statement, column)))
        case SQLITE_FLOAT:
            return .float(sqlite_nio_sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            let text = sqlite_nio_sqlite3_column_text(statement, column)
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
            guard let text else { return .text("") }
            return .text(String(decoding: UnsafeRawBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let bytes = sqlite_nio_sqlite3_column_blob(statement, column)
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            if let bytes { buffer.writeBytes(UnsafeRawBufferPointer(start: bytes, count: count)) }
            return .blob(buffer)
        default:
            return .null
        }
    }

    private func check(_ status: Int32) throws {
        guard status == SQLITE_OK else { throw error(status) }
    }

    private func error(_ status: Int32) -> SQLiteStatusError {
        SQLiteStatusError(
            code: status, message: String(cString: sqlite_nio_sqlite3_errmsg(connection)),
            systemErrno: sqlite_nio_sqlite3_system_errno(connection))
    }
}

/// A prepared statement and its result columns, used by one task at a time (its connection's user).
private final class PreparedStatement {
    let statement: OpaquePointer
    private var columns: SQLiteColumnIndex?
    private var columnsRecompilation: Int32 = -1

    init(_ statement: OpaquePointer) { self.statement = statement }

    /// The result column names, read once and again only after SQLite recompiled the statement (a schema change
    /// can change what `*` stands for).
    func columnIndex() -> SQLiteColumnIndex {
        let recompilation = sqlite_nio_sqlite3_stmt_status(statement, SQLITE_STMTSTATUS_REPREPARE, 0)
        if let columns, recompilation == columnsRecompilation { return columns }
        let index = SQLiteColumnIndex(statement)
        columns = index
        columnsRecompilation = recompilation
        return index
    }
}

/// The callback behind ``SQLiteHandle/observeWAL(_:)``, kept alive by its connection.
private final class WALObserver: Sendable {
    let observe: @Sendable (Int) -> Void
    init(_ observe: @escaping @Sendable (Int) -> Void) { self.observe = observe }
}

/// SQLite's "copy the value now" destructor.
private let transientDestructor = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A failed SQLite call: its extended result code and SQLite's message (which names constraints and columns,
/// never bound values).
struct SQLiteStatusError: Error, CustomStringConvertible {
    let code: Int32
    let message: String
    /// The operating system's error number behind an I/O error (0 when none).
    var systemErrno: Int32 = 0

    /// A UNIQUE or PRIMARY KEY constraint failed.
    var isUniquenessConflict: Bool {
        code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY
    }

    /// The disk (or the file-size limit) refused a write: `SQLITE_FULL`, or an I/O error whose cause was ENOSPC.
    var isDiskFull: Bool {
        code & 0xff == SQLITE_FULL || (code & 0xff == SQLITE_IOERR && systemErrno == ENOSPC)
    }

    var description: String { "SQLite error \(code): \(message)" }
}

// The extended result codes (macros ClangImporter does not import).
private let SQLITE_CONSTRAINT_UNIQUE = SQLITE_CONSTRAINT | (8 << 8)
private let SQLITE_CONSTRAINT_PRIMARYKEY = SQLITE_CONSTRAINT | (6 << 8)

/// A statement's result column names, shared by its rows.
final class SQLiteColumnIndex: Sendable {
    let names: [String]
    /// Per column: its name's length and first and last bytes, compared before the name itself.
    private let signatures: [UInt32]
    /// The column after the last one found: records read their columns in the table's order, so the next name
    /// asked for is usually this one's. Only a guess, always checked against the name, so racing rows of the
    /// same statement can cost each other a scan but never a wrong column.
    private let expected = Atomic<Int>(0)
    /// Per column: whether it is the first of its name (a join can repeat one, and the first is the answer then).
    private let isFirstOfName: [Bool]

    init(_ statement: OpaquePointer) {
        let count = sqlite_nio_sqlite3_column_count(statement)
        names = (0..<count).map { String(cString: sqlite_nio_sqlite3_column_name(statement, $0)) }
        signatures = names.map(Self.signature)
        var seen = Set<String>()
        isFirstOfName = names.map { seen.insert($0).inserted }
    }

    /// Where the column named `name` is, the first one if several have that name. The expected column is tried
    /// first (one comparison), then every column by signature: a scan of a few dozen integers costs less than
    /// hashing the name (rows are read a column at a time, by name, 18 columns a secret).
    func position(of name: String) -> Int? {
        let guess = expected.load(ordering: .relaxed)
        if guess < names.count, isFirstOfName[guess], names[guess] == name {
            expected.store(guess + 1, ordering: .relaxed)
            return guess
        }
        let signature = Self.signature(name)
        for index in signatures.indices where signatures[index] == signature && names[index] == name {
            expected.store(index + 1, ordering: .relaxed)
            return index
        }
        return nil
    }

    private static func signature(_ name: String) -> UInt32 {
        let utf8 = name.utf8
        return UInt32(truncatingIfNeeded: utf8.count) << 16 | UInt32(utf8.first ?? 0) << 8 | UInt32(utf8.last ?? 0)
    }
}

/// One result row, decoded as SQLiteKit decodes (the same `SQLiteDataDecoder`).
struct SQLiteResultRow: SQLRow {
    let columns: SQLiteColumnIndex
    let values: [SQLiteData]

    var allColumns: [String] { columns.names }

    func contains(column: String) -> Bool { columns.position(of: column) != nil }

    func decodeNil(column: String) throws -> Bool {
        guard let position = columns.position(of: column) else { return true }
        return values[position] == .null
    }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        guard let position = columns.position(of: column) else {
            throw DecodingError.keyNotFound(
                ColumnKey(stringValue: column), .init(codingPath: [], debugDescription: "No column \(column)."))
        }
        let value = values[position]
        // The column types the repositories read on every request are converted here as `SQLiteDataDecoder`
        // converts them, without its generic decoding machinery (a sixth of a list's CPU); anything else is left
        // to it. The type checks compare identifiers computed once, and nothing here names `D?`: in this
        // unspecialized function either would look metadata up in the runtime's cache on every call.
        let type = ObjectIdentifier(D.self)
        switch value {
        case .text(let text):
            if type == DirectType.string { return unsafeBitCast(text, to: D.self) }
            if type == DirectType.optionalString { return unsafeBitCast(String?.some(text), to: D.self) }
        case .integer(let integer):
            if type == DirectType.int { return unsafeBitCast(integer, to: D.self) }
            if type == DirectType.optionalInt { return unsafeBitCast(Int?.some(integer), to: D.self) }
            if type == DirectType.int64 { return unsafeBitCast(Int64(integer), to: D.self) }
            if type == DirectType.optionalInt64 { return unsafeBitCast(Int64?.some(Int64(integer)), to: D.self) }
            if type == DirectType.bool, integer == 0 || integer == 1 { return unsafeBitCast(integer == 1, to: D.self) }
        case .blob(let buffer):
            // The stored ciphertext of every secret read.
            if type == DirectType.data { return unsafeBitCast(Data(buffer.readableBytesView), to: D.self) }
        case .null:
            if type == DirectType.optionalString { return unsafeBitCast(String?.none, to: D.self) }
            if type == DirectType.optionalInt { return unsafeBitCast(Int?.none, to: D.self) }
            if type == DirectType.optionalInt64 { return unsafeBitCast(Int64?.none, to: D.self) }
        default:
            break
        }
        return try SQLiteDataDecoder().decode(D.self, from: value)
    }
}

/// The types ``SQLiteResultRow`` and ``SQLiteHandleDatabase`` convert directly.
private enum DirectType {
    static let data = ObjectIdentifier(Data.self)
    static let optionalData = ObjectIdentifier(Data?.self)
    static let string = ObjectIdentifier(String.self)
    static let optionalString = ObjectIdentifier(String?.self)
    static let int = ObjectIdentifier(Int.self)
    static let optionalInt = ObjectIdentifier(Int?.self)
    static let int64 = ObjectIdentifier(Int64.self)
    static let optionalInt64 = ObjectIdentifier(Int64?.self)
    static let bool = ObjectIdentifier(Bool.self)
}

/// A ``SQLiteHandle`` as SQLKit's database: the repositories' statements run on it unchanged.
struct SQLiteHandleDatabase: SQLDatabase {
    let handle: SQLiteHandle
    let logger: Logger
    var eventLoop: any EventLoop { MultiThreadedEventLoopGroup.singleton.any() }
    var dialect: any SQLDialect { SQLiteDialect() }
    /// Statement logging is off: bound values (ciphertexts, password hashes) never reach a log.
    var queryLogLevel: Logger.Level? { nil }

    private func run(_ query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) throws {
        let (sql, binds) = serialize(query)
        try handle.run(sql, binds.map { try Self.sqliteData($0) }, onRow: { onRow($0) })
    }

    private static let encoder = SQLiteDataEncoder()

    /// A bound value as `SQLiteDataEncoder` converts it. The types the repositories bind on every request are
    /// converted here directly: the encoder's cast to `SQLiteDataConvertible` searches the runtime's conformance
    /// tables for every value (5% of the writer's time in a re-encryption job).
    static func sqliteData(_ value: some Encodable) throws -> SQLiteData {
        let type = ObjectIdentifier(type(of: value))
        if type == DirectType.string { return .text(unsafeBitCast(value, to: String.self)) }
        if type == DirectType.optionalString { return unsafeBitCast(value, to: String?.self).map { .text($0) } ?? .null }
        if type == DirectType.int { return .integer(unsafeBitCast(value, to: Int.self)) }
        if type == DirectType.optionalInt { return unsafeBitCast(value, to: Int?.self).map { .integer($0) } ?? .null }
        if type == DirectType.int64 { return .integer(Int(unsafeBitCast(value, to: Int64.self))) }
        if type == DirectType.optionalInt64 {
            return unsafeBitCast(value, to: Int64?.self).map { .integer(Int($0)) } ?? .null
        }
        if type == DirectType.bool { return .integer(unsafeBitCast(value, to: Bool.self) ? 1 : 0) }
        if type == DirectType.data { return blob(unsafeBitCast(value, to: Data.self)) }
        if type == DirectType.optionalData { return unsafeBitCast(value, to: Data?.self).map(blob) ?? .null }
        return try encoder.encode(value)
    }

    private static func blob(_ data: Data) -> SQLiteData {
        var buffer = ByteBufferAllocator().buffer(capacity: data.count)
        buffer.writeBytes(data)
        return .blob(buffer)
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        do {
            try run(query, onRow)
            return eventLoop.makeSucceededVoidFuture()
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try run(query, onRow)
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await closure(self)
    }
}
