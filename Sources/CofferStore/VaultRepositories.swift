import Foundation
import SQLKit

/// Settings of one KV v2 path (Vault's key metadata), kept whether or not a secret holds the path.
public struct KVMetadataRecord: Codable, Sendable, Equatable {
    public var workspaceId: String
    public var path: String
    /// Versions to keep (0: the mount's setting).
    public var maxVersions: Int
    public var casRequired: Bool
    /// Vault's duration text, kept and shown as given.
    public var deleteVersionAfter: String
    /// A JSON object of strings.
    public var customMetadata: String
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(
        workspaceId: String, path: String, maxVersions: Int, casRequired: Bool, deleteVersionAfter: String,
        customMetadata: String, createdAt: Int64, updatedAt: Int64
    ) {
        self.workspaceId = workspaceId
        self.path = path
        self.maxVersions = maxVersions
        self.casRequired = casRequired
        self.deleteVersionAfter = deleteVersionAfter
        self.customMetadata = customMetadata
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A workspace's KV v2 mount settings (Vault's `config`).
public struct KVConfigRecord: Codable, Sendable, Equatable {
    public var workspaceId: String
    public var maxVersions: Int
    public var casRequired: Bool
    public var deleteVersionAfter: String

    public init(workspaceId: String, maxVersions: Int, casRequired: Bool, deleteVersionAfter: String) {
        self.workspaceId = workspaceId
        self.maxVersions = maxVersions
        self.casRequired = casRequired
        self.deleteVersionAfter = deleteVersionAfter
    }
}

/// KV v2 path and mount settings.
public struct KVRepository: Sendable {
    public init() {}

    public func metadata(workspaceID: String, path: String, on db: any SQLDatabase) async throws -> KVMetadataRecord? {
        try await db.raw("SELECT * FROM kv_metadata WHERE workspace_id = \(bind: workspaceID) AND path = \(bind: path)")
            .first(decoding: KVMetadataRecord.self, with: rowDecoder)
    }

    public func saveMetadata(_ record: KVMetadataRecord, on db: any SQLDatabase) async throws {
        try await deleteMetadata(workspaceID: record.workspaceId, path: record.path, on: db)
        try await db.exec(
            """
            INSERT INTO kv_metadata (workspace_id, path, max_versions, cas_required, delete_version_after,
                custom_metadata, created_at, updated_at)
            VALUES (\(bind: record.workspaceId), \(bind: record.path), \(bind: record.maxVersions),
                \(bind: record.casRequired), \(bind: record.deleteVersionAfter), \(bind: record.customMetadata),
                \(bind: record.createdAt), \(bind: record.updatedAt))
            """)
    }

    public func deleteMetadata(workspaceID: String, path: String, on db: any SQLDatabase) async throws {
        try await db.exec("DELETE FROM kv_metadata WHERE workspace_id = \(bind: workspaceID) AND path = \(bind: path)")
    }

    public func config(workspaceID: String, on db: any SQLDatabase) async throws -> KVConfigRecord? {
        try await db.raw("SELECT * FROM kv_config WHERE workspace_id = \(bind: workspaceID)")
            .first(decoding: KVConfigRecord.self, with: rowDecoder)
    }

