import CofferTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `coffer server` protects its own process: no core dumps, optional locked memory, keys from files.
@Suite("Process hardening")
struct ProcessHardeningTests {
    func field(_ name: String, of file: String) throws -> String {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        return String(text.split(separator: "\n").first { $0.hasPrefix(name) } ?? "")
    }

    @Test("core dumps are off even under `ulimit -c unlimited`; keys come from *_FILE and stay out of the environment; COFFER_MLOCK locks memory")
    func hardened() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-hardening-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let secrets = directory.appendingPathComponent("run-secrets")
        try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: true)
        let masterKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let jwtSecret = String(repeating: "j", count: 40)
        try (masterKey + "\n").write(to: secrets.appendingPathComponent("master"), atomically: true, encoding: .utf8)
        try jwtSecret.write(to: secrets.appendingPathComponent("jwt"), atomically: true, encoding: .utf8)
        let data = directory.appendingPathComponent("data")
        let port = try unusedLoopbackPort()
        let server = try await startCofferServer(
            [
                "COFFER_MASTER_KEY_FILE": secrets.appendingPathComponent("master").path,
                "JWT_SECRET_KEY_FILE": secrets.appendingPathComponent("jwt").path, "COFFER_MLOCK": "true",
            ], limits: "ulimit -c unlimited", port: port, directory: data)
        defer { kill(server.pid, SIGKILL) }
        let proc = "/proc/\(server.pid)"
        let core = try field("Max core file size", of: "\(proc)/limits")
        #expect(core.split(separator: " ").contains("0") && !core.contains("unlimited"), "\(core)")
        let locked = try field("VmLck:", of: "\(proc)/status")
        #expect(!locked.isEmpty && !locked.contains(" 0 kB"), "COFFER_MLOCK=true locked memory: \(locked)")
        let environ = (FileManager.default.contents(atPath: "\(proc)/environ")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        #expect(!environ.contains(masterKey) && !environ.contains(jwtSecret))
        // The keys came from the files: none was generated in the data directory.
        #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("master.key").path))
        #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("jwt.secret").path))
        kill(server.pid, SIGKILL)
        _ = try await server.wait(timeout: .seconds(5))

        // A key both in a variable and in a file, or a file that cannot be read, stops the start with a message.
        let both = try runCoffer(
            ["server", "--port", "0", "--data-dir", data.path],
            environment: [
                "COFFER_MASTER_KEY": masterKey, "COFFER_MASTER_KEY_FILE": secrets.appendingPathComponent("master").path,
            ])
        #expect(both.status == 1 && both.stderr.contains("COFFER_MASTER_KEY and COFFER_MASTER_KEY_FILE"), "\(both)")
        #expect(!both.stderr.contains(masterKey))
        let missing = try runCoffer(
            ["server", "--port", "0", "--data-dir", data.path],
            environment: ["JWT_SECRET_KEY_FILE": secrets.appendingPathComponent("nope").path, "COFFER_MASTER_KEY": masterKey])
        #expect(missing.status == 1 && missing.stderr.contains("JWT_SECRET_KEY_FILE"), "\(missing)")
    }
}
