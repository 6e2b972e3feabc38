import CofferCore
import CofferCrypto
import CofferKeys
import CofferStore
import CofferTestSupport
import Crypto
import Foundation
import Logging
import SQLKit
import Testing

/// `coffer backup`, `coffer restore` and `coffer storage migrate`, run as the real binary.
@Suite("Backups and moving stores", .serialized)
struct StorageCommandTests {
    let origin = RequestOrigin(ipAddress: "127.0.0.1", userAgent: "seed")

    /// A Coffer on `database` with fast bcrypt.
    func open(_ database: any CofferDatabase, key: SymmetricKey) async throws -> Coffer {
        var settings = CofferSettings()
        settings.bcryptCost = 4
        return try await Coffer.open(
            database: database, provider: LocalKeyProvider(masterKey: key), jwtKey: SymmetricKey(size: .bits256),
            settings: settings)
    }

    func sqlite(_ directory: URL) async throws -> any CofferDatabase {
        try await SQLiteDatabaseStore.open(path: directory.appendingPathComponent("coffer.db").path, logger: Logger(label: "t"))
    }

    /// Seeds `directory` with a user, a workspace and `values` as secrets (read once each, so audited); returns
    /// the workspace, the owner and the secrets' ids by value.
    func seed(_ directory: URL, key: SymmetricKey, values: [String]) async throws -> (String, Principal, [String: String]) {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let coffer = try await open(try await sqlite(directory), key: key)
        let owner = Principal(userID: try await coffer.accounts.register(
            Credentials(username: "owner", password: "a long enough password"), caller: nil).id)
        let ws = try await coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner).id
        var ids: [String: String] = [:]
        for (i, value) in values.enumerated() {
            let s = try await coffer.secrets.create(SecretCreate(name: "S\(i)", value: value), in: ws, by: owner, origin: origin)
            _ = try await coffer.secrets.value(of: s.id, in: ws, by: owner, origin: origin)
            ids[value] = s.id
        }
        await coffer.close()
        return (ws, owner, ids)
    }

    func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("coffer-\(name)-\(UUID().uuidString)")
    }

    @Test("backup while serving, then restore: checked against the master key and the audit chain before anything is replaced")
    func backupAndRestore() async throws {
        let root = temporary("backup")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = root.appendingPathComponent("data")
        let key = KeyMaterial.generate()
        let environment = ["COFFER_MASTER_KEY": KeyMaterial.encode(key)]
        let (ws, owner, ids) = try await seed(data, key: key, values: ["before-backup"])
        let backup = root.appendingPathComponent("snapshot.db")

        // Taken while a Coffer has the store open.
        let live = try await open(try await sqlite(data), key: key)
        let made = try runCoffer(["backup", "--data-dir", data.path, "--out", backup.path])
        #expect(made.status == 0, "\(made.stderr)")
        #expect((try FileManager.default.attributesOfItem(atPath: backup.path))[.posixPermissions] as? Int == 0o600)
        #expect(try runCoffer(["backup", "--data-dir", data.path, "--out", backup.path]).status == 1)
        let later = try await live.secrets.create(SecretCreate(name: "LATER", value: "after-backup"), in: ws, by: owner, origin: origin)
        await live.close()

        // A wrong master key, or a backup whose audit chain was edited, replaces nothing.
        let wrong = try runCoffer(
            ["restore", backup.path, "--data-dir", data.path],
            environment: ["COFFER_MASTER_KEY": KeyMaterial.encode(KeyMaterial.generate())])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("master key"), "\(wrong.stderr)")
        let forged = root.appendingPathComponent("forged.db")
        try FileManager.default.copyItem(at: backup, to: forged)
        let attacker = try await SQLiteDatabaseStore.open(path: forged.path, logger: Logger(label: "a"))
        try await attacker.write { db in try await db.raw("UPDATE secret_audits SET action = 'created' WHERE seq = 3").run() }
        await attacker.close()
        let refused = try runCoffer(["restore", forged.path, "--data-dir", data.path], environment: environment)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("does not verify"), "\(refused.stderr)")
        let untouched = try await open(try await sqlite(data), key: key)
        #expect(try await untouched.secrets.value(of: later.id, in: ws, by: owner, origin: origin).value == "after-backup")
        await untouched.close()

        // The real restore: the snapshot's state, the replaced file kept beside it.
        let restored = try runCoffer(["restore", backup.path, "--data-dir", data.path], environment: environment)
        #expect(restored.status == 0, "\(restored.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: data.path)
        #expect(names.contains { $0.hasPrefix("coffer.db.replaced-") })
        let coffer = try await open(try await sqlite(data), key: key)
        #expect(try await coffer.secrets.value(of: ids["before-backup"]!, in: ws, by: owner, origin: origin).value == "before-backup")
        await #expect(throws: CofferError.self) {
            _ = try await coffer.secrets.value(of: later.id, in: ws, by: owner, origin: origin)
        }
        #expect(try await coffer.audit.verify().isIntact)
        await coffer.close()
    }

    @Test("storage migrate copies a SQLite store into an empty PostgreSQL database, verified; a non-empty one is refused",
          .enabled(if: TestStore.onPostgres))
    func migrateToPostgres() async throws {
        let root = temporary("migrate")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = root.appendingPathComponent("data")
        let key = KeyMaterial.generate()
        let values = (0..<30).map { "migrated-\($0)-\(UUID().uuidString)" }
        let (ws, owner, ids) = try await seed(data, key: key, values: values)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("pg"), withIntermediateDirectories: true)
        guard case .postgres(let url, _, _) = try await TestStore.location(for: root.appendingPathComponent("pg")) else {
            return
        }
        let environment = ["COFFER_MASTER_KEY": KeyMaterial.encode(key), "COFFER_DATABASE_URL": url.connectionString]
        let moved = try runCoffer(["storage", "migrate", "--data-dir", data.path], environment: environment, timeout: 120)
        #expect(moved.status == 0, "\(moved.stdout) \(moved.stderr)")
        #expect(moved.stdout.contains("secret_versions: 30"), "\(moved.stdout)")
        #expect(!moved.stdout.contains(url.password ?? "\u{0}") || url.password == nil)

        let target = try await PostgresDatabaseStore.open(url: url, logger: Logger(label: "t"))
        // The ciphertexts are the source's bytes, not re-encrypted.
        func ciphertexts(_ database: any CofferDatabase) async throws -> [Data] {
            try await database.read { db in
                try await db.raw("SELECT ciphertext FROM secret_versions ORDER BY secret_id, version")
                    .all(decodingColumn: "ciphertext", as: Data.self)
            }
        }
        let source = try await sqlite(data)
        let sourceCiphertexts = try await ciphertexts(source)
        await source.close()
        #expect(sourceCiphertexts.count == 30)
        #expect(try await ciphertexts(target) == sourceCiphertexts)
        let coffer = try await open(target, key: key)
        for value in values {
            #expect(try await coffer.secrets.value(of: ids[value]!, in: ws, by: owner, origin: origin).value == value)
        }
        let page = try await coffer.secrets.list(in: ws, limit: 100, offset: 0, by: owner, origin: origin)
        #expect(page.total == 30)
        #expect(try await coffer.audit.verify().isIntact)
        await coffer.close()

        let again = try runCoffer(["storage", "migrate", "--data-dir", data.path], environment: environment, timeout: 120)
        #expect(again.status == 1)
        #expect(again.stderr.contains("not empty"), "\(again.stderr)")
    }
}
