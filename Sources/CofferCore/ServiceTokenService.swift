import CofferCrypto
import CofferStore
import Crypto
import Foundation

/// Machine access: tokens scoped to one workspace and role (reader or writer), for CI jobs and services.
///
/// Guarantees:
/// - A token is shown once, at creation; only its SHA-256 hash is stored, so the database cannot replay it.
/// - A token works only on its workspace's secret endpoints: another workspace answers 404, member, token,
///   workspace and admin endpoints 403, and an expired or revoked token 401.
/// - Every use is audited under `service-token:<id>`.
public final class ServiceTokenService: Sendable {
    /// Every service token starts with this, so the server (and secret scanners) can tell it from a JWT.
    public static let prefix = "cst_"
    private let database: any CofferDatabase
    private let access: WorkspaceService
    private let audit: AuditLog
    private let clock: @Sendable () -> Date
    private let tokens = ServiceTokenRepository()
    /// Tokens recently found live, keyed by the token itself, so a request neither hashes it nor reads its row.
    /// Expiry is checked on every use; `revoke` evicts them all before it returns.
    private let live: RevocableCache<LiveToken>

    private struct LiveToken: Sendable {
        let scope: ServiceTokenScope
        let expiresAt: Int64
    }

    init(
        database: any CofferDatabase, access: WorkspaceService, audit: AuditLog, clock: @escaping @Sendable () -> Date,
        cacheSeconds: TimeInterval = 0
    ) {
        self.database = database
        self.access = access
        self.audit = audit
        self.clock = clock
        self.live = RevocableCache(ttl: cacheSeconds, clock: clock)
    }

    /// Creates a token (workspace admins and owners); the response is the only time its value is shown.
    public func create(
        _ input: ServiceTokenCreate, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> ServiceTokenView {
        try principal.requireUser()
        guard let role = Role(rawValue: input.role), role == .reader || role == .writer else {
            throw CofferError.validation("role must be reader or writer")
        }
        let name = input.name.trimmingCharacters(in: .whitespaces)
        guard (1...100).contains(name.count), !name.contains(where: \.isNewline) else {
            throw CofferError.validation("name must be 1 to 100 characters on one line")
        }
        let days = input.expiresInDays ?? 90
        guard (1...3650).contains(days) else { throw CofferError.validation("expires_in_days must be from 1 to 3650") }
        _ = try await access.authorize(.administer, in: workspaceID, principal: principal, action: .created, origin: origin)
        let now = clock()
        let value = Self.prefix + Base64.encode(SecureRandom.bytes(32), urlSafe: true, padded: false)
        let record = ServiceTokenRecord(
            id: Identifier.uuid(), workspaceId: workspaceID, name: name, role: role.rawValue,
            tokenHash: Hex.sha256(value), createdBy: principal.userID, createdAt: now.millis,
            expiresAt: now.addingTimeInterval(TimeInterval(days) * 86_400).millis)
        try await database.write { db in
            try await self.tokens.insert(record, on: db)
            try await self.audit.append(
                [
                    AuditEvent(
                        action: .created, workspaceID: workspaceID, secretID: nil, userID: principal.userID,
                        origin: origin,
                        details: ["event": "service_token_created", "token_id": .string(record.id), "role": .string(role.rawValue)],
                        success: true)
                ], on: db)
        }
        return ServiceTokenView(record, token: value)
    }

    /// The workspace's tokens, without their values.
    public func list(in workspaceID: String, by principal: Principal, origin: RequestOrigin) async throws -> [ServiceTokenView] {
        try principal.requireUser()
        _ = try await access.authorize(.administer, in: workspaceID, principal: principal, action: .listed, origin: origin)
        return try await database.read { try await self.tokens.list(workspaceID: workspaceID, on: $0) }.map {
            ServiceTokenView($0, token: nil)
        }
    }

    /// Revokes a token at once.
    public func revoke(_ id: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin) async throws {
        try principal.requireUser()
        _ = try await access.authorize(.administer, in: workspaceID, principal: principal, action: .deleted, origin: origin)
        defer { live.invalidateAll() }
        let now = clock().millis
        try await database.write { db in
            guard try await self.tokens.revoke(id: id, workspaceID: workspaceID, at: now, on: db) else {
                throw CofferError(.tokenNotFound, "No such service token in this workspace.")
            }
            try await self.audit.append(
                [
                    AuditEvent(
                        action: .deleted, workspaceID: workspaceID, secretID: nil, userID: principal.userID,
                        origin: origin, details: ["event": "service_token_revoked", "token_id": .string(id)], success: true)
                ], on: db)
        }
    }

    /// The principal a service token speaks for. - Throws: `invalid_token` if unknown, revoked or expired.
    public func authenticate(_ token: String) async throws -> Principal {
        let invalid = CofferError(.invalidToken, "The service token is not valid (unknown, revoked or expired).")
        if let cached = live.value(for: token) {
            guard cached.expiresAt > clock().millis else { throw invalid }
            return Principal(serviceToken: cached.scope)
        }
        let ticket = live.ticket()
        let hash = Hex.sha256(token)
        guard let record = try await database.read({ try await self.tokens.find(hash: hash, on: $0) }),
            record.revokedAt == nil, record.expiresAt > clock().millis, let role = Role(rawValue: record.role)
        else { throw invalid }
        let scope = ServiceTokenScope(id: record.id, workspaceID: record.workspaceId, role: role)
        live.store(LiveToken(scope: scope, expiresAt: record.expiresAt), for: token, ticket: ticket)
        return Principal(serviceToken: scope)
    }
}

public struct ServiceTokenCreate: Sendable {
    public var name: String
    public var role: String
    public var expiresInDays: Int?

    public init(name: String, role: String, expiresInDays: Int? = nil) {
        self.name = name
        self.role = role
        self.expiresInDays = expiresInDays
    }
}

/// A service token's metadata; `token` only in the creation response.
public struct ServiceTokenView: Sendable {
    public let id: String
    public let workspaceID: String
    public let name: String
    public let role: String
    public let createdAt: Date
    public let expiresAt: Date
    public let revoked: Bool
    public let token: String?

    init(_ record: ServiceTokenRecord, token: String?) {
        id = record.id
        workspaceID = record.workspaceId
        name = record.name
        role = record.role
        createdAt = Date(millis: record.createdAt)
        expiresAt = Date(millis: record.expiresAt)
        revoked = record.revokedAt != nil
        self.token = token
    }
}
