import CofferCore
import CofferCrypto
import CofferKeys
import CofferKeysVault
import CofferTestSupport
import Crypto
import Foundation
import HTTPTypes
import Logging
import Testing

@testable import CofferServer

/// Key custody outside the box: Coffer on AWS KMS (moto, every signature checked) and on a Vault transit engine (a
/// second Coffer's `/v1`), and moving between them with `coffer keys migrate`.
@Suite("Key custody", .serialized)
struct KeyCustodyTests {
    static let origin = RequestOrigin(ipAddress: "127.0.0.1", userAgent: "tests", requestID: "custody")

    func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-custody-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// `coffer server`'s own start-up path (KeyCustody, the store, the keyring) over `directory`.
    func open(_ environment: [String: String], _ directory: URL) async throws -> Coffer {
        var configuration = try ServerConfiguration(environment: environment)
        configuration.dataDirectory = directory.path
        configuration.settings.bcryptCost = 4
        var logger = Logger(label: "custody-test")
        logger.logLevel = .critical
        return try await openCoffer(configuration, environment: environment, logger: logger)
    }

    /// An admin, a workspace with two secrets and a transit ciphertext; returns what reads them back.
    struct Fixture {
        let principal: Principal
        let workspace: String
        let secrets: [String: String]
        let ciphertext: String
    }

    func fill(_ coffer: Coffer) async throws -> Fixture {
        let user = try await coffer.accounts.register(Credentials(username: "admin", password: LiveServer.password), caller: nil)
        let principal = Principal(userID: user.id)
        let workspace = try await coffer.workspaces.create(WorkspaceCreate(name: "custody"), by: principal).id
        var secrets: [String: String] = [:]
        for (name, value) in [("DB_PASSWORD", "custody-value-1"), ("API_KEY", "custody-value-2")] {
            let made = try await coffer.secrets.create(
                SecretCreate(name: name, value: value), in: workspace, by: principal, origin: Self.origin)
            secrets[made.id] = value
        }
        try await coffer.transit.createKey("orders", type: nil, in: workspace, by: principal, origin: Self.origin)
        let encrypted = try await coffer.transit.encrypt(
            [TransitItem(input: Base64.encode(Array("card-4111".utf8)))], key: "orders", in: workspace, by: principal,
            origin: Self.origin)
        guard case .success(let ciphertext, _) = encrypted[0] else { throw CofferError(.internalError, "encrypt") }
        return Fixture(principal: principal, workspace: workspace, secrets: secrets, ciphertext: ciphertext)
    }

    /// Every value, the transit ciphertext and the audit chain, read through `coffer`.
    func expectIntact(_ coffer: Coffer, _ fixture: Fixture, _ stage: String) async throws {
        for (id, value) in fixture.secrets {
            let read = try await coffer.secrets.value(of: id, in: fixture.workspace, by: fixture.principal, origin: Self.origin)
            #expect(read.value == value, "\(stage)")
        }
        let decrypted = try await coffer.transit.decrypt(
            [TransitItem(input: fixture.ciphertext)], key: "orders", in: fixture.workspace, by: fixture.principal,
            origin: Self.origin)
        guard case .success(let plaintext, _) = decrypted[0] else {
            Issue.record("\(stage): the transit ciphertext no longer decrypts")
            return
        }
        #expect(Base64.decode(plaintext) == Array("card-4111".utf8), "\(stage)")
        #expect(try await coffer.audit.verify().isIntact, "\(stage)")
    }

    @Test("aws_kms: no master key file; restart reads back; a wrong secret key stops start-up; an outage is 503 until KMS returns")
    func awsKMS() async throws {
        let moto = try await MotoServer.start()
        defer { moto.stop() }
        let data = try directory()
        defer { try? FileManager.default.removeItem(at: data) }
        var environment = moto.environment
        environment["COFFER_KEY_PROVIDER_TIMEOUT_SECONDS"] = "1"

        var coffer = try await open(environment, data)
        let fixture = try await fill(coffer)
        #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("master.key").path))
        let health = try await coffer.admin.encryptionHealth(by: fixture.principal, origin: Self.origin)
        #expect(health.jsonText.contains(#""current_backend":"aws_kms""#) && health.jsonText.contains(moto.keyID))
        await coffer.close()

        coffer = try await open(environment, data)
        try await expectIntact(coffer, fixture, "after a restart on aws_kms")

        // KMS hangs: keys already unwrapped keep serving; anything needing KMS is 503 in bounded time; health says so.
        moto.pause()
        let started = ContinuousClock.now
        try await expectIntact(coffer, fixture, "with KMS hanging, from the cache")
        await #expect {
            _ = try await coffer.workspaces.create(WorkspaceCreate(name: "needs-kms"), by: fixture.principal)
        } throws: { ($0 as? CofferError)?.code == .keyProviderUnavailable }
        #expect(await !coffer.isHealthy())
        #expect(ContinuousClock.now - started < .seconds(30))
        moto.resume()
        _ = try await coffer.workspaces.create(WorkspaceCreate(name: "needs-kms"), by: fixture.principal)
        #expect(await coffer.isHealthy())
        await coffer.close()

