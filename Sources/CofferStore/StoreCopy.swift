import Foundation
import SQLKit
import SQLiteNIO

/// Copies every row of one Coffer store into another, byte for byte (`coffer storage migrate`).
///
/// Guarantees:
/// - Ciphertexts, wrapped keys and audit MACs are copied as stored: nothing is decrypted or re-sealed, so the
///   target needs the same master key and its audit chain is the source's.
/// - All or nothing: the whole copy is one write transaction on the target, which also compares every table's row
///   count with the source's before it commits.
/// - The target must be empty (no user, workspace, secret, audit record or instance key); otherwise nothing is
///   written.
public enum StoreCopy {
    enum Column: Sendable {
        case text(String), integer(String), boolean(String), blob(String)

        var name: String {
            switch self {
            case .text(let name), .integer(let name), .boolean(let name), .blob(let name): name
            }
        }
    }

    struct Table: Sendable {
        let name: String
        let key: String
        let columns: [Column]
    }

    /// Every table of the current schema, parents before children. `workspace_secret_counts` is not copied: the
    /// target's triggers rebuild it as secrets are inserted. Nor is `schema_migrations`: the target has its own.
    static let tables: [Table] = [
        Table(name: "users", key: "id", columns: [
            .text("id"), .text("username"), .text("password_hash"), .boolean("is_admin"), .integer("created_at"),
            .integer("password_changed_at"),
        ]),
        Table(name: "workspaces", key: "id", columns: [
            .text("id"), .text("name"), .text("created_by"), .integer("created_at"),
        ]),
        Table(name: "memberships", key: "workspace_id, user_id", columns: [
            .text("workspace_id"), .text("user_id"), .text("role"), .integer("created_at"),
        ]),
        Table(name: "workspace_keys", key: "workspace_id, version", columns: [
            .text("workspace_id"), .integer("version"), .blob("wrapped_key"), .text("provider"), .text("key_id"),
            .text("state"), .integer("created_at"),
        ]),
        Table(name: "secrets", key: "id", columns: [
            .text("id"), .text("workspace_id"), .text("name"), .text("secret_type"), .text("usage"),
            .text("rotation_policy"), .integer("last_rotated_at"), .integer("rotation_due_at"), .text("tags"),
            .text("metadata"), .boolean("is_active"), .integer("current_version"), .text("created_by_user_id"),
            .text("updated_by_user_id"), .integer("created_at"), .integer("updated_at"), .integer("deleted_at"),
            .text("generator"),
        ]),
        Table(name: "secret_versions", key: "secret_id, version", columns: [
            .text("secret_id"), .integer("version"), .blob("ciphertext"), .integer("dek_version"),
            .text("created_by"), .integer("created_at"), .text("workspace_id"), .integer("deleted_at"),
            .integer("destroyed_at"),
        ]),
        Table(name: "secret_audits", key: "seq", columns: [
            .integer("seq"), .text("id"), .text("workspace_id"), .text("secret_id"), .text("action"), .text("user_id"),
            .text("ip_address"), .text("user_agent"), .text("request_id"), .text("details"), .boolean("success"),
            .integer("created_at"), .blob("mac"),
        ]),
        Table(name: "coffer_meta", key: "key", columns: [.text("key"), .blob("value")]),
        Table(name: "key_rotation_jobs", key: "id", columns: [
            .text("id"), .text("workspace_id"), .text("status"), .integer("total"), .integer("done"),
            .text("requested_by"), .integer("started_at"), .integer("finished_at"), .integer("failed"),
        ]),
        Table(name: "sessions", key: "id", columns: [
            .text("id"), .text("user_id"), .integer("created_at"), .integer("expires_at"), .integer("revoked_at"),
            .text("revoked_reason"),
        ]),
        Table(name: "refresh_tokens", key: "token_hash", columns: [
            .text("token_hash"), .text("session_id"), .integer("created_at"), .integer("used_at"),
        ]),
        Table(name: "service_tokens", key: "id", columns: [
            .text("id"), .text("workspace_id"), .text("name"), .text("role"), .text("token_hash"),
            .text("created_by"), .integer("created_at"), .integer("expires_at"), .integer("revoked_at"),
        ]),
        Table(name: "rotation_webhooks", key: "secret_id", columns: [
            .text("secret_id"), .text("url"), .integer("failures"), .integer("retry_at"), .text("last_error"),
            .integer("updated_at"),
        ]),
        Table(name: "kv_metadata", key: "workspace_id, path", columns: [
            .text("workspace_id"), .text("path"), .integer("max_versions"), .boolean("cas_required"),
            .text("delete_version_after"), .text("custom_metadata"), .integer("created_at"), .integer("updated_at"),
        ]),
        Table(name: "kv_config", key: "workspace_id", columns: [
            .text("workspace_id"), .integer("max_versions"), .boolean("cas_required"), .text("delete_version_after"),
        ]),
        Table(name: "transit_keys", key: "workspace_id, name", columns: [
            .text("workspace_id"), .text("name"), .text("key_type"), .integer("latest_version"),
            .integer("min_decryption_version"), .integer("min_encryption_version"), .integer("min_available_version"),
            .boolean("deletion_allowed"), .integer("created_at"), .integer("updated_at"),
        ]),
        Table(name: "transit_key_versions", key: "workspace_id, name, version", columns: [
            .text("workspace_id"), .text("name"), .integer("version"), .blob("wrapped_key"), .text("provider"),
            .text("key_id"), .integer("created_at"),
        ]),
    ]

