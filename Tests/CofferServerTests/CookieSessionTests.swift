import Foundation
import HTTPTypes
import Testing

@testable import CofferServer

/// Browser sessions: the cookies a cookie login sets, the CSRF rule, refresh and logout by cookie, and the web UI's
/// page and assets.
@Suite("Cookie sessions and the web UI")
struct CookieSessionTests {
    /// The cookies a response set, by name, with their attributes as written.
    struct SetCookies {
        var values: [String: String] = [:]
        var attributes: [String: [String]] = [:]

        init(_ reply: Reply) {
            for header in reply.headers[values: .setCookie] {
                let parts = header.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                guard let first = parts.first, let equals = first.firstIndex(of: "=") else { continue }
                let name = String(first[..<equals])
                values[name] = String(first[first.index(after: equals)...])
                attributes[name] = parts.dropFirst().map { $0.lowercased() }
            }
        }
    }

    /// A signed-in browser: its cookie jar as the server set it.
    struct Browser {
        var session: String
        var refresh: String
        var csrf: String

        func headers(csrf header: String? = nil, refresh sendRefresh: Bool = false) -> HTTPFields {
            var cookie = "coffer_session=\(session); coffer_csrf=\(csrf)"
            if sendRefresh { cookie += "; coffer_refresh=\(refresh)" }
            var fields: HTTPFields = [.cookie: cookie]
            if let header { fields[CookieSessions.csrfHeader] = header }
            return fields
        }
    }

    func signIn(_ api: LiveServer, _ name: String) async throws -> (Browser, Reply) {
        let login = try await api.call(
            .post, "/api/auth/login", body: api.json(["username": name, "password": LiveServer.password, "cookie": true]))
        #expect(login.status == 200, "\(login.raw)")
        let set = SetCookies(login)
        let browser = Browser(
            session: set.values["coffer_session"] ?? "", refresh: set.values["coffer_refresh"] ?? "",
            csrf: set.values["coffer_csrf"] ?? "")
        return (browser, login)
    }

    @Test("a cookie login sets HttpOnly SameSite=Strict cookies, keeps tokens out of the body, and is Secure only when asked")
    func cookieAttributes() async throws {
        try await withLiveServer { api, _ in
            _ = try await api.user("alice")
            let (browser, login) = try await signIn(api, "alice")
            #expect(login["access_token"] == nil && login["refresh_token"] == nil, "\(login.raw)")
            #expect(login.text("token_type") == "cookie" && login["expires_in"] as? Int == 900, "\(login.raw)")
            let set = SetCookies(login)
            let session = set.attributes["coffer_session"] ?? []
            #expect(session.contains("httponly") && session.contains("samesite=strict") && session.contains("path=/"))
            #expect(session.contains("max-age=900") && !session.contains("secure"), "\(session)")
            let refresh = set.attributes["coffer_refresh"] ?? []
            #expect(refresh.contains("httponly") && refresh.contains("path=/api/auth") && refresh.contains("samesite=strict"))
            let csrf = set.attributes["coffer_csrf"] ?? []
            #expect(!csrf.contains("httponly") && csrf.contains("samesite=strict") && csrf.contains("path=/"), "\(csrf)")
            #expect(!browser.session.isEmpty && !browser.refresh.isEmpty && browser.csrf.count >= 40)

            // A login for a cookie must be JSON: a form cannot log a browser in to someone else's account.
            let form = try await api.call(
                .post, "/api/auth/login",
                body: api.json(["username": "alice", "password": LiveServer.password, "cookie": true]),
                headers: [.contentType: "text/plain"])
            #expect(form.status == 415 || form.errorCode == "unsupported_media_type", "\(form.raw)")
        }
        try await withLiveServer(environment: ["COFFER_COOKIE_SECURE": "true"]) { api, _ in
            _ = try await api.user("alice")
            let (_, login) = try await signIn(api, "alice")
            let set = SetCookies(login)
            for name in ["coffer_session", "coffer_refresh", "coffer_csrf"] {
                #expect(set.attributes[name]?.contains("secure") == true, "\(name): \(set.attributes[name] ?? [])")
            }
        }
    }

