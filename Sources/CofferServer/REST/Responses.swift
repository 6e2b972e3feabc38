import CofferCore
import CofferJSON
import Foundation

// The REST surface's response shapes: how each domain value the core returns is written as JSON (snake_case
// field names, ISO 8601 dates). The hot ones (a secret's value, its metadata, a page of them) also write
// themselves without `JSONEncoder`, to the same bytes (the tests compare the two).

extension UserView: Encodable {
    enum CodingKeys: String, CodingKey { case id, username, isAdmin = "is_admin", createdAt = "created_at" }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(username, forKey: .username)
        try c.encode(isAdmin, forKey: .isAdmin)
        try c.encode(createdAt, forKey: .createdAt)
    }
}

extension TokenGrant: Encodable {
    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token", tokenType = "token_type", expiresIn = "expires_in"
        case refreshToken = "refresh_token"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(accessToken, forKey: .accessToken)
        try c.encode("bearer", forKey: .tokenType)
        try c.encode(expiresIn, forKey: .expiresIn)
        try c.encode(refreshToken, forKey: .refreshToken)
    }
}

extension WorkspaceView: Encodable {
    enum CodingKeys: String, CodingKey { case id, name, createdAt = "created_at", role }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(role, forKey: .role)
    }
}

extension MemberView: Encodable {
    enum CodingKeys: String, CodingKey { case userID = "user_id", username, role, createdAt = "created_at" }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(userID, forKey: .userID)
        try c.encode(username, forKey: .username)
        try c.encode(role, forKey: .role)
        try c.encode(createdAt, forKey: .createdAt)
    }
}

/// Seed 004's secret metadata, never the value.
extension SecretMetadata: Encodable, JSONWritable {
    enum CodingKeys: String, CodingKey {
        case id, workspaceID = "workspace_id", name, secretType = "secret_type", usage
        case rotationPolicy = "rotation_policy", lastRotatedAt = "last_rotated_at", rotationDueAt = "rotation_due_at"
        case tags, metadata, isActive = "is_active", createdByUserID = "created_by_user_id"
        case updatedByUserID = "updated_by_user_id", version, createdAt = "created_at", updatedAt = "updated_at"
        case deletedAt = "deleted_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(workspaceID, forKey: .workspaceID)
        try c.encode(name, forKey: .name)
        try c.encode(secretType, forKey: .secretType)
        try c.encode(usage, forKey: .usage)
        try c.encode(rotationPolicy, forKey: .rotationPolicy)
        try c.encode(lastRotatedAt, forKey: .lastRotatedAt)
        try c.encode(rotationDueAt, forKey: .rotationDueAt)
        try c.encode(tags, forKey: .tags)
        try c.encode(metadata, forKey: .metadata)
        try c.encode(isActive, forKey: .isActive)
        try c.encode(createdByUserID, forKey: .createdByUserID)
        try c.encode(updatedByUserID, forKey: .updatedByUserID)
        try c.encode(version, forKey: .version)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(deletedAt, forKey: .deletedAt)
    }

    public func write(to json: inout JSONWriter) {
        json.object { secret in
            secret.member("created_at") { $0.date(createdAt) }
            secret.member("created_by_user_id") { $0.string(createdByUserID) }
            secret.member("deleted_at") { $0.date(deletedAt) }
            secret.member("id") { $0.string(id) }
            secret.member("is_active") { $0.bool(isActive) }
            secret.member("last_rotated_at") { $0.date(lastRotatedAt) }
            secret.member("metadata") { $0.value(metadata) }
            secret.member("name") { $0.string(name) }
            secret.member("rotation_due_at") { $0.date(rotationDueAt) }
            secret.member("rotation_policy") { $0.string(rotationPolicy) }
            secret.member("secret_type") { $0.string(secretType) }
            secret.member("tags") { $0.array(tags) { $0.string($1) } }
            secret.member("updated_at") { $0.date(updatedAt) }
            secret.member("updated_by_user_id") { $0.string(updatedByUserID) }
            secret.member("usage") { $0.string(usage) }
            secret.member("version") { $0.integer(version) }
            secret.member("workspace_id") { $0.string(workspaceID) }
        }
    }
}

/// `{id, name, value, version}`; the CLI decodes it too.
extension SecretValue: Codable, JSONWritable {
    enum CodingKeys: String, CodingKey { case id, name, value, version }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try c.decode(String.self, forKey: .id), name: try c.decode(String.self, forKey: .name),
            value: try c.decode(String.self, forKey: .value), version: try c.decode(Int.self, forKey: .version))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(value, forKey: .value)
        try c.encode(version, forKey: .version)
    }

    public func write(to json: inout JSONWriter) {
        json.object { secret in
            secret.member("id") { $0.string(id) }
            secret.member("name") { $0.string(name) }
            secret.member("value") { $0.string(value) }
            secret.member("version") { $0.integer(version) }
        }
    }
}

extension Page: Encodable where Item: Encodable {
    enum CodingKeys: String, CodingKey { case items, total, limit, offset }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(items, forKey: .items)
        try c.encode(total, forKey: .total)
        try c.encode(limit, forKey: .limit)
        try c.encode(offset, forKey: .offset)
    }
}

