import Foundation
import HTTPTypes
import Testing

@testable import CofferServer

@Suite("Sessions")
struct SessionTests {
    func login(_ api: LiveServer, _ user: String, _ password: String = LiveServer.password) async throws -> Reply {
        try await api.call(.post, "/api/auth/login", body: api.json(["username": user, "password": password]))
    }

    @Test("login returns a refresh token; refresh rotates it; reusing an old one revokes the whole session")
    func refreshRotationAndReuse() async throws {
        try await withLiveServer { api, _ in
            _ = try await api.user("alice")
            let first = try await login(api, "alice")
            let refresh1 = first.text("refresh_token")
            #expect(refresh1.hasPrefix("cfr_"))
            let second = try await api.call(.post, "/api/auth/refresh", body: api.json(["refresh_token": refresh1]))
            #expect(second.status == 200)
            let refresh2 = second.text("refresh_token")
            #expect(refresh2 != refresh1)
            #expect(try await api.call(.get, "/api/auth/me", token: second.text("access_token")).status == 200)
            // The old access token of the same session still works until the session is revoked.
            #expect(try await api.call(.get, "/api/auth/me", token: first.text("access_token")).status == 200)

            // Reuse of refresh1 (e.g. a stolen copy): refused, and the family is revoked.
            let reuse = try await api.call(.post, "/api/auth/refresh", body: api.json(["refresh_token": refresh1]))
            #expect(reuse.status == 401)
            #expect(reuse.errorCode == "invalid_token")
            let afterReuse = try await api.call(.post, "/api/auth/refresh", body: api.json(["refresh_token": refresh2]))
            #expect(afterReuse.status == 401)
            #expect(try await api.call(.get, "/api/auth/me", token: second.text("access_token")).status == 401)
            // Another login is a new, unaffected session.
            let other = try await login(api, "alice")
            #expect(try await api.call(.get, "/api/auth/me", token: other.text("access_token")).status == 200)
            // Garbage and missing tokens.
            #expect(try await api.call(.post, "/api/auth/refresh", body: api.json(["refresh_token": "cfr_nope"])).status == 401)
            #expect(try await api.call(.post, "/api/auth/refresh", body: "{}").status == 422)
        }
    }

    @Test("logout revokes the session: its access and refresh tokens stop working; other sessions continue")
    func logout() async throws {
        try await withLiveServer { api, _ in
            _ = try await api.user("alice")
            let a = try await login(api, "alice")
            let b = try await login(api, "alice")
            #expect(try await api.call(.post, "/api/auth/logout", token: a.text("access_token")).status == 204)
            #expect(try await api.call(.get, "/api/auth/me", token: a.text("access_token")).status == 401)
            #expect(
                try await api.call(.post, "/api/auth/refresh", body: api.json(["refresh_token": a.text("refresh_token")])).status
                    == 401)
            #expect(try await api.call(.get, "/api/auth/me", token: b.text("access_token")).status == 200)
            #expect(try await api.call(.post, "/api/auth/logout").status == 401)
        }
    }

    @Test("changing the password needs the current one and revokes every session of the user")
    func passwordChange() async throws {
        try await withLiveServer { api, _ in
            _ = try await api.user("alice")
            let a = try await login(api, "alice")
            let b = try await login(api, "alice")
            let wrong = try await api.call(
                .post, "/api/auth/password", token: a.text("access_token"),
                body: api.json(["current_password": "not the password", "new_password": "a brand new passphrase"]))
            #expect(wrong.status == 401)
            let short = try await api.call(
                .post, "/api/auth/password", token: a.text("access_token"),
                body: api.json(["current_password": LiveServer.password, "new_password": "short"]))
            #expect(short.status == 422)
            let changed = try await api.call(
                .post, "/api/auth/password", token: a.text("access_token"),
                body: api.json(["current_password": LiveServer.password, "new_password": "a brand new passphrase"]))
            #expect(changed.status == 204)
            for session in [a, b] {
                #expect(try await api.call(.get, "/api/auth/me", token: session.text("access_token")).status == 401)
                #expect(
                    try await api.call(.post, "/api/auth/refresh", body: api.json(["refresh_token": session.text("refresh_token")]))
                        .status == 401)
            }
            #expect(try await login(api, "alice").status == 401)
            #expect(try await login(api, "alice", "a brand new passphrase").status == 200)
        }
    }
}
