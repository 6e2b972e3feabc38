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
                created_at, updated_at, deleted_at)
            VALUES (\(bind: secret.id), \(bind: secret.workspaceId), \(bind: secret.name), \(bind: secret.secretType),
                \(bind: secret.usage), \(bind: secret.rotationPolicy), \(bind: secret.lastRotatedAt),
                \(bind: secret.rotationDueAt), \(bind: secret.tags), \(bind: secret.metadata), \(bind: secret.isActive),
                \(bind: secret.currentVersion), \(bind: secret.createdByUserId), \(bind: secret.updatedByUserId),
                \(bind: secret.createdAt), \(bind: secret.updatedAt), \(bind: secret.deletedAt))
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
                updated_at = \(bind: secret.updatedAt), deleted_at = \(bind: secret.deletedAt)
            WHERE id = \(bind: secret.id)
            """)
    }

    /// A secret of `workspaceID` that is not deleted.
    public func find(id: String, workspaceID: String, on db: any SQLDatabase) async throws -> SecretRecord? {
        try await db.raw(
            """
            SELECT * FROM secrets WHERE id = \(bind: id) AND workspace_id = \(bind: workspaceID) AND deleted_at IS NULL
            """
        ).first(decoding: SecretRecord.self, with: rowDecoder)
    }

    public func exists(name: String, workspaceID: String, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw(
            """
            SELECT 1 AS one FROM secrets WHERE workspace_id = \(bind: workspaceID) AND name = \(bind: name)
            AND deleted_at IS NULL
            """
        ).first() != nil
    }

    /// A page of a workspace's live secrets in name order, and how many there are in all.
    public func list(
        workspaceID: String, limit: Int, offset: Int, on db: any SQLDatabase
    ) async throws -> (items: [SecretRecord], total: Int) {
        let total =
            try await db.raw(
                "SELECT COUNT(*) AS n FROM secrets WHERE workspace_id = \(bind: workspaceID) AND deleted_at IS NULL"
            ).first(decodingColumn: "n", as: Int.self) ?? 0
        let items = try await db.raw(
            """
            SELECT * FROM secrets WHERE workspace_id = \(bind: workspaceID) AND deleted_at IS NULL
            ORDER BY name, id LIMIT \(bind: limit) OFFSET \(bind: offset)
            """
        ).all(decoding: SecretRecord.self, with: rowDecoder)
        return (items, total)
    }

    public func insertVersion(_ version: SecretVersionRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            INSERT INTO secret_versions (secret_id, version, ciphertext, dek_version, created_by, created_at)
            VALUES (\(bind: version.secretId), \(bind: version.version), \(bind: version.ciphertext),
                \(bind: version.dekVersion), \(bind: version.createdBy), \(bind: version.createdAt))
            """)
    }

    /// A live secret and one of its versions (the current one when `version` is nil), read in one statement so
    /// the pair is consistent.
    public func findWithVersion(
        id: String, workspaceID: String, version: Int?, on db: any SQLDatabase
    ) async throws -> (SecretRecord, SecretVersionRecord)? {
        struct Row: Decodable {
            let secret: SecretRecord
            let ciphertext: Data
            let dekVersion: Int
            let vVersion: Int
            let vCreatedBy: String?
            let vCreatedAt: Int64
            init(from decoder: any Decoder) throws {
                secret = try SecretRecord(from: decoder)
                let c = try decoder.container(keyedBy: Keys.self)
                ciphertext = try c.decode(Data.self, forKey: .ciphertext)
                dekVersion = try c.decode(Int.self, forKey: .dekVersion)
                vVersion = try c.decode(Int.self, forKey: .vVersion)
                vCreatedBy = try c.decodeIfPresent(String.self, forKey: .vCreatedBy)
                vCreatedAt = try c.decode(Int64.self, forKey: .vCreatedAt)
            }
            enum Keys: String, CodingKey { case ciphertext, dekVersion, vVersion, vCreatedBy, vCreatedAt }
        }
        let versionClause: SQLQueryString =
            version.map { "v.version = \(bind: $0)" } ?? "v.version = s.current_version"
        let row = try await db.raw(
            """
            SELECT s.*, v.ciphertext, v.dek_version, v.version AS v_version, v.created_by AS v_created_by,
                v.created_at AS v_created_at
            FROM secrets s JOIN secret_versions v ON v.secret_id = s.id AND \(versionClause)
            WHERE s.id = \(bind: id) AND s.workspace_id = \(bind: workspaceID) AND s.deleted_at IS NULL
            """
        ).first(decoding: Row.self, with: rowDecoder)
        guard let row else { return nil }
        return (
            row.secret,
            SecretVersionRecord(
                secretId: row.secret.id, version: row.vVersion, ciphertext: row.ciphertext, dekVersion: row.dekVersion,
                createdBy: row.vCreatedBy, createdAt: row.vCreatedAt)
        )
    }
}
