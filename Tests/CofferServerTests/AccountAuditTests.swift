import Foundation
import HTTPTypes
import Testing

@testable import CofferServer

/// Seed 001's account events in the tamper-evident log, read at `GET /api/admin/audit`.
@Suite("Account events in the audit log")
struct AccountAuditTests {
    @Test("registrations, logins and failures, refresh-token reuse, logouts and password changes are audited")
    func accountEvents() async throws {
        try await withLiveServer { api, _ in
            let admin = try await api.user("admin")
            let bob = try await api.user("bob", admin: admin.token)
            let wrong = try await api.call(
                .post, "/api/auth/login", body: api.json(["username": "bob", "password": "wrong password here"]))
            #expect(wrong.status == 401)
            _ = try await api.call(.post, "/api/auth/login", body: api.json(["username": "mallory", "password": "guessing-123456"]))
            let login = try await api.call(.post, "/api/auth/login", body: api.json(["username": "bob", "password": LiveServer.password]))
            let refresh = login.text("refresh_token")
            #expect(try await api.call(.post, "/api/auth/refresh", body: api.json(["refresh_token": refresh])).status == 200)
            #expect(try await api.call(.post, "/api/auth/refresh", body: api.json(["refresh_token": refresh])).status == 401)
            let again = try await api.call(.post, "/api/auth/login", body: api.json(["username": "bob", "password": LiveServer.password]))
            let token = again.text("access_token")
            let badChange = try await api.call(
                .post, "/api/auth/password", token: token,
                body: api.json(["current_password": "not the password!", "new_password": "another long password"]))
            #expect(badChange.status == 401)
            #expect(try await api.call(
                .post, "/api/auth/password", token: token,
                body: api.json(["current_password": LiveServer.password, "new_password": "another long password"])).status == 204)
            let third = try await api.call(.post, "/api/auth/login", body: api.json(["username": "bob", "password": "another long password"]))
            let denied = try await api.call(.get, "/api/admin/audit", token: third.text("access_token"))
            #expect(denied.status == 403, "\(denied.raw)")
            #expect(try await api.call(.post, "/api/auth/logout", token: third.text("access_token")).status == 204)

            let all = try await api.call(.get, "/api/admin/audit?limit=1000", token: admin.token)
            #expect(all.status == 200, "\(all.raw)")
            func records(_ action: String, success: Bool? = nil) -> [[String: Any]] {
                all.items.filter { $0["action"] as? String == action && (success == nil || $0["success"] as? Bool == success) }
            }
            #expect(records("registered").count == 2)
            #expect(records("login", success: true).count >= 3)
            let failures = records("login", success: false)
            let attempted = Set(failures.compactMap { ($0["details"] as? [String: Any])?["username"] as? String })
            #expect(attempted == ["bob", "mallory"], "\(failures)")
            #expect(failures.allSatisfy { $0["ip_address"] as? String == "127.0.0.1" })
            #expect(records("refresh_token_reused").count == 1)
            #expect(records("password_changed", success: false).count == 1 && records("password_changed", success: true).count == 1)
            #expect(records("logout").count == 1)
            for secret in [LiveServer.password, "wrong password here", "guessing-123456", "another long password", refresh] {
                #expect(!all.raw.contains(secret))
            }
            let filtered = try await api.call(.get, "/api/admin/audit?action=login&success=false", token: admin.token)
            #expect(filtered.items.count == 2 && filtered["total"] as? Int == 2, "\(filtered.raw)")
            let byUser = try await api.call(.get, "/api/admin/audit?user_id=\(bob.id)&action=logout", token: admin.token)
            #expect(byUser.items.count == 1, "\(byUser.raw)")
            let verify = try await api.call(.get, "/api/secrets/admin/audit/verify", token: admin.token)
            #expect(verify["intact"] as? Bool == true, "\(verify.raw)")
        }
    }
}