    @Test("the session cookie authenticates the API; unsafe requests need X-CSRF-Token matching the cookie and the session")
    func csrfRule() async throws {
        try await withLiveServer { api, _ in
            let alice = try await api.user("alice")
            let (browser, _) = try await signIn(api, "alice")
            let (other, _) = try await signIn(api, "alice")
            #expect(other.csrf != browser.csrf, "each session has its own CSRF token")

            let me = try await api.call(.get, "/api/auth/me", headers: browser.headers())
            #expect(me.status == 200 && me.text("username") == "alice", "\(me.raw)")

            let body = api.json(["name": "team"])
            for headers in [
                browser.headers(),  // no header
                browser.headers(csrf: "x" + browser.csrf),  // header differs from the cookie
                browser.headers(csrf: other.csrf),  // another session's token, the cookie not matching
            ] {
                let refused = try await api.call(.post, "/api/workspaces", body: body, headers: headers)
                #expect(refused.status == 403 && refused.errorCode == "csrf_failed", "\(refused.raw)")
            }
            // Header and cookie agree, but the token is another session's.
            var forged = browser
            forged.csrf = other.csrf
            let swapped = try await api.call(.post, "/api/workspaces", body: body, headers: forged.headers(csrf: other.csrf))
            #expect(swapped.status == 403 && swapped.errorCode == "csrf_failed", "\(swapped.raw)")
            let none = try await api.call(.get, "/api/workspaces", headers: browser.headers())
            #expect(none.status == 200 && none.items.isEmpty, "a refused request changed nothing: \(none.raw)")

            let created = try await api.call(
                .post, "/api/workspaces", body: body, headers: browser.headers(csrf: browser.csrf))
            #expect(created.status == 201, "\(created.raw)")
            // Bearer requests are unaffected by the rule, with or without cookies.
            let bearer = try await api.call(.post, "/api/workspaces", token: alice.token, body: api.json(["name": "two"]))
            #expect(bearer.status == 201, "\(bearer.raw)")
            let both = try await api.call(
                .post, "/api/workspaces", token: alice.token, body: api.json(["name": "three"]), headers: browser.headers())
            #expect(both.status == 201, "\(both.raw)")
            // A forged session cookie is refused like a forged bearer token.
            var stranger = browser
            stranger.session = String(browser.session.dropLast(2)) + "xx"
            let forgedSession = try await api.call(.get, "/api/auth/me", headers: stranger.headers())
            #expect(forgedSession.status == 401, "\(forgedSession.raw)")
        }
    }

    @Test("an expired cookie session refreshes by cookie (CSRF required); logout ends it and clears the cookies")
    func refreshAndLogout() async throws {
        try await withLiveServer { api, _ in
            _ = try await api.user("alice")
            let (browser, _) = try await signIn(api, "alice")
            api.clock.advance(by: 901)
            let expired = try await api.call(.get, "/api/auth/me", headers: browser.headers())
            #expect(expired.status == 401 && expired.errorCode == "token_expired", "\(expired.raw)")
            // Login and refresh ignore a stale session cookie.
            let noHeader = try await api.call(.post, "/api/auth/refresh", headers: browser.headers(refresh: true))
            #expect(noHeader.status == 403 && noHeader.errorCode == "csrf_failed", "\(noHeader.raw)")
            let refreshed = try await api.call(
                .post, "/api/auth/refresh", headers: browser.headers(csrf: browser.csrf, refresh: true))
            #expect(refreshed.status == 200 && refreshed["access_token"] == nil, "\(refreshed.raw)")
            let set = SetCookies(refreshed)
            let renewed = Browser(
                session: set.values["coffer_session"] ?? "", refresh: set.values["coffer_refresh"] ?? "",
                csrf: set.values["coffer_csrf"] ?? "")
            #expect(renewed.csrf == browser.csrf, "the CSRF token belongs to the session, which a refresh keeps")
            #expect(renewed.refresh != browser.refresh && renewed.session != browser.session)
            let me = try await api.call(.get, "/api/auth/me", headers: renewed.headers())
            #expect(me.status == 200, "\(me.raw)")

            // A refresh token works once, by cookie as by body; a refused cookie refresh clears the cookies.
            let replay = try await api.call(
                .post, "/api/auth/refresh", headers: browser.headers(csrf: browser.csrf, refresh: true))
            #expect(replay.status == 401, "\(replay.raw)")
            #expect(SetCookies(replay).attributes["coffer_session"]?.contains("max-age=0") == true, "\(replay.headers)")

            // The replay revoked the session (reuse detection); sign in again to test logout.
            let (fresh, _) = try await signIn(api, "alice")
            let noCSRF = try await api.call(.post, "/api/auth/logout", headers: fresh.headers())
            #expect(noCSRF.status == 403 && noCSRF.errorCode == "csrf_failed", "\(noCSRF.raw)")
            let logout = try await api.call(.post, "/api/auth/logout", headers: fresh.headers(csrf: fresh.csrf))
            #expect(logout.status == 204, "\(logout.raw)")
            let cleared = SetCookies(logout)
            for name in ["coffer_session", "coffer_refresh", "coffer_csrf"] {
                #expect(cleared.values[name] == "" && cleared.attributes[name]?.contains("max-age=0") == true, "\(name)")
            }
            let after = try await api.call(.get, "/api/auth/me", headers: fresh.headers())
            #expect(after.status == 401, "the session ended server-side: \(after.raw)")
            let refreshAfter = try await api.call(
                .post, "/api/auth/refresh", headers: fresh.headers(csrf: fresh.csrf, refresh: true))
            #expect(refreshAfter.status == 401, "\(refreshAfter.raw)")
        }
    }

