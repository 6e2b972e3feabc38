import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A typed async client for Coffer's REST API and its transit engine.
///
/// ```swift
/// let coffer = CofferClient(
///     configuration: .init(address: "https://coffer.internal:8700", cache: .init(ttl: .seconds(60))),
///     authentication: .token(ProcessInfo.processInfo.environment["COFFER_TOKEN"]!))
/// let stripe = try await coffer.value(of: "STRIPE_API_KEY", in: "production")
/// ```
///
/// Guarantees:
/// - A session (from ``login(username:password:)`` or given) is refreshed before it expires and once more on a
///   401, one refresh at a time; every new session is handed to `onSessionChange` (to persist it). A bare token
///   (a service token, `COFFER_TOKEN`) is never refreshed.
/// - With a ``ValueCachePolicy``, a value read within its TTL is served from memory; after the TTL, a failed read
///   that is an outage (unreachable, 5xx, 429) falls back to the cached value for up to `staleIfError` more, like
///   AWS's Secrets Manager caching client. A refusal (401, 403, 404) is never hidden by the cache. Writes through
///   this client drop the cached value of the secret they change.
/// - Every failure is a ``CofferClientError`` carrying the API's stable `code`; values and tokens appear in no
///   error, description or log.
public actor CofferClient {
    /// Where the server is and how to talk to it.
    public struct Configuration: Sendable {
        /// `http(s)://host:port`, without a path.
        public var address: String
        /// The longest one request may take.
        public var timeout: Duration
        public var userAgent: String
        /// `nil`: every value read goes to the server.
        public var cache: ValueCachePolicy?
        /// Responses larger than this are refused (`unexpected_response`).
        public var maxResponseBytes: Int
        /// The time, for session expiry and the cache (tests move it by hand).
        public var now: @Sendable () -> Date

        public init(
            address: String = "http://127.0.0.1:8700", timeout: Duration = .seconds(30),
            userAgent: String = "coffer-client", cache: ValueCachePolicy? = nil, maxResponseBytes: Int = 64 << 20,
            now: @escaping @Sendable () -> Date = { Date() }
        ) {
            self.address = address.hasSuffix("/") ? String(address.dropLast()) : address
            self.timeout = timeout
            self.userAgent = userAgent
            self.cache = cache
            self.maxResponseBytes = maxResponseBytes
            self.now = now
        }
    }

    /// How requests are authenticated. Its description never shows a token.
    public enum Authentication: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
        /// No token: only login and public endpoints work.
        case none
        /// A service token (`cst_…`) or an access token, sent as it is and never refreshed.
        case token(String)
        /// A login session, refreshed when it expires.
        case session(CofferSession)

        public var description: String {
            switch self {
            case .none: "none"
            case .token: "token(redacted)"
            case .session(let session): "session(\(session))"
            }
        }
        public var debugDescription: String { description }
    }

    public let configuration: Configuration
    private var authentication: Authentication
    private let onSessionChange: (@Sendable (CofferSession) async throws -> Void)?
    private let http: HTTPClient
    private var refreshing: Task<Void, any Error>?
    private var cache: ValueCache
    /// Workspace names already resolved to ids.
    private var workspaceIDs: [String: String] = [:]
    /// Secret names already resolved to ids (an id found stale, the secret recreated, is looked up again).
    private var secretIDs: [ValueCache.Key: String] = [:]

    /// The HTTP client every ``CofferClient`` uses unless given another: like AsyncHTTPClient's shared one (never
    /// shut down), but a refused connection fails at once instead of being retried until the request's deadline
    /// (so an outage shows, and the cache can stand in, without waiting), connecting takes at most 5 seconds, and
    /// redirects are not followed (a token is never sent where the address did not say).
    public static let defaultHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// - Parameters:
    ///   - onSessionChange: called with every session this client obtains (login, refresh), once it is in use; if it
    ///     throws, the call that obtained the session throws that error, and the session stays in use.
    ///   - httpClient: the AsyncHTTPClient to send with (``defaultHTTPClient`` unless given).
    public init(
        configuration: Configuration = Configuration(), authentication: Authentication = .none,
        httpClient: HTTPClient = CofferClient.defaultHTTPClient, onSessionChange: (@Sendable (CofferSession) async throws -> Void)? = nil
    ) {
        self.configuration = configuration
        self.authentication = authentication
        self.http = httpClient
        self.onSessionChange = onSessionChange
        self.cache = ValueCache(policy: configuration.cache)
    }

    /// The current session, when authenticating with one.
    public var session: CofferSession? {
        if case .session(let session) = authentication { return session }
        return nil
    }

    // MARK: Sessions

    /// Logs in with a username and password and authenticates every later request with the new session.
    @discardableResult
    public func login(username: String, password: String) async throws -> CofferSession {
        let body = try JSONSerialization.data(withJSONObject: ["username": username, "password": password])
        let data = try await send(.POST, "/api/auth/login", body: body, authenticated: false)
        let session = try sessionFrom(data)
        // Another identity: nothing read or resolved as the previous one may answer for this one.
        forgetAll()
        authentication = .session(session)
        try await onSessionChange?(session)
        return session
    }

    /// Ends the session on the server (its tokens stop working) and forgets it here.
    public func logout() async throws {
        defer {
            authentication = .none
            forgetAll()
        }
        if session != nil { _ = try await send(.POST, "/api/auth/logout") }
    }

    private func sessionFrom(_ data: Data) throws -> CofferSession {
        struct Grant: Decodable {
            let accessToken: String
            let refreshToken: String
            let expiresIn: Int
            enum CodingKeys: String, CodingKey {
                case accessToken = "access_token", refreshToken = "refresh_token", expiresIn = "expires_in"
            }
        }
        let grant = try Self.decode(Grant.self, from: data)
        return CofferSession(
            accessToken: grant.accessToken, refreshToken: grant.refreshToken,
            expiresAt: configuration.now().addingTimeInterval(TimeInterval(grant.expiresIn)))
    }

    /// Exchanges the session's refresh token for a new session; concurrent callers share one exchange.
    private func refresh() async throws {
        if let refreshing { return try await refreshing.value }
        guard case .session(let current) = authentication else { return }
        let task = Task {
            let body = try JSONSerialization.data(withJSONObject: ["refresh_token": current.refreshToken])
            let data: Data
            do {
                data = try await self.send(.POST, "/api/auth/refresh", body: body, authenticated: false)
            } catch let error as CofferClientError where error.status == 401 {
                throw CofferClientError(
                    status: 401, code: error.code, message: "The session has expired; log in again.")
            }
            // In use before anyone is told: the refresh token just spent is dead on the server.
            let session = try self.sessionFrom(data)
            self.adopt(session)
            try await self.onSessionChange?(session)
        }
        refreshing = task
        defer { refreshing = nil }
        try await task.value
    }

    private func adopt(_ session: CofferSession) { authentication = .session(session) }

    // MARK: Requests

    /// Sends a request to `path` (with its query) and returns the body of a 2xx answer; anything else throws the
    /// API's error. An expiring session is refreshed first, and an expired one once more on 401.
    public func send(
        _ method: HTTPMethod, _ path: String, body: Data? = nil, authenticated: Bool = true
    ) async throws -> Data {
        if authenticated, let session, session.expiresAt < configuration.now().addingTimeInterval(30) {
            try await refresh()
        }
        var (status, data) = try await exchange(method, path, body: body, authenticated: authenticated)
        if status == 401, authenticated, session != nil,
            ["token_expired", "invalid_token"].contains(Self.error(status: status, data).code)
        {
            try await refresh()
            (status, data) = try await exchange(method, path, body: body, authenticated: authenticated)
        }
        guard (200..<300).contains(status) else { throw Self.error(status: status, data) }
        return data
    }

    /// ``send(_:_:body:authenticated:)`` and decodes the answer (ISO 8601 dates).
    public func decode<T: Decodable & Sendable>(
        _ type: T.Type, _ method: HTTPMethod, _ path: String, body: Data? = nil
    ) async throws -> T {
        try Self.decode(type, from: try await send(method, path, body: body))
    }

    private var bearer: String? {
        switch authentication {
        case .none: nil
        case .token(let token): token
        case .session(let session): session.accessToken
        }
    }

    private func exchange(
        _ method: HTTPMethod, _ path: String, body: Data?, authenticated: Bool
    ) async throws -> (Int, Data) {
        var request = HTTPClientRequest(url: configuration.address + path)
        request.method = method
        request.headers.add(name: "User-Agent", value: configuration.userAgent)
        request.headers.add(name: "Accept", value: "application/json")
        if authenticated, let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .nanoseconds(configuration.timeout.nanoseconds))
        } catch {
            throw CofferClientError(
                status: 0, code: "unreachable",
                message: "Cannot reach the Coffer server at \(configuration.address): \(Self.describe(error))")
        }
        do {
            let buffer = try await response.body.collect(upTo: configuration.maxResponseBytes)
            return (Int(response.status.code), Data(buffer.readableBytesView))
        } catch is NIOTooManyBytesError {
            throw CofferClientError(
                status: Int(response.status.code), code: "unexpected_response",
                message: "The answer is larger than \(configuration.maxResponseBytes) bytes.")
        } catch {
            throw CofferClientError(
                status: 0, code: "unreachable", message: "The connection to \(configuration.address) broke: \(Self.describe(error))")
        }
    }

    /// The error's type and short text: AsyncHTTPClient's errors describe themselves without request data.
    private static func describe(_ error: any Error) -> String {
        String(describing: error).prefix(200).description
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .custom { decoder in
                let text = try decoder.singleValueContainer().decode(String.self)
                guard let date = parseDate(text) else {
                    throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a date"))
                }
                return date
            }
            return try decoder.decode(T.self, from: data)
        } catch {
            throw CofferClientError(status: 200, code: "unexpected_response", message: "The server's answer has an unexpected shape.")
        }
    }

    /// ISO 8601 with or without fractional seconds (value types: nothing made per date).
    private static func parseDate(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle().parse(text))
            ?? (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
    }

    /// The API's error (`{"error": {code, message}}`), the Vault surface's (`{"errors": [...]}`), or a generic one.
    static func error(status: Int, _ data: Data) -> CofferClientError {
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        if let error = object?["error"] as? [String: Any], let code = error["code"] as? String {
            return CofferClientError(status: status, code: code, message: error["message"] as? String ?? code)
        }
        let code: String =
            switch status {
            case 400: "invalid_request"
            case 401: "authentication_required"
            case 403: "forbidden"
            case 404: "not_found"
            case 429: "rate_limited"
            case 503: "unavailable"
            default: status >= 500 ? "server_error" : "http_\(status)"
            }
        let message = (object?["errors"] as? [String])?.first ?? "The server answered \(status)."
        return CofferClientError(status: status, code: code, message: message)
    }

    // MARK: Workspaces

    /// The caller's workspaces.
    public func workspaces() async throws -> [Workspace] {
        struct List: Decodable { let items: [Workspace] }
        let items = try await decode(List.self, .GET, "/api/workspaces").items
        // Only names that pick out one workspace are remembered.
        let byName = Dictionary(grouping: items, by: \.name)
        workspaceIDs = byName.compactMapValues { $0.count == 1 ? $0[0].id : nil }
        return items
    }

    /// Creates a workspace; the caller becomes its owner.
    public func createWorkspace(named name: String) async throws -> Workspace {
        let workspace = try await decode(
            Workspace.self, .POST, "/api/workspaces", body: try JSONSerialization.data(withJSONObject: ["name": name]))
        workspaceIDs[workspace.name] = nil
        return workspace
    }

    /// A workspace's id from its id or its name. An id is taken as it is (the server decides access; a service
    /// token cannot list workspaces), a name is looked up once.
    public func workspaceID(_ workspace: String) async throws -> String {
        if let id = UUID(uuidString: workspace) { return id.uuidString.lowercased() }
        if let id = workspaceIDs[workspace] { return id }
        let named = try await workspaces().filter { $0.name == workspace }
        guard named.count <= 1 else {
            throw CofferClientError(
                status: 0, code: "ambiguous_workspace", message: "Several workspaces are named \(workspace): use the id.")
        }
        guard let match = named.first else {
            throw CofferClientError(
                status: 404, code: "workspace_not_found", message: "No workspace \(workspace) among yours.")
        }
        return match.id
    }

    // MARK: Secrets

    private func base(_ workspace: String) async throws -> String {
        "/api/secrets/workspaces/\(try await workspaceID(workspace))/secrets"
    }

    private static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }

    /// One page of a workspace's secrets in name order.
    public func secrets(
        in workspace: String, namePrefix: String? = nil, tag: String? = nil, limit: Int = 100, offset: Int = 0
    ) async throws -> Page<Secret> {
        var query = "?limit=\(limit)&offset=\(offset)"
        if let namePrefix { query += "&name_prefix=\(Self.escape(namePrefix))" }
        if let tag { query += "&tag=\(Self.escape(tag))" }
        return try await decode(Page<Secret>.self, .GET, try await base(workspace) + query)
    }

    /// Every secret of a workspace (all pages), in name order.
    public func allSecrets(in workspace: String, namePrefix: String? = nil) async throws -> [Secret] {
        var all: [Secret] = []
        while true {
            let page = try await secrets(in: workspace, namePrefix: namePrefix, limit: 1000, offset: all.count)
            all += page.items
            if page.items.isEmpty || all.count >= page.total { return all }
        }
    }

    /// A live secret's metadata by its name.
    public func secret(named name: String, in workspace: String) async throws -> Secret {
        try await decode(Secret.self, .GET, try await base(workspace) + "/by-name/" + Self.escape(name))
    }

    /// A secret's value by its name (audited by the server): the current version from the cache when the policy
    /// allows, or a past `version` (never cached).
    public func value(of name: String, in workspace: String, version: Int? = nil) async throws -> SecretValue {
        let ws = try await workspaceID(workspace)
        let key = ValueCache.Key(workspace: ws, name: name)
        let now = configuration.now()
        if version == nil, let fresh = cache.fresh(key, at: now) { return fresh }
        let generation = cache.generation(key)
        do {
            let query = version.map { "?version=\($0)" } ?? ""
            let value = try await withSecretID(key) { id in
                try await self.decode(SecretValue.self, .GET, try await self.base(ws) + "/\(id)/value" + query)
            }
            if version == nil { cache.store(value, for: key, at: configuration.now(), ifGeneration: generation) }
            return value
        } catch let error as CofferClientError {
            guard error.isOutage, version == nil, let stale = cache.stale(key, at: now) else {
                // A refusal also ends what the cache may answer for this secret.
                if !error.isOutage { cache.remove(key) }
                throw error
            }
            return stale
        }
    }

    /// Runs `body` with the secret's id, looked up by name once; a `secret_not_found` from a remembered id (the
    /// secret deleted and made again) looks the name up once more.
    private func withSecretID<T: Sendable>(_ key: ValueCache.Key, _ body: (String) async throws -> T) async throws -> T {
        if let id = secretIDs[key] {
            do {
                return try await body(id)
            } catch let error as CofferClientError where error.code == "secret_not_found" {
                secretIDs[key] = nil
            }
        }
        let id = try await secret(named: key.name, in: key.workspace).id
        secretIDs[key] = id
        return try await body(id)
    }

    /// The values of several secrets (or all, with `names` nil) in one audited request, by name; `inactive` names
    /// the requested secrets that are deactivated. Fills the cache; on an outage, answers from it if it holds
    /// every requested name.
    public func values(of names: [String]? = nil, in workspace: String) async throws -> (values: [String: SecretValue], inactive: [String]) {
        struct List: Decodable { let items: [SecretValue]; let inactive: [String]? }
        let ws = try await workspaceID(workspace)
        var path = try await base(ws) + "/values"
        if let names { path += "?names=" + names.map(Self.escape).joined(separator: ",") }
        let now = configuration.now()
        let generations = cache.generations()
        do {
            let list = try await decode(List.self, .GET, path)
            var values: [String: SecretValue] = [:]
            for value in list.items {
                values[value.name] = value
                let key = ValueCache.Key(workspace: ws, name: value.name)
                let generation = ValueCache.Generation(epoch: generations.epoch, removals: generations.removals[key] ?? 0)
                cache.store(value, for: key, at: now, ifGeneration: generation)
            }
            for name in list.inactive ?? [] { cache.remove(.init(workspace: ws, name: name)) }
            return (values, list.inactive ?? [])
        } catch let error as CofferClientError {
            // A refusal also ends what the cache may answer for the names asked for.
            guard error.isOutage else {
                for name in names ?? [] { cache.remove(.init(workspace: ws, name: name)) }
                throw error
            }
            guard let names else { throw error }
            var values: [String: SecretValue] = [:]
            for name in names {
                guard let stale = cache.stale(.init(workspace: ws, name: name), at: now) else { throw error }
                values[name] = stale
            }
            return (values, [])
        }
    }

    /// Creates the secret, or, when the name exists, stores `value` as its new version.
    @discardableResult
    public func setSecret(
        named name: String, value: String, in workspace: String, options: SecretOptions = SecretOptions()
    ) async throws -> Secret {
        let ws = try await workspaceID(workspace)
        cache.remove(.init(workspace: ws, name: name))
        var create: [String: Any] = ["name": name, "value": value]
        create["secret_type"] = options.secretType
        create["usage"] = options.usage
        create["tags"] = options.tags
        create["rotation_policy"] = options.rotationPolicy
        do {
            return try await decode(
                Secret.self, .POST, try await base(ws), body: try JSONSerialization.data(withJSONObject: create))
        } catch let error as CofferClientError where error.code == "secret_name_conflict" {
            let body = try JSONSerialization.data(withJSONObject: ["value": value])
            return try await withSecretID(.init(workspace: ws, name: name)) { id in
                try await self.decode(Secret.self, .PATCH, try await self.base(ws) + "/\(id)", body: body)
            }
        }
    }

    /// Rotates a secret: `newValue`, or a new generated value for a secret that was created with a generator.
    @discardableResult
    public func rotate(named name: String, in workspace: String, newValue: String? = nil) async throws -> Secret {
        let ws = try await workspaceID(workspace)
        cache.remove(.init(workspace: ws, name: name))
        let body = try JSONSerialization.data(withJSONObject: newValue.map { ["new_value": $0] } ?? [:])
        return try await withSecretID(.init(workspace: ws, name: name)) { id in
            try await self.decode(Secret.self, .POST, try await self.base(ws) + "/\(id)/rotate", body: body)
        }
    }

    /// Deletes a secret (restorable), or with `purge` destroys it and its versions.
    public func deleteSecret(named name: String, in workspace: String, purge: Bool = false) async throws {
        let ws = try await workspaceID(workspace)
        let key = ValueCache.Key(workspace: ws, name: name)
        cache.remove(key)
        let query = purge ? "?purge=true" : ""
        _ = try await withSecretID(key) { id in try await self.send(.DELETE, try await self.base(ws) + "/\(id)" + query) }
        secretIDs[key] = nil
    }

    /// Drops every cached value.
    public func clearCache() { cache.removeAll() }

    private func forgetAll() {
        cache.removeAll()
        secretIDs.removeAll()
        workspaceIDs.removeAll()
    }

    // MARK: Transit

    /// Encrypts with a transit key of a workspace (the mount is the workspace's name or id); the key never leaves
    /// the server. Returns a `vault:vN:…` ciphertext.
    public func encrypt(_ plaintext: some Collection<UInt8>, key: String, mount: String, context: [UInt8]? = nil) async throws -> String {
        var body = ["plaintext": Data(plaintext).base64EncodedString()]
        if let context { body["associated_data"] = Data(context).base64EncodedString() }
        let reply = try await decode(
            TransitReply<Ciphertext>.self, .POST, "/v1/\(Self.escape(mount))/transit/encrypt/\(Self.escape(key))",
            body: try JSONSerialization.data(withJSONObject: body))
        return reply.data.ciphertext
    }

    /// Decrypts a `vault:vN:…` ciphertext made by ``encrypt(_:key:mount:context:)`` (or Vault's transit).
    public func decrypt(_ ciphertext: String, key: String, mount: String, context: [UInt8]? = nil) async throws -> [UInt8] {
        var body = ["ciphertext": ciphertext]
        if let context { body["associated_data"] = Data(context).base64EncodedString() }
        let reply = try await decode(
            TransitReply<Plaintext>.self, .POST, "/v1/\(Self.escape(mount))/transit/decrypt/\(Self.escape(key))",
            body: try JSONSerialization.data(withJSONObject: body))
        guard let plaintext = Data(base64Encoded: reply.data.plaintext) else {
            throw CofferClientError(status: 200, code: "unexpected_response", message: "The plaintext is not base64.")
        }
        return Array(plaintext)
    }
}

/// The Vault envelope around a transit answer.
private struct TransitReply<Payload: Decodable & Sendable>: Decodable, Sendable { let data: Payload }
private struct Ciphertext: Decodable, Sendable { let ciphertext: String }
private struct Plaintext: Decodable, Sendable { let plaintext: String }

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