extension Page: JSONWritable where Item: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.reserve(items.count * 512)  // a secret's metadata is about 450 bytes: grow once, not four times
        json.object { page in
            page.member("items") { $0.array(items) { $0.value($1) } }
            page.member("limit") { $0.integer(limit) }
            page.member("offset") { $0.integer(offset) }
            page.member("total") { $0.integer(total) }
        }
    }
}

/// `{items, inactive}`: the values, and the deactivated secrets left out (by name).
extension SecretValueList: Encodable {
    enum CodingKeys: String, CodingKey { case items, inactive }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(items, forKey: .items)
        try c.encode(inactive, forKey: .inactive)
    }
}

extension SecretVersionView: Encodable {
    enum CodingKeys: String, CodingKey {
        case version, dekVersion = "dek_version", createdByUserID = "created_by_user_id", createdAt = "created_at"
        case isCurrent = "is_current"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(dekVersion, forKey: .dekVersion)
        try c.encode(createdByUserID, forKey: .createdByUserID)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(isCurrent, forKey: .isCurrent)
    }
}

extension SecretStatisticsView: Encodable {
    enum CodingKeys: String, CodingKey {
        case totalSecrets = "total_secrets", activeSecrets = "active_secrets", deletedSecrets = "deleted_secrets"
        case byType = "by_type", byRotationPolicy = "by_rotation_policy", dueWithin7Days = "due_within_7_days"
        case overdue, accessesLast24h = "accesses_last_24h", failedAccessesLast24h = "failed_accesses_last_24h"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(totalSecrets, forKey: .totalSecrets)
        try c.encode(activeSecrets, forKey: .activeSecrets)
        try c.encode(deletedSecrets, forKey: .deletedSecrets)
        try c.encode(byType, forKey: .byType)
        try c.encode(byRotationPolicy, forKey: .byRotationPolicy)
        try c.encode(dueWithin7Days, forKey: .dueWithin7Days)
        try c.encode(overdue, forKey: .overdue)
        try c.encode(accessesLast24h, forKey: .accessesLast24h)
        try c.encode(failedAccessesLast24h, forKey: .failedAccessesLast24h)
    }
}

/// What an import did, by name; the CLI decodes it too.
extension ImportResult: Codable {
    enum CodingKeys: String, CodingKey { case created, updated, skipped }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            created: try c.decode([String].self, forKey: .created), updated: try c.decode([String].self, forKey: .updated),
            skipped: try c.decode([String].self, forKey: .skipped))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(created, forKey: .created)
        try c.encode(updated, forKey: .updated)
        try c.encode(skipped, forKey: .skipped)
    }
}

extension ServiceTokenView: Encodable {
    enum CodingKeys: String, CodingKey {
        case id, workspaceID = "workspace_id", name, role, createdAt = "created_at", expiresAt = "expires_at", revoked
        case token
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(workspaceID, forKey: .workspaceID)
        try c.encode(name, forKey: .name)
        try c.encode(role, forKey: .role)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(expiresAt, forKey: .expiresAt)
        try c.encode(revoked, forKey: .revoked)
        try c.encodeIfPresent(token, forKey: .token)
    }
}

extension KeyRotationJobView: Encodable {
    enum CodingKeys: String, CodingKey {
        case id, workspaceID = "workspace_id", status, total, done, failed, remaining, startedAt = "started_at"
        case finishedAt = "finished_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(workspaceID, forKey: .workspaceID)
        try c.encode(statusName, forKey: .status)
        try c.encode(total, forKey: .total)
        try c.encode(done, forKey: .done)
        try c.encode(failed, forKey: .failed)
        try c.encode(max(0, total - done), forKey: .remaining)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(finishedAt, forKey: .finishedAt)
    }
}

extension RotationStatusView: Encodable {
    enum CodingKeys: String, CodingKey { case inProgress = "in_progress", jobs }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(inProgress, forKey: .inProgress)
        try c.encode(jobs, forKey: .jobs)
    }
}

extension GeneratedKey: Encodable {
    enum CodingKeys: String, CodingKey { case key, algorithm }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(key, forKey: .key)
        try c.encode(algorithm, forKey: .algorithm)
    }
}

extension AuditVerification: Encodable {
    enum CodingKeys: String, CodingKey { case checked, firstBadSequence = "first_bad_sequence", isIntact = "intact" }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(checked, forKey: .checked)
        try c.encode(firstBadSequence, forKey: .firstBadSequence)
        try c.encode(isIntact, forKey: .isIntact)
    }
}

extension RotationWebhookView: Encodable {
    enum CodingKeys: String, CodingKey {
        case url, failures, retryAt = "retry_at", lastError = "last_error", signingKey = "signing_key"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(url, forKey: .url)
        try c.encode(failures, forKey: .failures)
        try c.encode(retryAt, forKey: .retryAt)
        try c.encode(lastError, forKey: .lastError)
        try c.encodeIfPresent(signingKey, forKey: .signingKey)
    }
}
