import AsyncHTTPClient
import CofferTestSupport
import Foundation
import HTTPTypes
import NIOCore
import NIOSSL
import Testing

@testable import CofferServer

@Suite("HTTP hygiene and TLS")
struct HygieneTests {
    static let securityHeaders: [(String, String)] = [
        ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"),
        ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"), ("Cache-Control", "no-store"),
    ]

    @Test("security headers on success and error responses; no HSTS over plain HTTP")
    func headers() async throws {
        try await withLiveServer { api, _ in
            for reply in [
                try await api.call(.get, "/health"), try await api.call(.get, "/nowhere"),
                try await api.call(.post, "/api/auth/login", body: "{bad"),
            ] {
                for (name, value) in Self.securityHeaders {
                    #expect(reply.headers[HTTPField.Name(name)!] == value, "\(name) on \(reply.status)")
                }
                #expect(reply.headers[HTTPField.Name("X-Request-ID")!] != nil)
                #expect(reply.headers[HTTPField.Name("Strict-Transport-Security")!] == nil)
            }
            let echoed = try await api.call(.get, "/health", headers: [HTTPField.Name("X-Request-ID")!: "trace-123.abc"])
            #expect(echoed.headers[HTTPField.Name("X-Request-ID")!] == "trace-123.abc")
            let unsafe = try await api.call(.get, "/health", headers: [HTTPField.Name("X-Request-ID")!: "bad id\u{7f}"])
            #expect(unsafe.headers[HTTPField.Name("X-Request-ID")!] != "bad id\u{7f}")
        }
    }

    @Test("the X-Request-ID of a request is in its log line and its audit record")
    func requestIDEverywhere() async throws {
        let logs = LogCapture()
        try await withLiveServer(logs: logs) { api, _ in
            let owner = try await api.user("owner")
            let ws = try await api.workspace("w", token: owner.token)
            let id = try await api.secret("K", value: "v", in: ws, token: owner.token)
            let base = "/api/secrets/workspaces/\(ws)/secrets/\(id)"
            let read = try await api.call(
                .get, "\(base)/value", token: owner.token, headers: [HTTPField.Name("X-Request-ID")!: "trace-audit-42"])
            #expect(read.headers[HTTPField.Name("X-Request-ID")!] == "trace-audit-42")
            let trail = try await api.call(.get, "\(base)/audit", token: owner.token).items
            #expect(trail.first?["request_id"] as? String == "trace-audit-42")
            // A generated id is echoed too, and recorded the same way.
            let anonymous = try await api.call(.get, "\(base)/value", token: owner.token)
            let generated = try #require(anonymous.headers[HTTPField.Name("X-Request-ID")!])
            let again = try await api.call(.get, "\(base)/audit", token: owner.token).items
            #expect(again.first?["request_id"] as? String == generated)
        }
        // The request's log line carries it (as `request_id`).
        #expect(logs.text.split(separator: "\n").contains { $0.contains("request") && $0.contains("trace-audit-42") })
    }

    @Test("CORS: only CORS_ORIGINS get CORS headers; other preflights are refused; none by default")
    func cors() async throws {
        let preflight: @Sendable (String) -> HTTPFields = { origin in
            [.origin: origin, HTTPField.Name("Access-Control-Request-Method")!: "GET",
             HTTPField.Name("Access-Control-Request-Headers")!: "authorization"]
        }
        try await withLiveServer(environment: ["CORS_ORIGINS": "https://app.example.com, https://admin.example.com"]) { api, _ in
            let allowed = try await api.call(.options, "/api/workspaces", headers: preflight("https://app.example.com"))
            #expect(allowed.status == 204)
            #expect(allowed.headers[.accessControlAllowOrigin] == "https://app.example.com")
            #expect(allowed.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
            let denied = try await api.call(.options, "/api/workspaces", headers: preflight("https://evil.example"))
            #expect(denied.status == 403)
            #expect(denied.errorCode == "cors_origin_denied")
            #expect(denied.headers[.accessControlAllowOrigin] == nil)
            let simple = try await api.call(.get, "/health", headers: [.origin: "https://admin.example.com"])
            #expect(simple.headers[.accessControlAllowOrigin] == "https://admin.example.com")
            #expect(simple.headers[.vary] == "Origin")
            let foreign = try await api.call(.get, "/health", headers: [.origin: "https://evil.example"])
            #expect(foreign.status == 200)
            #expect(foreign.headers[.accessControlAllowOrigin] == nil)
        }
        try await withLiveServer { api, _ in
            let denied = try await api.call(.options, "/api/workspaces", headers: preflight("https://app.example.com"))
            #expect(denied.status == 403)
        }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration(environment: ["CORS_ORIGINS": "*"]) }
    }

    @Test("`coffer server --tls-cert --tls-key` serves HTTPS with HSTS to a client that verifies the certificate")
    func https() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cert = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        #expect(openssl.terminationStatus == 0)

        let port = try unusedLoopbackPort()
        let server = Process()
        server.executableURL = cofferBinary
        server.arguments = ["server", "--port", String(port), "--data-dir", directory.appendingPathComponent("data").path,
                            "--tls-cert", cert, "--tls-key", key]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { if server.isRunning { server.terminate(); server.waitUntilExit() } }

        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(cert))
        let client = HTTPClient(configuration: .init(tlsConfiguration: tls))
        var status: Int?
        var hsts: String?
        for _ in 0..<150 where status == nil {
            try await Task.sleep(for: .milliseconds(100))
            if let response = try? await client.execute(HTTPClientRequest(url: "https://127.0.0.1:\(port)/health"), timeout: .seconds(2)) {
                status = Int(response.status.code)
                hsts = response.headers.first(name: "Strict-Transport-Security")
            }
        }
        #expect(status == 200)
        #expect(hsts?.hasPrefix("max-age=") == true)
        // Plain HTTP to the TLS port gets no answer.
        let plain = try? await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/health"), timeout: .seconds(2))
        #expect(plain == nil || plain?.status != .ok)
        try await client.shutdown()

        let halfConfigured = try runCoffer(["server", "--port", "0", "--tls-cert", cert, "--data-dir", directory.appendingPathComponent("d2").path])
        #expect(halfConfigured.status == 1)
        #expect(halfConfigured.stderr.contains("--tls-key"))
    }
}

extension HTTPField.Name {
    static let accessControlAllowOrigin = Self("Access-Control-Allow-Origin")!
    static let accessControlAllowHeaders = Self("Access-Control-Allow-Headers")!
    static let vary = Self("Vary")!
}
