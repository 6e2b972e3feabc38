import CofferCore
import CofferJSON
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Vault's error answer on `/v1`: `{"errors": ["…"]}` with Vault's status codes. The one place that maps errors
/// to them.
///
/// Vault says `permission denied` (403) for a missing, invalid or expired token as well as for a role that does
/// not allow the operation, and for a mount the caller has no workspace at; not-found answers carry no message.
/// Messages come from the errors' public messages, which never contain values, keys or passwords.
struct VaultError: Error {
    let status: HTTPResponse.Status
    let errors: [String]
    var retryAfter: Int?

    static let permissionDenied = VaultError(status: .forbidden, errors: ["permission denied"])

    /// Classifies any error; `expected` is false for errors worth a log line at error level.
    static func from(_ error: any Error) -> (error: VaultError, expected: Bool) {
        switch error {
        case let error as VaultError:
            return (error, true)
        case let error as CofferError:
            switch error.code {
            case .authenticationRequired, .invalidToken, .tokenExpired, .invalidCredentials, .forbidden,
                .workspaceNotFound:
                return (permissionDenied, true)
            case .secretNotFound:
                return (VaultError(status: .notFound, errors: []), true)
            case .validationFailed, .invalidJSON, .casMismatch, .transitKeyNotFound, .invalidCiphertext:
                return (VaultError(status: .badRequest, errors: [error.publicMessage]), true)
            case .secretInactive:
                return (VaultError(status: .conflict, errors: [error.publicMessage]), true)
            case .secretNameConflict, .conflict:
                return (VaultError(status: .badRequest, errors: [error.publicMessage]), true)
            case .rateLimited:
                return (VaultError(status: .tooManyRequests, errors: [error.publicMessage], retryAfter: 1), true)
            case .auditUnavailable, .keyProviderUnavailable, .storeUnavailable:
                return (VaultError(status: .serviceUnavailable, errors: [error.publicMessage], retryAfter: 1), false)
            case .insufficientStorage:
                return (VaultError(status: .insufficientStorage, errors: [error.publicMessage]), false)
            default:
                return (VaultError(status: .internalServerError, errors: ["internal error"]), false)
            }
        case let error as APIError:
            return (VaultError(status: error.status, errors: [error.message], retryAfter: error.retryAfter), true)
        case is NIOTooManyBytesError:
            return (VaultError(status: .contentTooLarge, errors: ["request body too large"]), true)
        case let error as any HTTPResponseError:
            let message = error.status == .notFound ? "unsupported path" : error.status.reasonPhrase
            return (VaultError(status: error.status, errors: [message]), error.status.code < 500)
        default:
            return (VaultError(status: .internalServerError, errors: ["internal error"]), false)
        }
    }

    func response() -> Response {
        struct Body: Encodable { let errors: [String] }
        var response = VaultJSON.response(Body(errors: errors), status: status)
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}

/// JSON on `/v1`: `Content-Type: application/json` exactly (hvac reads error bodies only with that header).
enum VaultJSON {
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let body = (try? JSONCoding.body(value)) ?? ByteBuffer(string: "{}")
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }

    /// Reads an optional JSON body: an absent or empty one is `empty`. Errors are Vault's 400s. `reading`, when
    /// given, reads the body first; what it declines is decoded with `JSONDecoder`.
    static func decode<T: Decodable>(
        _ type: T.Type, from request: Request, context: CofferRequestContext, empty: T,
        reading: ((inout JSONReader) -> T?)? = nil
    ) async throws -> T {
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxBodyBytes)
        guard buffer.readableBytes > 0 else { return empty }
        if let reading {
            var json = JSONReader(Array(buffer.readableBytesView))
            if let value = reading(&json) { return value }
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw JSONCoding.describe(error)
        }
    }

    /// Vault's time format (RFC 3339 with fractional seconds, UTC).
    static func time(_ date: Date?) -> String {
        guard let date else { return "" }
        return date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}

/// Vault's response envelope around `data`.
struct VaultEnvelope<Payload: Encodable & Sendable>: Encodable, Sendable {
    let requestID: String
    let data: Payload?
    var mountType: String?

