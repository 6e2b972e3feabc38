import Foundation

// Rows as stored. Times are milliseconds since the Unix epoch; JSON columns hold encoded text.

/// An account. `passwordHash` is a bcrypt hash; it never leaves the core.
public struct UserRecord: Codable, Sendable, Equatable {
    public var id: String
    public var username: String
    public var passwordHash: String
    public var isAdmin: Bool
    public var createdAt: Int64
    public var passwordChangedAt: Int64

    public init(id: String, username: String, passwordHash: String, isAdmin: Bool, createdAt: Int64) {
        self.id = id
        self.username = username
        self.passwordHash = passwordHash
        self.isAdmin = isAdmin
        self.createdAt = createdAt
        self.passwordChangedAt = createdAt
    }
}

public struct WorkspaceRecord: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var createdBy: String
    public var createdAt: Int64

    public init(id: String, name: String, createdBy: String, createdAt: Int64) {
        self.id = id
        self.name = name
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

/// A member of a workspace, joined with the user's name.
public struct MemberRecord: Codable, Sendable, Equatable {
    public var userId: String
    public var username: String
    public var role: String
    public var createdAt: Int64

    public init(userId: String, username: String, role: String, createdAt: Int64) {
        self.userId = userId
        self.username = username
        self.role = role
        self.createdAt = createdAt
    }
}

/// Where a workspace data key is in its life. Stored as its raw value.
public enum DataKeyState: String, Codable, Sendable {
    /// New writes use the highest active version.
    case active
    /// Superseded by a newer key; versions sealed under it are being re-encrypted.
    case retiring
    /// No version is sealed under it any more. Kept, never deleted.
    case retired
}

/// Where a re-encryption job is. Stored as its raw value.
public enum KeyRotationJobStatus: String, Codable, Sendable {
    case running
    case completed
    /// A newer job covers everything this one would still do.
    case superseded
}

/// A workspace data key, wrapped by a key provider. `state` is `active` for the version new writes use.
public struct WorkspaceKeyRecord: Codable, Sendable, Equatable {
    public var workspaceId: String
    public var version: Int
    public var wrappedKey: Data
    public var provider: String
    public var keyId: String
    public var state: DataKeyState
    public var createdAt: Int64

    public init(
        workspaceId: String, version: Int, wrappedKey: Data, provider: String, keyId: String, state: DataKeyState,
        createdAt: Int64
    ) {
        self.workspaceId = workspaceId
        self.version = version
        self.wrappedKey = wrappedKey
        self.provider = provider
        self.keyId = keyId
        self.state = state
        self.createdAt = createdAt
    }
}

/// A secret's metadata (seed 004's columns). The value lives in `SecretVersionRecord`s.
public struct SecretRecord: Codable, Sendable, Equatable {
    public var id: String
    public var workspaceId: String
    public var name: String
    public var secretType: String
    public var usage: String?
    public var rotationPolicy: String
    public var lastRotatedAt: Int64?
    public var rotationDueAt: Int64?
    public var tags: String
    public var metadata: String
    public var isActive: Bool
    public var currentVersion: Int
    public var createdByUserId: String?
    public var updatedByUserId: String?
    public var createdAt: Int64
    public var updatedAt: Int64
    public var deletedAt: Int64?
    /// A generator spec (JSON) for secrets whose values Coffer makes and rotates itself.
    public var generator: String?

    public init(
        id: String, workspaceId: String, name: String, secretType: String, usage: String?, rotationPolicy: String,
        lastRotatedAt: Int64?, rotationDueAt: Int64?, tags: String, metadata: String, isActive: Bool,
        currentVersion: Int, createdByUserId: String?, updatedByUserId: String?, createdAt: Int64, updatedAt: Int64,
        deletedAt: Int64? = nil, generator: String? = nil
    ) {
        self.id = id
        self.workspaceId = workspaceId
        self.name = name
        self.secretType = secretType
        self.usage = usage
        self.rotationPolicy = rotationPolicy
        self.lastRotatedAt = lastRotatedAt
        self.rotationDueAt = rotationDueAt
        self.tags = tags
        self.metadata = metadata
        self.isActive = isActive
        self.currentVersion = currentVersion
        self.createdByUserId = createdByUserId
        self.updatedByUserId = updatedByUserId
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deletedAt = deletedAt
        self.generator = generator
    }
}

/// One encrypted value of a secret. `ciphertext` is an envelope naming `dekVersion`.
public struct SecretVersionRecord: Codable, Sendable, Equatable {
    public var secretId: String
    public var version: Int
    public var ciphertext: Data
    public var dekVersion: Int
    public var createdBy: String?
    public var createdAt: Int64
    /// Set while the version is deleted (hidden; restorable).
    public var deletedAt: Int64?
    /// Set once the version is destroyed: its ciphertext is gone for good.
    public var destroyedAt: Int64?

    public init(
        secretId: String, version: Int, ciphertext: Data, dekVersion: Int, createdBy: String?, createdAt: Int64,
        deletedAt: Int64? = nil, destroyedAt: Int64? = nil
    ) {
        self.secretId = secretId
        self.version = version
        self.ciphertext = ciphertext
        self.dekVersion = dekVersion
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.deletedAt = deletedAt
        self.destroyedAt = destroyedAt
    }

    /// Whether the value can be read: neither deleted nor destroyed.
    public var isReadable: Bool { deletedAt == nil && destroyedAt == nil }
}

/// One audit record (seed 004's fields plus workspace, request id, sequence and chain MAC).
public struct AuditRecord: Codable, Sendable, Equatable {
    public var seq: Int64
    public var id: String
    public var workspaceId: String?
    public var secretId: String?
    public var action: String
    public var userId: String?
    public var ipAddress: String?
    public var userAgent: String?
    public var requestId: String?
    public var details: String
    public var success: Bool
    public var createdAt: Int64
    public var mac: Data

    public init(
        seq: Int64, id: String, workspaceId: String?, secretId: String?, action: String, userId: String?,
        ipAddress: String?, userAgent: String?, requestId: String?, details: String, success: Bool, createdAt: Int64,
        mac: Data
    ) {
        self.seq = seq
        self.id = id
        self.workspaceId = workspaceId
        self.secretId = secretId
        self.action = action
        self.userId = userId
        self.ipAddress = ipAddress
        self.userAgent = userAgent
        self.requestId = requestId
        self.details = details
        self.success = success
        self.createdAt = createdAt
        self.mac = mac
    }
}

/// A DEK re-encryption job (`rotate-key`): re-seals every older secret version under the newest data key.
public struct KeyRotationJobRecord: Codable, Sendable, Equatable {
    public var id: String
    public var workspaceId: String?
    public var status: KeyRotationJobStatus
    public var total: Int64
    public var done: Int64
    public var requestedBy: String?
    public var startedAt: Int64
    public var finishedAt: Int64?
    /// Versions among `done` that did not authenticate and were left under their old key.
    public var failed: Int64

    public init(
        id: String, workspaceId: String?, status: KeyRotationJobStatus, total: Int64, done: Int64, requestedBy: String?,
        startedAt: Int64, finishedAt: Int64? = nil, failed: Int64 = 0
    ) {
        self.id = id
        self.workspaceId = workspaceId
        self.status = status
        self.total = total
        self.done = done
        self.requestedBy = requestedBy
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.failed = failed
    }
}

/// A login session: the family of refresh tokens issued from one login.
public struct SessionRecord: Codable, Sendable, Equatable {
    public var id: String
    public var userId: String
    public var createdAt: Int64
    public var expiresAt: Int64
    public var revokedAt: Int64?
    public var revokedReason: String?

    public init(id: String, userId: String, createdAt: Int64, expiresAt: Int64) {
        self.id = id
        self.userId = userId
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// A refresh token, stored only as its SHA-256 hash. `usedAt` is set when it is exchanged.
public struct RefreshTokenRecord: Codable, Sendable, Equatable {
    public var tokenHash: String
    public var sessionId: String
    public var createdAt: Int64
    public var usedAt: Int64?

    public init(tokenHash: String, sessionId: String, createdAt: Int64) {
        self.tokenHash = tokenHash
        self.sessionId = sessionId
        self.createdAt = createdAt
    }
}

/// A machine credential scoped to one workspace and role; only its SHA-256 hash is stored.
public struct ServiceTokenRecord: Codable, Sendable, Equatable {
    public var id: String
    public var workspaceId: String
    public var name: String
    public var role: String
    public var tokenHash: String
    public var createdBy: String
    public var createdAt: Int64
    public var expiresAt: Int64
    public var revokedAt: Int64?

    public init(
        id: String, workspaceId: String, name: String, role: String, tokenHash: String, createdBy: String,
        createdAt: Int64, expiresAt: Int64
    ) {
        self.id = id
        self.workspaceId = workspaceId
        self.name = name
        self.role = role
        self.tokenHash = tokenHash
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}