    public func saveConfig(_ record: KVConfigRecord, on db: any SQLDatabase) async throws {
        try await db.exec("DELETE FROM kv_config WHERE workspace_id = \(bind: record.workspaceId)")
        try await db.exec(
            """
            INSERT INTO kv_config (workspace_id, max_versions, cas_required, delete_version_after)
            VALUES (\(bind: record.workspaceId), \(bind: record.maxVersions), \(bind: record.casRequired),
                \(bind: record.deleteVersionAfter))
            """)
    }
}

/// A named transit key of a workspace and its version bounds (Vault's transit key policy).
public struct TransitKeyRecord: Codable, Sendable, Equatable {
    public var workspaceId: String
    public var name: String
    public var keyType: String
    public var latestVersion: Int
    public var minDecryptionVersion: Int
    public var minEncryptionVersion: Int
    public var minAvailableVersion: Int
    public var deletionAllowed: Bool
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(
        workspaceId: String, name: String, keyType: String, latestVersion: Int, minDecryptionVersion: Int,
        minEncryptionVersion: Int, minAvailableVersion: Int, deletionAllowed: Bool, createdAt: Int64, updatedAt: Int64
    ) {
        self.workspaceId = workspaceId
        self.name = name
        self.keyType = keyType
        self.latestVersion = latestVersion
        self.minDecryptionVersion = minDecryptionVersion
        self.minEncryptionVersion = minEncryptionVersion
        self.minAvailableVersion = minAvailableVersion
        self.deletionAllowed = deletionAllowed
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// One version of a transit key, wrapped by the key provider.
public struct TransitKeyVersionRecord: Codable, Sendable, Equatable {
    public var workspaceId: String
    public var name: String
    public var version: Int
    public var wrappedKey: Data
    public var provider: String
    public var keyId: String
    public var createdAt: Int64

    public init(
        workspaceId: String, name: String, version: Int, wrappedKey: Data, provider: String, keyId: String,
        createdAt: Int64
    ) {
        self.workspaceId = workspaceId
        self.name = name
        self.version = version
        self.wrappedKey = wrappedKey
        self.provider = provider
        self.keyId = keyId
        self.createdAt = createdAt
    }
}

/// Transit keys and their wrapped versions.
public struct TransitKeyRepository: Sendable {
    public init() {}

    public func find(workspaceID: String, name: String, on db: any SQLDatabase) async throws -> TransitKeyRecord? {
        try await db.raw("SELECT * FROM transit_keys WHERE workspace_id = \(bind: workspaceID) AND name = \(bind: name)")
            .first(decoding: TransitKeyRecord.self, with: rowDecoder)
    }

    public func names(workspaceID: String, on db: any SQLDatabase) async throws -> [String] {
        try await db.raw("SELECT name FROM transit_keys WHERE workspace_id = \(bind: workspaceID) ORDER BY name")
            .all(decodingColumn: "name", as: String.self)
    }

    public func insert(_ key: TransitKeyRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            INSERT INTO transit_keys (workspace_id, name, key_type, latest_version, min_decryption_version,
                min_encryption_version, min_available_version, deletion_allowed, created_at, updated_at)
            VALUES (\(bind: key.workspaceId), \(bind: key.name), \(bind: key.keyType), \(bind: key.latestVersion),
                \(bind: key.minDecryptionVersion), \(bind: key.minEncryptionVersion), \(bind: key.minAvailableVersion),
                \(bind: key.deletionAllowed), \(bind: key.createdAt), \(bind: key.updatedAt))
            """)
    }

    public func update(_ key: TransitKeyRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            UPDATE transit_keys SET latest_version = \(bind: key.latestVersion),
                min_decryption_version = \(bind: key.minDecryptionVersion),
                min_encryption_version = \(bind: key.minEncryptionVersion),
                min_available_version = \(bind: key.minAvailableVersion),
                deletion_allowed = \(bind: key.deletionAllowed), updated_at = \(bind: key.updatedAt)
            WHERE workspace_id = \(bind: key.workspaceId) AND name = \(bind: key.name)
            """)
    }

    /// Deletes a key and every version of it.
    public func delete(workspaceID: String, name: String, on db: any SQLDatabase) async throws {
        try await db.exec(
            "DELETE FROM transit_key_versions WHERE workspace_id = \(bind: workspaceID) AND name = \(bind: name)")
        try await db.exec("DELETE FROM transit_keys WHERE workspace_id = \(bind: workspaceID) AND name = \(bind: name)")
    }

    public func insertVersion(_ version: TransitKeyVersionRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            INSERT INTO transit_key_versions (workspace_id, name, version, wrapped_key, provider, key_id, created_at)
            VALUES (\(bind: version.workspaceId), \(bind: version.name), \(bind: version.version),
                \(bind: version.wrappedKey), \(bind: version.provider), \(bind: version.keyId), \(bind: version.createdAt))
            """)
    }

    public func version(
        _ version: Int, workspaceID: String, name: String, on db: any SQLDatabase
    ) async throws -> TransitKeyVersionRecord? {
        try await db.raw(
            """
            SELECT * FROM transit_key_versions WHERE workspace_id = \(bind: workspaceID) AND name = \(bind: name)
            AND version = \(bind: version)
            """
        ).first(decoding: TransitKeyVersionRecord.self, with: rowDecoder)
    }

    /// A key's stored versions and when each was made, oldest first.
    public func versionTimes(
        workspaceID: String, name: String, on db: any SQLDatabase
    ) async throws -> [(version: Int, createdAt: Int64)] {
        struct Row: Decodable { let version: Int; let createdAt: Int64 }
        return try await db.raw(
            """
            SELECT version, created_at FROM transit_key_versions
            WHERE workspace_id = \(bind: workspaceID) AND name = \(bind: name) ORDER BY version
            """
        ).all(decoding: Row.self, with: rowDecoder).map { ($0.version, $0.createdAt) }
    }

    /// Destroys the versions below `version` for good.
    public func trim(workspaceID: String, name: String, below version: Int, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            DELETE FROM transit_key_versions WHERE workspace_id = \(bind: workspaceID) AND name = \(bind: name)
            AND version < \(bind: version)
            """)
    }

