import CofferCrypto
import Crypto
import Foundation
import HTTPTypes
import Testing

@testable import CofferServer

@Suite("HTTP API")
struct APITests {
    @Test("the README walk-through: register, login, workspace, create, read, list, update, rotate, audit, delete")
    func walkThrough() async throws {
        try await withLiveServer { api, _ in
            let health = try await api.call(.get, "/health")
            #expect(health.status == 200)
            #expect(health.text("status") == "ok")

            let registered = try await api.call(
                .post, "/api/auth/register", body: api.json(["username": "alice", "password": LiveServer.password]))
            #expect(registered.status == 201)
            #expect(registered["is_admin"] as? Bool == true)
            #expect(registered["username"] as? String == "alice")
            #expect(registered["password"] == nil && registered["password_hash"] == nil)

            let login = try await api.call(
                .post, "/api/auth/login", body: api.json(["username": "alice", "password": LiveServer.password]))
            #expect(login.status == 200)
            #expect(login.text("token_type") == "bearer")
            #expect(login["expires_in"] as? Int == 900)
            let token = login.text("access_token")

            let me = try await api.call(.get, "/api/auth/me", token: token)
            #expect(me.text("username") == "alice")

            let ws = try await api.call(.post, "/api/workspaces", token: token, body: api.json(["name": "production"]))
            #expect(ws.status == 201)
            #expect(ws.text("name") == "production")
            #expect(ws["created_at"] is String)
            let wsID = ws.text("id")
            let list = try await api.call(.get, "/api/workspaces", token: token)
            #expect(list.items.map { $0["id"] as? String } == [wsID])

            let base = "/api/secrets/workspaces/\(wsID)/secrets"
            let created = try await api.call(
                .post, base, token: token,
                body: api.json([
                    "name": "GITHUB_TOKEN", "secret_type": "oauth_token", "value": "ghp_example_value",
                    "usage": "GitHub API access", "rotation_policy": "auto_90_days", "tags": ["github", "api"],
                    "metadata": ["scopes": ["repo", "user"]],
                ]))
            #expect(created.status == 201)
            #expect(created["value"] == nil)
            #expect(!created.raw.contains("ghp_example_value"))
            for field in [
                "id", "workspace_id", "name", "secret_type", "usage", "rotation_policy", "last_rotated_at",
                "rotation_due_at", "tags", "metadata", "is_active", "created_by_user_id", "updated_by_user_id",
                "version", "created_at", "updated_at",
            ] {
                #expect(created.string.keys.contains(field), "missing \(field)")
            }
            #expect(created["version"] as? Int == 1)
            #expect(created["tags"] as? [String] == ["github", "api"])
            #expect(created.text("created_by_user_id") == registered.text("id"))
            let lastRotated = try #require(ISO8601DateFormatter().date(from: created.text("last_rotated_at")))
            let due = try #require(ISO8601DateFormatter().date(from: created.text("rotation_due_at")))
            #expect(abs(due.timeIntervalSince(lastRotated) - 90 * 86_400) < 1)
            let id = created.text("id")

            let value = try await api.call(.get, "\(base)/\(id)/value", token: token)
            #expect(value.status == 200)
            #expect(value.text("value") == "ghp_example_value")
            #expect(value.text("name") == "GITHUB_TOKEN")
            #expect(value["version"] as? Int == 1)
            #expect(value.headers[.cacheControl] == "no-store")

            let page = try await api.call(.get, "\(base)?limit=10&offset=0", token: token)
            #expect(page["total"] as? Int == 1)
            #expect(page["limit"] as? Int == 10)
            #expect(page["offset"] as? Int == 0)
            #expect(page.items.first?["value"] == nil)

            let patched = try await api.call(
                .patch, "\(base)/\(id)", token: token,
                body: api.json(["value": "ghp_second", "usage": "Updated", "tags": ["github", "production"]]))
            #expect(patched.status == 200)
            #expect(patched["version"] as? Int == 2)
            #expect(patched.text("usage") == "Updated")

            let rotated = try await api.call(
                .post, "\(base)/\(id)/rotate", token: token, body: api.json(["new_value": "ghp_third"]))
            #expect(rotated.status == 200)
            #expect(rotated["version"] as? Int == 3)
            #expect(try await api.call(.get, "\(base)/\(id)/value", token: token).text("value") == "ghp_third")

            let audit = try await api.call(.get, "\(base)/\(id)/audit?limit=50", token: token)
            #expect(audit.status == 200)
            #expect(audit.items.map { $0["action"] as? String } == ["accessed", "rotated", "updated", "accessed", "created"])
            for record in audit.items {
                for field in ["secret_id", "action", "user_id", "ip_address", "user_agent", "details", "success"] {
                    #expect(record.keys.contains(field), "audit record lacks \(field)")
                }
                #expect(record["ip_address"] as? String == "127.0.0.1")
            }

            let deleted = try await api.call(.delete, "\(base)/\(id)", token: token)
            #expect(deleted.status == 204)
            #expect(try await api.call(.get, "\(base)/\(id)/value", token: token).status == 404)
            #expect(try await api.call(.get, base, token: token)["total"] as? Int == 0)
            #expect(try await api.call(.get, "\(base)/\(id)/audit", token: token).items.first?["action"] as? String == "accessed")
        }
    }