    enum CodingKeys: String, CodingKey {
        case requestID = "request_id", leaseID = "lease_id", renewable, leaseDuration = "lease_duration", data
        case wrapInfo = "wrap_info", warnings, auth, mountType = "mount_type"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(requestID, forKey: .requestID)
        try c.encode("", forKey: .leaseID)
        try c.encode(false, forKey: .renewable)
        try c.encode(0, forKey: .leaseDuration)
        try c.encode(data, forKey: .data)
        try c.encodeNil(forKey: .wrapInfo)
        try c.encodeNil(forKey: .warnings)
        try c.encodeNil(forKey: .auth)
        if let mountType { try c.encode(mountType, forKey: .mountType) }
    }
}

extension VaultEnvelope: JSONWritable where Payload: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.object { envelope in
            envelope.member("auth") { $0.null() }
            envelope.member("data") { json in if let data { json.value(data) } else { json.null() } }
            envelope.member("lease_duration") { $0.integer(0) }
            envelope.member("lease_id") { $0.string("") }
            if let mountType { envelope.member("mount_type") { $0.string(mountType) } }
            envelope.member("renewable") { $0.bool(false) }
            envelope.member("request_id") { $0.string(requestID) }
            envelope.member("warnings") { $0.null() }
            envelope.member("wrap_info") { $0.null() }
        }
    }
}

extension CofferRequestContext {
    /// `data` in Vault's envelope.
    func vault(_ data: some Encodable & Sendable, status: HTTPResponse.Status = .ok, mountType: String? = nil) -> Response {
        VaultJSON.response(VaultEnvelope(requestID: requestID, data: data, mountType: mountType), status: status)
    }

    /// The caller, and the workspace the route's `:mount` names for it.
    func vaultMount(_ workspaces: WorkspaceService) async throws -> (principal: Principal, workspaceID: String) {
        let principal = try vaultPrincipal()
        let workspace = try await workspaces.resolve(mount: try parameters.require("mount"), for: principal, origin: origin)
        return (principal, workspace.id)
    }

    /// The caller on `/v1`, or Vault's `permission denied`.
    func vaultPrincipal() throws -> Principal {
        guard let principal else { throw VaultError.permissionDenied }
        return principal
    }
}

/// The `/v1` surface's own middleware: Vault's error shape, its token header, its rate-limit classes.
///
/// `X-Vault-Token` (or `Authorization: Bearer`) carries a Coffer access token or service token; a present but
/// invalid or expired one is refused at once with 403, as Vault does.
struct VaultMiddleware: RouterMiddleware {
    typealias Context = CofferRequestContext
    let accounts: AccountService
    let serviceTokens: ServiceTokenService
    let limiter: RateLimiter

    static let tokenHeader = HTTPField.Name("X-Vault-Token")!

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            if let wait = limiter.take(Self.bucket(request), client: context.clientAddress) {
                throw VaultError(status: .tooManyRequests, errors: ["rate limit quota exceeded"], retryAfter: wait)
            }
            var context = context
            if let token = Self.token(request) {
                context.principal =
                    token.hasPrefix(ServiceTokenService.prefix)
                    ? try await serviceTokens.authenticate(token) : try await accounts.authenticate(bearer: token)
            }
            return try await next(request, context)
        } catch {
            let (vaultError, expected) = VaultError.from(error)
            if !expected {
                context.logger.error("request failed", metadata: ["error": "\(String(reflecting: type(of: error))): \(error)"])
            }
            return vaultError.response()
        }
    }

    static func token(_ request: Request) -> String? {
        if let token = request.headers[tokenHeader]?.trimmingBlanks(), !token.isEmpty { return token }
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1]).trimmingBlanks()
    }

    /// Reading values (KV data, transit decrypt, rewrap and data keys) is the values class; the rest is general.
    static func bucket(_ request: Request) -> RateLimiter.Bucket {
        let path = request.uri.path
        if request.method == .get, path.contains("/data/") { return .values }
        if path.contains("/transit/decrypt/") || path.contains("/transit/rewrap/") || path.contains("/transit/datakey/") {
            return .values
        }
        return .general
    }
}

extension Query {
    /// Vault's list form of a GET: `?list=true` (also what a `LIST` request becomes).
    var isList: Bool { (try? boolean("list")) == true }
}
