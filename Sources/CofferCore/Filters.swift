import Foundation

/// Which secrets a list returns.
public struct SecretFilter: Sendable, Equatable {
    public var tag: String?
    public var secretType: String?
    public var namePrefix: String?
    public var includeDeleted = false

    public init(tag: String? = nil, secretType: String? = nil, namePrefix: String? = nil, includeDeleted: Bool = false) {
        self.tag = tag
        self.secretType = secretType
        self.namePrefix = namePrefix
        self.includeDeleted = includeDeleted
    }
}

/// Which audit records a list returns.
public struct AuditFilter: Sendable {
    public var action: String?
    public var success: Bool?
    /// Milliseconds since the epoch.
    public var since: Int64?

    public init(action: String? = nil, success: Bool? = nil, since: Int64? = nil) {
        self.action = action
        self.success = success
        self.since = since
    }
}