    @Test("registration: first user is admin, later ones need an admin unless sign-up is open")
    func registrationRules() async throws {
        try await withLiveServer { api, _ in
            let admin = try await api.user("admin")
            let body = api.json(["username": "bob", "password": LiveServer.password])
            let closed = try await api.call(.post, "/api/auth/register", body: body)
            #expect(closed.status == 403)
            #expect(closed.errorCode == "forbidden")
            let bob = try await api.user("bob", admin: admin.token)
            let byNonAdmin = try await api.call(
                .post, "/api/auth/register", token: bob.token,
                body: api.json(["username": "carol", "password": LiveServer.password]))
            #expect(byNonAdmin.status == 403)
            let short = try await api.call(
                .post, "/api/auth/register", token: admin.token, body: api.json(["username": "dave", "password": "short"]))
            #expect(short.status == 422)
            #expect(short.errorCode == "validation_failed")
            let taken = try await api.call(.post, "/api/auth/register", token: admin.token, body: body)
            #expect(taken.status == 409)
            #expect(taken.errorCode == "username_taken")
            #expect(try await api.call(.get, "/api/auth/me", token: bob.token)["is_admin"] as? Bool == false)

            let wrongPassword = try await api.call(
                .post, "/api/auth/login", body: api.json(["username": "bob", "password": "wrong password!!"]))
            let unknownUser = try await api.call(
                .post, "/api/auth/login", body: api.json(["username": "nobody", "password": LiveServer.password]))
            #expect(wrongPassword.status == 401)
            #expect(unknownUser.status == 401)
            #expect(wrongPassword.raw == unknownUser.raw)
        }
        try await withLiveServer(environment: ["COFFER_ALLOW_SIGNUP": "true"]) { api, _ in
            _ = try await api.user("admin")
            _ = try await api.user("open-signup")
        }
    }

