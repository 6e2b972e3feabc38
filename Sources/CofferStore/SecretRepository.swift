import Foundation
import SQLKit

/// Secrets and their versions.
public struct SecretRepository: Sendable {
    public init() {}

    public func insert(_ secret: SecretRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            INSERT INTO secrets (id, workspace_id, name, secret_type, usage, rotation_policy, last_rotated_at,
                rotation_due_at, tags, metadata, is_active, current_version, created_by_user_id, updated_by_user_id,
                created_at, updated_at, deleted_at, generator)
            VALUES (\(bind: secret.id), \(bind: secret.workspaceId), \(bind: secret.name), \(bind: secret.secretType),
                \(bind: secret.usage), \(bind: secret.rotationPolicy), \(bind: secret.lastRotatedAt),
                \(bind: secret.rotationDueAt), \(bind: secret.tags), \(bind: secret.metadata), \(bind: secret.isActive),
                \(bind: secret.currentVersion), \(bind: secret.createdByUserId), \(bind: secret.updatedByUserId),
                \(bind: secret.createdAt), \(bind: secret.updatedAt), \(bind: secret.deletedAt), \(bind: secret.generator))
            """)
    }

    /// Rewrites every mutable column of a secret.
    public func update(_ secret: SecretRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            UPDATE secrets SET name = \(bind: secret.name), secret_type = \(bind: secret.secretType),
                usage = \(bind: secret.usage), rotation_policy = \(bind: secret.rotationPolicy),
                last_rotated_at = \(bind: secret.lastRotatedAt), rotation_due_at = \(bind: secret.rotationDueAt),
                tags = \(bind: secret.tags), metadata = \(bind: secret.metadata), is_active = \(bind: secret.isActive),
                current_version = \(bind: secret.currentVersion), updated_by_user_id = \(bind: secret.updatedByUserId),
                updated_at = \(bind: secret.updatedAt), deleted_at = \(bind: secret.deletedAt),
                generator = \(bind: secret.generator)
            WHERE id = \(bind: secret.id)
            """)
    }

    /// A secret of `workspaceID` that is not deleted.
    public func find(id: String, workspaceID: String, on db: any SQLDatabase) async throws -> SecretRecord? {
        try await db.raw(
            """
            SELECT * FROM secrets WHERE id = \(bind: id) AND workspace_id = \(bind: workspaceID) AND deleted_at IS NULL
            """
        ).first().map(SecretRecord.init(row:))
    }

    public func exists(name: String, workspaceID: String, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw(
            """
            SELECT 1 AS one FROM secrets WHERE workspace_id = \(bind: workspaceID) AND name = \(bind: name)
            AND deleted_at IS NULL
            """
        ).first() != nil
    }

    /// A page of a workspace's secrets, in name order (then id), and how many match in all: those with `tag`
    /// among their tags, of `secretType`, whose name starts with `namePrefix`, deleted ones only with
    /// `includeDeleted` (each filter only when given).
    public func list(
        workspaceID: String, tag: String? = nil, secretType: String? = nil, namePrefix: String? = nil,
        includeDeleted: Bool = false, limit: Int, offset: Int, on db: any SQLDatabase
    ) async throws -> (items: [SecretRecord], total: Int) {
        var conditions: [SQLQueryString] = ["workspace_id = \(bind: workspaceID)"]
        if !includeDeleted { conditions.append("deleted_at IS NULL") }
        if let type = secretType { conditions.append("secret_type = \(bind: type)") }
        if let prefix = namePrefix {
            conditions.append("substr(name, 1, \(literal: prefix.utf8.count)) = \(bind: prefix)")
        }
        if let tag {
            // Tags are stored as a JSON array of strings whose characters need no escaping, so a quoted match is
            // exact; LIKE's own wildcards are escaped.
            let escaped = tag.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_")
            conditions.append("tags LIKE \(bind: "%\"" + escaped + "\"%") ESCAPE '\\'")
        }
        let whereClause = conditions.joined(separator: " AND ")
        let liveCount: SQLQueryString =
            "SELECT live FROM workspace_secret_counts WHERE workspace_id = \(bind: workspaceID)"
        // Unfiltered, the total is the trigger-kept count, O(1) however many secrets the workspace holds, read by
        // the page's own statement (one statement and one read snapshot instead of two).
        let unfiltered = tag == nil && secretType == nil && namePrefix == nil && !includeDeleted
        let countColumn: SQLQueryString = unfiltered ? ", (\(liveCount)) AS coffer_live_count" : ""
        let rows = try await db.raw(
            """
            SELECT *\(countColumn) FROM secrets WHERE \(whereClause)
            ORDER BY name, id LIMIT \(bind: limit) OFFSET \(bind: offset)
            """
        ).all()
        let total: Int
        if unfiltered, let first = rows.first {
            total = try first.decode(column: "coffer_live_count", as: Int?.self) ?? 0
        } else if unfiltered {
            // A page past the end has no row to carry the count.
            total = try await db.raw(liveCount).first(decodingColumn: "live", as: Int.self) ?? 0
        } else {
            total =
                try await db.raw("SELECT COUNT(*) AS n FROM secrets WHERE \(whereClause)")
                .first(decodingColumn: "n", as: Int.self) ?? 0
        }
        return (try rows.map(SecretRecord.init(row:)), total)
    }

    /// Every live secret of a workspace with its current version, in name order (for bulk reads).
    public func allWithCurrentVersion(
        workspaceID: String, on db: any SQLDatabase
    ) async throws -> [(SecretRecord, SecretVersionRecord)] {
        try await db.raw(
            """
            SELECT s.*, \(unsafeRaw: SecretVersionRow.columns)
            FROM secrets s JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.current_version
            WHERE s.workspace_id = \(bind: workspaceID) AND s.deleted_at IS NULL ORDER BY s.name, s.id
            """
        ).all().map(SecretVersionRow.pair)
    }

    /// A live secret of a workspace by name.
    public func find(name: String, workspaceID: String, on db: any SQLDatabase) async throws -> SecretRecord? {
        try await db.raw(
            """
            SELECT * FROM secrets WHERE workspace_id = \(bind: workspaceID) AND name = \(bind: name) AND deleted_at IS NULL
            """
        ).first().map(SecretRecord.init(row:))
    }

    /// A secret of `workspaceID`, deleted or not.
    public func findAny(id: String, workspaceID: String, on db: any SQLDatabase) async throws -> SecretRecord? {
        try await db.raw("SELECT * FROM secrets WHERE id = \(bind: id) AND workspace_id = \(bind: workspaceID)")
            .first().map(SecretRecord.init(row:))
    }

    /// Live secrets of a workspace whose rotation is due at or before `time`, soonest first.
    public func due(workspaceID: String, before time: Int64, on db: any SQLDatabase) async throws -> [SecretRecord] {
        try await db.raw(
            """
            SELECT * FROM secrets WHERE workspace_id = \(bind: workspaceID) AND deleted_at IS NULL
            AND rotation_due_at IS NOT NULL AND rotation_due_at <= \(bind: time)
            ORDER BY rotation_due_at, name
            """
        ).all().map(SecretRecord.init(row:))
    }

    /// Live secrets in every workspace that are due at or before `time` and that Coffer generates itself.
    public func dueGenerated(before time: Int64, limit: Int, on db: any SQLDatabase) async throws -> [SecretRecord] {
        try await db.raw(
            """
            SELECT * FROM secrets WHERE deleted_at IS NULL AND generator IS NOT NULL
            AND rotation_due_at IS NOT NULL AND rotation_due_at <= \(bind: time)
            ORDER BY rotation_due_at LIMIT \(bind: limit)
            """
        ).all().map(SecretRecord.init(row:))
    }

    /// Instance-wide counts of live secrets due at or before `soon`, and of those already overdue at `now`.
    public func dueCounts(now: Int64, soon: Int64, on db: any SQLDatabase) async throws -> (due: Int, overdue: Int) {
        struct Row: Decodable { let due: Int?; let overdue: Int? }
        let row = try await db.raw(
            """
            SELECT SUM(CASE WHEN rotation_due_at <= \(bind: soon) THEN 1 ELSE 0 END) AS due,
                   SUM(CASE WHEN rotation_due_at <= \(bind: now) THEN 1 ELSE 0 END) AS overdue
            FROM secrets WHERE deleted_at IS NULL AND rotation_due_at IS NOT NULL
            """
        ).first(decoding: Row.self)
        return (row?.due ?? 0, row?.overdue ?? 0)
    }

    /// Per-workspace statistics: counts by state, type and policy, and rotation figures.
    public func statistics(workspaceID: String, now: Int64, soon: Int64, on db: any SQLDatabase) async throws -> SecretStatistics {
        struct Totals: Decodable { let total: Int; let active: Int?; let deleted: Int?; let dueSoon: Int?; let overdue: Int? }
        struct Group: Decodable { let key: String; let n: Int }
        let totals = try await db.raw(
            """
            SELECT COUNT(*) AS total,
                SUM(CASE WHEN deleted_at IS NULL AND is_active THEN 1 ELSE 0 END) AS active,
                SUM(CASE WHEN deleted_at IS NOT NULL THEN 1 ELSE 0 END) AS deleted,
                SUM(CASE WHEN deleted_at IS NULL AND rotation_due_at > \(bind: now) AND rotation_due_at <= \(bind: soon) THEN 1 ELSE 0 END) AS due_soon,
                SUM(CASE WHEN deleted_at IS NULL AND rotation_due_at <= \(bind: now) THEN 1 ELSE 0 END) AS overdue
            FROM secrets WHERE workspace_id = \(bind: workspaceID)
            """
        ).first(decoding: Totals.self, with: rowDecoder)
        let byType = try await db.raw(
            """
            SELECT secret_type AS key, COUNT(*) AS n FROM secrets WHERE workspace_id = \(bind: workspaceID)
            AND deleted_at IS NULL GROUP BY secret_type
            """
        ).all(decoding: Group.self)
        let byPolicy = try await db.raw(
            """
            SELECT rotation_policy AS key, COUNT(*) AS n FROM secrets WHERE workspace_id = \(bind: workspaceID)
            AND deleted_at IS NULL GROUP BY rotation_policy
            """
        ).all(decoding: Group.self)
        return SecretStatistics(
            total: totals?.total ?? 0, active: totals?.active ?? 0, deleted: totals?.deleted ?? 0,
            byType: Dictionary(uniqueKeysWithValues: byType.map { ($0.key, $0.n) }),
            byPolicy: Dictionary(uniqueKeysWithValues: byPolicy.map { ($0.key, $0.n) }),
            dueSoon: totals?.dueSoon ?? 0, overdue: totals?.overdue ?? 0)
    }

    /// Destroys a secret and every version's ciphertext.
    public func purge(id: String, on db: any SQLDatabase) async throws {
        try await db.exec("DELETE FROM rotation_webhooks WHERE secret_id = \(bind: id)")
        try await db.exec("DELETE FROM secret_versions WHERE secret_id = \(bind: id)")
        try await db.exec("DELETE FROM secrets WHERE id = \(bind: id)")
    }

    /// A secret's versions, newest first (no ciphertexts).
    public func versions(of secretID: String, on db: any SQLDatabase) async throws -> [SecretVersionInfo] {
        try await db.raw(
            """
            SELECT version, dek_version, created_by, created_at, deleted_at, destroyed_at FROM secret_versions
            WHERE secret_id = \(bind: secretID)
            ORDER BY version DESC
            """
        ).all(decoding: SecretVersionInfo.self, with: rowDecoder)
    }

    /// Deletes all but the newest `keep` versions of a secret (their ciphertexts are gone for good).
    public func pruneVersions(of secretID: String, keep: Int, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            DELETE FROM secret_versions WHERE secret_id = \(bind: secretID) AND version <= (
                SELECT MAX(version) FROM secret_versions WHERE secret_id = \(bind: secretID)) - \(bind: keep)
            """)
    }

    /// Marks versions deleted at `time` (nil: restores them); destroyed versions stay as they are.
    public func setDeleted(
        _ versions: [Int], of secretID: String, at time: Int64?, on db: any SQLDatabase
    ) async throws {
        for version in versions {
            try await db.exec(
                """
                UPDATE secret_versions SET deleted_at = \(bind: time)
                WHERE secret_id = \(bind: secretID) AND version = \(bind: version) AND destroyed_at IS NULL
                """)
        }
    }

    /// Destroys versions' ciphertexts for good (the rows stay, so that their history can still be shown).
    public func destroy(_ versions: [Int], of secretID: String, at time: Int64, on db: any SQLDatabase) async throws {
        for version in versions {
            try await db.exec(
                """
                UPDATE secret_versions SET ciphertext = \(bind: Data()), destroyed_at = \(bind: time)
                WHERE secret_id = \(bind: secretID) AND version = \(bind: version) AND destroyed_at IS NULL
                """)
        }
    }

    /// Live secret names of a workspace that start with `prefix`, in name order.
    public func names(workspaceID: String, prefix: String, on db: any SQLDatabase) async throws -> [String] {
        try await db.raw(
            """
            SELECT name FROM secrets WHERE workspace_id = \(bind: workspaceID) AND deleted_at IS NULL
            AND substr(name, 1, \(literal: prefix.utf8.count)) = \(bind: prefix) ORDER BY name
            """
        ).all(decodingColumn: "name", as: String.self)
    }

    /// One stored version of a secret, with its ciphertext.
    public func version(_ version: Int, of secretID: String, on db: any SQLDatabase) async throws -> SecretVersionRecord? {
        try await db.raw(
            "SELECT * FROM secret_versions WHERE secret_id = \(bind: secretID) AND version = \(bind: version)"
        ).first(decoding: SecretVersionRecord.self, with: rowDecoder)
    }

    /// Stores a version of a secret of `workspaceID` (kept with the version for the re-encryption job).
    public func insertVersion(_ version: SecretVersionRecord, workspaceID: String, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            INSERT INTO secret_versions (secret_id, version, ciphertext, dek_version, created_by, created_at, workspace_id)
            VALUES (\(bind: version.secretId), \(bind: version.version), \(bind: version.ciphertext),
                \(bind: version.dekVersion), \(bind: version.createdBy), \(bind: version.createdAt), \(bind: workspaceID))
            """)
    }

    /// A live secret and one of its versions (the current one when `version` is nil), read in one statement so
    /// the pair is consistent.
    public func findWithVersion(
        id: String, workspaceID: String, version: Int?, on db: any SQLDatabase
    ) async throws -> (SecretRecord, SecretVersionRecord)? {
        let versionClause: SQLQueryString =
            version.map { "v.version = \(bind: $0)" } ?? "v.version = s.current_version"
        return try await db.raw(
            """
            SELECT s.*, \(unsafeRaw: SecretVersionRow.columns)
            FROM secrets s JOIN secret_versions v ON v.secret_id = s.id AND \(versionClause)
            WHERE s.id = \(bind: id) AND s.workspace_id = \(bind: workspaceID) AND s.deleted_at IS NULL
            """
        ).first().map(SecretVersionRow.pair)
    }
}

