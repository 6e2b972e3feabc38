import CofferCore
import CofferCrypto
import CofferKeys
import Foundation
import Logging
import Testing

@testable import CofferServer

@Suite("Secrets stay secret; start-up checks")
struct LeakAndStartupTests {
    @Test("no value, password or token appears in the data directory or the server's log")
    func noLeaks() async throws {
        let logs = LogCapture()
        let values = (0..<10).map { "leak-marker-\($0)-\(UUID().uuidString)" }
        let tokens = LockedBox<[String]>([])
        let dataBytes = LockedBox<[UInt8]>([])
        let masterKey = KeyMaterial.generate()
        try await withLiveServer(environment: ["COFFER_MASTER_KEY": KeyMaterial.encode(masterKey)], logs: logs) { api, directory in
            let owner = try await api.user("owner")
            tokens.set([owner.token])
            let ws = try await api.workspace("w", token: owner.token)
            for (i, value) in values.enumerated() {
                let id = try await api.secret("S\(i)", value: value, in: ws, token: owner.token)
                let read = try await api.call(.get, "/api/secrets/workspaces/\(ws)/secrets/\(id)/value", token: owner.token)
                #expect(read.text("value") == value)
                _ = try await api.call(
                    .post, "/api/secrets/workspaces/\(ws)/secrets/\(id)/rotate", token: owner.token,
                    body: api.json(["new_value": value + "-rotated"]))
            }
            // The lifecycle endpoints too: versions, rollback, generated values, key rotation, purge.
            let lifecycle = try await api.secret("LIFECYCLE", value: values[0] + "-lifecycle", in: ws, token: owner.token)
            let base = "/api/secrets/workspaces/\(ws)/secrets"
            _ = try await api.call(.patch, "\(base)/\(lifecycle)", token: owner.token, body: api.json(["value": values[1] + "-patched"]))
            _ = try await api.call(.get, "\(base)/\(lifecycle)/versions", token: owner.token)
            _ = try await api.call(.post, "\(base)/\(lifecycle)/rollback", token: owner.token, body: api.json(["version": 1]))
            let generated = try await api.call(
                .post, base, token: owner.token,
                body: #"{"name":"GENERATED","generate":{"length":48},"rotation_policy":"auto_30_days"}"#)
            let generatedValue = try await api.call(.get, "\(base)/\(generated.text("id"))/value", token: owner.token).text("value")
            #expect(generatedValue.count == 48)
            tokens.set(tokens.get() + [generatedValue])
            _ = try await api.call(.post, "/api/secrets/admin/encryption/rotate-key", token: owner.token)
            _ = try await api.call(.get, "/api/secrets/admin/encryption/rotation-status", token: owner.token)
            let newKey = try await api.call(.post, "/api/secrets/admin/encryption/generate-key", token: owner.token).text("key")
            tokens.set(tokens.get() + [newKey])
            _ = try await api.call(.get, "/api/secrets/workspaces/\(ws)/audit?limit=1000", token: owner.token)
            _ = try await api.call(.delete, "\(base)/\(lifecycle)?purge=true", token: owner.token)
            // Sessions and machine access: refresh tokens and service tokens stay out of logs and the database.
            let session = try await api.call(
                .post, "/api/auth/login", body: api.json(["username": "owner", "password": LiveServer.password]))
            let refreshed = try await api.call(
                .post, "/api/auth/refresh", body: api.json(["refresh_token": session.text("refresh_token")]))
            let service = try await api.call(
                .post, "/api/workspaces/\(ws)/tokens", token: owner.token, body: api.json(["name": "ci", "role": "reader"]))
            _ = try await api.call(.get, "\(base)?limit=5", token: service.text("token"))
            tokens.set(
                tokens.get() + [
                    session.text("access_token"), session.text("refresh_token"), refreshed.text("refresh_token"),
                    service.text("token"),
                ])
            // Failed attempts too: a wrong password and a bad token must not be echoed.
            _ = try await api.call(.post, "/api/auth/login", body: api.json(["username": "owner", "password": "wrong-password-xyz"]))
            _ = try await api.call(.get, "/api/workspaces", token: "not-a-token-but-secretish")
            var bytes: [UInt8] = []
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where name.hasPrefix("coffer.db") {
                bytes += Array(try Data(contentsOf: directory.appendingPathComponent(name)))
            }
            dataBytes.set(bytes)
        }
        let log = logs.text
        #expect(log.contains("request"))  // the capture works
        let secrets = values + values.map { $0 + "-rotated" } + [values[0] + "-lifecycle", values[1] + "-patched"]
            + [LiveServer.password, "wrong-password-xyz", "not-a-token-but-secretish"]
            + tokens.get() + [KeyMaterial.encode(masterKey)]
        for secret in secrets {
            #expect(!log.contains(secret), "log contains \(secret.prefix(12))…")
            #expect(!contains(dataBytes.get(), Array(secret.utf8)), "database contains \(secret.prefix(12))…")
        }
    }

    /// Substring search in native code: a byte-by-byte loop in a debug build would hog the cooperative threads the
    /// other tests' servers need.
    func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        !needle.isEmpty && Data(haystack).range(of: Data(needle)) != nil
    }

