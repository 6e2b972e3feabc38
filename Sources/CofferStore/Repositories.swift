import Foundation
import SQLKit

/// Users. All methods run on the handle they are given, so callers choose the transaction.
public struct UserRepository: Sendable {
    public init() {}

    public func insert(_ user: UserRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            INSERT INTO users (id, username, password_hash, is_admin, created_at, password_changed_at)
            VALUES (\(bind: user.id), \(bind: user.username), \(bind: user.passwordHash), \(bind: user.isAdmin),
                    \(bind: user.createdAt), \(bind: user.passwordChangedAt))
            """)
    }

    public func count(on db: any SQLDatabase) async throws -> Int {
        try await db.raw("SELECT COUNT(*) AS n FROM users").first(decodingColumn: "n", as: Int.self) ?? 0
    }

    public func find(username: String, on db: any SQLDatabase) async throws -> UserRecord? {
        try await db.raw("SELECT * FROM users WHERE username = \(bind: username)")
            .first(decoding: UserRecord.self, with: rowDecoder)
    }

    public func find(id: String, on db: any SQLDatabase) async throws -> UserRecord? {
        try await db.raw("SELECT * FROM users WHERE id = \(bind: id)").first(decoding: UserRecord.self, with: rowDecoder)
    }
}

/// Workspaces and their memberships.
public struct WorkspaceRepository: Sendable {
    public init() {}

    public func insert(_ workspace: WorkspaceRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            INSERT INTO workspaces (id, name, created_by, created_at)
            VALUES (\(bind: workspace.id), \(bind: workspace.name), \(bind: workspace.createdBy), \(bind: workspace.createdAt))
            """)
    }

    public func find(id: String, on db: any SQLDatabase) async throws -> WorkspaceRecord? {
        try await db.raw("SELECT * FROM workspaces WHERE id = \(bind: id)")
            .first(decoding: WorkspaceRecord.self, with: rowDecoder)
    }

    /// The workspaces `userID` is a member of, with the role held in each, oldest first.
    public func list(memberID userID: String, on db: any SQLDatabase) async throws -> [(WorkspaceRecord, String)] {
        struct Row: Decodable {
            let id: String, name: String, createdBy: String, createdAt: Int64, role: String
        }
        let rows = try await db.raw(
            """
            SELECT w.id, w.name, w.created_by, w.created_at, m.role FROM workspaces w
            JOIN memberships m ON m.workspace_id = w.id
            WHERE m.user_id = \(bind: userID) ORDER BY w.created_at, w.id
            """
        ).all(decoding: Row.self, with: rowDecoder)
        return rows.map { (WorkspaceRecord(id: $0.id, name: $0.name, createdBy: $0.createdBy, createdAt: $0.createdAt), $0.role) }
    }

    /// The role `userID` holds in `workspaceID`, or `nil` for a non-member (or an unknown workspace).
    public func role(of userID: String, in workspaceID: String, on db: any SQLDatabase) async throws -> String? {
        try await db.raw(
            "SELECT role FROM memberships WHERE workspace_id = \(bind: workspaceID) AND user_id = \(bind: userID)"
        ).first(decodingColumn: "role", as: String.self)
    }

    /// Adds a member or changes the role of an existing one.
    public func upsertMember(
        workspaceID: String, userID: String, role: String, at time: Int64, on db: any SQLDatabase
    ) async throws {
        try await db.exec(
            """
            INSERT INTO memberships (workspace_id, user_id, role, created_at)
            VALUES (\(bind: workspaceID), \(bind: userID), \(bind: role), \(bind: time))
            ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role
            """)
    }

    public func removeMember(workspaceID: String, userID: String, on db: any SQLDatabase) async throws {
        try await db.exec(
            "DELETE FROM memberships WHERE workspace_id = \(bind: workspaceID) AND user_id = \(bind: userID)")
    }

    public func members(of workspaceID: String, on db: any SQLDatabase) async throws -> [MemberRecord] {
        try await db.raw(
            """
            SELECT m.user_id, u.username, m.role, m.created_at FROM memberships m
            JOIN users u ON u.id = m.user_id
            WHERE m.workspace_id = \(bind: workspaceID) ORDER BY m.created_at, u.username
            """
        ).all(decoding: MemberRecord.self, with: rowDecoder)
    }

    public func countMembers(of workspaceID: String, role: String, on db: any SQLDatabase) async throws -> Int {
        try await db.raw(
            "SELECT COUNT(*) AS n FROM memberships WHERE workspace_id = \(bind: workspaceID) AND role = \(bind: role)"
        ).first(decodingColumn: "n", as: Int.self) ?? 0
    }
}

/// Wrapped workspace data keys.
public struct KeyRepository: Sendable {
    public init() {}

    public func insert(_ key: WorkspaceKeyRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            INSERT INTO workspace_keys (workspace_id, version, wrapped_key, provider, key_id, state, created_at)
            VALUES (\(bind: key.workspaceId), \(bind: key.version), \(bind: key.wrappedKey), \(bind: key.provider),
                    \(bind: key.keyId), \(bind: key.state), \(bind: key.createdAt))
            """)
    }

    /// The key new writes in a workspace use: its highest `active` version.
    public func active(workspaceID: String, on db: any SQLDatabase) async throws -> WorkspaceKeyRecord? {
        try await db.raw(
            """
            SELECT * FROM workspace_keys WHERE workspace_id = \(bind: workspaceID) AND state = 'active'
            ORDER BY version DESC LIMIT 1
            """
        ).first(decoding: WorkspaceKeyRecord.self, with: rowDecoder)
    }

    public func find(workspaceID: String, version: Int, on db: any SQLDatabase) async throws -> WorkspaceKeyRecord? {
        try await db.raw(
            "SELECT * FROM workspace_keys WHERE workspace_id = \(bind: workspaceID) AND version = \(bind: version)"
        ).first(decoding: WorkspaceKeyRecord.self, with: rowDecoder)
    }
}

/// Small named values: the wrapped instance key and similar.
public struct MetaRepository: Sendable {
    public init() {}

    public func get(_ key: String, on db: any SQLDatabase) async throws -> Data? {
        try await db.raw("SELECT value FROM coffer_meta WHERE key = \(bind: key)").first(decodingColumn: "value", as: Data.self)
    }

    public func set(_ key: String, _ value: Data, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            INSERT INTO coffer_meta (key, value) VALUES (\(bind: key), \(bind: value))
            ON CONFLICT (key) DO UPDATE SET value = excluded.value
            """)
    }
}