    @Test("logout with a service token is refused and changes nothing")
    func serviceTokenLogout() async throws {
        try await withLiveServer { api, _ in
            let alice = try await api.user("alice")
            let ws = try await api.workspace("team", token: alice.token)
            let created = try await api.call(
                .post, "/api/workspaces/\(ws)/tokens", token: alice.token, body: api.json(["name": "ci", "role": "reader"]))
            let token = created.text("token")
            #expect(token.hasPrefix("cst_"), "\(created.raw)")
            let logout = try await api.call(.post, "/api/auth/logout", token: token)
            #expect(logout.status == 403 && logout.errorCode == "forbidden", "\(logout.raw)")
            let list = try await api.call(.get, "/api/secrets/workspaces/\(ws)/secrets", token: token)
            #expect(list.status == 200, "\(list.raw)")
        }
    }

    @Test("the UI: / redirects to /ui/, the page has a strict CSP, assets are versioned and cached for good")
    func uiServing() async throws {
        try await withLiveServer { api, _ in
            // The test client follows redirects (the browser suite sees the 302 itself).
            for path in ["/", "/ui"] {
                let redirected = try await api.call(.get, path)
                #expect(redirected.status == 200 && redirected.raw.contains("/ui/assets/"), "\(path): \(redirected.status)")
            }
            let page = try await api.call(.get, "/ui/")
            #expect(page.status == 200 && page.headers[.contentType] == "text/html; charset=utf-8")
            let policy = page.headers[HTTPField.Name("Content-Security-Policy")!] ?? ""
            #expect(policy.contains("script-src 'self'") && !policy.contains("unsafe") && policy.contains("frame-ancestors 'none'"))
            #expect(page.headers[.cacheControl] == "no-cache")
            #expect(!page.raw.contains("{{assets}}") && !page.raw.contains("<script>") && !page.raw.contains("style="))
            let ui = WebUI()
            let prefix = "/ui/assets/\(ui.version)/"
            #expect(page.raw.contains(prefix + "app.js"), "\(page.raw)")
            for file in WebUI.files {
                let asset = try await api.call(.get, prefix + file.name)
                #expect(asset.status == 200, "\(file.name)")
                #expect(asset.headers[.cacheControl] == "public, max-age=31536000, immutable")
                #expect(asset.headers[.contentType] == WebUI.contentType(of: file.name))
            }
            let stale = try await api.call(.get, "/ui/assets/0000000000000000/app.js")
            #expect(stale.status == 404 && stale.headers[.cacheControl] == "no-store", "\(stale.raw)")
            let unknown = try await api.call(.get, prefix + "secrets.txt")
            #expect(unknown.status == 404)
            // Every relative import between modules names a file that is served.
            for file in WebUI.files where file.name.hasSuffix(".js") {
                let text = String(decoding: file.bytes, as: UTF8.self)
                for match in text.matches(of: /from\s+"\.\/([^"]+)"/) {
                    #expect(WebUI.files.contains { $0.name == String(match.1) }, "\(file.name) imports \(match.1)")
                }
            }
        }
    }
}
