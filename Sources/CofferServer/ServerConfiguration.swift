import CofferCore
import CofferKeys
import Foundation
import NIOCore

/// Everything `coffer server` needs to start, from flags and environment variables.
///
/// Holds no key material and not the process environment: keys are loaded by ``openCoffer(_:environment:logger:)``
/// from the environment it is given, and the one secret setting kept here (the metrics token) prints redacted.
public struct ServerConfiguration: Sendable {
    /// Listening address (`--host`, `COFFER_HOST`; default 127.0.0.1, loopback only).
    public var host = "127.0.0.1"
    /// Listening port (`--port`, `COFFER_PORT`; default 8700; 0 picks a free port).
    public var port = 8700
    /// Folder for the database and generated keys (`--data-dir`, `COFFER_DATA_DIR`; default ./data).
    public var dataDirectory = "./data"
    /// Largest request body in bytes (`COFFER_MAX_BODY_BYTES`; default 1 MiB).
    public var maxBodyBytes = 1 << 20
    /// Largest body of an import batch, `POST …/secrets/batch` (`COFFER_MAX_IMPORT_BYTES`; default 32 MiB).
    public var maxImportBytes = 32 << 20
    /// Most connections open at once (`COFFER_MAX_CONNECTIONS`; default 4,096, and never more than the descriptor
    /// limit allows); beyond it new connections wait in the kernel's queue.
    public var maxConnections = 4096
    /// How long a client may take to send a request head, its body, stay idle between requests, and leave
    /// response bytes unread (`COFFER_HEADER_TIMEOUT_SECONDS` 10, `COFFER_BODY_TIMEOUT_SECONDS` 30,
    /// `COFFER_IDLE_TIMEOUT_SECONDS` 60, `COFFER_WRITE_TIMEOUT_SECONDS` 30).
    var deadlines = ConnectionDeadlines()
    /// Domain settings (token lifetime, sign-up, value size, default rotation policy).
    public var settings = CofferSettings()
    /// PEM certificate chain and private key to serve HTTPS (`--tls-cert`/`--tls-key`, `COFFER_TLS_CERT`/`COFFER_TLS_KEY`).
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// Browser origins allowed by CORS (`CORS_ORIGINS`, comma-separated; none by default).
    public var corsOrigins: [String] = []
    /// Whether `/metrics` answers without an admin token (`COFFER_METRICS_PUBLIC`, default false).
    public var metricsPublic = false
    /// A long-lived bearer token for Prometheus that opens `/metrics` and nothing else (`COFFER_METRICS_TOKEN`, at
    /// least 32 characters).
    public var metricsToken: Redacted<String>?
    /// Per-client request limits and failed-login throttling.
    public var rateLimits = RateLimiter.Limits()
    /// Reverse proxies whose forwarding headers are believed (`COFFER_TRUSTED_PROXIES`; none by default).
    public var trustedProxies = TrustedProxies()
    /// Marks the browser session cookies `Secure` although this server speaks plain HTTP, for a TLS proxy in front
    /// (`COFFER_COOKIE_SECURE`; they are always `Secure` when the server itself serves TLS).
    public var cookieSecure = false
    /// Lock the process's memory so keys and plaintexts are never swapped out (`COFFER_MLOCK`, default false).
    public var lockMemory = false
    /// A JSON-lines file that receives every audit record (`COFFER_AUDIT_FILE`), for a SIEM.
    public var auditFile: String?
    public init() {}

