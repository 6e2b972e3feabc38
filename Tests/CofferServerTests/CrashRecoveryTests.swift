import AsyncHTTPClient
import CofferCore
import CofferCrypto
import CofferKeys
import CofferStore
import CofferTestSupport
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A `coffer server` child process on a loopback port.
final class ServerProcess {
    let process = Process()
    let port: Int

    init(dataDirectory: URL, environment: [String: String]) throws {
        port = try unusedLoopbackPort()
        process.executableURL = cofferBinary
        process.arguments = ["server", "--port", String(port), "--data-dir", dataDirectory.path]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// The server's address, to call from concurrent tasks.
    var endpoint: ServerEndpoint { ServerEndpoint(base: base) }

    func waitHealthy(seconds: Int = 60) async -> Bool { await endpoint.waitHealthy(seconds: seconds) }

    func call(_ method: HTTPMethod, _ path: String, token: String? = nil, body: String? = nil) async throws -> (Int, [String: Any]) {
        try await endpoint.call(method, path, token: token, body: body)
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// A Coffer server's base URL and the calls the tests make to it.
struct ServerEndpoint: Sendable {
    let base: String

    /// Waits (bounded) until /health answers 200.
    func waitHealthy(seconds: Int = 60) async -> Bool {
        for _ in 0..<(seconds * 10) {
            if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/health"), timeout: .seconds(2)),
                response.status == .ok
            {
                return true
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    func call(_ method: HTTPMethod, _ path: String, token: String? = nil, body: String? = nil) async throws -> (Int, [String: Any]) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let json = (try? JSONSerialization.jsonObject(with: Data(buffer: bytes))) as? [String: Any] ?? [:]
        return (Int(response.status.code), json)
    }
}

@Suite("Crash recovery", .serialized)
struct CrashRecoveryTests {
    @Test("kill -9 during a DEK re-encryption of thousands of secrets: after restart the job finishes and every value reads back")
    func killDuringReencryption() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let masterKey = KeyMaterial.generate()
        let jwtSecret = String(repeating: "k", count: 48)
        let environment = ["COFFER_MASTER_KEY": KeyMaterial.encode(masterKey), "JWT_SECRET_KEY": jwtSecret]
        let count = 2_000

        // Seed the data directory in-process (fast bcrypt for the account; the server verifies it at its own cost).
        func openCoffer() async throws -> Coffer {
            var settings = CofferSettings()
            settings.bcryptCost = 4
            let store = try await SQLiteDatabaseStore.open(
                path: directory.appendingPathComponent("coffer.db").path, logger: Logger(label: "seed"))
            return try await Coffer.open(
                database: store, provider: LocalKeyProvider(masterKey: masterKey),
                jwtKey: SymmetricKey(data: Array(jwtSecret.utf8)), settings: settings)
        }
        let origin = RequestOrigin(ipAddress: "127.0.0.1", userAgent: "seed")
        var expected: [String: String] = [:]
        let seeding = try await openCoffer()
        let admin = try await seeding.accounts.register(Credentials(username: "admin", password: "a long enough password"), caller: nil)
        let principal = Principal(userID: admin.id)
        let ws = try await seeding.workspaces.create(WorkspaceCreate(name: "bulk"), by: principal).id
        try await withThrowingTaskGroup(of: (String, String).self) { group in
            for i in 0..<count {
                if i >= 32 { let (id, value) = try await group.next()!; expected[id] = value }
                group.addTask {
                    let value = "bulk-\(i)-\(UUID().uuidString)"
                    let s = try await seeding.secrets.create(SecretCreate(name: "S\(i)", value: value), in: ws, by: principal, origin: origin)
                    return (s.id, value)
                }
            }
            for try await (id, value) in group { expected[id] = value }
        }
        #expect(expected.count == count)
        await seeding.close()

        // Start the server with tiny batches, start a rotation, and kill -9 it mid-job.
        let first = try ServerProcess(dataDirectory: directory, environment: environment.merging(["COFFER_REENCRYPTION_BATCH_SIZE": "5"]) { $1 })
        defer { first.stop() }
        #expect(await first.waitHealthy())
        let (loginStatus, login) = try await first.call(.POST, "/api/auth/login", body: #"{"username":"admin","password":"a long enough password"}"#)
        #expect(loginStatus == 200)
        let token = try #require(login["access_token"] as? String)
        let (rotateStatus, job) = try await first.call(.POST, "/api/secrets/admin/encryption/rotate-key", token: token)
        #expect(rotateStatus == 202)
        #expect(job["total"] as? Int == count)
        var doneAtKill = 0
        for _ in 0..<2_000 {
            let (_, status) = try await first.call(.GET, "/api/secrets/admin/encryption/rotation-status", token: token)
            let newest = (status["jobs"] as? [[String: Any]])?.first
            doneAtKill = newest?["done"] as? Int ?? 0
            if doneAtKill >= 50 { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        first.kill9()
        #expect(doneAtKill > 0 && doneAtKill < count, "killed at \(doneAtKill) of \(count)")

        // Restart: the job resumes before the server serves, and completes.
        let second = try ServerProcess(dataDirectory: directory, environment: environment)
        defer { second.stop() }
        #expect(await second.waitHealthy(seconds: 120))
        let (_, status) = try await second.call(.GET, "/api/secrets/admin/encryption/rotation-status", token: token)
        let newest = try #require((status["jobs"] as? [[String: Any]])?.first)
        #expect(newest["status"] as? String == "completed")
        #expect(newest["done"] as? Int == count)
        #expect(status["in_progress"] as? Bool == false)
        second.stop()

        // Every secret reads back its exact value, now under the new key.
        let checkStore = try await SQLiteDatabaseStore.open(
            path: directory.appendingPathComponent("coffer.db").path, readerCount: 1, logger: Logger(label: "check"))
        let stale = try await checkStore.read { try await KeyRotationRepository().countStale(workspaceID: nil, on: $0) }
        await checkStore.close()
        #expect(stale == 0)
        let check = try await openCoffer()
        try await withThrowingTaskGroup(of: Bool.self) { group in
            var iterator = expected.makeIterator()
            var inFlight = 0
            var mismatches = 0
            while true {
                while inFlight < 32, let (id, value) = iterator.next() {
                    inFlight += 1
                    group.addTask { try await check.secrets.value(of: id, in: ws, by: principal, origin: origin).value == value }
                }
                guard let ok = try await group.next() else { break }
                inFlight -= 1
                if !ok { mismatches += 1 }
            }
            #expect(mismatches == 0)
        }
        #expect(try await check.audit.verify().isIntact)
        await check.close()
    }
}
