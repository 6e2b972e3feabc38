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

    /// The account with this username, compared without regard to case (usernames are ASCII); when accounts made
    /// before usernames were unique that way clash, the one spelled exactly so wins.
    public func find(username: String, on db: any SQLDatabase) async throws -> UserRecord? {
        try await db.raw(
            """
            SELECT * FROM users WHERE lower(username) = lower(\(bind: username))
            ORDER BY CASE WHEN username = \(bind: username) THEN 0 ELSE 1 END, created_at LIMIT 1
            """
        ).first(decoding: UserRecord.self, with: rowDecoder)
    }

    /// Usernames that differ only in case, lower-cased, each with how many accounts share it (accounts made before
    /// migration 11 made that impossible).
    public func caseClashes(on db: any SQLDatabase) async throws -> [(username: String, accounts: Int)] {
        struct Row: Decodable { let u: String; let n: Int }
        return try await db.raw(
            "SELECT lower(username) AS u, COUNT(*) AS n FROM users GROUP BY lower(username) HAVING COUNT(*) > 1 ORDER BY u"
        ).all(decoding: Row.self).map { ($0.u, $0.n) }
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
                    \(bind: key.keyId), \(bind: key.state.rawValue), \(bind: key.createdAt))
            """)
    }

    /// The key new writes in a workspace use: its highest `active` version.
    public func active(workspaceID: String, on db: any SQLDatabase) async throws -> WorkspaceKeyRecord? {
        try await db.raw(
            """
            SELECT * FROM workspace_keys WHERE workspace_id = \(bind: workspaceID) AND state = 'active'
            ORDER BY version DESC LIMIT 1
            """
        ).first().map(WorkspaceKeyRecord.init(row:))
    }

    public func find(workspaceID: String, version: Int, on db: any SQLDatabase) async throws -> WorkspaceKeyRecord? {
        try await db.raw(
            "SELECT * FROM workspace_keys WHERE workspace_id = \(bind: workspaceID) AND version = \(bind: version)"
        ).first().map(WorkspaceKeyRecord.init(row:))
    }
}

extension WorkspaceKeyRecord {
    /// A `workspace_keys` row, read column by column: the active key is read inside every secret create's
    /// transaction, where `Codable` row decoding was 5% of the writer's time (issue 6).
    init(row: any SQLRow) throws {
        self.init(
            workspaceId: try row.decode(column: "workspace_id", as: String.self),
            version: try row.decode(column: "version", as: Int.self),
            wrappedKey: try row.decode(column: "wrapped_key", as: Data.self),
            provider: try row.decode(column: "provider", as: String.self),
            keyId: try row.decode(column: "key_id", as: String.self),
            state: try DataKeyState.decode(row, column: "state"),
            createdAt: try row.decode(column: "created_at", as: Int64.self))
    }
}

extension RawRepresentable where RawValue == String {
    /// A state column's value; an unknown one is a `queryFailed` error naming the column, not a crash.
    static func decode(_ row: any SQLRow, column: String) throws -> Self {
        let text = try row.decode(column: column, as: String.self)
        guard let value = Self(rawValue: text) else {
            throw StoreError(.queryFailed, "Unknown value in column \(column).")
        }
        return value
    }
}

extension KeyRepository {
    /// Every wrapped key, for a master-key rewrap.
    public func all(on db: any SQLDatabase) async throws -> [WorkspaceKeyRecord] {
        try await db.raw("SELECT * FROM workspace_keys ORDER BY workspace_id, version")
            .all(decoding: WorkspaceKeyRecord.self, with: rowDecoder)
    }

    /// Replaces a key's wrapping (same key, new master or provider).
    public func rewrap(
        workspaceID: String, version: Int, wrappedKey: Data, provider: String, keyID: String, on db: any SQLDatabase
    ) async throws {
        try await db.exec(
            """
            UPDATE workspace_keys SET wrapped_key = \(bind: wrappedKey), provider = \(bind: provider), key_id = \(bind: keyID)
            WHERE workspace_id = \(bind: workspaceID) AND version = \(bind: version)
            """)
    }

    /// The newest version of a workspace's keys (any state), or 0.
    public func latestVersion(workspaceID: String, on db: any SQLDatabase) async throws -> Int {
        let latest = try await db.raw(
            "SELECT MAX(version) AS v FROM workspace_keys WHERE workspace_id = \(bind: workspaceID)"
        ).first(decodingColumn: "v", as: Int?.self)
        return (latest ?? nil) ?? 0
    }

    /// Sets the state of every version of a workspace's keys below `version`.
    public func setState(
        _ state: DataKeyState, workspaceID: String, below version: Int, on db: any SQLDatabase
    ) async throws {
        try await db.exec(
            """
            UPDATE workspace_keys SET state = \(bind: state.rawValue)
            WHERE workspace_id = \(bind: workspaceID) AND version < \(bind: version)
            """)
    }

    /// Workspaces whose active data key was made before `time` (milliseconds), oldest first.
    public func activeMadeBefore(_ time: Int64, limit: Int, on db: any SQLDatabase) async throws -> [String] {
        try await db.raw(
            """
            SELECT workspace_id, MAX(created_at) AS made FROM workspace_keys WHERE state = 'active'
            GROUP BY workspace_id HAVING MAX(created_at) < \(bind: time) ORDER BY made LIMIT \(bind: limit)
            """
        ).all(decodingColumn: "workspace_id", as: String.self)
    }

    /// The keys marked retiring, as (workspace, version).
    public func retiring(on db: any SQLDatabase) async throws -> [DataKeyVersion] {
        try await db.raw("SELECT workspace_id, version FROM workspace_keys WHERE state = 'retiring'").all()
            .map(DataKeyVersion.init(row:))
    }

    /// Every data key that still seals at least one secret version: one pass over the versions (there is no index
    /// on a version's key, which every re-encryption would have to move entry by entry).
    public func inUse(on db: any SQLDatabase) async throws -> Set<DataKeyVersion> {
        Set(
            try await db.raw("SELECT DISTINCT workspace_id, dek_version AS version FROM secret_versions WHERE destroyed_at IS NULL").all()
                .map(DataKeyVersion.init(row:)))
    }

    /// Marks these keys retired, each only if it is still retiring.
    public func retire(_ keys: [DataKeyVersion], on db: any SQLDatabase) async throws {
        for key in keys {
            try await db.exec(
                """
                UPDATE workspace_keys SET state = 'retired'
                WHERE workspace_id = \(bind: key.workspaceID) AND version = \(bind: key.version) AND state = 'retiring'
                """)
        }
    }

    public func workspaceIDs(on db: any SQLDatabase) async throws -> [String] {
        try await db.raw("SELECT id FROM workspaces ORDER BY id").all(decodingColumn: "id", as: String.self)
    }
}

/// Re-encryption jobs and the secret versions they still have to re-seal.
public struct KeyRotationRepository: Sendable {
    public init() {}

    public func insert(_ job: KeyRotationJobRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            INSERT INTO key_rotation_jobs (id, workspace_id, status, total, done, requested_by, started_at, finished_at,
                failed)
            VALUES (\(bind: job.id), \(bind: job.workspaceId), \(bind: job.status.rawValue), \(bind: job.total), \(bind: job.done),
                \(bind: job.requestedBy), \(bind: job.startedAt), \(bind: job.finishedAt), \(bind: job.failed))
            """)
    }

    public func update(_ job: KeyRotationJobRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            UPDATE key_rotation_jobs SET status = \(bind: job.status.rawValue), total = \(bind: job.total), done = \(bind: job.done),
                finished_at = \(bind: job.finishedAt), failed = \(bind: job.failed)
            WHERE id = \(bind: job.id)
            """)
    }

    public func running(on db: any SQLDatabase) async throws -> [KeyRotationJobRecord] {
        try await db.raw("SELECT * FROM key_rotation_jobs WHERE status = 'running' ORDER BY started_at")
            .all(decoding: KeyRotationJobRecord.self, with: rowDecoder)
    }

    public func recent(limit: Int, on db: any SQLDatabase) async throws -> [KeyRotationJobRecord] {
        try await db.raw("SELECT * FROM key_rotation_jobs ORDER BY started_at DESC, id LIMIT \(bind: limit)")
            .all(decoding: KeyRotationJobRecord.self, with: rowDecoder)
    }

    /// Secret versions (of one workspace, or all) sealed under a key older than their workspace's newest active key,
    /// in storage order after `cursor`, so a job walks the table once instead of rescanning resealed rows.
    ///
    /// Storage (rowid; on PostgreSQL the identity column `pos`) order, not (secret, version) order: secret ids are random, so key order visits the table's
    /// pages at random, and each batch dirtied (and wrote to the log) about one page per version; in storage
    /// order a batch of 2,000 versions touches about a hundred (issue 6: 16,000 → 75,000 updates a second in
    /// SQLite alone). Rowids are stable: Coffer never runs `VACUUM`, the one thing that renumbers them.
    /// Rows are read column by column: `Codable` decoding was a sixth of the job.
    public func stale(
        workspaceID: String?, after cursor: VersionCursor? = nil, limit: Int, on db: any SQLDatabase
    ) async throws -> [StaleVersion] {
        let column = db.versionPosition
        let start: SQLQueryString = cursor.map { "AND v.\(unsafeRaw: column) > \(bind: $0.position)" } ?? ""
        let rows = try await db.raw(
            """
            SELECT v.\(unsafeRaw: column) AS position, v.secret_id, v.version, v.ciphertext, v.dek_version,
                v.workspace_id, k.version AS target_version
            \(staleVersions(workspaceID)) \(start)
            ORDER BY v.\(unsafeRaw: column)
            LIMIT \(bind: limit)
            """
        ).all()
        return try rows.map { row in
            StaleVersion(
                position: try row.decode(column: "position", as: Int64.self),
                secretId: try row.decode(column: "secret_id", as: String.self),
                version: try row.decode(column: "version", as: Int.self),
                ciphertext: try row.decode(column: "ciphertext", as: Data.self),
                dekVersion: try row.decode(column: "dek_version", as: Int.self),
                workspaceId: try row.decode(column: "workspace_id", as: String.self),
                targetVersion: try row.decode(column: "target_version", as: Int.self))
        }
    }

    public func countStale(workspaceID: String?, on db: any SQLDatabase) async throws -> Int {
        try await db.raw("SELECT COUNT(*) AS n \(staleVersions(workspaceID))")
            .first(decodingColumn: "n", as: Int.self) ?? 0
    }

    /// The FROM and WHERE that select stale versions (`v`) with their workspace's active key (`k`). No join to
    /// `secrets`: versions carry their workspace (migration 7).
    private func staleVersions(_ workspaceID: String?) -> SQLQueryString {
        let scope: SQLQueryString = workspaceID.map { "AND v.workspace_id = \(bind: $0)" } ?? ""
        return """
            FROM secret_versions v JOIN workspace_keys k ON k.workspace_id = v.workspace_id AND k.state = 'active'
            WHERE v.dek_version < k.version AND v.destroyed_at IS NULL \(scope)
            """
    }

    /// Replaces versions' ciphertexts, each only if it is still under the key it was read with; a few statements
    /// for the whole batch rather than one per version.
    public func reseal(_ batch: [ResealedVersion], on db: any SQLDatabase) async throws {
        // Four parameters a row; 64 rows a statement keep it under `SQLiteHandle.maxKeptParameters`, so the
        // statement is prepared once and kept rather than parsed anew for every batch (5% of the writer's time).
        try await db.execRows(batch, rowsPerStatement: 64) {
            "(\(bind: $0.position), \(bind: $0.fromDEK), \(bind: $0.ciphertext), \(bind: $0.dekVersion))"
        } statement: { rows in
            """
            UPDATE secret_versions SET ciphertext = r.column3, dek_version = r.column4
            FROM (VALUES \(rows)) AS r
            WHERE secret_versions.\(unsafeRaw: db.versionPosition) = r.column1 AND secret_versions.dek_version = r.column2
                AND secret_versions.destroyed_at IS NULL
            """
        }
    }
}

/// One version of a workspace's data key.
public struct DataKeyVersion: Hashable, Sendable {
    public var workspaceID: String
    public var version: Int

    public init(workspaceID: String, version: Int) {
        self.workspaceID = workspaceID
        self.version = version
    }

    /// From a row with `workspace_id` and `version` columns.
    init(row: any SQLRow) throws {
        self.init(
            workspaceID: try row.decode(column: "workspace_id", as: String.self),
            version: try row.decode(column: "version", as: Int.self))
    }
}

/// Where a re-encryption pass has got to: the storage position (rowid) of the last version it handled.
public struct VersionCursor: Sendable, Equatable {
    public var position: Int64

    public init(position: Int64) { self.position = position }
}

/// A version re-sealed under a newer data key, to be written if it is still under `fromDEK`.
public struct ResealedVersion: Sendable {
    /// The version's storage position (``StaleVersion/position``).
    public var position: Int64
    public var fromDEK: Int
    public var ciphertext: Data
    public var dekVersion: Int

    public init(position: Int64, fromDEK: Int, ciphertext: Data, dekVersion: Int) {
        self.position = position
        self.fromDEK = fromDEK
        self.ciphertext = ciphertext
        self.dekVersion = dekVersion
    }
}

/// A version sealed under an older data key than its workspace's active one (made only by
/// ``KeyRotationRepository/stale(workspaceID:after:limit:on:)``).
public struct StaleVersion: Sendable {
    /// Where the row is stored (its rowid): the job's cursor and the key its update uses.
    public var position: Int64
    public var secretId: String
    public var version: Int
    public var ciphertext: Data
    public var dekVersion: Int
    public var workspaceId: String
    /// The workspace's active data key version, to re-seal under.
    public var targetVersion: Int
}

/// Small named values: the wrapped instance key and similar.
public struct MetaRepository: Sendable {
    public init() {}

    public func get(_ key: String, on db: any SQLDatabase) async throws -> Data? {
        try await db.raw("SELECT value FROM coffer_meta WHERE key = \(bind: key)").first(decodingColumn: "value", as: Data.self)
    }

    public func set(_ key: String, _ value: Data, on db: any SQLDatabase) async throws {
        try await db.exec(Self.upsert(key, value))
    }

    /// The statement that sets `key` to `value`.
    static func upsert(_ key: String, _ value: Data) -> SQLQueryString {
        """
        INSERT INTO coffer_meta (key, value) VALUES (\(bind: key), \(bind: value))
        ON CONFLICT (key) DO UPDATE SET value = excluded.value
        """
    }
}

/// Sessions and their refresh tokens.
public struct SessionRepository: Sendable {
    public init() {}

    public func insert(_ session: SessionRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at, revoked_reason)
            VALUES (\(bind: session.id), \(bind: session.userId), \(bind: session.createdAt), \(bind: session.expiresAt),
                \(bind: session.revokedAt), \(bind: session.revokedReason))
            """)
    }

    public func find(id: String, on db: any SQLDatabase) async throws -> SessionRecord? {
        try await db.raw("SELECT * FROM sessions WHERE id = \(bind: id)").first(decoding: SessionRecord.self, with: rowDecoder)
    }

    public func revoke(id: String, reason: String, at time: Int64, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            UPDATE sessions SET revoked_at = \(bind: time), revoked_reason = \(bind: reason)
            WHERE id = \(bind: id) AND revoked_at IS NULL
            """)
    }

    public func revokeAll(userID: String, reason: String, at time: Int64, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            UPDATE sessions SET revoked_at = \(bind: time), revoked_reason = \(bind: reason)
            WHERE user_id = \(bind: userID) AND revoked_at IS NULL
            """)
    }

    public func insertToken(_ token: RefreshTokenRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            INSERT INTO refresh_tokens (token_hash, session_id, created_at, used_at)
            VALUES (\(bind: token.tokenHash), \(bind: token.sessionId), \(bind: token.createdAt), \(bind: token.usedAt))
            """)
    }

    public func findToken(hash: String, on db: any SQLDatabase) async throws -> RefreshTokenRecord? {
        try await db.raw("SELECT * FROM refresh_tokens WHERE token_hash = \(bind: hash)")
            .first(decoding: RefreshTokenRecord.self, with: rowDecoder)
    }

    /// Marks a token used; returns false if it already was (a concurrent exchange won).
    public func markUsed(hash: String, at time: Int64, on db: any SQLDatabase) async throws -> Bool {
        try await db.exec(
            "UPDATE refresh_tokens SET used_at = \(bind: time) WHERE token_hash = \(bind: hash) AND used_at IS NULL")
        return try await findToken(hash: hash, on: db)?.usedAt == time
    }
}

extension UserRepository {
    public func setPassword(userID: String, hash: String, at time: Int64, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            UPDATE users SET password_hash = \(bind: hash), password_changed_at = \(bind: time) WHERE id = \(bind: userID)
            """)
    }
}