    /// Every wrapped version, for a master-key rewrap.
    public func allVersions(on db: any SQLDatabase) async throws -> [TransitKeyVersionRecord] {
        try await db.raw("SELECT * FROM transit_key_versions ORDER BY workspace_id, name, version")
            .all(decoding: TransitKeyVersionRecord.self, with: rowDecoder)
    }

    /// Replaces a version's wrapping (same key, new master or provider).
    public func rewrap(_ version: TransitKeyVersionRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            UPDATE transit_key_versions SET wrapped_key = \(bind: version.wrappedKey), provider = \(bind: version.provider),
                key_id = \(bind: version.keyId)
            WHERE workspace_id = \(bind: version.workspaceId) AND name = \(bind: version.name)
            AND version = \(bind: version.version)
            """)
    }
}

/// A secret's rotation webhook and its delivery state.
public struct RotationWebhookRecord: Codable, Sendable, Equatable {
    public var secretId: String
    public var url: String
    /// Failed calls since the last success.
    public var failures: Int
    /// When the next attempt may be made after a failure (milliseconds).
    public var retryAt: Int64?
    public var lastError: String?
    public var updatedAt: Int64

    public init(secretId: String, url: String, failures: Int = 0, retryAt: Int64? = nil, lastError: String? = nil, updatedAt: Int64) {
        self.secretId = secretId
        self.url = url
        self.failures = failures
        self.retryAt = retryAt
        self.lastError = lastError
        self.updatedAt = updatedAt
    }
}

/// Rotation webhooks.
public struct RotationWebhookRepository: Sendable {
    public init() {}

    public func find(secretID: String, on db: any SQLDatabase) async throws -> RotationWebhookRecord? {
        try await db.raw("SELECT * FROM rotation_webhooks WHERE secret_id = \(bind: secretID)")
            .first(decoding: RotationWebhookRecord.self, with: rowDecoder)
    }

    public func save(_ record: RotationWebhookRecord, on db: any SQLDatabase) async throws {
        try await delete(secretID: record.secretId, on: db)
        try await db.exec(
            """
            INSERT INTO rotation_webhooks (secret_id, url, failures, retry_at, last_error, updated_at)
            VALUES (\(bind: record.secretId), \(bind: record.url), \(bind: record.failures), \(bind: record.retryAt),
                \(bind: record.lastError), \(bind: record.updatedAt))
            """)
    }

    public func delete(secretID: String, on db: any SQLDatabase) async throws {
        try await db.exec("DELETE FROM rotation_webhooks WHERE secret_id = \(bind: secretID)")
    }

    /// Live secrets with a webhook that are due at `time` and not waiting for a retry, soonest first.
    public func due(at time: Int64, limit: Int, on db: any SQLDatabase) async throws -> [(SecretRecord, RotationWebhookRecord)] {
        let rows = try await db.raw(
            """
            SELECT s.id FROM secrets s JOIN rotation_webhooks w ON w.secret_id = s.id
            WHERE s.deleted_at IS NULL AND s.rotation_due_at IS NOT NULL AND s.rotation_due_at <= \(bind: time)
            AND (w.retry_at IS NULL OR w.retry_at <= \(bind: time))
            ORDER BY s.rotation_due_at LIMIT \(bind: limit)
            """
        ).all(decodingColumn: "id", as: String.self)
        var found: [(SecretRecord, RotationWebhookRecord)] = []
        for id in rows {
            guard let secret = try await db.raw("SELECT * FROM secrets WHERE id = \(bind: id)").first().map(SecretRecord.init(row:)),
                let hook = try await find(secretID: id, on: db)
            else { continue }
            found.append((secret, hook))
        }
        return found
    }
}