    /// Reads the documented environment variables. Malformed numbers or booleans are errors, not silent defaults.
    public init(environment: [String: String]) throws(ConfigurationError) {
        if let host = environment["COFFER_HOST"], !host.isEmpty { self.host = host }
        if let proxies = environment["COFFER_TRUSTED_PROXIES"] { trustedProxies = try TrustedProxies(proxies) }
        if let port = try Self.integer(environment, "COFFER_PORT", in: 0...65535) { self.port = port }
        if let dir = environment["COFFER_DATA_DIR"], !dir.isEmpty { self.dataDirectory = dir }
        if let bytes = try Self.integer(environment, "COFFER_MAX_BODY_BYTES", in: 1024...(64 << 20)) {
            self.maxBodyBytes = bytes
        }
        if let bytes = try Self.integer(environment, "COFFER_MAX_IMPORT_BYTES", in: 1024...(1 << 30)) {
            self.maxImportBytes = bytes
        }
        if let count = try Self.integer(environment, "COFFER_MAX_CONNECTIONS", in: 16...1_000_000) { maxConnections = count }
        if let seconds = try Self.integer(environment, "COFFER_HEADER_TIMEOUT_SECONDS", in: 1...3600) {
            deadlines.header = .seconds(Int64(seconds))
        }
        if let seconds = try Self.integer(environment, "COFFER_BODY_TIMEOUT_SECONDS", in: 1...3600) {
            deadlines.body = .seconds(Int64(seconds))
        }
        if let seconds = try Self.integer(environment, "COFFER_IDLE_TIMEOUT_SECONDS", in: 1...3600) {
            deadlines.idle = .seconds(Int64(seconds))
        }
        if let seconds = try Self.integer(environment, "COFFER_WRITE_TIMEOUT_SECONDS", in: 1...3600) {
            deadlines.write = .seconds(Int64(seconds))
        }
        let minutes = try Self.integer(environment, "JWT_EXPIRE_MINUTES", in: 1...1440)
        let seconds = try Self.integer(environment, "JWT_ACCESS_TOKEN_EXPIRES", in: 60...86_400)
        if let minutes, let seconds, minutes * 60 != seconds {
            throw ConfigurationError(
                "JWT_EXPIRE_MINUTES (\(minutes)) and JWT_ACCESS_TOKEN_EXPIRES (\(seconds) seconds) disagree: set only one.")
        }
        if let seconds { settings.accessTokenSeconds = seconds } else if let minutes { settings.jwtExpireMinutes = minutes }
        if let bytes = try Self.integer(environment, "COFFER_MAX_SECRET_BYTES", in: 1...(16 << 20)) {
            settings.maxSecretBytes = bytes
        }
        if let allow = try Self.boolean(environment, "COFFER_ALLOW_SIGNUP") { settings.allowSignup = allow }
        if let days = try Self.integer(environment, "COFFER_SESSION_DAYS", in: 1...365) { settings.sessionDays = days }
        if let days = try Self.integer(environment, "SECRET_ROTATION_DAYS", in: 0...365) {
            guard days == 0 || RotationPolicy(days: days) != nil else {
                throw ConfigurationError("SECRET_ROTATION_DAYS must be 30, 60, 90, 180 or 365 (or 0 for manual).")
            }
            settings.defaultRotationPolicy = RotationPolicy(days: days) ?? .manual
        }
        if let text = environment["COFFER_KEY_ROTATION_DAYS"], !text.isEmpty, text.lowercased() != "off" {
            guard let days = Int(text), (0...3650).contains(days) else {
                throw ConfigurationError("COFFER_KEY_ROTATION_DAYS must be off or a number of days from 1 to 3650.")
            }
            settings.keyRotationDays = days == 0 ? nil : days
        }
        if let versions = try Self.integer(environment, "COFFER_MAX_VERSIONS", in: 1...10_000) {
            settings.maxVersions = versions
        }
        if let enabled = try Self.boolean(environment, "ENABLE_SECRET_AUDIT_LOGGING") { settings.auditEnabled = enabled }
        if let days = try Self.integer(environment, "SECRET_AUDIT_RETENTION_DAYS", in: 1...36_500) {
            settings.auditRetentionDays = days
        }
        if let path = environment["COFFER_AUDIT_FILE"], !path.isEmpty { auditFile = path }
        if let path = environment["COFFER_TLS_CERT"], !path.isEmpty { tlsCertificate = path }
        if let path = environment["COFFER_TLS_KEY"], !path.isEmpty { tlsKey = path }
        if let origins = environment["CORS_ORIGINS"] ?? environment["CORS_ALLOWED_ORIGINS"] {
            corsOrigins = origins.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !corsOrigins.contains("*") else {
                throw ConfigurationError("CORS_ORIGINS must list origins (https://app.example.com); `*` is not allowed for a secrets API.")
            }
        }
        if let batch = try Self.integer(environment, "COFFER_REENCRYPTION_BATCH_SIZE", in: 1...100_000) {
            settings.reencryptionBatchSize = batch
        }
        if let seconds = try Self.integer(environment, "COFFER_AUTH_CACHE_SECONDS", in: 0...300) {
            settings.authorizationCacheSeconds = TimeInterval(seconds)
        }
        if let open = try Self.boolean(environment, "COFFER_METRICS_PUBLIC") { metricsPublic = open }
        if let secure = try Self.boolean(environment, "COFFER_COOKIE_SECURE") { cookieSecure = secure }
        if let lock = try Self.boolean(environment, "COFFER_MLOCK") { lockMemory = lock }
        if let key = environment["COFFER_WEBHOOK_SECRET"], !key.isEmpty {
            guard key.utf8.count >= 32 else {
                throw ConfigurationError("COFFER_WEBHOOK_SECRET must be at least 32 characters (e.g. `coffer keygen`).")
            }
            settings.webhookSigningKey = Redacted(key)
        }
        if let token = environment["COFFER_METRICS_TOKEN"], !token.isEmpty {
            guard token.utf8.count >= 32, !token.contains(where: \.isWhitespace) else {
                throw ConfigurationError("COFFER_METRICS_TOKEN must be at least 32 characters without spaces (e.g. `coffer keygen`).")
            }
            metricsToken = Redacted(token)
        }
        if let n = try Self.integer(environment, "COFFER_RATE_LIMIT_PER_MINUTE", in: 0...10_000_000) { rateLimits.generalPerMinute = n }
        if let n = try Self.integer(environment, "COFFER_RATE_LIMIT_VALUES_PER_MINUTE", in: 0...10_000_000) { rateLimits.valuesPerMinute = n }
        if let n = try Self.integer(environment, "COFFER_RATE_LIMIT_AUTH_PER_MINUTE", in: 0...1_000_000) { rateLimits.credentialsPerMinute = n }
        if let n = try Self.integer(environment, "COFFER_LOGIN_MAX_FAILURES", in: 0...1000) { rateLimits.loginFailuresPerUser = n }
        maxBodyBytes = max(maxBodyBytes, settings.maxSecretBytes * 2 + 16_384)
        maxImportBytes = max(maxImportBytes, maxBodyBytes)
    }

    static func integer(
        _ environment: [String: String], _ name: String, in range: ClosedRange<Int>
    ) throws(ConfigurationError) -> Int? {
        guard let text = environment[name], !text.isEmpty else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationError("\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound).")
        }
        return value
    }

    static func boolean(_ environment: [String: String], _ name: String) throws(ConfigurationError) -> Bool? {
        guard let text = environment[name]?.lowercased(), !text.isEmpty else { return nil }
        switch text {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError("\(name) must be true or false.")
        }
    }
}

/// A configuration value is malformed; the message names the setting and what it accepts.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