/// A version's metadata, without its ciphertext.
public struct SecretVersionInfo: Codable, Sendable, Equatable {
    public var version: Int
    public var dekVersion: Int
    public var createdBy: String?
    public var createdAt: Int64
    public var deletedAt: Int64?
    public var destroyedAt: Int64?
}

/// Counts for `GET …/secrets/statistics`.
public struct SecretStatistics: Sendable, Equatable {
    public var total: Int
    public var active: Int
    public var deleted: Int
    public var byType: [String: Int]
    public var byPolicy: [String: Int]
    public var dueSoon: Int
    public var overdue: Int
}

/// A secret row joined with one of its versions (columns aliased `v_…`), as the two joined reads select it.
private enum SecretVersionRow {
    static let columns =
        "v.ciphertext AS v_ciphertext, v.dek_version AS v_dek_version, v.version AS v_version, "
        + "v.created_by AS v_created_by, v.created_at AS v_created_at, v.deleted_at AS v_deleted_at, "
        + "v.destroyed_at AS v_destroyed_at"

    static func pair(_ row: any SQLRow) throws -> (SecretRecord, SecretVersionRecord) {
        if let row = row as? SQLiteResultRow { try pair(of: row) } else { try pair(of: row) }
    }

    /// Specialized for this store's own rows (see ``SecretRecord/init(row:)``).
    private static func pair<Row: SQLRow>(of row: Row) throws -> (SecretRecord, SecretVersionRecord) {
        let secret = try SecretRecord(columnsOf: row)
        return (
            secret,
            SecretVersionRecord(
                secretId: secret.id, version: try row.decode(column: "v_version", as: Int.self),
                ciphertext: try row.decode(column: "v_ciphertext", as: Data.self),
                dekVersion: try row.decode(column: "v_dek_version", as: Int.self),
                createdBy: try row.decode(column: "v_created_by", as: String?.self),
                createdAt: try row.decode(column: "v_created_at", as: Int64.self),
                deletedAt: try row.decode(column: "v_deleted_at", as: Int64?.self),
                destroyedAt: try row.decode(column: "v_destroyed_at", as: Int64?.self))
        )
    }
}

