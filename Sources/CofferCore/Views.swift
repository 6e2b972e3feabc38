import CofferStore
import Foundation

// What the core returns: domain values. Each API surface encodes them in its own shapes (CofferServer/REST,
// CofferServer/Vault).

/// An account as shown to clients: never the password hash.
public struct UserView: Sendable {
    public let id: String
    public let username: String
    public let isAdmin: Bool
    public let createdAt: Date

    init(_ record: UserRecord) {
        id = record.id
        username = record.username
        isAdmin = record.isAdmin
        createdAt = Date(millis: record.createdAt)
    }
}

/// A fresh access token (seed 001's login response).
public struct TokenGrant: Sendable {
    public let accessToken: String
    public let expiresIn: Int
    /// Opaque, single use: exchange it at `/api/auth/refresh` for a new pair. Stored by the server only as a hash.
    public let refreshToken: String
    /// The login session the pair belongs to (the same across refreshes).
    public let sessionID: String
}

public struct WorkspaceView: Sendable {
    public let id: String
    public let name: String
    public let createdAt: Date
    public let role: Role

}

public struct MemberView: Sendable {
    public let userID: String
    public let username: String
    public let role: String
    public let createdAt: Date

    init(_ record: MemberRecord) {
        userID = record.userId
        username = record.username
        role = record.role
        createdAt = Date(millis: record.createdAt)
    }
}

/// A secret's metadata (seed 004's fields plus version and times). Never the value.
public struct SecretMetadata: Sendable {
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
    /// When the secret was deleted (restorable until purged); `nil` for a live secret.
    public let deletedAt: Date?

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
        deletedAt = record.deletedAt.map(Date.init(millis:))
    }
}

/// A secret's value: what `GET …/value` returns, after the access is audited.
public struct SecretValue: Sendable {
    public let id: String
    public let name: String
    public let value: String
    public let version: Int

    public init(id: String, name: String, value: String, version: Int) {
        self.id = id
        self.name = name
        self.value = value
        self.version = version
    }
}

/// An audit record as shown to workspace admins (the chain MAC is not shown). Its JSON form is the audit
/// export's line format (``AuditFileExporter``), which the REST API serves as it is.
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
