import CofferCrypto
import CofferStore
import Foundation

/// Workspaces, their members and roles: the one place that decides who may do what in a workspace.
///
/// Guarantees:
/// - A non-member gets `workspace_not_found` (404) for every resource of a workspace, so membership cannot be
///   probed; a member without the permission gets `forbidden` (403). Both are audited with `success: false`
///   before the error is returned.
/// - Only owners grant, change or remove the `owner` role, and a workspace never loses its last owner.
public final class WorkspaceService: Sendable {
    private let database: any CofferDatabase
    private let keyring: Keyring
    private let audit: AuditLog
    private let clock: @Sendable () -> Date
    private let workspaces = WorkspaceRepository()
    private let users = UserRepository()
    /// Members' roles, keyed by user and workspace, so a request does not read its membership row. Every
    /// membership change here evicts them all before it returns.
    private let roles: RevocableCache<Role>
    /// Mount points already resolved, keyed by caller and mount; evicted with the roles.
    private let mounts: RevocableCache<WorkspaceView>

    init(
        database: any CofferDatabase, keyring: Keyring, audit: AuditLog, clock: @escaping @Sendable () -> Date,
        cacheSeconds: TimeInterval = 0
    ) {
        self.database = database
        self.keyring = keyring
        self.audit = audit
        self.clock = clock
        self.roles = RevocableCache(ttl: cacheSeconds, clock: clock)
        self.mounts = RevocableCache(ttl: cacheSeconds, clock: clock)
    }

