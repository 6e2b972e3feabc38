import CofferStore
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

extension AuditFilter {
    /// Refuses a page request with bounds or an action that no list accepts (before anyone is authorized).
    func validate(limit: Int, offset: Int) throws {
        try Page<AuditEntryView>.validate(limit: limit, offset: offset)
        if let action, AuditAction(rawValue: action) == nil {
            throw CofferError.validation(
                "action must be one of " + AuditAction.allCases.map(\.rawValue).joined(separator: ", "))
        }
    }
}

extension AuditLog {
    /// A page of audit records, newest first: one workspace's (`workspaceID`), or the whole instance's with `nil`,
    /// optionally only `userID`'s. The caller has validated the request and checked who may read them.
    func page(
        workspaceID: String?, userID: String? = nil, filter: AuditFilter, limit: Int, offset: Int
    ) async throws -> Page<AuditEntryView> {
        let (items, total) = try await database.read { db in
            try await AuditRepository().list(
                workspaceID: workspaceID, userID: userID, action: filter.action, success: filter.success,
                since: filter.since, limit: limit, offset: offset, on: db)
        }
        return Page(items: items.map(AuditEntryView.init), total: total, limit: limit, offset: offset)
    }
}