        var forged = environment
        forged["AWS_SECRET_ACCESS_KEY"] = "not-the-secret-key"
        await #expect {
            _ = try await open(forged, data)
        } throws: { error in
            guard let error = error as? KeyError, error.code == .providerUnavailable else { return false }
            return error.publicMessage.contains("credentials") && !error.publicMessage.contains("not-the-secret-key")
        }
    }

    @Test("keys migrate: local → aws_kms → vault (a live transit engine) → local, every value intact, no old key needed")
    func migrateAround() async throws {
        let moto = try await MotoServer.start()
        defer { moto.stop() }
        try await withLiveServer { vault, _ in
            // The Vault transit engine is a second Coffer's /v1: workspace `keys`, transit key `coffer`.
            let admin = try await vault.user("vault-admin")
            _ = try await vault.workspace("keys", token: admin.token)
            let created = try await vault.call(
                .post, "/v1/keys/transit/keys/coffer", token: admin.token, body: "{}")
            #expect(created.status == 204, "\(created.raw)")
            let vaultEnvironment = [
                "VAULT_ADDR": "http://127.0.0.1:\(try #require(vault.client.port))", "VAULT_TOKEN": admin.token,
                "VAULT_TRANSIT_MOUNT": "keys/transit", "VAULT_TRANSIT_KEY": "coffer",
                "COFFER_KEY_PROVIDER_TIMEOUT_SECONDS": "2",
            ]

            // The provider on its own: round trip, context binding, a bad token.
            let provider = try VaultTransitKeyProvider(try VaultTransitConfiguration.from(environment: vaultEnvironment))
            let key = SymmetricKey(size: .bits256)
            let wrapped = try await provider.wrap(key, context: "coffer:dek:a:1")
            #expect(String(decoding: wrapped, as: UTF8.self).hasPrefix("vault:v1:"))
            #expect(try await provider.unwrap(wrapped, context: "coffer:dek:a:1") == key)
            await #expect { try await provider.unwrap(wrapped, context: "coffer:dek:b:1") } throws: {
                ($0 as? KeyError)?.code == .unwrapFailed
            }
            var badToken = vaultEnvironment
            badToken["VAULT_TOKEN"] = "forged"
            let refused = try VaultTransitKeyProvider(try VaultTransitConfiguration.from(environment: badToken))
            await #expect { try await refused.wrap(key, context: "x") } throws: {
                ($0 as? KeyError)?.code == .providerUnavailable
            }

            let data = try directory()
            defer { try? FileManager.default.removeItem(at: data) }
            let first = KeyMaterial.generate().withUnsafeBytes { Base64.encode($0) }
            let second = KeyMaterial.generate().withUnsafeBytes { Base64.encode($0) }
            var coffer = try await open(["COFFER_MASTER_KEY": first], data)
            let fixture = try await fill(coffer)
            await coffer.close()

            let steps: [(to: String, migrate: [String: String], run: [String: String])] = [
                ("aws_kms", moto.environment.merging(["COFFER_MASTER_KEY": first, "SECRET_ENCRYPTION_BACKEND": "local"]) { $1 }, moto.environment),
                ("vault", moto.environment.merging(vaultEnvironment) { $1 }, vaultEnvironment.merging(["SECRET_ENCRYPTION_BACKEND": "vault"]) { $1 }),
                ("local", vaultEnvironment.merging(["COFFER_MASTER_KEY": second, "SECRET_ENCRYPTION_BACKEND": "vault"]) { $1 }, ["COFFER_MASTER_KEY": second]),
            ]
            // The CLI runs as its own process; waiting for it must not block a thread the in-process Vault needs.
            func migrate(to target: String, _ environment: [String: String]) async throws -> CLIResult {
                try await Spawned(
                    cofferBinary, ["keys", "migrate", "--to", target, "--data-dir", data.path],
                    environment: cleanEnvironment().merging(environment) { $1 }, stdin: nil
                ).wait(timeout: .seconds(60))
            }
            for step in steps {
                let result = try await migrate(to: step.to, step.migrate)
                #expect(result.status == 0, "migrate --to \(step.to): \(result)")
                #expect(result.stdout.contains("keys rewrapped"), "\(result)")
                // Again: nothing left to move, and it says so.
                let again = try await migrate(to: step.to, step.migrate)
                #expect(again.status == 0 && again.stdout.contains(": 0 keys rewrapped"), "\(again.stdout) \(again.stderr)")
                // The new provider alone (the old one's settings gone) opens the store and reads everything.
                coffer = try await open(step.run, data)
                try await expectIntact(coffer, fixture, "on \(step.to) alone")
                await coffer.close()
            }
            #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("master.key").path))
        }
    }
}