/// Service tokens.
public struct ServiceTokenRepository: Sendable {
    public init() {}

    public func insert(_ token: ServiceTokenRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            INSERT INTO service_tokens (id, workspace_id, name, role, token_hash, created_by, created_at, expires_at, revoked_at)
            VALUES (\(bind: token.id), \(bind: token.workspaceId), \(bind: token.name), \(bind: token.role),
                \(bind: token.tokenHash), \(bind: token.createdBy), \(bind: token.createdAt), \(bind: token.expiresAt),
                \(bind: token.revokedAt))
            """)
    }

    public func find(hash: String, on db: any SQLDatabase) async throws -> ServiceTokenRecord? {
        try await db.raw("SELECT * FROM service_tokens WHERE token_hash = \(bind: hash)")
            .first(decoding: ServiceTokenRecord.self, with: rowDecoder)
    }

    public func list(workspaceID: String, on db: any SQLDatabase) async throws -> [ServiceTokenRecord] {
        try await db.raw("SELECT * FROM service_tokens WHERE workspace_id = \(bind: workspaceID) ORDER BY created_at, id")
            .all(decoding: ServiceTokenRecord.self, with: rowDecoder)
    }

    /// Revokes a token of a workspace; returns whether it existed.
    public func revoke(id: String, workspaceID: String, at time: Int64, on db: any SQLDatabase) async throws -> Bool {
        guard
            try await db.raw(
                "SELECT id FROM service_tokens WHERE id = \(bind: id) AND workspace_id = \(bind: workspaceID)"
            ).first() != nil
        else { return false }
        try await db.exec(
            "UPDATE service_tokens SET revoked_at = \(bind: time) WHERE id = \(bind: id) AND revoked_at IS NULL")
        return true
    }
}