    func directory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("coffer-start-\(UUID().uuidString)")
    }

    func open(_ dir: URL, _ environment: [String: String]) async throws -> Coffer {
        var configuration = try ServerConfiguration(environment: environment)
        configuration.dataDirectory = dir.path
        return try await openCoffer(configuration, environment: environment, logger: Logger(label: "test"))
    }

    @Test("first start generates master.key and jwt.secret (0400) in a 0700 data dir; later starts reuse them")
    func generatedKeys() async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try await open(dir, [:])
        await first.close()
        let key = try String(contentsOf: dir.appendingPathComponent("master.key"), encoding: .utf8)
        for name in ["master.key", "jwt.secret"] {
            let mode = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(name).path)[.posixPermissions] as? Int
            #expect(mode == 0o400, "\(name)")
        }
        let dirMode = try FileManager.default.attributesOfItem(atPath: dir.path)[.posixPermissions] as? Int
        #expect(dirMode == 0o700)
        let dbMode = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("coffer.db").path)[.posixPermissions] as? Int
        #expect(dbMode == 0o600)
        _ = try KeyMaterial.parseKey(key)
        let second = try await open(dir, [:])
        await second.close()
        #expect(try String(contentsOf: dir.appendingPathComponent("master.key"), encoding: .utf8) == key)
    }

    @Test("production without explicit keys refuses to start and says what to set")
    func productionNeedsKeys() async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        await #expect {
            _ = try await open(dir, ["ENVIRONMENT": "production"])
        } throws: { error in
            guard let error = error as? KeyError else { return false }
            return error.code == .missingKey && error.publicMessage.contains("COFFER_MASTER_KEY")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("master.key").path))
        await #expect {
            _ = try await open(dir, ["ENVIRONMENT": "production", "COFFER_MASTER_KEY": KeyMaterial.encode(KeyMaterial.generate())])
        } throws: { error in
            (error as? KeyError)?.publicMessage.contains("JWT_SECRET_KEY") == true
        }
        let coffer = try await open(
            dir,
            [
                "ENVIRONMENT": "production", "COFFER_MASTER_KEY": KeyMaterial.encode(KeyMaterial.generate()),
                "JWT_SECRET_KEY": String(repeating: "j", count: 40),
            ])
        await coffer.close()
    }

    @Test("a malformed key, or a key other than the data's, is refused at start-up")
    func badKeys() async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for bad in ["not base64 at all!", Base64.encode(SecureRandom.bytes(16)), Base64.encode(SecureRandom.bytes(33))] {
            await #expect {
                _ = try await open(dir, ["COFFER_MASTER_KEY": bad])
            } throws: { error in
                guard let error = error as? KeyError else { return false }
                return error.code == .invalidKey && !error.publicMessage.contains(bad)
            }
        }
        let key = KeyMaterial.encode(KeyMaterial.generate())
        let coffer = try await open(dir, ["COFFER_MASTER_KEY": key])
        await coffer.close()
        await #expect {
            _ = try await open(dir, ["ENCRYPTION_KEY": KeyMaterial.encode(KeyMaterial.generate())])
        } throws: { error in
            (error as? KeyError)?.code == .wrongKey
        }
        // The seed's variable names work for the right key.
        let again = try await open(dir, ["SECRET_ENCRYPTION_KEY": key])
        await again.close()
    }

    @Test("COFFER_PREVIOUS_MASTER_KEY rotates the master key at start-up; afterwards only the new key opens the data")
    func masterKeyRotationAtStartup() async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = KeyMaterial.encode(KeyMaterial.generate())
        let new = KeyMaterial.encode(KeyMaterial.generate())
        await (try await open(dir, ["COFFER_MASTER_KEY": old])).close()
        await (try await open(dir, ["COFFER_MASTER_KEY": new, "COFFER_PREVIOUS_MASTER_KEY": old])).close()
        await (try await open(dir, ["COFFER_MASTER_KEY": new, "COFFER_PREVIOUS_MASTER_KEY": old])).close()  // idempotent
        await (try await open(dir, ["COFFER_MASTER_KEY": new])).close()
        await #expect {
            _ = try await open(dir, ["COFFER_MASTER_KEY": old])
        } throws: { error in
            (error as? KeyError)?.code == .wrongKey
        }
        await #expect {
            _ = try await open(dir, ["COFFER_MASTER_KEY": new, "COFFER_PREVIOUS_MASTER_KEY": "garbage"])
        } throws: { error in
            (error as? KeyError)?.publicMessage.contains("COFFER_PREVIOUS_MASTER_KEY") == true
        }
    }

    @Test("malformed settings are refused with the setting's name")
    func badSettings() throws {
        for (name, value) in [
            ("COFFER_PORT", "eighty"), ("COFFER_PORT", "70000"), ("JWT_EXPIRE_MINUTES", "0"),
            ("COFFER_ALLOW_SIGNUP", "maybe"), ("SECRET_ROTATION_DAYS", "45"),
        ] {
            #expect {
                _ = try ServerConfiguration(environment: [name: value])
            } throws: { error in
                (error as? ConfigurationError)?.message.contains(name) == true
            }
        }
        let configuration = try ServerConfiguration(environment: ["SECRET_ROTATION_DAYS": "90", "JWT_EXPIRE_MINUTES": "30"])
        #expect(configuration.settings.defaultRotationPolicy == .auto90Days)
        #expect(configuration.settings.jwtExpireMinutes == 30)
        // Seed 001's name, in seconds; agreeing with JWT_EXPIRE_MINUTES is fine, disagreeing stops start-up.
        #expect(try ServerConfiguration(environment: ["JWT_ACCESS_TOKEN_EXPIRES": "5400"]).settings.accessTokenSeconds == 5400)
        #expect(
            try ServerConfiguration(environment: ["JWT_ACCESS_TOKEN_EXPIRES": "1800", "JWT_EXPIRE_MINUTES": "30"])
                .settings.accessTokenSeconds == 1800)
        #expect {
            _ = try ServerConfiguration(environment: ["JWT_ACCESS_TOKEN_EXPIRES": "600", "JWT_EXPIRE_MINUTES": "30"])
        } throws: { error in
            let message = (error as? ConfigurationError)?.message ?? ""
            return message.contains("JWT_ACCESS_TOKEN_EXPIRES") && message.contains("JWT_EXPIRE_MINUTES")
        }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration(environment: ["JWT_ACCESS_TOKEN_EXPIRES": "5"]) }
        #expect(try ServerConfiguration(environment: ["COFFER_KEY_ROTATION_DAYS": "90"]).settings.keyRotationDays == 90)
        #expect(try ServerConfiguration(environment: ["COFFER_KEY_ROTATION_DAYS": "off"]).settings.keyRotationDays == nil)
        #expect(try ServerConfiguration(environment: [:]).settings.keyRotationDays == nil)
        #expect(throws: ConfigurationError.self) { try ServerConfiguration(environment: ["COFFER_KEY_ROTATION_DAYS": "quarterly"]) }
    }
}

/// A value shared between a test and the closures it runs.
final class LockedBox<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    func get() -> Value { storage.withLock { $0 } }
    func set(_ value: Value) { storage.withLock { $0 = value } }
    func update<T>(_ body: (inout Value) -> T) -> T { storage.withLock { body(&$0) } }
}

import Synchronization