extension SecretRecord {
    /// A `secrets` row, read column by column: these rows are on every secret read and list, where `Codable`
    /// decoding (with its key conversion per column per row) cost more than the SQL (issue 6's profile).
    init(row: any SQLRow) throws {
        if let row = row as? SQLiteResultRow { try self.init(columnsOf: row) } else { try self.init(columnsOf: row) }
    }

    /// Generic so that the compiler specializes it for ``SQLiteResultRow``: each column is then one direct call
    /// whose type checks fold away, not a protocol call into a generic decoder (13% of a list's own time, issue 6).
    fileprivate init<Row: SQLRow>(columnsOf row: Row) throws {
        self.init(
            id: try row.decode(column: "id", as: String.self),
            workspaceId: try row.decode(column: "workspace_id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            secretType: try row.decode(column: "secret_type", as: String.self),
            usage: try row.decode(column: "usage", as: String?.self),
            rotationPolicy: try row.decode(column: "rotation_policy", as: String.self),
            lastRotatedAt: try row.decode(column: "last_rotated_at", as: Int64?.self),
            rotationDueAt: try row.decode(column: "rotation_due_at", as: Int64?.self),
            tags: try row.decode(column: "tags", as: String.self),
            metadata: try row.decode(column: "metadata", as: String.self),
            isActive: try row.decode(column: "is_active", as: Bool.self),
            currentVersion: try row.decode(column: "current_version", as: Int.self),
            createdByUserId: try row.decode(column: "created_by_user_id", as: String?.self),
            updatedByUserId: try row.decode(column: "updated_by_user_id", as: String?.self),
            createdAt: try row.decode(column: "created_at", as: Int64.self),
            updatedAt: try row.decode(column: "updated_at", as: Int64.self),
            deletedAt: try row.decode(column: "deleted_at", as: Int64?.self),
            generator: try row.decode(column: "generator", as: String?.self))
    }
}
