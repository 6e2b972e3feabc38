import CofferCore
import CofferCrypto
import CofferKeys
import CofferStore
import Crypto
import Foundation
import Logging
import SQLKit
import Testing

@Suite("coffer audit verify", .serialized)
struct AuditVerifyCommandTests {
    @Test("reports an intact chain (exit 0) and the first bad record after tampering (exit 1), offline")
    func verifyOffline() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-verify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // Seed with the generated key files, as `coffer server` would.
        let loader = KeyLoader(environment: [:], dataDirectory: directory, logger: Logger(label: "t"))
        let masterKey = try loader.masterKey().key
        var settings = CofferSettings()
        settings.bcryptCost = 4
        let store = try await SQLiteDatabaseStore.open(path: directory.appendingPathComponent("coffer.db").path, logger: Logger(label: "t"))
        let coffer = try await Coffer.open(
            database: store, provider: LocalKeyProvider(masterKey: masterKey), jwtKey: SymmetricKey(size: .bits256),
            settings: settings)
        let owner = Principal(userID: try await coffer.accounts.register(Credentials(username: "owner", password: "a long enough password"), caller: nil).id)
        let ws = try await coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner).id
        let origin = RequestOrigin(ipAddress: "127.0.0.1")
        let s = try await coffer.secrets.create(SecretCreate(name: "K", value: "v"), in: ws, by: owner, origin: origin)
        for _ in 0..<4 { _ = try await coffer.secrets.value(of: s.id, in: ws, by: owner, origin: origin) }
        await coffer.close()

        let clean = ["COFFER_MASTER_KEY": "", "ENCRYPTION_KEY": "", "SECRET_ENCRYPTION_KEY": ""]
        let intact = try runCoffer(["audit", "verify", "--data-dir", directory.path], environment: clean)
        #expect(intact.status == 0, "\(intact.stderr)")
        #expect(intact.stdout.contains("intact: 6 records checked"))  // a registration, a create, four reads

        let attacker = try await SQLiteDatabaseStore.open(path: directory.appendingPathComponent("coffer.db").path, readerCount: 1, logger: Logger(label: "a"))
        try await attacker.write { db in try await db.raw("UPDATE secret_audits SET ip_address = '10.0.0.1' WHERE seq = 3").run() }
        await attacker.close()
        let broken = try runCoffer(["audit", "verify", "--data-dir", directory.path, "--json"], environment: clean)
        #expect(broken.status == 1)
        let json = try JSONSerialization.jsonObject(with: Data(broken.stdout.utf8)) as? [String: Any]
        #expect(json?["first_bad_sequence"] as? Int == 3)
        #expect(json?["intact"] as? Bool == false)

        let wrongKey = try runCoffer(
            ["audit", "verify", "--data-dir", directory.path],
            environment: ["COFFER_MASTER_KEY": KeyMaterial.encode(KeyMaterial.generate())])
        #expect(wrongKey.status == 1)
        #expect(wrongKey.stderr.contains("not the key this data was written with"))

        let missing = try runCoffer(["audit", "verify", "--data-dir", directory.appendingPathComponent("nope").path], environment: clean)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("No Coffer database"))
    }
}
