import CofferStore
import Foundation

// What the core returns. Field names are the API's (snake_case), so the HTTP layer encodes these as they are.

/// An account as shown to clients: never the password hash.
public struct UserView: Encodable, Sendable {
    public let id: String
    public let username: String
    public let isAdmin: Bool
    public let createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, username, isAdmin = "is_admin", createdAt = "created_at"
    }

    init(_ record: UserRecord) {
        id = record.id
        username = record.username
        isAdmin = record.isAdmin
        createdAt = Date(millis: record.createdAt)
    }
}

/// A fresh access token (seed 001's login response).
public struct TokenGrant: Encodable, Sendable {
    public let accessToken: String
    public let tokenType = "bearer"
    public let expiresIn: Int
    /// Opaque, single use: exchange it at `/api/auth/refresh` for a new pair. Stored by the server only as a hash.
    public let refreshToken: String

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token", tokenType = "token_type", expiresIn = "expires_in"
        case refreshToken = "refresh_token"
    }
}

public struct WorkspaceView: Encodable, Sendable {
    public let id: String
    public let name: String
    public let createdAt: Date
    public let role: Role

    enum CodingKeys: String, CodingKey {
        case id, name, createdAt = "created_at", role
    }
}

public struct MemberView: Encodable, Sendable {
    public let userID: String
    public let username: String
    public let role: String
    public let createdAt: Date

    enum CodingKeys: String, CodingKey {
        case userID = "user_id", username, role, createdAt = "created_at"
    }

    init(_ record: MemberRecord) {
        userID = record.userId
        username = record.username
        role = record.role
        createdAt = Date(millis: record.createdAt)
    }
}

/// A secret's metadata (seed 004's fields plus version and times). Never the value.
public struct SecretMetadata: Encodable, Sendable {
    public let id: String
    public let workspaceID: String
    public let name: String
    public let secretType: String
    public let usage: String?
    public let rotationPolicy: String
    public let lastRotatedAt: Date?
    public let rotationDueAt: Date?
    public let tags: [String]
    public let metadata: JSONValue
    public let isActive: Bool
    public let createdByUserID: String?
    public let updatedByUserID: String?
    public let version: Int
    public let createdAt: Date
    public let updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, workspaceID = "workspace_id", name, secretType = "secret_type", usage
        case rotationPolicy = "rotation_policy", lastRotatedAt = "last_rotated_at", rotationDueAt = "rotation_due_at"
        case tags, metadata, isActive = "is_active", createdByUserID = "created_by_user_id"
        case updatedByUserID = "updated_by_user_id", version, createdAt = "created_at", updatedAt = "updated_at"
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
    }

    init(_ record: SecretRecord) {
        id = record.id
        workspaceID = record.workspaceId
        name = record.name
        secretType = record.secretType
        usage = record.usage
        rotationPolicy = record.rotationPolicy
        lastRotatedAt = record.lastRotatedAt.map(Date.init(millis:))
        rotationDueAt = record.rotationDueAt.map(Date.init(millis:))
        // Most secrets have no tags: skip the decoder for the empty list the store writes.
        tags = record.tags == "[]" ? [] : (try? JSONDecoder().decode([String].self, from: Data(record.tags.utf8))) ?? []
        metadata = JSONValue(jsonText: record.metadata)
        isActive = record.isActive
        createdByUserID = record.createdByUserId
        updatedByUserID = record.updatedByUserId
        version = record.currentVersion
        createdAt = Date(millis: record.createdAt)
        updatedAt = Date(millis: record.updatedAt)
    }
}

/// A secret's value: what `GET …/value` returns, after the access is audited.
public struct SecretValue: Codable, Sendable {
    public let id: String
    public let name: String
    public let value: String
    public let version: Int
}

/// An audit record as shown to workspace admins (the chain MAC is not shown).
public struct AuditEntryView: Encodable, Sendable {
    public let id: String
    public let sequence: Int64
    public let workspaceID: String?
    public let secretID: String?
    public let action: String
    public let userID: String?
    public let ipAddress: String?
    public let userAgent: String?
    public let requestID: String?
    public let details: JSONValue
    public let success: Bool
    public let createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, sequence, workspaceID = "workspace_id", secretID = "secret_id", action, userID = "user_id"
        case ipAddress = "ip_address", userAgent = "user_agent", requestID = "request_id", details, success
        case createdAt = "created_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(sequence, forKey: .sequence)
        try c.encode(workspaceID, forKey: .workspaceID)
        try c.encode(secretID, forKey: .secretID)
        try c.encode(action, forKey: .action)
        try c.encode(userID, forKey: .userID)
        try c.encode(ipAddress, forKey: .ipAddress)
        try c.encode(userAgent, forKey: .userAgent)
        try c.encode(requestID, forKey: .requestID)
        try c.encode(details, forKey: .details)
        try c.encode(success, forKey: .success)
        try c.encode(createdAt, forKey: .createdAt)
    }

    init(_ record: AuditRecord) {
        id = record.id
        sequence = record.seq
        workspaceID = record.workspaceId
        secretID = record.secretId
        action = record.action
        userID = record.userId
        ipAddress = record.ipAddress
        userAgent = record.userAgent
        requestID = record.requestId
        details = JSONValue(jsonText: record.details)
        success = record.success
        createdAt = Date(millis: record.createdAt)
    }
}