    /// Creates a workspace with its first data key; the caller becomes its owner.
    public func create(_ input: WorkspaceCreate, by principal: Principal) async throws -> WorkspaceView {
        try principal.requireUser()
        let name = input.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...100).contains(name.count), !name.contains(where: \.isNewline) else {
            throw CofferError.validation("name must be 1 to 100 characters on one line")
        }
        let now = clock()
        let record = WorkspaceRecord(
            id: Identifier.uuid(), name: name, createdBy: principal.userID, createdAt: now.millis)
        try await database.write { db in
            guard try await self.users.find(id: principal.userID, on: db) != nil else {
                throw CofferError(.invalidToken, "The access token is not valid.")
            }
            try await self.workspaces.insert(record, on: db)
            try await self.workspaces.upsertMember(
                workspaceID: record.id, userID: principal.userID, role: Role.owner.rawValue, at: now.millis, on: db)
            try await self.keyring.createWorkspaceKey(workspaceID: record.id, version: 1, at: now, on: db)
        }
        // A mount point resolved by name may now be ambiguous.
        invalidateCaches()
        return WorkspaceView(id: record.id, name: record.name, createdAt: now, role: .owner)
    }

    /// The workspace a mount point names for the caller: a workspace id, or the name of one of the caller's
    /// workspaces (a service token's own workspace only).
    ///
    /// - Throws: `workspace_not_found` when the caller has no such workspace (nothing is said about others'; the
    ///   denial is audited against the mount as a workspace id, as a REST request for it would be),
    ///   `validation_failed` when several of the caller's workspaces have that name.
    public func resolve(mount: String, for principal: Principal, origin: RequestOrigin) async throws -> WorkspaceView {
        let key = principal.userID + "/" + mount
        if let cached = mounts.value(for: key) { return cached }
        let ticket = mounts.ticket()
        let found: WorkspaceView
        if let token = principal.serviceToken {
            let record = try await database.read { db in try await self.workspaces.find(id: token.workspaceID, on: db) }
            guard let record, record.id == mount || record.name == mount else {
                _ = try await authorize(.read, in: mount, principal: principal, action: .accessed, origin: origin)
                throw CofferError(.workspaceNotFound, "Workspace not found.")
            }
            found = WorkspaceView(
                id: record.id, name: record.name, createdAt: Date(millis: record.createdAt), role: token.role)
        } else {
            let mine = try await database.read { db in
                try await self.workspaces.list(memberID: principal.userID, on: db)
            }
            let byID = mine.filter { $0.0.id == mount }
            let matches = byID.isEmpty ? mine.filter { $0.0.name == mount } : byID
            guard let (record, role) = matches.first else {
                _ = try await authorize(.read, in: mount, principal: principal, action: .accessed, origin: origin)
                throw CofferError(.workspaceNotFound, "Workspace not found.")
            }
            guard matches.count == 1 else {
                throw CofferError.validation(
                    "Several of your workspaces are named \(mount); use the workspace id as the mount point.")
            }
            found = WorkspaceView(
                id: record.id, name: record.name, createdAt: Date(millis: record.createdAt),
                role: Role(rawValue: role) ?? .reader)
        }
        mounts.store(found, for: key, ticket: ticket)
        return found
    }

    /// The caller's workspaces, with the role held in each.
    public func list(for principal: Principal) async throws -> [WorkspaceView] {
        try principal.requireUser()
        return try await database.read { db in
            try await self.workspaces.list(memberID: principal.userID, on: db).map { record, role in
                WorkspaceView(
                    id: record.id, name: record.name, createdAt: Date(millis: record.createdAt),
                    role: Role(rawValue: role) ?? .reader)
            }
        }
    }

    /// The caller's role in a workspace if it grants `permission`.
    ///
    /// - Throws: `workspace_not_found` for a non-member (or unknown workspace), `forbidden` for a member without
    ///   the permission; either is audited as a failed `action` first.
    func authorize(
        _ permission: Permission, in workspaceID: String, principal: Principal, action: AuditAction,
        secretID: String? = nil, origin: RequestOrigin
    ) async throws -> Role {
        let role: Role?
        if let token = principal.serviceToken {
            role = token.workspaceID == workspaceID ? token.role : nil
        } else {
            role = try await self.role(of: principal.userID, in: workspaceID)
        }
        guard let role else {
            try await audit.appendDurably(
                AuditEvent(
                    action: action, workspaceID: workspaceID, secretID: secretID, userID: principal.userID,
                    origin: origin, details: ["reason": .string("not_a_member")], success: false))
            throw CofferError(.workspaceNotFound, "Workspace not found.")
        }
        guard role.allows(permission) else {
            try await audit.appendDurably(
                AuditEvent(
                    action: action, workspaceID: workspaceID, secretID: secretID, userID: principal.userID,
                    origin: origin, details: ["reason": .string("forbidden"), "role": .string(role.rawValue)],
                    success: false))
            throw CofferError(.forbidden, "Your role in this workspace does not allow this.")
        }
        return role
    }

    private func invalidateCaches() {
        roles.invalidateAll()
        mounts.invalidateAll()
    }

    /// A user's role in a workspace (`nil` for a non-member), from the cache when it was read recently.
    private func role(of userID: String, in workspaceID: String) async throws -> Role? {
        let key = userID + "/" + workspaceID
        if let cached = roles.value(for: key) { return cached }
        let ticket = roles.ticket()
        let role = try await database.read { db in
            try await self.workspaces.role(of: userID, in: workspaceID, on: db)
        }.flatMap(Role.init(rawValue:))
        if let role { roles.store(role, for: key, ticket: ticket) }
        return role
    }

    /// Adds a member, or changes an existing member's role.
    public func addMember(
        _ input: MemberAdd, to workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> MemberView {
        try principal.requireUser()
        guard let role = Role(rawValue: input.role) else {
            throw CofferError.validation("role must be one of reader, writer, admin, owner")
        }
        let callerRole = try await authorize(
            .administer, in: workspaceID, principal: principal, action: .updated, origin: origin)
        let now = clock().millis
        defer { invalidateCaches() }
        let member = try await database.write { db -> MemberRecord in
            guard let user = try await self.users.find(username: input.username, on: db) else {
                throw CofferError(.userNotFound, "No user with that username.")
            }
            let current = try await self.workspaces.role(of: user.id, in: workspaceID, on: db).flatMap(Role.init(rawValue:))
            if role == .owner || current == .owner {
                guard callerRole == .owner else {
                    throw CofferError(.forbidden, "Only an owner can grant or change the owner role.")
                }
            }
            if current == .owner, role != .owner,
                try await self.workspaces.countMembers(of: workspaceID, role: Role.owner.rawValue, on: db) <= 1
            {
                throw CofferError(.lastOwner, "A workspace must keep at least one owner.")
            }
            try await self.workspaces.upsertMember(
                workspaceID: workspaceID, userID: user.id, role: role.rawValue, at: now, on: db)
            try await self.audit.append(
                [
                    AuditEvent(
                        action: .updated, workspaceID: workspaceID, secretID: nil, userID: principal.userID,
                        origin: origin,
                        details: [
                            "event": .string("member_set"), "member_user_id": .string(user.id),
                            "role": .string(role.rawValue),
                        ], success: true)
                ], on: db)
            return MemberRecord(userId: user.id, username: user.username, role: role.rawValue, createdAt: now)
        }
        return MemberView(member)
    }

    public func members(of workspaceID: String, by principal: Principal, origin: RequestOrigin) async throws -> [MemberView] {
        try principal.requireUser()
        _ = try await authorize(.read, in: workspaceID, principal: principal, action: .listed, origin: origin)
        return try await database.read { try await self.workspaces.members(of: workspaceID, on: $0) }.map(MemberView.init)
    }

    /// Removes a member. Admins remove readers, writers and admins; only owners remove owners; the last owner
    /// cannot be removed.
    public func removeMember(
        _ userID: String, from workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws {
        try principal.requireUser()
        let callerRole = try await authorize(
            .administer, in: workspaceID, principal: principal, action: .updated, origin: origin)
        defer { invalidateCaches() }
        try await database.write { db in
            guard let current = try await self.workspaces.role(of: userID, in: workspaceID, on: db) else {
                throw CofferError(.memberNotFound, "That user is not a member of this workspace.")
            }
            if current == Role.owner.rawValue {
                guard callerRole == .owner else {
                    throw CofferError(.forbidden, "Only an owner can remove an owner.")
                }
                guard try await self.workspaces.countMembers(of: workspaceID, role: current, on: db) > 1 else {
                    throw CofferError(.lastOwner, "A workspace must keep at least one owner.")
                }
            }
            try await self.workspaces.removeMember(workspaceID: workspaceID, userID: userID, on: db)
            try await self.audit.append(
                [
                    AuditEvent(
                        action: .updated, workspaceID: workspaceID, secretID: nil, userID: principal.userID,
                        origin: origin,
                        details: ["event": .string("member_removed"), "member_user_id": .string(userID)],
                        success: true)
                ], on: db)
        }
    }
}
