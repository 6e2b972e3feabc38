import CofferCrypto
import CofferCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Outermost middleware: assigns the request id, turns every error into the API's JSON error body, adds the
/// headers every response carries, and writes one log line per request (method, path, status, time; never
/// bodies, query strings or headers that could carry tokens).
///
/// Every response carries `X-Request-ID`, `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
/// `Referrer-Policy: no-referrer`, a `Content-Security-Policy` that allows nothing and `Cache-Control: no-store`
/// (responses may carry secrets) unless the handler set its own (the web UI), and, when serving TLS,
/// `Strict-Transport-Security`. CORS is answered only for origins listed in `CORS_ORIGINS`; a preflight from any
/// other origin gets 403.
struct APIMiddleware: RouterMiddleware {
    typealias Context = CofferRequestContext
    let maxBodyBytes: Int
    var maxImportBytes = 32 << 20
    var corsOrigins: Set<String> = []
    var hsts = false
    var metrics: CofferMetrics?
    var trustedProxies = TrustedProxies()

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.requestID = Self.requestID(from: request)
        context.userAgent = request.headers[.userAgent]
        // Import batches have their own limit; a declared length beyond the limit is refused before any byte of
        // the body is read.
        context.maxBodyBytes = request.uri.path.hasSuffix("/secrets/batch") ? maxImportBytes : maxBodyBytes
        var secure = hsts
        // Forwarding headers are looked at only when proxies are trusted (most servers: never, on every request).
        if !trustedProxies.isEmpty {
            let peer = context.remoteAddress?.ipAddress
            context.clientIP = trustedProxies.client(
                peer: peer, forwardedFor: request.headers[.xForwardedFor], forwarded: request.headers[.forwarded])
            secure = secure || trustedProxies.forwardedHTTPS(peer: peer, proto: request.headers[.xForwardedProto])
        }
        let start = ContinuousClock.now
        let origin = request.headers[.origin]
        let allowedOrigin = origin.flatMap { corsOrigins.contains($0) ? $0 : nil }
        var response: Response
        let isVault = request.uri.path.hasPrefix("/v1/")
        do {
            if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > context.maxBodyBytes {
                throw APIError(
                    status: .contentTooLarge, code: "payload_too_large",
                    message: "The request body is larger than \(context.maxBodyBytes) bytes.")
            } else if ![.get, .head, .post, .patch, .delete, .options].contains(request.method),
                !(isVault && request.method == .put)
            {
                throw APIError(status: .methodNotAllowed, code: "method_not_allowed", message: "Method not allowed.")
            } else if request.method == .options, origin != nil, request.headers[.accessControlRequestMethod] != nil {
                guard allowedOrigin != nil else {
                    throw APIError(status: .forbidden, code: "cors_origin_denied", message: "This origin is not allowed.")
                }
                response = Response(status: .noContent)
                response.headers[.accessControlAllowMethods] = "GET, POST, PATCH, DELETE, OPTIONS"
                response.headers[.accessControlAllowHeaders] = "Authorization, Content-Type, X-Request-ID"
                response.headers[.accessControlMaxAge] = "600"
            } else {
                response = try await next(request, context)
            }
        } catch {
            // What the surfaces' own middleware did not answer (no route matched, a method refused): in the
            // shape of the surface the path belongs to.
            let expected: Bool
            if isVault {
                let vaultError: VaultError
                (vaultError, expected) = VaultError.from(error)
                response = vaultError.response()
            } else {
                let apiError: APIError
                (apiError, expected) = APIError.from(error)
                response = apiError.response()
            }
            if !expected {
                context.logger.error(
                    "request failed", metadata: ["error": "\(String(reflecting: type(of: error))): \(error)"])
            }
        }
        response.headers[.xRequestID] = context.requestID
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.referrerPolicy] = "no-referrer"
        // The web UI's pages and assets set their own policy and caching; everything else allows nothing.
        if response.headers[.contentSecurityPolicy] == nil {
            response.headers[.contentSecurityPolicy] = "default-src 'none'; frame-ancestors 'none'"
        }
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        if secure { response.headers[.strictTransportSecurity] = "max-age=63072000; includeSubDomains" }
        if let allowedOrigin {
            response.headers[.accessControlAllowOrigin] = allowedOrigin
            response.headers[.accessControlExposeHeaders] = "X-Request-ID"
            response.headers[.vary] = "Origin"
        }
        let elapsed = ContinuousClock.now - start
        metrics?.record(
            route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: Int(response.status.code),
            duration: elapsed)
        context.logger.info(
            "request",
            metadata: [
                "method": "\(request.method.rawValue)", "path": "\(request.uri.path)",
                "status": "\(response.status.code)", "request_id": "\(context.requestID)",
                "ms": "\(elapsed.milliseconds)",
            ])
        return response
    }

    private static func isPlain(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"): true
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"): true
        default: false
        }
    }

    /// The client's `X-Request-ID` if it is short and plain, else a fresh UUID.
    static func requestID(from request: Request) -> String {
        if let given = request.headers[.xRequestID], (1...128).contains(given.utf8.count),
            given.utf8.allSatisfy(isPlain)
        {
            return given
        }
        return Identifier.uuid()
    }
}

/// Reads `Authorization: Bearer <token>`, or else the `coffer_session` cookie (``CookieSessions``); a valid token
/// sets the caller on the context. A present but invalid or expired token is refused at once (401), even on
/// endpoints that do not require one.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = CofferRequestContext
    let accounts: AccountService
    let serviceTokens: ServiceTokenService
    /// `COFFER_METRICS_TOKEN`, accepted on `/metrics` only.
    var metricsToken: String?

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        // `/v1` authenticates in its own middleware (``VaultMiddleware``).
        let path = request.uri.path
        guard !path.hasPrefix("/v1/") else { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            guard let token = request.cookies[CookieSessions.sessionCookie]?.value, !token.isEmpty,
                CookieSessions.authenticates(path: path)
            else { return try await next(request, context) }
            return try await next(request, try await cookieAuthenticated(request, token: token, context: context))
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw CofferError(.invalidToken, "Authorization must be `Bearer <token>`.")
        }
        var context = context
        // Spaces and tabs around the token are ignored (Foundation's `trimmingCharacters` bridges through
        // NSString on Linux: 4% of a secret read's CPU in issue 6's profile).
        let token = String(parts[1]).trimmingBlanks()
        if let metricsToken, request.uri.path == "/metrics", Self.equal(token, metricsToken) {
            context.isMetricsScraper = true
            return try await next(request, context)
        }
        context.principal =
            token.hasPrefix(ServiceTokenService.prefix)
            ? try await serviceTokens.authenticate(token) : try await accounts.authenticate(bearer: token)
        return try await next(request, context)
    }
}

extension AuthMiddleware {
    /// The caller of a request that sent the session cookie and no `Authorization`; the CSRF rule of
    /// ``CookieSessions`` is checked here, before any handler runs.
    private func cookieAuthenticated(_ request: Request, token: String, context: Context) async throws -> Context {
        let principal = try await accounts.authenticate(bearer: token)
        if CookieSessions.isUnsafe(request.method) {
            try CookieSessions.checkCSRF(request, expected: accounts.csrfToken(session: principal.sessionID ?? ""))
        }
        var context = context
        context.principal = principal
        return context
    }

    /// Compares in time that depends on the lengths only, not on where the texts differ.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-ID")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let contentSecurityPolicy = Self("Content-Security-Policy")!
    static let strictTransportSecurity = Self("Strict-Transport-Security")!
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let forwarded = Self("Forwarded")!
    static let xForwardedProto = Self("X-Forwarded-Proto")!
}
