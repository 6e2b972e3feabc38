import CofferCore
import CofferCrypto
import CofferKeys
import CofferStore
import CofferTestSupport
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

@testable import CofferServer

/// Every log line a test server writes, with its metadata, for leak checks.
final class LogCapture: Sendable {
    let lines = Mutex<[String]>([])

    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    func logger() -> Logger {
        var logger = Logger(label: "coffer-test") { _ in CaptureHandler(capture: self) }
        logger.logLevel = .trace
        return logger
    }

    struct CaptureHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            capture.lines.withLock { $0.append("\(event.level) \(event.message) \(merged)") }
        }
    }
}

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let current = Mutex(Date())
    var now: Date { current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// A decoded JSON response.
struct Reply {
    let status: Int
    let headers: HTTPFields
    let json: Any?
    let raw: String

    subscript(key: String) -> Any? { (json as? [String: Any])?[key] }
    var string: [String: Any] { json as? [String: Any] ?? [:] }
    var errorCode: String? { (self["error"] as? [String: Any])?["code"] as? String }
    var errorMessage: String? { (self["error"] as? [String: Any])?["message"] as? String }
    var items: [[String: Any]] { self["items"] as? [[String: Any]] ?? [] }
    func text(_ key: String) -> String { self[key] as? String ?? "" }
}

/// A live Coffer server on a free loopback port, spoken to with AsyncHTTPClient.
struct LiveServer {
    let client: any TestClientProtocol
    let clock: TestClock
    /// The domain behind the server, for what no endpoint does (a scheduler tick).
    var coffer: Coffer? = nil

    static let password = "correct horse battery staple"

    @discardableResult
    func call(
        _ method: HTTPRequest.Method, _ path: String, token: String? = nil, body: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if body != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(
            uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        let raw = String(buffer: response.body)
        let json = raw.isEmpty ? nil : try? JSONSerialization.jsonObject(with: Data(raw.utf8))
        return Reply(status: Int(response.status.code), headers: response.headers, json: json, raw: raw)
    }

    func json(_ object: Any) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    /// Registers (with an admin token after the first user) and logs in; returns the user id and token.
    func user(_ name: String, admin: String? = nil) async throws -> (id: String, token: String) {
        let registered = try await call(
            .post, "/api/auth/register", token: admin, body: json(["username": name, "password": Self.password]))
        #expect(registered.status == 201, "register \(name): \(registered.raw)")
        let login = try await call(.post, "/api/auth/login", body: json(["username": name, "password": Self.password]))
        #expect(login.status == 200, "login \(name): \(login.raw)")
        return (registered.text("id"), login.text("access_token"))
    }

    func workspace(_ name: String, token: String) async throws -> String {
        let reply = try await call(.post, "/api/workspaces", token: token, body: json(["name": name]))
        #expect(reply.status == 201, "\(reply.raw)")
        return reply.text("id")
    }

    func secret(_ name: String, value: String, in ws: String, token: String) async throws -> String {
        let reply = try await call(
            .post, "/api/secrets/workspaces/\(ws)/secrets", token: token, body: json(["name": name, "value": value]))
        #expect(reply.status == 201, "\(reply.raw)")
        return reply.text("id")
    }
}

/// Runs `body` against a live server over a fresh data directory; returns the directory (removed afterwards).
func withLiveServer(
    environment: [String: String] = [:],
    logs: LogCapture = LogCapture(),
    store: StoreLocation? = nil,
    _ body: @Sendable (LiveServer, URL) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-server-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    var configuration = try ServerConfiguration(environment: environment)
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configuration.dataDirectory = directory.path
    configuration.settings.bcryptCost = 4
    let logger = logs.logger()
    let clock = TestClock()
    try prepareDataDirectory(directory, logger: logger)
    let loader = KeyLoader(environment: environment, dataDirectory: directory, logger: logger)
    let location: StoreLocation
    if let store { location = store } else { location = try await TestStore.location(for: directory) }
    let database = try await location.open(logger: logger)
    let coffer = try await Coffer.open(
        database: database, provider: LocalKeyProvider(masterKey: try loader.masterKey().key),
        jwtKey: try loader.jwtSecret().key, settings: configuration.settings, clock: { clock.now },
        webhookTransport: HTTPWebhookTransport())
    let app = try buildApplication(configuration, coffer: coffer, logger: logger)
    try await app.test(.ahc(.http)) { client in
        try await body(LiveServer(client: client, clock: clock, coffer: coffer), directory)
    }
}
