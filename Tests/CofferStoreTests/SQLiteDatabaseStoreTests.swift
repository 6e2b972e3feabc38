import Foundation
import Logging
import SQLKit
import Testing

@testable import CofferStore

/// A fresh folder under the system temp directory, removed when the test ends.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url)
}

func openStore(_ directory: URL) async throws -> SQLiteDatabaseStore {
    try await SQLiteDatabaseStore.open(
        path: directory.appendingPathComponent("coffer.db").path, logger: Logger(label: "test"))
}

struct Boom: Error {}

@Suite("SQLite store")
struct SQLiteDatabaseStoreTests {
    @Test("creates the database with mode 0600, WAL and full synchronous commits")
    func fileModeAndPragmas() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await openStore(dir)
            try await store.write { db in
                try await db.exec("INSERT INTO coffer_meta (key, value) VALUES ('k', \(bind: Data([1])))")
            }
            for name in ["coffer.db", "coffer.db-wal"] {
                let attributes = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(name).path)
                #expect(attributes[.posixPermissions] as? Int == 0o600, "\(name)")
            }
            let mode = try await store.write { db in
                try await db.raw("PRAGMA journal_mode").first(decodingColumn: "journal_mode", as: String.self)
            }
            #expect(mode == "wal")
            let sync = try await store.write { db in
                try await db.raw("PRAGMA synchronous").first(decodingColumn: "synchronous", as: Int.self)
            }
            #expect(sync == 2)  // FULL
            await store.close()
        }
    }

    @Test("migrations run once and record their version; reopening changes nothing")
    func migrationsAreIdempotent() async throws {
        try await withTemporaryDirectory { dir in
            let first = try await openStore(dir)
            await first.close()
            let store = try await openStore(dir)
            let versions = try await store.read { db in
                try await db.raw("SELECT version FROM schema_migrations ORDER BY version").all(
                    decodingColumn: "version", as: Int.self)
            }
            #expect(versions == Array(1...Migrator.latestVersion))
            await store.close()
        }
    }

    @Test("migration 7 gives every existing secret version its secret's workspace")
    func versionWorkspaceMigration() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("coffer.db").path
            let old = try await SQLiteDatabaseStore.open(path: path, logger: Logger(label: "test"), schemaThrough: 6)
            try await old.write { db in
                for workspace in ["wa", "wb"] {
                    try await db.exec(
                        "INSERT INTO workspaces (id, name, created_by, created_at) VALUES (\(bind: workspace), \(bind: workspace), 'u', 0)")
                }
                for n in 0..<50 {
                    let workspace = n % 3 == 0 ? "wb" : "wa"
                    try await db.exec(
                        """
                        INSERT INTO secrets (id, workspace_id, name, secret_type, rotation_policy, tags, metadata, is_active,
                            current_version, created_at, updated_at)
                        VALUES (\(bind: "s\(n)"), \(bind: workspace), \(bind: "N\(n)"), 'generic', 'manual', '[]', '{}', 1, 2, 0, 0)
                        """)
                    for version in 1...2 {
                        try await db.exec(
                            """
                            INSERT INTO secret_versions (secret_id, version, ciphertext, dek_version, created_at)
                            VALUES (\(bind: "s\(n)"), \(bind: version), x'00', 1, 0)
                            """)
                    }
                }
            }
            await old.close()
            let store = try await openStore(dir)
            let rows = try await store.read { db in
                try await db.raw("SELECT secret_id, workspace_id FROM secret_versions ORDER BY secret_id, version").all()
            }
            #expect(rows.count == 100)
            for row in rows {
                let secret = try row.decode(column: "secret_id", as: String.self)
                let expected = Int(secret.dropFirst())! % 3 == 0 ? "wb" : "wa"
                #expect(try row.decode(column: "workspace_id", as: String?.self) == expected, "\(secret)")
            }
            await store.close()
        }
    }

    @Test("migration 6 re-keys audit records by sequence number and keeps every record byte for byte")
    func auditTableMigration() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("coffer.db").path
            let old = try await SQLiteDatabaseStore.open(path: path, logger: Logger(label: "test"), schemaThrough: 5)
            try await old.write { db in
                for seq in 1...300 {
                    try await db.exec(
                        """
                        INSERT INTO secret_audits (seq, id, workspace_id, secret_id, action, user_id, ip_address,
                            user_agent, request_id, details, success, created_at, mac)
                        VALUES (\(bind: seq), \(bind: "id-\(seq)"), \(bind: seq % 3 == 0 ? nil : "ws"),
                            \(bind: "s\(seq % 7)"), 'accessed', 'u', '127.0.0.1', NULL, 'r', '{"a":1}', \(bind: seq % 5 != 0),
                            \(bind: Int64(seq) * 1_000), \(bind: Data(repeating: UInt8(seq % 256), count: 32)))
                        """)
                }
            }
            func dump(_ store: SQLiteDatabaseStore) async throws -> [String] {
                try await store.read { db in
                    // quote() renders each value exactly, with its type (integer, text, blob as hex, NULL).
                    try await db.raw(
                        """
                        SELECT quote(seq) || '|' || quote(id) || '|' || quote(workspace_id) || '|' || quote(secret_id)
                            || '|' || quote(action) || '|' || quote(user_id) || '|' || quote(ip_address) || '|'
                            || quote(user_agent) || '|' || quote(request_id) || '|' || quote(details) || '|'
                            || quote(success) || '|' || quote(created_at) || '|' || quote(mac) AS record
                        FROM secret_audits ORDER BY seq
                        """
                    ).all(decodingColumn: "record", as: String.self)
                }
            }
            let before = try await dump(old)
            await old.close()
            let store = try await openStore(dir)
            #expect(try await dump(store) == before)
            #expect(before.count == 300)
            try await store.read { db in
                // `seq` is the row id now, and no UNIQUE index is left on the random `id`.
                let aliased = try await db.raw("SELECT COUNT(*) AS n FROM secret_audits WHERE rowid = seq")
                    .first(decodingColumn: "n", as: Int.self)
                #expect(aliased == 300)
                let unique = try await db.raw("SELECT COUNT(*) AS n FROM pragma_index_list('secret_audits') WHERE \"unique\" = 1")
                    .first(decodingColumn: "n", as: Int.self)
                #expect(unique == 0)
                let indexes = try await db.raw("SELECT name FROM pragma_index_list('secret_audits') ORDER BY name")
                    .all(decodingColumn: "name", as: String.self)
                #expect(indexes == ["secret_audits_by_secret", "secret_audits_by_time", "secret_audits_by_workspace"])
            }
            await #expect(throws: StoreError.self) {
                try await store.write { db in
                    try await db.exec(
                        "INSERT INTO secret_audits (seq, id, action, details, success, created_at, mac) VALUES (5, 'x', 'a', '{}', 1, 0, x'00')")
                }
            }
            await store.close()
        }
    }

    @Test("a database from a newer build is refused, not touched")
    func newerSchemaRefused() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await openStore(dir)
            try await store.write { db in
                try await db.exec(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(bind: Migrator.latestVersion + 1), 'future', 0)"
                )
            }
            await store.close()
            await #expect {
                _ = try await openStore(dir)
            } throws: { error in
                (error as? StoreError)?.code == .schemaTooNew
            }
        }
    }

    @Test("a write whose body throws commits nothing")
    func writeIsAtomic() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await openStore(dir)
            await #expect(throws: Boom.self) {
                try await store.write { db in
                    try await db.exec("INSERT INTO coffer_meta (key, value) VALUES ('a', \(bind: Data([1])))")
                    throw Boom()
                }
            }
            let value = try await store.read { try await MetaRepository().get("a", on: $0) }
            #expect(value == nil)
            await store.close()
        }
    }

    @Test("concurrent writes are serialized: read-modify-write never loses an update")
    func writesAreSerialized() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await openStore(dir)
            let meta = MetaRepository()
            try await store.write { try await meta.set("n", Data("0".utf8), on: $0) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await store.write { db in
                            let n = Int(String(decoding: try await meta.get("n", on: db) ?? Data(), as: UTF8.self))!
                            try await meta.set("n", Data(String(n + 1).utf8), on: db)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let final = try await store.read { try await meta.get("n", on: $0) }
            #expect(final.map { String(decoding: $0, as: UTF8.self) } == "50")
            await store.close()
        }
    }

    @Test("a unique violation surfaces as a conflict")
    func uniqueViolation() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await openStore(dir)
            let users = UserRepository()
            let user = UserRecord(id: "u1", username: "alice", passwordHash: "h", isAdmin: true, createdAt: 1)
            try await store.write { try await users.insert(user, on: $0) }
            var twin = user
            twin.id = "u2"
            let copy = twin
            await #expect {
                try await store.write { try await users.insert(copy, on: $0) }
            } throws: { error in
                (error as? StoreError)?.code == .conflict
            }
            #expect(try await store.read { try await users.count(on: $0) } == 1)
            await store.close()
        }
    }

    @Test("group commit: concurrent writes share commits, yet each one that throws or conflicts is undone alone")
    func groupCommitIsolatesFailures() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await openStore(dir)
            let meta = MetaRepository()
            let users = UserRepository()
            try await store.write {
                try await users.insert(UserRecord(id: "u0", username: "taken", passwordHash: "h", isAdmin: false, createdAt: 1), on: $0)
            }
            let transactionsBefore = store.groupTransactions.load(ordering: .relaxed)
            // 300 writes at once: every third throws after writing, every fifth (not third) hits a unique
            // violation after writing; the rest commit and return their own value.
            let outcomes = await withTaskGroup(of: (Int, String).self) { group in
                for i in 0..<300 {
                    group.addTask {
                        do {
                            let returned = try await store.write { db -> Int in
                                try await meta.set("k\(i)", Data("\(i)".utf8), on: db)
                                if i % 3 == 0 { throw Boom() }
                                if i % 5 == 0 {
                                    try await users.insert(
                                        UserRecord(id: "u\(i)", username: "taken", passwordHash: "h", isAdmin: false, createdAt: 1),
                                        on: db)
                                }
                                return i * 2
                            }
                            return (i, returned == i * 2 ? "ok" : "wrong value \(returned)")
                        } catch is Boom {
                            return (i, "boom")
                        } catch let error as StoreError where error.code == .conflict {
                            return (i, "conflict")
                        } catch {
                            return (i, "other: \(error)")
                        }
                    }
                }
                var all: [Int: String] = [:]
                for await (i, outcome) in group { all[i] = outcome }
                return all
            }
            for i in 0..<300 {
                let expected = i % 3 == 0 ? "boom" : i % 5 == 0 ? "conflict" : "ok"
                #expect(outcomes[i] == expected, "write \(i)")
                let stored = try await store.read { try await meta.get("k\(i)", on: $0) }
                #expect((stored != nil) == (expected == "ok"), "row of write \(i)")
            }
            #expect(try await store.read { try await users.count(on: $0) } == 1)
            // They shared transactions: far fewer commits than writes.
            let transactions = store.groupTransactions.load(ordering: .relaxed) - transactionsBefore
            #expect(transactions < 150, "\(transactions) transactions for 300 writes")
            await store.close()
        }
    }

    @Test("committed writes survive closing and reopening")
    func durableAcrossReopen() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await openStore(dir)
            try await store.write { try await MetaRepository().set("kept", Data([7, 7]), on: $0) }
            await store.close()
            let again = try await openStore(dir)
            #expect(try await again.read { try await MetaRepository().get("kept", on: $0) } == Data([7, 7]))
            await again.close()
        }
    }
}

@Suite("row decoding")
struct RowDecodingTests {
    @Test("column names from camelCase keys, as SQLKit's snake-case strategy gave them")
    func snakeCase() {
        let cases = [
            "id": "id", "createdByUserId": "created_by_user_id", "isAdmin": "is_admin", "vDekVersion": "v_dek_version",
            "rotationDueAt": "rotation_due_at", "mac": "mac", "targetVersion": "target_version", "": "",
        ]
        for (key, column) in cases {
            #expect(ColumnKey.snakeCase(key) == column)
        }
    }
}

@Suite("Blocking work")
struct BlockingWorkTests {
    @Test("BlockingWork runs its body on a thread of its own, whatever thread the caller is on")
    func ownThread() async throws {
        let name = try await BlockingWork.run {
            try String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)
        }
        #expect(name.trimmingCharacters(in: .whitespacesAndNewlines) == "coffer-blocking")
    }
}
