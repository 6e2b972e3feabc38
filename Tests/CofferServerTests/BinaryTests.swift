import AsyncHTTPClient
import CofferTestSupport
import Foundation
import NIOCore
import Testing

/// The `coffer` executable built beside the tests (`swift build` puts it in .build/debug).
let cofferBinary: URL = {
    if let path = ProcessInfo.processInfo.environment["COFFER_BINARY"] { return URL(fileURLWithPath: path) }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/coffer")
}()

struct RunResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs the binary to completion (bounded by `timeout`).
func runCoffer(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil, timeout: Double = 30) throws -> RunResult {
    try runProgram(cofferBinary, arguments, environment: environment, in: directory, timeout: timeout)
}

/// Runs a program to completion (bounded by `timeout`), with the test's environment plus `environment`.
func runProgram(
    _ executable: URL, _ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil,
    timeout: Double = 30
) throws -> RunResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    if let directory { process.currentDirectoryURL = directory }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
    return RunResult(
        status: process.terminationStatus,
        stdout: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
        stderr: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
}

@Suite("The coffer executable", .serialized)
struct BinaryTests {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-bin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("--version and --help")
    func versionAndHelp() throws {
        let version = try runCoffer(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        let help = try runCoffer(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("server"))
        let serverHelp = try runCoffer(["server", "--help"])
        #expect(serverHelp.stdout.contains("--data-dir"))
        #expect(serverHelp.stdout.contains("COFFER_MASTER_KEY"))
        let keygen = try runCoffer(["keygen"])
        #expect(keygen.status == 0)
        #expect(Data(base64Encoded: keygen.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/"))?.count == 32)
    }

    @Test("`coffer server` on the embedded default: ./data, generated key with a back-up warning, /health, clean stop")
    func serverStartsOnDefaults() async throws {
        let cwd = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cwd) }
        let port = try unusedLoopbackPort()
        let process = Process()
        process.executableURL = cofferBinary
        process.arguments = ["server", "--port", String(port)]
        var environment = ProcessInfo.processInfo.environment
        for name in ["COFFER_MASTER_KEY", "ENCRYPTION_KEY", "SECRET_ENCRYPTION_KEY", "JWT_SECRET_KEY", "ENVIRONMENT", "COFFER_DATA_DIR", "COFFER_PORT"] {
            environment[name] = nil
        }
        process.environment = environment
        process.currentDirectoryURL = cwd
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        var healthy = false
        for _ in 0..<150 where !healthy {
            try await Task.sleep(for: .milliseconds(100))
            if let response = try? await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/health"), timeout: .seconds(2)),
                response.status == .ok
            {
                healthy = true
            }
        }
        #expect(healthy)
        let data = cwd.appendingPathComponent("data")
        let keyMode = try FileManager.default.attributesOfItem(atPath: data.appendingPathComponent("master.key").path)[.posixPermissions] as? Int
        #expect(keyMode == 0o400)
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("coffer.db").path))

        process.terminate()  // SIGTERM: graceful shutdown
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(stderr.contains("BACK THIS FILE UP"))
        #expect(stderr.contains("127.0.0.1:\(port)"))
        let key = try String(contentsOf: data.appendingPathComponent("master.key"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!stderr.contains(key))
    }

    @Test("production without a key exits 1 with a message that says what to set")
    func productionRefusal() throws {
        let cwd = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cwd) }
        let result = try runCoffer(
            ["server", "--port", "0", "--data-dir", cwd.appendingPathComponent("d").path],
            environment: ["ENVIRONMENT": "production", "COFFER_MASTER_KEY": "", "ENCRYPTION_KEY": "", "SECRET_ENCRYPTION_KEY": ""])
        #expect(result.status == 1)
        #expect(result.stderr.contains("COFFER_MASTER_KEY"))
        let malformed = try runCoffer(
            ["server", "--port", "0", "--data-dir", cwd.appendingPathComponent("e").path],
            environment: ["COFFER_MASTER_KEY": "too-short"])
        #expect(malformed.status == 1)
        #expect(malformed.stderr.contains("COFFER_MASTER_KEY"))
        #expect(!malformed.stderr.contains("too-short"))
    }
}
