import Foundation

/// A workspace role. Each role includes the permissions of the ones before it.
public enum Role: String, Sendable, Codable, CaseIterable, Comparable {
    case reader, writer, admin, owner

    var rank: Int {
        switch self {
        case .reader: 0
        case .writer: 1
        case .admin: 2
        case .owner: 3
        }
    }

    public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }

    /// Whether this role grants `permission`.
    public func allows(_ permission: Permission) -> Bool { self >= permission.minimumRole }
}

/// What an operation needs from the caller's role.
public enum Permission: Sendable {
    /// List secrets, read metadata and values.
    case read
    /// Create, update, rotate and delete secrets.
    case write
    /// Manage members, read audit records; destroy versions; create and configure transit keys.
    case administer

    var minimumRole: Role {
        switch self {
        case .read: .reader
        case .write: .writer
        case .administer: .admin
        }
    }
}

/// Seed 004's secret types. `database_cred` is accepted as an alias of `database_credential`.
public enum SecretType: String, Sendable, CaseIterable {
    case apiKey = "api_key"
    case databaseCredential = "database_credential"
    case oauthToken = "oauth_token"
    case sshKey = "ssh_key"
    case certificate
    case password
    case generic

    public init?(parsing text: String) {
        if text == "database_cred" {
            self = .databaseCredential
        } else {
            self.init(rawValue: text)
        }
    }
}

/// Seed 004's rotation policies. An `auto_N_days` policy makes a secret due N days after its last rotation.
public enum RotationPolicy: String, Sendable, CaseIterable {
    case manual
    case auto30Days = "auto_30_days"
    case auto60Days = "auto_60_days"
    case auto90Days = "auto_90_days"
    case auto180Days = "auto_180_days"
    case auto365Days = "auto_365_days"

    /// Days between rotations; `nil` for `manual`.
    public var days: Int? {
        switch self {
        case .manual: nil
        case .auto30Days: 30
        case .auto60Days: 60
        case .auto90Days: 90
        case .auto180Days: 180
        case .auto365Days: 365
        }
    }

    /// The policy for a number of days (`SECRET_ROTATION_DAYS`), if one matches.
    public init?(days: Int) {
        guard let policy = Self.allCases.first(where: { $0.days == days }) else { return nil }
        self = policy
    }

    /// When a secret last rotated at `lastRotated` is due, or `nil` if it never is.
    public func dueDate(after lastRotated: Date) -> Date? {
        days.map { lastRotated.addingTimeInterval(TimeInterval($0) * 86_400) }
    }
}

/// Audit actions: seed 004's, plus `restored`, `purged`, and `listed` (denied list and metadata attempts); the
/// transit operations `encrypted`, `decrypted` and `rewrapped`; and seed 001's account events (no workspace).
public enum AuditAction: String, Sendable, Codable, CaseIterable {
    case created, accessed, updated, rotated, deleted, restored, purged, listed
    case encrypted, decrypted, rewrapped
    case registered, login, logout
    case passwordChanged = "password_changed"
    case refreshTokenReused = "refresh_token_reused"
}

/// Who is calling.
///
/// A user (with the login session of the access token), or a service token: then `userID` is
/// `service-token:<id>`, which is what the audit trail records for its every use, and `serviceToken` says the
/// one workspace and role it may act in.
public struct Principal: Sendable, Equatable {
    public let userID: String
    /// The login session an access token belongs to (logout and password changes revoke it).
    public let sessionID: String?
    /// Set for machine access: the token's workspace and role.
    public let serviceToken: ServiceTokenScope?

    public init(userID: String, sessionID: String? = nil) {
        self.userID = userID
        self.sessionID = sessionID
        self.serviceToken = nil
    }

    init(serviceToken: ServiceTokenScope) {
        self.userID = "service-token:\(serviceToken.id)"
        self.sessionID = nil
        self.serviceToken = serviceToken
    }

    /// Refuses service tokens on everything but a workspace's secret endpoints.
    func requireUser() throws {
        if serviceToken != nil {
            throw CofferError(.forbidden, "Service tokens can only use their workspace's secret endpoints.")
        }
    }
}

/// What a service token may do: one workspace, one role (reader or writer).
public struct ServiceTokenScope: Sendable, Equatable {
    public let id: String
    public let workspaceID: String
    public let role: Role
}

/// Where a request came from, for the audit trail.
public struct RequestOrigin: Sendable {
    public var ipAddress: String?
    public var userAgent: String?
    public var requestID: String?

    public init(ipAddress: String? = nil, userAgent: String? = nil, requestID: String? = nil) {
        self.ipAddress = ipAddress
        self.userAgent = userAgent.map { String($0.prefix(512)) }
        self.requestID = requestID
    }
}

/// A page of results.
public struct Page<Item: Sendable>: Sendable {
    public let items: [Item]
    public let total: Int
    public let limit: Int
    public let offset: Int

    /// The bounds every paged list takes: `limit` 1…1000, `offset` not negative.
    static func validate(limit: Int, offset: Int = 0) throws {
        guard (1...1000).contains(limit) else { throw CofferError.validation("limit must be between 1 and 1000") }
        guard offset >= 0 else { throw CofferError.validation("offset must not be negative") }
    }
}

/// Milliseconds since the epoch, the unit the store keeps.
extension Date {
    var millis: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }
    init(millis: Int64) { self.init(timeIntervalSince1970: TimeInterval(millis) / 1000) }
}