    @Test("every role against every secret endpoint gets the documented status")
    func roleMatrix() async throws {
        try await withLiveServer { api, _ in
            let owner = try await api.user("owner")
            var tokens: [String: String] = ["owner": owner.token]
            let ws = try await api.workspace("team", token: owner.token)
            for role in ["reader", "writer", "admin"] {
                let member = try await api.user(role, admin: owner.token)
                tokens[role] = member.token
                let added = try await api.call(
                    .post, "/api/workspaces/\(ws)/members", token: owner.token,
                    body: api.json(["username": role, "role": role]))
                #expect(added.status == 201)
            }
            tokens["outsider"] = try await api.user("outsider", admin: owner.token).token
            let base = "/api/secrets/workspaces/\(ws)/secrets"

            // role -> expected status, per endpoint; each call runs on its own fresh secret where it changes it.
            let allowedReader: Set = ["reader", "writer", "admin", "owner"]
            let allowedWriter: Set = ["writer", "admin", "owner"]
            let allowedAdmin: Set = ["admin", "owner"]
            struct Case {
                let name: String
                let allowed: Set<String>
                let success: Int
                let request: (String) -> (HTTPRequest.Method, String, String?)
            }
            let cases: [Case] = [
                Case(name: "list", allowed: allowedReader, success: 200) { _ in (.get, base, nil) },
                Case(name: "metadata", allowed: allowedReader, success: 200) { id in (.get, "\(base)/\(id)", nil) },
                Case(name: "value", allowed: allowedReader, success: 200) { id in (.get, "\(base)/\(id)/value", nil) },
                Case(name: "create", allowed: allowedWriter, success: 201) { _ in
                    (.post, base, #"{"name":"NEW_\#(UUID().uuidString.prefix(8))","value":"v"}"#.replacingOccurrences(of: "-", with: "_"))
                },
                Case(name: "update", allowed: allowedWriter, success: 200) { id in (.patch, "\(base)/\(id)", #"{"usage":"u"}"#) },
                Case(name: "rotate", allowed: allowedWriter, success: 200) { id in (.post, "\(base)/\(id)/rotate", #"{"new_value":"n"}"#) },
                Case(name: "delete", allowed: allowedWriter, success: 204) { id in (.delete, "\(base)/\(id)", nil) },
                Case(name: "audit", allowed: allowedAdmin, success: 200) { id in (.get, "\(base)/\(id)/audit", nil) },
                Case(name: "members", allowed: allowedReader, success: 200) { _ in (.get, "/api/workspaces/\(ws)/members", nil) },
            ]
            var n = 0
            for testCase in cases {
                for role in ["outsider", "reader", "writer", "admin", "owner"] {
                    n += 1
                    let id = try await api.secret("S\(n)", value: "value-\(n)", in: ws, token: owner.token)
                    let (method, path, body) = testCase.request(id)
                    let reply = try await api.call(method, path, token: tokens[role], body: body)
                    let expected = role == "outsider" ? 404 : testCase.allowed.contains(role) ? testCase.success : 403
                    #expect(reply.status == expected, "\(role) \(testCase.name): \(reply.raw)")
                    if role == "outsider" {
                        #expect(reply.errorCode == "workspace_not_found")
                    }
                }
            }
            // Denied attempts are audited with success: false.
            let audit = try await api.call(.get, "\(base)/\(try await api.secret("LAST", value: "x", in: ws, token: owner.token))/audit", token: owner.token)
            #expect(audit.status == 200)
            let anyID = try await api.secret("PROBE", value: "x", in: ws, token: owner.token)
            _ = try await api.call(.get, "\(base)/\(anyID)/value", token: tokens["outsider"])
            _ = try await api.call(.delete, "\(base)/\(anyID)", token: tokens["reader"])
            let trail = try await api.call(.get, "\(base)/\(anyID)/audit", token: owner.token)
            let failures = trail.items.filter { $0["success"] as? Bool == false }
            #expect(Set(failures.compactMap { $0["action"] as? String }) == ["accessed", "deleted"])
        }
    }

    @Test("membership rules: admins manage members, only owners touch owners, the last owner stays")
    func membership() async throws {
        try await withLiveServer { api, _ in
            let owner = try await api.user("owner")
            let admin = try await api.user("admin", admin: owner.token)
            let reader = try await api.user("reader", admin: owner.token)
            let ws = try await api.workspace("w", token: owner.token)
            let members = "/api/workspaces/\(ws)/members"
            #expect(try await api.call(.post, members, token: owner.token, body: api.json(["username": "admin", "role": "admin"])).status == 201)
            #expect(try await api.call(.post, members, token: admin.token, body: api.json(["username": "reader", "role": "reader"])).status == 201)
            #expect(try await api.call(.post, members, token: admin.token, body: api.json(["username": "reader", "role": "owner"])).status == 403)
            #expect(try await api.call(.post, members, token: reader.token, body: api.json(["username": "admin", "role": "reader"])).status == 403)
            #expect(try await api.call(.post, members, token: owner.token, body: api.json(["username": "ghost", "role": "reader"])).status == 404)
            #expect(try await api.call(.post, members, token: owner.token, body: api.json(["username": "reader", "role": "superuser"])).status == 422)
            #expect(try await api.call(.delete, "\(members)/\(owner.id)", token: admin.token).status == 403)
            let lastOwner = try await api.call(.delete, "\(members)/\(owner.id)", token: owner.token)
            #expect(lastOwner.status == 409)
            #expect(lastOwner.errorCode == "last_owner")
            let list = try await api.call(.get, members, token: reader.token)
            #expect(Set(list.items.compactMap { $0["username"] as? String }) == ["owner", "admin", "reader"])
            #expect(try await api.call(.delete, "\(members)/\(reader.id)", token: admin.token).status == 204)
            #expect(try await api.call(.get, members, token: reader.token).status == 404)
            #expect(try await api.call(.delete, "\(members)/\(reader.id)", token: admin.token).status == 404)
        }
    }
}
