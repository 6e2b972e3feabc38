import CofferCore
import Foundation
import HTTPTypes
import Hummingbird

/// Browser sessions (seed 001): the cookies a `"cookie": true` login sets, and the CSRF rule for requests they
/// authenticate.
///
/// - `coffer_session`: the access token. HttpOnly, `SameSite=Strict`, `Path=/`, lives as long as the token.
/// - `coffer_refresh`: the refresh token. HttpOnly, `SameSite=Strict`, `Path=/api/auth`, lives as long as the
///   session may.
/// - `coffer_csrf`: the session's CSRF token, readable by the page's scripts. `SameSite=Strict`, `Path=/`.
///
/// All three are `Secure` when the server serves TLS or `COFFER_COOKIE_SECURE=true` (a TLS proxy in front).
/// A request authenticated by the cookie with an unsafe method (POST, PUT, PATCH, DELETE) must carry
/// `X-CSRF-Token` equal to the `coffer_csrf` cookie and to the token of the session the cookie belongs to, or it
/// is refused 403 `csrf_failed` before any handler runs. Tokens are never in a cookie login's body.
struct CookieSessions: Sendable {
    static let sessionCookie = "coffer_session"
    static let refreshCookie = "coffer_refresh"
    static let csrfCookie = "coffer_csrf"
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!

    var secure = false
    /// How long a session may be refreshed, in seconds (`COFFER_SESSION_DAYS`).
    var sessionSeconds = 30 * 86_400

    /// The body of a cookie login or refresh: no tokens, only their lifetimes.
    struct Grant: Encodable, Sendable {
        let tokenType = "cookie"
        let expiresIn: Int

        enum CodingKeys: String, CodingKey { case tokenType = "token_type", expiresIn = "expires_in" }
    }

    /// A response that carries `grant` as cookies.
    func response(for grant: TokenGrant, csrf: String, request: Request, context: CofferRequestContext) throws -> Response {
        var response = try JSONResponse(Grant(expiresIn: grant.expiresIn)).response(from: request, context: context)
        response.setCookie(cookie(Self.sessionCookie, grant.accessToken, maxAge: grant.expiresIn, path: "/"))
        response.setCookie(cookie(Self.refreshCookie, grant.refreshToken, maxAge: sessionSeconds, path: "/api/auth"))
        response.setCookie(cookie(Self.csrfCookie, csrf, maxAge: sessionSeconds, path: "/", httpOnly: false))
        return response
    }

    /// Expires all three cookies in the browser.
    func clear(_ response: inout Response) {
        response.setCookie(cookie(Self.sessionCookie, "", maxAge: 0, path: "/"))
        response.setCookie(cookie(Self.refreshCookie, "", maxAge: 0, path: "/api/auth"))
        response.setCookie(cookie(Self.csrfCookie, "", maxAge: 0, path: "/", httpOnly: false))
    }

    private func cookie(_ name: String, _ value: String, maxAge: Int, path: String, httpOnly: Bool = true) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: path, secure: secure, httpOnly: httpOnly, sameSite: .strict)
    }

    /// Whether a method changes state, so that a cookie-authenticated request needs the CSRF header.
    static func isUnsafe(_ method: HTTPRequest.Method) -> Bool {
        method != .get && method != .head && method != .options
    }

    /// Refuses (403 `csrf_failed`) unless `X-CSRF-Token` equals both the `coffer_csrf` cookie and `expected`.
    static func checkCSRF(_ request: Request, expected: String) throws {
        let header = request.headers[csrfHeader] ?? ""
        let cookie = request.cookies[csrfCookie]?.value ?? ""
        guard !header.isEmpty, AuthMiddleware.equal(header, cookie), AuthMiddleware.equal(header, expected) else {
            throw APIError(
                status: .forbidden, code: "csrf_failed",
                message: "Cookie-authenticated requests that change state must send X-CSRF-Token equal to the coffer_csrf cookie.")
        }
    }

    /// Whether the session cookie authenticates requests to `path`: the API (but not login and refresh, which
    /// read their own cookies, so that a stale session cookie never blocks signing in again) and `/metrics`.
    static func authenticates(path: String) -> Bool {
        (path.hasPrefix("/api/") && path != "/api/auth/login" && path != "/api/auth/refresh") || path == "/metrics"
    }
}