    /// Rows read from the source per statement.
    static let pageSize = 2_000

    /// Copies `source` into the empty `target`; returns the rows copied per table.
    /// - Throws: ``StoreError`` `.conflict` if the target holds data; any read or write error (nothing is then
    ///   written to the target).
    public static func copy(from source: any CofferDatabase, to target: any CofferDatabase) async throws -> [String: Int] {
        try await target.write { db in
            for table in ["users", "workspaces", "secrets", "secret_audits", "coffer_meta"] {
                let n = try await db.raw("SELECT COUNT(*) AS n FROM \(unsafeRaw: table)").first(decodingColumn: "n", as: Int.self)
                guard n == 0 else {
                    throw StoreError(.conflict, "The target database is not empty (\(table) has rows); nothing was copied.")
                }
            }
            var copied: [String: Int] = [:]
            for table in tables {
                let expected = try await source.read { db in
                    try await db.raw("SELECT COUNT(*) AS n FROM \(unsafeRaw: table.name)").first(decodingColumn: "n", as: Int.self) ?? 0
                }
                var offset = 0
                while true {
                    let start = offset
                    let rows = try await source.read { db in
                        try await db.raw(
                            """
                            SELECT \(unsafeRaw: table.columns.map(\.name).joined(separator: ", ")) FROM \(unsafeRaw: table.name)
                            ORDER BY \(unsafeRaw: table.key) LIMIT \(bind: pageSize) OFFSET \(bind: start)
                            """
                        ).all().map { try values(of: $0, table.columns) }
                    }
                    if rows.isEmpty { break }
                    // Parameters per statement stay under SQLite's limit and PostgreSQL's 65,535.
                    try await db.execRows(rows, rowsPerStatement: max(1, 30_000 / table.columns.count)) { row in
                        "(\(SQLList(row.map { $0 as any SQLExpression })))"
                    } statement: { list in
                        """
                        INSERT INTO \(unsafeRaw: table.name) (\(unsafeRaw: table.columns.map(\.name).joined(separator: ", ")))
                        VALUES \(list)
                        """
                    }
                    offset += rows.count
                    if rows.count < pageSize { break }
                }
                let written = try await db.raw("SELECT COUNT(*) AS n FROM \(unsafeRaw: table.name)")
                    .first(decodingColumn: "n", as: Int.self) ?? 0
                guard written == expected, offset == expected else {
                    throw StoreError(
                        .queryFailed,
                        "\(table.name): \(expected) rows in the source, \(written) in the target; nothing was copied.")
                }
                copied[table.name] = written
            }
            return copied
        }
    }

    /// A row's values as binds of each column's type (NULL where the row has none).
    private static func values(of row: any SQLRow, _ columns: [Column]) throws -> [SQLBind] {
        try columns.map { column -> SQLBind in
            switch column {
            case .text(let name): SQLBind(try row.decode(column: name, as: String?.self))
            case .integer(let name): SQLBind(try row.decode(column: name, as: Int64?.self))
            case .boolean(let name): SQLBind(try row.decode(column: name, as: Bool?.self))
            case .blob(let name): SQLBind(try row.decode(column: name, as: Data?.self))
            }
        }
    }

    /// Removes every copied row from `target` (after a copy whose audit chain did not verify there).
    public static func erase(_ target: any CofferDatabase) async throws {
        try await target.write { db in
            for table in tables.reversed() {
                try await db.exec("DELETE FROM \(unsafeRaw: table.name)")
            }
            try await db.exec("DELETE FROM workspace_secret_counts")
        }
    }
}

extension SQLiteDatabaseStore {
    /// Writes a consistent snapshot of the database to a new file at `path` (SQLite's `VACUUM INTO`), with mode
    /// 0600, while the store (or a server in another process) keeps running. Refuses an existing file.
    public static func backup(databaseAt source: String, to path: String) throws {
        guard FileManager.default.fileExists(atPath: source) else {
            throw StoreError(.unavailable, "No Coffer database at \(source).")
        }
        guard !FileManager.default.fileExists(atPath: path) else {
            throw StoreError(.conflict, "\(path) already exists; choose a new file.")
        }
        let previous = umask(0o077)
        defer { umask(previous) }
        let connection = try SQLiteHandle(path: source)
        defer { connection.close() }
        try connection.run("PRAGMA busy_timeout = 10000", [])
        do {
            try connection.run("VACUUM INTO ?", [.text(path)])
        } catch {
            throw StoreError(.unavailable, "The backup could not be written to \(path): \(error).")
        }
        chmod(path, 0o600)
    }
}
