import CofferCrypto
import CofferKeys
import CofferStore
import Foundation

/// Instance-admin operations (seed 004's `/api/secrets/admin/…`): key rotation, encryption health, key
/// generation, audit verification. Every call checks that the caller is an instance admin (403 otherwise, audited).
public final class AdminService: Sendable {
    private let database: any CofferDatabase
    private let keyring: Keyring
    private let audit: AuditLog
    private let rotation: KeyRotationService
    private let clock: @Sendable () -> Date

    init(
        database: any CofferDatabase, keyring: Keyring, audit: AuditLog, rotation: KeyRotationService,
        clock: @escaping @Sendable () -> Date
    ) {
        self.database = database
        self.keyring = keyring
        self.audit = audit
        self.rotation = rotation
        self.clock = clock
    }

    /// Refuses (403, audited) anyone but an instance admin.
    public func requireAdmin(_ principal: Principal, operation: String, origin: RequestOrigin) async throws {
        let user = try await database.read { try await UserRepository().find(id: principal.userID, on: $0) }
        guard user?.isAdmin == true else {
            try await audit.appendDurably(
                AuditEvent(
                    action: .accessed, workspaceID: nil, secretID: nil, userID: principal.userID, origin: origin,
                    details: ["operation": .string(operation), "reason": "not_an_instance_admin"], success: false))
            throw CofferError(.forbidden, "This operation needs an instance admin.")
        }
    }

    public func rotateKey(
        _ request: KeyRotationRequest, by principal: Principal, origin: RequestOrigin
    ) async throws -> KeyRotationJobView {
        try await requireAdmin(principal, operation: "rotate-key", origin: origin)
        return try await rotation.rotateKey(workspaceID: request.workspaceID, by: principal.userID, origin: origin)
    }

    /// Every audit record of the instance, newest first, filtered: account events (registrations, logins and
    /// failed logins, logouts, password changes, refresh-token reuse) with the workspaces' records.
    public func instanceAudit(
        filter: AuditFilter, userID: String? = nil, limit: Int, offset: Int, by principal: Principal,
        origin: RequestOrigin
    ) async throws -> Page<AuditEntryView> {
        try filter.validate(limit: limit, offset: offset)
        try await requireAdmin(principal, operation: "audit", origin: origin)
        return try await audit.page(workspaceID: nil, userID: userID, filter: filter, limit: limit, offset: offset)
    }

    public func rotationStatus(by principal: Principal, origin: RequestOrigin) async throws -> RotationStatusView {
        try await requireAdmin(principal, operation: "rotation-status", origin: origin)
        let jobs = try await rotation.status()
        return RotationStatusView(inProgress: jobs.contains { $0.status == .running }, jobs: jobs)
    }

    /// Seed 004's health shape: `{current_backend, health_status: {<backend>: {healthy, key_id, last_check}}}`.
    public func encryptionHealth(by principal: Principal, origin: RequestOrigin) async throws -> JSONValue {
        try await requireAdmin(principal, operation: "encryption-health", origin: origin)
        let provider = keyring.provider
        let healthy = await provider.checkHealth()
        let checked = ISO8601DateFormatter().string(from: clock())
        return .object([
            "current_backend": .string(provider.name),
            "health_status": .object([
                provider.name: .object([
                    "healthy": .bool(healthy), "key_id": .string(provider.keyID), "last_check": .string(checked),
                ])
            ]),
        ])
    }

    /// A fresh Fernet key (url-safe base64 of 32 random bytes). Never stored.
    public func generateKey(by principal: Principal, origin: RequestOrigin) async throws -> GeneratedKey {
        try await requireAdmin(principal, operation: "generate-key", origin: origin)
        return GeneratedKey(key: Fernet.generateKey())
    }

    public func verifyAudit(by principal: Principal, origin: RequestOrigin) async throws -> AuditVerification {
        try await requireAdmin(principal, operation: "audit-verify", origin: origin)
        return try await audit.verify()
    }
}

public struct RotationStatusView: Sendable {
    public let inProgress: Bool
    public let jobs: [KeyRotationJobView]

}

public struct GeneratedKey: Sendable {
    public let key: String
    /// Always Fernet.
    public var algorithm: String { "fernet" }

}
