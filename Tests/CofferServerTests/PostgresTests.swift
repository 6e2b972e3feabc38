import AsyncHTTPClient
import CofferCore
import CofferCrypto
import CofferStore
import CofferTestSupport
import Foundation
import Logging
import NIOHTTP1
import Synchronization
import Testing

/// What only PostgreSQL can show: several instances on one database, and a database server that stops and
/// comes back. These run in `scripts/test`'s PostgreSQL pass (`COFFER_TEST_DATABASE_URL`).
@Suite("PostgreSQL: several instances, faults", .serialized, .enabled(if: TestStore.onPostgres))
struct PostgresTests {
    static let password = "a long enough password"

    @Test("two instances on one database: writes on both, reads across, a logout honoured by both, kill -9 of one loses nothing acknowledged, and the audit chain verifies")
    func twoInstances() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-pg2-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        guard case .postgres(let url, _, _) = try await TestStore.location(for: root) else { return }
        let environment = [
            "COFFER_DATABASE_URL": url.connectionString,
            "COFFER_MASTER_KEY": KeyMaterial.encode(KeyMaterial.generate()),
            "JWT_SECRET_KEY": String(repeating: "j", count: 48),
            "COFFER_AUTH_CACHE_SECONDS": "1",
            "COFFER_RATE_LIMIT_PER_MINUTE": "0", "COFFER_RATE_LIMIT_VALUES_PER_MINUTE": "0",
            "COFFER_RATE_LIMIT_AUTH_PER_MINUTE": "0",
        ]
        let dirA = root.appendingPathComponent("a")
        let dirB = root.appendingPathComponent("b")
        // Both start at once: the schema is created by exactly one of them.
        let processA = try ServerProcess(dataDirectory: dirA, environment: environment)
        defer { processA.stop() }
        let processB = try ServerProcess(dataDirectory: dirB, environment: environment)
        defer { processB.stop() }
        let a = processA.endpoint
        let b = processB.endpoint
        #expect(await a.waitHealthy())
        #expect(await b.waitHealthy())
        for dir in [dirA, dirB] {
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("coffer.db").path))
        }

        let (registered, _) = try await a.call(
            .POST, "/api/auth/register", body: #"{"username":"alice","password":"\#(Self.password)"}"#)
        #expect(registered == 201)
        let (_, login) = try await b.call(.POST, "/api/auth/login", body: #"{"username":"alice","password":"\#(Self.password)"}"#)
        let token = try #require(login["access_token"] as? String)
        let (_, workspace) = try await b.call(.POST, "/api/workspaces", token: token, body: #"{"name":"shared"}"#)
        let ws = try #require(workspace["id"] as? String)

        // Writes on both at once; every one reads back through the other.
        let created = try await withThrowingTaskGroup(of: (String, String, Bool).self) { group in
            for i in 0..<40 {
                group.addTask {
                    let server = i % 2 == 0 ? a : b
                    let value = "value-\(i)-\(UUID().uuidString)"
                    let (status, body) = try await server.call(
                        .POST, "/api/secrets/workspaces/\(ws)/secrets", token: token,
                        body: #"{"name":"S\#(i)","value":"\#(value)"}"#)
                    #expect(status == 201, "create S\(i): \(status)")
                    return (body["id"] as? String ?? "", value, i % 2 == 0)
                }
            }
            var all: [(String, String, Bool)] = []
            for try await item in group { all.append(item) }
            return all
        }
        for (id, value, onA) in created {
            let (status, body) = try await (onA ? b : a).call(
                .GET, "/api/secrets/workspaces/\(ws)/secrets/\(id)/value", token: token)
            #expect(status == 200 && body["value"] as? String == value)
        }
        let (_, list) = try await a.call(.GET, "/api/secrets/workspaces/\(ws)/secrets?limit=100", token: token)
        #expect(list["total"] as? Int == 40)

        // A logout on A is refused by B once the authorization cache (1 s here) has lapsed.
        let (_, second) = try await a.call(.POST, "/api/auth/login", body: #"{"username":"alice","password":"\#(Self.password)"}"#)
        let doomed = try #require(second["access_token"] as? String)
        #expect(try await b.call(.GET, "/api/auth/me", token: doomed).0 == 200)
        #expect(try await a.call(.POST, "/api/auth/logout", token: doomed).0 == 204)
        try await Task.sleep(for: .milliseconds(1_500))
        #expect(try await b.call(.GET, "/api/auth/me", token: doomed).0 == 401)
        #expect(try await a.call(.GET, "/api/auth/me", token: doomed).0 == 401)

        // A data key added by rotate-key on A is the one B seals new values with, and A reads them.
        let (rotated, _) = try await a.call(.POST, "/api/secrets/admin/encryption/rotate-key", token: token)
        #expect(rotated == 202)
        let (createdOnB, fresh) = try await b.call(
            .POST, "/api/secrets/workspaces/\(ws)/secrets", token: token, body: #"{"name":"AFTER_ROTATION","value":"new-key"}"#)
        #expect(createdOnB == 201)
        let freshID = try #require(fresh["id"] as? String)
        let (_, versions) = try await b.call(.GET, "/api/secrets/workspaces/\(ws)/secrets/\(freshID)/versions", token: token)
        #expect((versions["items"] as? [[String: Any]])?.first?["dek_version"] as? Int == 2)
        let (_, readOnA) = try await a.call(.GET, "/api/secrets/workspaces/\(ws)/secrets/\(freshID)/value", token: token)
        #expect(readOnA["value"] as? String == "new-key")

        // kill -9 of A in the middle of concurrent writes to both: every acknowledged write is there, B keeps serving.
        let acknowledged = LockedBox<[(String, String)]>([])
        let killed = LockedBox(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for i in 0..<40 {
                        let server = worker % 2 == 0 ? a : b
                        if worker % 2 == 0 && killed.get() { return }
                        let value = "load-\(worker)-\(i)-\(UUID().uuidString)"
                        guard
                            let (status, body) = try? await server.call(
                                .POST, "/api/secrets/workspaces/\(ws)/secrets", token: token,
                                body: #"{"name":"L\#(worker)_\#(i)","value":"\#(value)"}"#),
                            status == 201, let id = body["id"] as? String
                        else { continue }
                        acknowledged.update { $0.append((id, value)) }
                    }
                }
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while acknowledged.get().count < 60 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            processA.kill9()
            killed.set(true)
            try await group.waitForAll()
        }
        #expect(killed.get())
        let survivors = acknowledged.get()
        #expect(survivors.count >= 60)
        for (id, value) in survivors {
            let (status, body) = try await b.call(.GET, "/api/secrets/workspaces/\(ws)/secrets/\(id)/value", token: token)
            #expect(status == 200 && body["value"] as? String == value, "acknowledged \(id) lost")
        }
        let (_, verify) = try await b.call(.GET, "/api/secrets/admin/audit/verify", token: token)
        #expect(verify["intact"] as? Bool == true, "\(verify)")
        processB.stop()

        // The offline verifier reads the same database.
        let offline = try runCoffer(
            ["audit", "verify", "--data-dir", dirB.path],
            environment: ["COFFER_DATABASE_URL": environment["COFFER_DATABASE_URL"]!,
                          "COFFER_MASTER_KEY": environment["COFFER_MASTER_KEY"]!], timeout: 60)
        #expect(offline.status == 0, "\(offline.stdout) \(offline.stderr)")
        #expect(offline.stdout.contains("audit log intact"))
    }

    @Test("a stopped database fails requests fast with 503 store_unavailable, /health 503; serving resumes when it is back")
    func databaseStopsAndReturns() async throws {
        let cluster = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-pgfault-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: cluster) }
        let started = try runScript(["start", cluster.appendingPathComponent("pg").path])
        #expect(started.status == 0, "\(started.stderr)")
        defer { _ = try? runScript(["stop", cluster.appendingPathComponent("pg").path]) }
        let url = try PostgresURL(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        try await withLiveServer(store: .postgres(url, poolSize: 4, timeout: .seconds(2))) { server, _ in
            let (_, token) = try await server.user("alice")
            let ws = try await server.workspace("w", token: token)
            let id = try await server.secret("K", value: "kept", in: ws, token: token)

            #expect(try runScript(["stop", cluster.appendingPathComponent("pg").path]).status == 0)
            let clock = ContinuousClock()
            let began = clock.now
            let read = try await server.call(.get, "/api/secrets/workspaces/\(ws)/secrets/\(id)/value", token: token)
            #expect(read.status == 503 && read.errorCode == "store_unavailable", "\(read.raw)")
            #expect(!read.raw.contains("kept"))
            let write = try await server.call(
                .post, "/api/secrets/workspaces/\(ws)/secrets", token: token, body: #"{"name":"NEW","value":"v"}"#)
            #expect(write.status == 503 && write.errorCode == "store_unavailable", "\(write.raw)")
            #expect(try await server.call(.get, "/health").status == 503)
            #expect(clock.now - began < .seconds(15))

            #expect(try runScript(["resume", cluster.appendingPathComponent("pg").path]).status == 0)
            var back = false
            for _ in 0..<100 where !back {
                back = try await server.call(.get, "/health").status == 200
                if !back { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(back)
            let again = try await server.call(.get, "/api/secrets/workspaces/\(ws)/secrets/\(id)/value", token: token)
            #expect(again.status == 200 && again["value"] as? String == "kept")
            let list = try await server.call(.get, "/api/secrets/workspaces/\(ws)/secrets", token: token)
            #expect(list["total"] as? Int == 1)
        }
    }

    @Test("sslmode verify-full checks the certificate, require encrypts, and the password appears in no error, log or /health")
    func tlsAndCredentials() async throws {
        let cluster = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-pgtls-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: cluster) }
        let pg = cluster.appendingPathComponent("pg")
        let started = try runScript(["start", pg.path])
        #expect(started.status == 0, "\(started.stderr)")
        defer { _ = try? runScript(["stop", pg.path]) }
        let url = try PostgresURL(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let password = try #require(url.password)
        let logger = Logger(label: "test")

        /// Whether a store opened on `url` talks to the server over TLS.
        func encrypted(_ url: PostgresURL) async throws -> Bool {
            let store = try await PostgresDatabaseStore.open(url: url, poolSize: 2, timeout: .seconds(5), logger: logger)
            defer { Task { await store.close() } }
            return try await store.read { db in
                try await db.raw("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").first(decodingColumn: "ssl", as: Bool.self)
            } ?? false
        }
        var verified = url
        verified.host = "localhost"
        verified.sslMode = .verifyFull
        verified.rootCertificatePath = pg.appendingPathComponent("ca.pem").path
        #expect(try await encrypted(verified))
        var required = url
        required.sslMode = .require
        #expect(try await encrypted(required))
        #expect(try await !encrypted(url))

        // The system's roots do not include the test CA: verify-full refuses the server.
        var unverifiable = verified
        unverifiable.rootCertificatePath = nil
        await #expect {
            _ = try await PostgresDatabaseStore.open(url: unverifiable, poolSize: 2, timeout: .seconds(5), logger: logger)
        } throws: { error in
            (error as? StoreError)?.code == .unavailable && !"\(error)".contains(password)
        }
        // A wrong password is refused, and neither password is quoted.
        var wrong = url
        wrong.password = "not-the-password-\(UUID().uuidString)"
        await #expect {
            _ = try await PostgresDatabaseStore.open(url: wrong, poolSize: 2, timeout: .seconds(5), logger: logger)
        } throws: { error in
            let text = "\(error)"
            return (error as? StoreError)?.code == .unavailable && text.contains("credentials")
                && !text.contains(password) && !text.contains(wrong.password!)
        }
        #expect(!"\(verified)".contains(password))
        #expect(!"\(StoreLocation.postgres(verified, poolSize: 2, timeout: .seconds(5)))".contains(password))

        // A live server on it, through the same start-up path as `coffer server`: nothing it logs or answers
        // carries the password.
        let logs = LogCapture()
        let environment = ["COFFER_DATABASE_URL": verified.connectionString]
        try await withLiveServer(environment: environment, logs: logs, store: try StoreLocation.from(
            environment: environment, dataDirectory: cluster.path)) { server, _ in
            let (_, token) = try await server.user("alice")
            let health = try await server.call(.get, "/health")
            #expect(health.status == 200 && !health.raw.contains(password))
            let ws = try await server.workspace("w", token: token)
            _ = try await server.secret("K", value: "v", in: ws, token: token)
        }
        #expect(!logs.text.contains(password))
        let offline = try runCoffer(["audit", "verify", "--data-dir", cluster.path], environment: [
            "COFFER_DATABASE_URL": wrong.connectionString, "COFFER_MASTER_KEY": KeyMaterial.encode(KeyMaterial.generate()),
        ])
        #expect(offline.status == 1)
        #expect(!offline.stderr.contains(password) && !offline.stderr.contains(wrong.password!), "\(offline.stderr)")
    }

    /// Runs `scripts/postgres` (bounded).
    private func runScript(_ arguments: [String]) throws -> RunResult {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/postgres")
        return try runProgram(URL(fileURLWithPath: "/bin/bash"), [script.path] + arguments, timeout: 60)
    }
}
