import CofferCore
import Foundation
import Hummingbird
import Logging
import NIOCore

/// Per-request state: the caller (set by ``AuthMiddleware``), the client's address and the request id.
public struct CofferRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The authenticated caller, if a valid bearer token was sent.
    public var principal: Principal?
    /// The request id echoed in `X-Request-ID` and written to the audit record.
    public var requestID: String = ""
    /// The client's `User-Agent`, for the audit record.
    public var userAgent: String?
    /// The largest body a handler will read (413 beyond).
    public var maxBodyBytes = 1 << 20
    /// The client's address: the peer's, or the one a trusted proxy forwarded (``TrustedProxies``).
    public var clientIP: String?
    /// Set when a request to `/metrics` carried `COFFER_METRICS_TOKEN`: it opens that endpoint and no other.
    public var isMetricsScraper = false

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// The caller, or `authentication_required`.
    func requirePrincipal() throws -> Principal {
        guard let principal else {
            throw CofferError(.authenticationRequired, "Send an access token: Authorization: Bearer <token>.")
        }
        return principal
    }

    /// The client's address as rate limits key it.
    var clientAddress: String { clientIP ?? remoteAddress?.ipAddress ?? "unknown" }

    /// Who and where, for the audit trail.
    var origin: RequestOrigin {
        RequestOrigin(ipAddress: clientIP ?? remoteAddress?.ipAddress, userAgent: userAgent, requestID: requestID)
    }

    /// What a route's `**` matched, percent-decoded, its segments joined by `/` (`""` when nothing).
    func catchAllPath() throws -> String {
        try parameters.getCatchAll().map { segment -> String in
            guard let decoded = String(segment).removingPercentEncoding else {
                throw CofferError(.validationFailed, "the path is not valid percent-encoding")
            }
            return decoded
        }.joined(separator: "/")
    }
}
