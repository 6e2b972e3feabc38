import Foundation
import HTTPTypes
import Testing

@testable import CofferServer

@Suite("Service tokens")
struct ServiceTokenTests {
    @Test("a token works on its workspace's secret endpoints only, within its role, and every use is audited")
    func scope() async throws {
        try await withLiveServer { api, _ in
            let owner = try await api.user("owner")
            let ws = try await api.workspace("prod", token: owner.token)
            let other = try await api.workspace("other", token: owner.token)
            let secret = try await api.secret("API_KEY", value: "prod-value", in: ws, token: owner.token)
            let otherSecret = try await api.secret("OTHER", value: "other-value", in: other, token: owner.token)
            let tokens = "/api/workspaces/\(ws)/tokens"

            let created = try await api.call(
                .post, tokens, token: owner.token, body: api.json(["name": "ci", "role": "reader", "expires_in_days": 30]))
            #expect(created.status == 201)
            let reader = created.text("token")
            #expect(reader.hasPrefix("cst_"))
            let writerToken = try await api.call(
                .post, tokens, token: owner.token, body: api.json(["name": "deploy", "role": "writer"])).text("token")

            // Listing never shows values.
            let list = try await api.call(.get, tokens, token: owner.token)
            #expect(list.items.count == 2)
            #expect(list.items.allSatisfy { $0["token"] == nil || $0["token"] is NSNull })
            #expect(!list.raw.contains(reader))

            let base = "/api/secrets/workspaces/\(ws)/secrets"
            let read = try await api.call(.get, "\(base)/\(secret)/value", token: reader)
            #expect(read.text("value") == "prod-value")
            #expect(try await api.call(.get, "\(base)?limit=10", token: reader).status == 200)
            #expect(try await api.call(.post, "\(base)/\(secret)/rotate", token: reader, body: api.json(["new_value": "x"])).status == 403)
            #expect(try await api.call(.post, "\(base)/\(secret)/rotate", token: writerToken, body: api.json(["new_value": "rotated"])).status == 200)
            // Another workspace: not found. Members, tokens, workspaces, admin, me: forbidden.
            #expect(try await api.call(.get, "/api/secrets/workspaces/\(other)/secrets/\(otherSecret)/value", token: reader).status == 404)
            #expect(try await api.call(.get, "/api/workspaces/\(ws)/members", token: reader).status == 403)
            #expect(try await api.call(.get, tokens, token: writerToken).status == 403)
            #expect(try await api.call(.get, "/api/workspaces", token: reader).status == 403)
            #expect(try await api.call(.get, "/api/auth/me", token: reader).status == 403)
            #expect(try await api.call(.get, "/api/secrets/admin/encryption/health", token: writerToken).status == 403)
            #expect(try await api.call(.get, "/api/secrets/workspaces/\(ws)/audit", token: writerToken).status == 403)

            // Every use is audited with the token's id.
            let tokenID = created.text("id")
            let trail = try await api.call(.get, "\(base)/\(secret)/audit", token: owner.token).items
            #expect(trail.contains { $0["user_id"] as? String == "service-token:\(tokenID)" && $0["action"] as? String == "accessed" })

            // Revocation takes effect at once; unknown tokens and a reader creating tokens are refused.
            #expect(try await api.call(.delete, "\(tokens)/\(tokenID)", token: owner.token).status == 204)
            let revoked = try await api.call(.get, "\(base)/\(secret)/value", token: reader)
            #expect(revoked.status == 401)
            #expect(revoked.errorCode == "invalid_token")
            #expect(try await api.call(.get, "\(base)/\(secret)/value", token: "cst_unknown").status == 401)
            #expect(try await api.call(.delete, "\(tokens)/\(UUID().uuidString.lowercased())", token: owner.token).status == 404)
            #expect(try await api.call(.post, tokens, token: owner.token, body: api.json(["name": "x", "role": "admin"])).status == 422)
            #expect(try await api.call(.post, tokens, token: owner.token, body: api.json(["name": "x", "role": "reader", "expires_in_days": 0])).status == 422)
        }
    }

    @Test("an expired token is refused")
    func expiry() async throws {
        try await withLiveServer { api, _ in
            let owner = try await api.user("owner")
            let ws = try await api.workspace("prod", token: owner.token)
            let secret = try await api.secret("K", value: "v", in: ws, token: owner.token)
            let token = try await api.call(
                .post, "/api/workspaces/\(ws)/tokens", token: owner.token,
                body: api.json(["name": "short", "role": "reader", "expires_in_days": 1])).text("token")
            let path = "/api/secrets/workspaces/\(ws)/secrets/\(secret)/value"
            #expect(try await api.call(.get, path, token: token).status == 200)
            api.clock.advance(by: 86_400 + 1)
            #expect(try await api.call(.get, path, token: token).status == 401)
        }
    }
}
