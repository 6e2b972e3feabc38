import Foundation
import HTTPTypes
import Testing

@testable import CofferServer

/// `COFFER_TRUSTED_PROXIES`: forwarding headers believed from listed proxies only.
@Suite("Behind a reverse proxy")
struct TrustedProxyTests {
    /// The IP address the audit trail recorded for a secret read sent with `headers` (the server's first user, a
    /// workspace and a secret are made on the first call).
    func recordedAddress(_ api: LiveServer, headers: HTTPFields) async throws -> (ip: String?, reply: Reply) {
        let login = try await api.call(.post, "/api/auth/login", body: api.json(["username": "admin", "password": LiveServer.password]))
        let admin = login.status == 200 ? (id: "", token: login.text("access_token")) : try await api.user("admin")
        let ws = try await api.workspace("w-\(UUID().uuidString.prefix(8))", token: admin.token)
        let id = try await api.secret("K", value: "v", in: ws, token: admin.token)
        var sent = headers
        sent[.authorization] = "Bearer \(admin.token)"
        let reply = try await api.call(.get, "/api/secrets/workspaces/\(ws)/secrets/\(id)/value", headers: sent)
        #expect(reply.status == 200, "\(reply.raw)")
        let audit = try await api.call(.get, "/api/secrets/workspaces/\(ws)/secrets/\(id)/audit", token: admin.token)
        let read = audit.items.first { $0["action"] as? String == "accessed" }
        return (read?["ip_address"] as? String, reply)
    }

    static let forwarded: HTTPFields = [
        HTTPField.Name("X-Forwarded-For")!: "198.51.100.9, 203.0.113.7, 127.0.0.1",
        HTTPField.Name("X-Forwarded-Proto")!: "https",
    ]

    @Test("from a trusted proxy: the right-most untrusted forwarded address is the client, and https counts for HSTS")
    func trusted() async throws {
        try await withLiveServer(environment: ["COFFER_TRUSTED_PROXIES": "127.0.0.1/32, ::1"]) { api, _ in
            let (ip, reply) = try await recordedAddress(api, headers: Self.forwarded)
            #expect(ip == "203.0.113.7")
            #expect(reply.headers[HTTPField.Name("Strict-Transport-Security")!] != nil)
            let (rfc, _) = try await recordedAddress(
                api, headers: [HTTPField.Name("Forwarded")!: #"for=192.0.2.60;proto=https, for="[2001:db8::1]:4711""#])
            #expect(rfc == "2001:db8::1")
            let (garbage, _) = try await recordedAddress(api, headers: [HTTPField.Name("X-Forwarded-For")!: "not-an-ip"])
            #expect(garbage == "127.0.0.1")
            // Whatever a client writes on the left is never read: the proxy's own entry decides.
            let (prefixed, _) = try await recordedAddress(
                api, headers: [HTTPField.Name("X-Forwarded-For")!: "x, 198.51.100.1, 203.0.113.9"])
            #expect(prefixed == "203.0.113.9")
        }
    }

    @Test("without the setting, or from a peer outside it, forwarding headers are ignored")
    func untrusted() async throws {
        for environment in [[:], ["COFFER_TRUSTED_PROXIES": "10.0.0.0/8"]] {
            try await withLiveServer(environment: environment) { api, _ in
                let (ip, reply) = try await recordedAddress(api, headers: Self.forwarded)
                #expect(ip == "127.0.0.1", "\(environment)")
                #expect(reply.headers[HTTPField.Name("Strict-Transport-Security")!] == nil)
            }
        }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration(environment: ["COFFER_TRUSTED_PROXIES": "10.0.0.0/33"]) }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration(environment: ["COFFER_TRUSTED_PROXIES": "nginx"]) }
    }
}
