import Foundation
import SQLKit

/// Versioned schema migrations, applied in order inside one write transaction each.
///
/// Applied versions are recorded in `schema_migrations`; a database whose recorded version is newer than this
/// build's is refused rather than touched.
public enum Migrator {
    struct Migration: Sendable {
        let version: Int
        let name: String
        let statements: @Sendable (SQLDialectKind) -> [String]
    }

    static let migrations: [Migration] = [
        Migration(version: 1, name: "initial schema") { dialect in
            [
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    username TEXT NOT NULL UNIQUE,
                    password_hash TEXT NOT NULL,
                    is_admin BOOLEAN NOT NULL,
                    created_at BIGINT NOT NULL,
                    password_changed_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE workspaces (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    created_by TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE memberships (
                    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
                    user_id TEXT NOT NULL REFERENCES users(id),
                    role TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (workspace_id, user_id)
                )
                """,
                "CREATE INDEX memberships_by_user ON memberships(user_id)",
                """
                CREATE TABLE workspace_keys (
                    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
                    version INTEGER NOT NULL,
                    wrapped_key \(dialect.blob) NOT NULL,
                    provider TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    state TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (workspace_id, version)
                )
                """,
                """
                CREATE TABLE secrets (
                    id TEXT PRIMARY KEY,
                    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
                    name TEXT NOT NULL,
                    secret_type TEXT NOT NULL,
                    usage TEXT,
                    rotation_policy TEXT NOT NULL,
                    last_rotated_at BIGINT,
                    rotation_due_at BIGINT,
                    tags TEXT NOT NULL,
                    metadata TEXT NOT NULL,
                    is_active BOOLEAN NOT NULL,
                    current_version INTEGER NOT NULL,
                    created_by_user_id TEXT,
                    updated_by_user_id TEXT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    deleted_at BIGINT
                )
                """,
                "CREATE UNIQUE INDEX secrets_live_name ON secrets(workspace_id, name) WHERE deleted_at IS NULL",
                "CREATE INDEX secrets_by_workspace ON secrets(workspace_id, name, id)",
                """
                CREATE TABLE secret_versions (
                    secret_id TEXT NOT NULL REFERENCES secrets(id),
                    version INTEGER NOT NULL,
                    ciphertext \(dialect.blob) NOT NULL,
                    dek_version INTEGER NOT NULL,
                    created_by TEXT,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (secret_id, version)
                )
                """,
                """
                CREATE TABLE secret_audits (
                    seq BIGINT PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    workspace_id TEXT,
                    secret_id TEXT,
                    action TEXT NOT NULL,
                    user_id TEXT,
                    ip_address TEXT,
                    user_agent TEXT,
                    request_id TEXT,
                    details TEXT NOT NULL,
                    success BOOLEAN NOT NULL,
                    created_at BIGINT NOT NULL,
                    mac \(dialect.blob) NOT NULL
                )
                """,
                "CREATE INDEX secret_audits_by_secret ON secret_audits(secret_id, seq)",
                "CREATE INDEX secret_audits_by_workspace ON secret_audits(workspace_id, seq)",
                """
                CREATE TABLE coffer_meta (
                    key TEXT PRIMARY KEY,
                    value \(dialect.blob) NOT NULL
                )
                """,
            ]
        },
        Migration(version: 2, name: "generators, key rotation jobs, audit time index") { _ in
            [
                "ALTER TABLE secrets ADD COLUMN generator TEXT",
                """
                CREATE TABLE key_rotation_jobs (
                    id TEXT PRIMARY KEY,
                    workspace_id TEXT,
                    status TEXT NOT NULL,
                    total BIGINT NOT NULL,
                    done BIGINT NOT NULL,
                    requested_by TEXT,
                    started_at BIGINT NOT NULL,
                    finished_at BIGINT
                )
                """,
                "CREATE INDEX secret_versions_by_dek ON secret_versions(dek_version)",
                "CREATE INDEX secret_audits_by_time ON secret_audits(created_at)",
                "CREATE INDEX secrets_rotation_due ON secrets(workspace_id, rotation_due_at)",
            ]
        },
        Migration(version: 3, name: "sessions and refresh tokens") { _ in
            [
                """
                CREATE TABLE sessions (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL REFERENCES users(id),
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    revoked_at BIGINT,
                    revoked_reason TEXT
                )
                """,
                "CREATE INDEX sessions_by_user ON sessions(user_id)",
                """
                CREATE TABLE refresh_tokens (
                    token_hash TEXT PRIMARY KEY,
                    session_id TEXT NOT NULL REFERENCES sessions(id),
                    created_at BIGINT NOT NULL,
                    used_at BIGINT
                )
                """,
                "CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id)",
            ]
        },
        Migration(version: 4, name: "service tokens") { _ in
            [
                """
                CREATE TABLE service_tokens (
                    id TEXT PRIMARY KEY,
                    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
                    name TEXT NOT NULL,
                    role TEXT NOT NULL,
                    token_hash TEXT NOT NULL UNIQUE,
                    created_by TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    revoked_at BIGINT
                )
                """,
                "CREATE INDEX service_tokens_by_workspace ON service_tokens(workspace_id)",
            ]
        },
        // The number of live secrets per workspace, kept by triggers so that no write path can forget it: an
        // unfiltered list reads its `total` from one row instead of counting the workspace (O(secrets)).
        Migration(version: 5, name: "live secret counts") { dialect in
            guard dialect == .sqlite else {
                return [
                    "CREATE TABLE workspace_secret_counts (workspace_id TEXT PRIMARY KEY, live BIGINT NOT NULL)",
                    """
                    INSERT INTO workspace_secret_counts (workspace_id, live)
                    SELECT workspace_id, COUNT(*) FROM secrets WHERE deleted_at IS NULL GROUP BY workspace_id
                    """,
                    """
                    CREATE FUNCTION coffer_count_live_secrets() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
                            UPDATE workspace_secret_counts SET live = live - 1 WHERE workspace_id = OLD.workspace_id;
                        END IF;
                        IF TG_OP IN ('INSERT', 'UPDATE') THEN
                            INSERT INTO workspace_secret_counts AS c (workspace_id, live)
                            VALUES (NEW.workspace_id, CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE 0 END)
                            ON CONFLICT (workspace_id) DO UPDATE
                            SET live = c.live + CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE 0 END;
                        END IF;
                        RETURN NULL;
                    END
                    $$
                    """,
                    """
                    CREATE TRIGGER secrets_count AFTER INSERT OR DELETE OR UPDATE OF deleted_at, workspace_id
                    ON secrets FOR EACH ROW EXECUTE FUNCTION coffer_count_live_secrets()
                    """,
                ]
            }
            return [
                "CREATE TABLE workspace_secret_counts (workspace_id TEXT PRIMARY KEY, live BIGINT NOT NULL)",
                """
                INSERT INTO workspace_secret_counts (workspace_id, live)
                SELECT workspace_id, COUNT(*) FROM secrets WHERE deleted_at IS NULL GROUP BY workspace_id
                """,
                """
                CREATE TRIGGER secrets_count_insert AFTER INSERT ON secrets BEGIN
                    INSERT OR IGNORE INTO workspace_secret_counts (workspace_id, live) VALUES (NEW.workspace_id, 0);
                    UPDATE workspace_secret_counts SET live = live + (NEW.deleted_at IS NULL)
                        WHERE workspace_id = NEW.workspace_id;
                END
                """,
                """
                CREATE TRIGGER secrets_count_delete AFTER DELETE ON secrets BEGIN
                    UPDATE workspace_secret_counts SET live = live - (OLD.deleted_at IS NULL)
                        WHERE workspace_id = OLD.workspace_id;
                END
                """,
                """
                CREATE TRIGGER secrets_count_update AFTER UPDATE OF deleted_at, workspace_id ON secrets BEGIN
                    UPDATE workspace_secret_counts SET live = live - (OLD.deleted_at IS NULL)
                        WHERE workspace_id = OLD.workspace_id;
                    INSERT OR IGNORE INTO workspace_secret_counts (workspace_id, live) VALUES (NEW.workspace_id, 0);
                    UPDATE workspace_secret_counts SET live = live + (NEW.deleted_at IS NULL)
                        WHERE workspace_id = NEW.workspace_id;
                END
                """,
            ]
        },
        Migration(version: 6, name: "audit records keyed by their sequence number alone") { dialect in
            // Every audited read inserts a record inside the commit it waits for. The table kept two b-trees per
            // record that nothing reads: an index on `seq` beside the table (on SQLite a BIGINT primary key is not
            // the row id) and a UNIQUE index on the random `id`, which dirtied a random page per record. The
            // records and their MACs are copied unchanged (the chain covers fields, not layout).
            guard dialect == .sqlite else {
                return ["ALTER TABLE secret_audits DROP CONSTRAINT IF EXISTS secret_audits_id_key"]
            }
            return [
                """
                CREATE TABLE secret_audits_by_seq (
                    seq INTEGER PRIMARY KEY,
                    id TEXT NOT NULL,
                    workspace_id TEXT,
                    secret_id TEXT,
                    action TEXT NOT NULL,
                    user_id TEXT,
                    ip_address TEXT,
                    user_agent TEXT,
                    request_id TEXT,
                    details TEXT NOT NULL,
                    success BOOLEAN NOT NULL,
                    created_at BIGINT NOT NULL,
                    mac BLOB NOT NULL
                )
                """,
                """
                INSERT INTO secret_audits_by_seq (seq, id, workspace_id, secret_id, action, user_id, ip_address,
                    user_agent, request_id, details, success, created_at, mac)
                SELECT seq, id, workspace_id, secret_id, action, user_id, ip_address, user_agent, request_id, details,
                    success, created_at, mac FROM secret_audits ORDER BY seq
                """,
                "DROP TABLE secret_audits",
                "ALTER TABLE secret_audits_by_seq RENAME TO secret_audits",
                "CREATE INDEX secret_audits_by_secret ON secret_audits(secret_id, seq)",
                "CREATE INDEX secret_audits_by_workspace ON secret_audits(workspace_id, seq)",
                "CREATE INDEX secret_audits_by_time ON secret_audits(created_at)",
            ]
        },
        Migration(version: 7, name: "secret versions carry their workspace, without an index on their key") { dialect in
            // The DEK re-encryption job selects the versions of a workspace that are sealed under an older key.
            // Through a join to `secrets` that cost two b-tree seeks per version at random (secret ids are random
            // UUIDs): past the page cache, a page read from the OS for most versions (issue 6). A version's
            // workspace never changes (its ciphertext is bound to it), so it is stored with the version; the job
            // then walks one table in storage order. Every version is written with it from this version on.
            // The index on `dek_version` served only the check for unused keys at the end of a job, which now
            // reads the versions once instead; every re-sealed version moved an entry in it (SQLite alone: about
            // 40% more re-sealed versions a second without it).
            // On PostgreSQL, whose row addresses (ctid) change on every update, an identity column gives the job
            // the stable storage-order position that SQLite's rowid is.
            [
                "DROP INDEX secret_versions_by_dek",
                "ALTER TABLE secret_versions ADD COLUMN workspace_id TEXT",
                """
                UPDATE secret_versions SET workspace_id = (
                    SELECT s.workspace_id FROM secrets s WHERE s.id = secret_versions.secret_id)
                """,
            ] + (dialect == .sqlite ? [] : [
                "ALTER TABLE secret_versions ADD COLUMN pos BIGINT GENERATED ALWAYS AS IDENTITY",
                "CREATE UNIQUE INDEX secret_versions_by_pos ON secret_versions(pos)",
            ])
        },
        Migration(version: 8, name: "re-encryption jobs count the versions they could not re-seal") { _ in
            // A version that fails authentication is left under its old key and counted, instead of stopping the
            // job (and with it the rotation of every other secret) until someone repairs the row.
            ["ALTER TABLE key_rotation_jobs ADD COLUMN failed BIGINT NOT NULL DEFAULT 0"]
        },
        // The Vault-compatible surface. A KV v2 entry is a secret named by its path; its versions can be deleted
        // (hidden, restorable) or destroyed (ciphertext emptied) one by one, and its path and mount keep Vault's
        // settings. Transit keys are workspace keys that never leave the server, stored wrapped like data keys.
        Migration(version: 9, name: "KV v2 version states and settings, transit keys") { dialect in
            [
                "ALTER TABLE secret_versions ADD COLUMN deleted_at BIGINT",
                "ALTER TABLE secret_versions ADD COLUMN destroyed_at BIGINT",
                """
                CREATE TABLE kv_metadata (
                    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
                    path TEXT NOT NULL,
                    max_versions INTEGER NOT NULL,
                    cas_required BOOLEAN NOT NULL,
                    delete_version_after TEXT NOT NULL,
                    custom_metadata TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    PRIMARY KEY (workspace_id, path)
                )
                """,
                """
                CREATE TABLE kv_config (
                    workspace_id TEXT PRIMARY KEY REFERENCES workspaces(id),
                    max_versions INTEGER NOT NULL,
                    cas_required BOOLEAN NOT NULL,
                    delete_version_after TEXT NOT NULL
                )
                """,
                """
                CREATE TABLE transit_keys (
                    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
                    name TEXT NOT NULL,
                    key_type TEXT NOT NULL,
                    latest_version INTEGER NOT NULL,
                    min_decryption_version INTEGER NOT NULL,
                    min_encryption_version INTEGER NOT NULL,
                    min_available_version INTEGER NOT NULL,
                    deletion_allowed BOOLEAN NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    PRIMARY KEY (workspace_id, name)
                )
                """,
                """
                CREATE TABLE transit_key_versions (
                    workspace_id TEXT NOT NULL,
                    name TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    wrapped_key \(dialect.blob) NOT NULL,
                    provider TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (workspace_id, name, version)
                )
                """,
            ]
        },
        // Rotation webhooks: a secret Coffer does not generate can name an endpoint that supplies its next value.
        Migration(version: 10, name: "rotation webhooks") { _ in
            [
                """
                CREATE TABLE rotation_webhooks (
                    secret_id TEXT PRIMARY KEY REFERENCES secrets(id),
                    url TEXT NOT NULL,
                    failures INTEGER NOT NULL,
                    retry_at BIGINT,
                    last_error TEXT,
                    updated_at BIGINT NOT NULL
                )
                """
            ]
        },
        // Usernames are unique without regard to case from now on: the lookup every check goes through compares
        // lower-cased, served by this index. Not a unique index, so that a database holding accounts that already
        // clash still opens; the clashes are reported at every start (`UserRepository.caseClashes`).
        Migration(version: 11, name: "case-insensitive usernames") { _ in
            ["CREATE INDEX users_username_lower ON users (lower(username))"]
        },
    ]

    /// The newest schema version this build knows.
    public static var latestVersion: Int { migrations.last!.version }

    /// The newest migration recorded in the database, or 0.
    static func appliedVersion(on db: any SQLDatabase) async throws -> Int {
        let latest = try await db.raw("SELECT MAX(version) AS v FROM schema_migrations")
            .first(decodingColumn: "v", as: Int?.self)
        return (latest ?? nil) ?? 0
    }

    /// Applies the migrations after the database's version, through `target` (the tests stop early to build an
    /// older database).
    static func migrate(_ database: any CofferDatabase, through target: Int = latestVersion) async throws {
        try await database.write { db in
            try await db.exec(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
            )
        }
        let applied = try await database.read { try await appliedVersion(on: $0) }
        guard applied <= latestVersion else {
            throw StoreError(
                .schemaTooNew,
                "The database schema is version \(applied), newer than this build of Coffer knows (\(latestVersion)). "
                    + "Run a newer coffer.")
        }
        for migration in migrations where migration.version > applied && migration.version <= target {
            try await database.write { db in
                // Writes are serialized across every process on the database: another instance starting at the
                // same time may have applied this migration since the read above.
                guard try await appliedVersion(on: db) < migration.version else { return }
                for statement in migration.statements(database.dialect) {
                    try await db.exec(SQLQueryString(statement))
                }
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                try await db.exec(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(bind: migration.version), \(bind: migration.name), \(bind: now))"
                )
            }
        }
    }
}
