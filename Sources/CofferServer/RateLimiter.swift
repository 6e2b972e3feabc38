import CofferCore
import Foundation
import Hummingbird
import Synchronization

/// Request limits per client address, and failed-login throttling per username and per client (seed 001's
/// rate limiting, seed 000's checklist).
///
/// Guarantees:
/// - Each client (remote address) has a token bucket per class of endpoint: credential endpoints (login,
///   register, refresh, password) are the strictest, secret-value endpoints next, everything else general.
///   Over the limit: 429 `rate_limited` with `Retry-After`.
/// - After `loginFailuresPerUser` failed logins for one username within the window, or `loginFailuresPerClient`
///   from one address, further logins get 429 until the oldest failure leaves the window. Unknown usernames are
///   counted exactly like known ones, so the answers reveal nothing about which accounts exist.
/// - Memory is bounded: when a table passes its threshold, entries that carry no state any more are dropped (a
///   bucket that has refilled completely, failures that have left the window); the threshold then doubles from
///   what is left, so pruning costs amortized O(1) per request even when most entries are live.
public final class RateLimiter: Sendable {
    public struct Limits: Sendable {
        /// Requests per minute per client for general endpoints (`COFFER_RATE_LIMIT_PER_MINUTE`, 0 = off).
        public var generalPerMinute = 1200
        /// For secret-value endpoints (`COFFER_RATE_LIMIT_VALUES_PER_MINUTE`).
        public var valuesPerMinute = 600
        /// For credential endpoints (`COFFER_RATE_LIMIT_AUTH_PER_MINUTE`).
        public var credentialsPerMinute = 30
        /// Failed logins per username within the window (`COFFER_LOGIN_MAX_FAILURES`).
        public var loginFailuresPerUser = 5
        /// Failed logins per client address within the window.
        public var loginFailuresPerClient = 20
        /// The failed-login window.
        public var loginWindow: TimeInterval = 900

        public init() {}
    }

    enum Bucket: String { case general, values, credentials }

    private struct TokenBucket {
        var tokens: Double
        var updated: Date
        /// The bucket's class's limits, so that pruning judges each bucket by its own.
        let capacity: Double
        let rate: Double

        /// Tokens as of `time`, refilled since the last request.
        func tokens(at time: Date) -> Double {
            min(capacity, tokens + max(0, time.timeIntervalSince(updated)) * rate)
        }
    }

    private struct State {
        var buckets: [String: TokenBucket] = [:]
        var failures: [String: [Date]] = [:]
        var pruneBucketsAt = RateLimiter.minimumPruneThreshold
        var pruneFailuresAt = RateLimiter.minimumPruneThreshold
    }

    /// Entries a table holds before the first pruning.
    static let minimumPruneThreshold = 50_000

    let limits: Limits
    private let now: @Sendable () -> Date
    private let state = Mutex(State())

    public init(limits: Limits, now: @escaping @Sendable () -> Date) {
        self.limits = limits
        self.now = now
    }

    static func bucket(for path: String) -> Bucket {
        if path.hasPrefix("/api/auth/"), ["login", "register", "refresh", "password"].contains(path.dropFirst(10)) {
            return .credentials
        }
        if path.hasSuffix("/value") || path.hasSuffix("/values") { return .values }
        return .general
    }

    /// Takes one request from the client's bucket; returns the seconds to wait if it is empty.
    func take(_ bucket: Bucket, client: String) -> Int? {
        let perMinute: Int
        switch bucket {
        case .general: perMinute = limits.generalPerMinute
        case .values: perMinute = limits.valuesPerMinute
        case .credentials: perMinute = limits.credentialsPerMinute
        }
        guard perMinute > 0 else { return nil }
        let rate = Double(perMinute) / 60
        let current = now()
        return state.withLock { state in
            let key = bucket.rawValue + "|" + client
            var entry = state.buckets[key]
                ?? TokenBucket(tokens: Double(perMinute), updated: current, capacity: Double(perMinute), rate: rate)
            entry.tokens = entry.tokens(at: current)
            entry.updated = current
            defer {
                state.buckets[key] = entry
                if state.buckets.count > state.pruneBucketsAt {
                    // A bucket that would be full by now is the same as no bucket.
                    state.buckets = state.buckets.filter { $0.value.tokens(at: current) < $0.value.capacity }
                    state.pruneBucketsAt = max(Self.minimumPruneThreshold, 2 * state.buckets.count)
                }
            }
            guard entry.tokens >= 1 else { return Int(((1 - entry.tokens) / rate).rounded(.up)) }
            entry.tokens -= 1
            return nil
        }
    }

    /// Runs `attempt`, which checks `username`'s password for a request from `client`, under the failed-login
    /// throttle: refused 429 (`refusal` as the message) while too many recent attempts failed; an
    /// `invalid_credentials` failure is counted, a success clears the account's count.
    func checkingPassword<T: Sendable>(
        username: String, client: String, refusal: String, _ attempt: () async throws -> T
    ) async throws -> T {
        if let wait = loginDelay(username: username, client: client) {
            throw Self.tooMany(retryAfter: wait, refusal)
        }
        do {
            let result = try await attempt()
            recordLoginSuccess(username: username)
            return result
        } catch let error as CofferError where error.code == .invalidCredentials {
            recordLoginFailure(username: username, client: client)
            throw error
        }
    }

    /// Seconds until a login for `username` from `client` may be tried, or nil if it may now.
    func loginDelay(username: String, client: String) -> Int? {
        let current = now()
        return state.withLock { state in
            let checks = [
                ("user|" + username.lowercased(), limits.loginFailuresPerUser),
                ("client|" + client, limits.loginFailuresPerClient),
            ]
            var wait: TimeInterval = 0
            for (key, maximum) in checks where maximum > 0 {
                let recent = (state.failures[key] ?? []).filter { current.timeIntervalSince($0) < limits.loginWindow }
                state.failures[key] = recent
                if recent.count >= maximum, let oldest = recent.first {
                    wait = max(wait, limits.loginWindow - current.timeIntervalSince(oldest))
                }
            }
            return wait > 0 ? Int(wait.rounded(.up)) : nil
        }
    }

    func recordLoginFailure(username: String, client: String) {
        let current = now()
        state.withLock { state in
            state.failures["user|" + username.lowercased(), default: []].append(current)
            state.failures["client|" + client, default: []].append(current)
            if state.failures.count > state.pruneFailuresAt {
                state.failures = state.failures.filter { current.timeIntervalSince($0.value.last ?? .distantPast) < limits.loginWindow }
                state.pruneFailuresAt = max(Self.minimumPruneThreshold, 2 * state.failures.count)
            }
        }
    }

    /// Entries held (buckets, failure lists), for the tests of pruning.
    var tableSizes: (buckets: Int, failures: Int) {
        state.withLock { ($0.buckets.count, $0.failures.count) }
    }

    func recordLoginSuccess(username: String) {
        _ = state.withLock { $0.failures.removeValue(forKey: "user|" + username.lowercased()) }
    }

    static func tooMany(retryAfter seconds: Int, _ message: String) -> APIError {
        APIError(status: .tooManyRequests, code: "rate_limited", message: message, retryAfter: max(1, seconds))
    }
}

/// Applies the per-client request limits before routing.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = CofferRequestContext
    let limiter: RateLimiter

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix("/api/") else { return try await next(request, context) }
        if let wait = limiter.take(RateLimiter.bucket(for: path), client: context.clientAddress) {
            throw RateLimiter.tooMany(retryAfter: wait, "Too many requests from this client; retry later.")
        }
        return try await next(request, context)
    }
}
