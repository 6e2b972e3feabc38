import Foundation

/// A failure from Coffer: the API's stable `code` (`secret_not_found`, `forbidden`, …) and its message, which is
/// safe to show and never holds a value or a token.
///
/// `status` is the HTTP status, or 0 when the server could not be reached (`code` is then `unreachable`) or
/// answered something that is not Coffer's API (`unexpected_response`).
public struct CofferClientError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) (\(code))" }

    /// Whether a cached value may stand in for the answer: the server could not be reached or was unavailable
    /// (5xx, or 429), as opposed to a refusal, which a cache must never paper over.
    public var isOutage: Bool { status == 0 && code == "unreachable" || status >= 500 || status == 429 }
}

/// A login session: a short-lived access token and the single-use refresh token that renews it. Its description
/// shows only the expiry.
public struct CofferSession: Codable, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public var accessToken: String
    public var refreshToken: String
    public var expiresAt: Date

    public init(accessToken: String, refreshToken: String, expiresAt: Date) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token", refreshToken = "refresh_token", expiresAt = "expires_at"
    }

    public var description: String { "CofferSession(expires \(expiresAt), tokens redacted)" }
    public var debugDescription: String { description }
}

/// A workspace the caller belongs to, with the caller's role in it.
public struct Workspace: Decodable, Sendable, Equatable {
    public let id: String
    public let name: String
    public let role: String
    public let createdAt: Date?

    enum CodingKeys: String, CodingKey { case id, name, role, createdAt = "created_at" }
}

/// A secret's metadata: never its value.
public struct Secret: Decodable, Sendable, Equatable {
    public let id: String
    public let workspaceID: String
    public let name: String
    public let secretType: String
    public let usage: String?
    public let version: Int
    public let tags: [String]
    public let isActive: Bool
    public let rotationPolicy: String
    public let lastRotatedAt: Date?
    public let rotationDueAt: Date?
    public let createdAt: Date
    public let updatedAt: Date
    public let deletedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, workspaceID = "workspace_id", name, secretType = "secret_type", usage, version, tags
        case isActive = "is_active", rotationPolicy = "rotation_policy", lastRotatedAt = "last_rotated_at"
        case rotationDueAt = "rotation_due_at", createdAt = "created_at", updatedAt = "updated_at"
        case deletedAt = "deleted_at"
    }
}

/// One page of a listing, with the total the filter matches.
public struct Page<Item: Decodable & Sendable>: Decodable, Sendable {
    public let items: [Item]
    public let total: Int
    public let limit: Int
    public let offset: Int
}

/// What to store when a secret is created (the value itself is a separate argument, so that it never sits in a
/// value that might be printed).
public struct SecretOptions: Sendable {
    /// `api_key`, `database_credential`, `oauth_token`, `ssh_key`, `certificate`, `password` or `generic`.
    public var secretType: String?
    public var usage: String?
    public var tags: [String]?
    /// `manual`, or `auto_30_days`, `auto_60_days`, `auto_90_days`, `auto_180_days`, `auto_365_days`.
    public var rotationPolicy: String?

    public init(secretType: String? = nil, usage: String? = nil, tags: [String]? = nil, rotationPolicy: String? = nil) {
        self.secretType = secretType
        self.usage = usage
        self.tags = tags
        self.rotationPolicy = rotationPolicy
    }
}

/// A secret's value with the version it came from. Its description never shows the value.
public struct SecretValue: Decodable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let id: String
    public let name: String
    public let value: String
    public let version: Int

    public var description: String { "SecretValue(\(name) v\(version), value redacted)" }
    public var debugDescription: String { description }
}
