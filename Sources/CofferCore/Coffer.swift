import CofferCrypto
import CofferKeys
import CofferStore
import Crypto
import Foundation
import Logging
import NIOPosix

/// Settings the domain reads (the server fills them from flags and environment).
public struct CofferSettings: Sendable {
    /// Access-token lifetime in seconds (`JWT_ACCESS_TOKEN_EXPIRES`, seed 001's name, or `JWT_EXPIRE_MINUTES`;
    /// default 15 minutes).
    public var accessTokenSeconds = 900
    /// The lifetime in whole minutes (`JWT_EXPIRE_MINUTES`).
    public var jwtExpireMinutes: Int {
        get { accessTokenSeconds / 60 }
        set { accessTokenSeconds = newValue * 60 }
    }
    /// How long a login session (its refresh tokens) lives (`COFFER_SESSION_DAYS`, default 30).
    public var sessionDays = 30
    /// Whether anyone may register after the first user (`COFFER_ALLOW_SIGNUP`, default false).
    public var allowSignup = false
    /// Largest secret value in bytes (`COFFER_MAX_SECRET_BYTES`, default 64 KiB).
    public var maxSecretBytes = 65_536
    /// Policy for secrets created without one (`SECRET_ROTATION_DAYS`, default manual).
    public var defaultRotationPolicy = RotationPolicy.manual
    /// bcrypt cost for new password hashes (12, as seed 001).
    public var bcryptCost: UInt8 = 12
    /// Versions kept per secret (`COFFER_MAX_VERSIONS`, default 100); older ones are destroyed on write.
    public var maxVersions = 100
    /// Whether secret operations are audited (`ENABLE_SECRET_AUDIT_LOGGING`, default true).
    public var auditEnabled = true
    /// Days audit records are kept (`SECRET_AUDIT_RETENTION_DAYS`, default 365).
    public var auditRetentionDays = 365
    /// Days after which a workspace's active data key is rotated by the scheduler (`COFFER_KEY_ROTATION_DAYS`;
    /// `nil`, the default, never).
    public var keyRotationDays: Int?
    /// The key rotation webhooks' requests are signed with (`COFFER_WEBHOOK_SECRET`); without it no webhook can be
    /// set.
    public var webhookSigningKey: Redacted<String>?
    /// Secret versions re-encrypted per transaction by a `rotate-key` job.
    public var reencryptionBatchSize = 1_000
    /// How long a live session or a workspace role, once read, is trusted without reading it again. Revocations
    /// made through this instance take effect at once regardless; this bounds only how long one written by
    /// another process sharing the database could go unseen (`COFFER_AUTH_CACHE_SECONDS`; 0 turns it off).
    public var authorizationCacheSeconds: TimeInterval = 2

    public init() {}
}

/// The assembled domain: one database, one keyring, one audit log, and the services over them.
///
/// `open` refuses to start with a master key other than the one the data was written with: it unwraps the
/// stored instance key (an authenticated-encryption check value), so a wrong key is reported at start-up, never
/// at the first read.
public final class Coffer: Sendable {
    let database: any CofferDatabase
    let keyring: Keyring
    public let accounts: AccountService
    public let workspaces: WorkspaceService
    public let secrets: SecretService
    public let audit: AuditLog
    public let admin: AdminService
    public let serviceTokens: ServiceTokenService
    /// Vault's KV v2 over the workspace's secrets.
    public let kv: KVService
    /// Vault's transit engine: encryption as a service with workspace keys.
    public let transit: TransitService
    /// The domain clock (injected in tests), for the layers above that need "now" consistently.
    public let now: @Sendable () -> Date
    /// The DEK re-encryption job runner; run it as a service (it resumes unfinished jobs on start).
    public let keyRotation: KeyRotationService
    /// The periodic rotation, due-count and retention housekeeper; run it as a service.
    public let scheduler: RotationScheduler
    private let hashingPool: NIOThreadPool

    static let instanceKeyName = "instance_key"
    static let instanceKeyContext = "coffer:instance-key"

    private init(
        database: any CofferDatabase, keyring: Keyring, audit: AuditLog, accounts: AccountService,
        workspaces: WorkspaceService, secrets: SecretService, admin: AdminService, serviceTokens: ServiceTokenService,
        keyRotation: KeyRotationService, scheduler: RotationScheduler, hashingPool: NIOThreadPool,
        now: @escaping @Sendable () -> Date
    ) {
        self.serviceTokens = serviceTokens
        self.kv = KVService(secrets: secrets)
        self.transit = TransitService(
            database: database, keyring: keyring, audit: audit, access: workspaces, clock: now)
        self.now = now
        self.database = database
        self.keyring = keyring
        self.audit = audit
        self.accounts = accounts
        self.workspaces = workspaces
        self.secrets = secrets
        self.admin = admin
        self.keyRotation = keyRotation
        self.scheduler = scheduler
        self.hashingPool = hashingPool
    }

    /// Takes ownership of `database`: it is closed by ``close()``, or before `open` throws.
    ///
    /// With `previousProvider` (the old master key, `COFFER_PREVIOUS_MASTER_KEY`), data written under it is
    /// rewrapped under `provider` in one transaction — every data key, no secret — and Coffer runs on the new key
    /// alone; starting again with the same pair is a no-op.
    public static func open(
        database: any CofferDatabase, provider: any KeyProvider, otherProviders: [any KeyProvider] = [],
        previousProvider: (any KeyProvider)? = nil,
        jwtKey: SymmetricKey, settings: CofferSettings = CofferSettings(), logger: Logger = Logger(label: "coffer"),
        clock: @escaping @Sendable () -> Date = { Date() }, webhookTransport: (any RotationWebhookTransport)? = nil,
        schedulerInterval: Duration = .seconds(60),
        schedulerClock: any Clock<Duration> = ContinuousClock()
    ) async throws -> Coffer {
        let database = DomainDatabase(store: database)
        let keyring = Keyring(provider: provider, others: otherProviders)
        let instanceKey: SymmetricKey
        do {
            instanceKey = try await loadInstanceKey(
                database: database, keyring: keyring, previous: previousProvider, logger: logger)
            let clashes = try await database.read { try await UserRepository().caseClashes(on: $0) }
            if !clashes.isEmpty {
                logger.warning(
                    "Accounts whose usernames differ only in case exist (made before usernames were unique regardless of case). Each signs in by its exact spelling; new ones cannot be made. Rename or remove all but one.",
                    metadata: ["usernames": "\(clashes.map { "\($0.username) (\($0.accounts) accounts)" }.joined(separator: ", "))"])
            }
        } catch {
            // The Coffer owns the database: one that cannot start closes it.
            await database.close()
            throw error
        }
        let audit = AuditLog(
            database: database, macKey: KeyDerivation.hkdf(instanceKey, purpose: "coffer:audit-chain:v1"),
            enabled: settings.auditEnabled, clock: clock)
        let hashingPool = NIOThreadPool(numberOfThreads: max(2, ProcessInfo.processInfo.activeProcessorCount))
        hashingPool.start()
        let accounts = AccountService(
            database: database, audit: audit, jwtKey: jwtKey, settings: settings, clock: clock, hashingPool: hashingPool)
        let workspaces = WorkspaceService(
            database: database, keyring: keyring, audit: audit, clock: clock,
            cacheSeconds: settings.authorizationCacheSeconds)
        let secrets = SecretService(
            database: database, keyring: keyring, audit: audit, access: workspaces, settings: settings, clock: clock)
        let keyRotation = KeyRotationService(
            database: database, keyring: keyring, audit: audit, clock: clock, batchSize: settings.reencryptionBatchSize,
            logger: logger)
        let admin = AdminService(database: database, keyring: keyring, audit: audit, rotation: keyRotation, clock: clock)
        let scheduler = RotationScheduler(
            database: database, secrets: secrets, audit: audit, keyRotation: keyRotation, webhookTransport: webhookTransport,
            settings: settings, now: clock,
            interval: schedulerInterval, clock: schedulerClock, logger: logger)
        return Coffer(
            database: database, keyring: keyring, audit: audit, accounts: accounts, workspaces: workspaces,
            secrets: secrets, admin: admin,
            serviceTokens: ServiceTokenService(
                database: database, access: workspaces, audit: audit, clock: clock,
                cacheSeconds: settings.authorizationCacheSeconds),
            keyRotation: keyRotation, scheduler: scheduler, hashingPool: hashingPool, now: clock)
    }

    /// Reads (or on first start creates) the instance key; failure to unwrap it means the wrong master key.
    private static func loadInstanceKey(
        database: any CofferDatabase, keyring: Keyring, previous: (any KeyProvider)?, logger: Logger
    ) async throws -> SymmetricKey {
        let meta = MetaRepository()
        let provider = keyring.provider
        if let wrapped = try await database.read({ try await meta.get(instanceKeyName, on: $0) }) {
            // The current provider, then the others configured while custody moves. A provider that cannot be
            // reached is reported as such (never as a wrong key).
            for candidate in [provider] + keyring.others {
                do {
                    return try await candidate.unwrap(wrapped, context: instanceKeyContext)
                } catch let error as KeyError where error.code == .unwrapFailed {
                    continue
                } catch let error as KeyError where candidate.name == provider.name {
                    throw KeyError(.providerUnavailable, "The key provider \(provider.name) (\(provider.keyID)) failed at start-up: \(error.publicMessage)")
                } catch {
                    continue
                }
            }
            if let previous, let key = try? await previous.unwrap(wrapped, context: instanceKeyContext) {
                let started = ContinuousClock.now
                let rewrapped = try await database.write { db -> Int in
                    let count = try await keyring.rewrapAll(from: previous, instanceKey: key, on: db)
                    try await meta.set(
                        instanceKeyName, try await keyring.wrap(key, context: instanceKeyContext), on: db)
                    return count
                }
                let elapsed = ContinuousClock.now - started
                logger.notice(
                    "Master key rotated: data keys rewrapped under the new key; COFFER_PREVIOUS_MASTER_KEY is no longer needed.",
                    metadata: [
                        "data_keys": "\(rewrapped)", "key_id": "\(provider.keyID)",
                        "duration_ms": "\(elapsed.milliseconds)",
                    ])
                return key
            }
            throw KeyError(
                .wrongKey,
                "The configured master key is not the key this data was written with (\(provider.keyID)). "
                    + "Start with the original COFFER_MASTER_KEY or master.key; to change keys, give the old one "
                    + "as COFFER_PREVIOUS_MASTER_KEY.")
        }
        // First start. Another instance on the same database may be starting too: the key is stored only if
        // none is yet, inside the write (writes are serialized), and whichever key is stored is the one used.
        let generated = KeyMaterial.generate()
        let wrapped = try await keyring.wrap(generated, context: instanceKeyContext)
        let stored = try await database.write { db -> Data in
            if let existing = try await meta.get(instanceKeyName, on: db) { return existing }
            try await meta.set(instanceKeyName, wrapped, on: db)
            return wrapped
        }
        if stored == wrapped { return generated }
        return try await loadInstanceKey(database: database, keyring: keyring, previous: previous, logger: logger)
    }

    /// Moves key custody to this Coffer's provider: every stored data and transit key another configured provider
    /// wrapped is rewrapped, in batches that each commit (an interrupted move resumes where it stopped), then the
    /// instance key; audited. No secret is re-encrypted. Returns how many keys moved.
    public func adoptKeys(batchSize: Int = 100) async throws -> Int {
        var moved = 0
        while true {
            let count = try await database.write { db in try await self.keyring.rewrapForeign(limit: batchSize, on: db) }
            moved += count
            if count == 0 { break }
        }
        let meta = MetaRepository()
        let keyring = keyring
        let rewrapped = try await database.write { db -> Bool in
            guard let wrapped = try await meta.get(Self.instanceKeyName, on: db) else { return false }
            if (try? await keyring.provider.unwrap(wrapped, context: Self.instanceKeyContext)) != nil { return false }
            for other in keyring.others {
                guard let key = try? await other.unwrap(wrapped, context: Self.instanceKeyContext) else { continue }
                try await meta.set(Self.instanceKeyName, try await keyring.wrap(key, context: Self.instanceKeyContext), on: db)
                return true
            }
            throw CofferError(.keyProviderUnavailable, "No configured key provider can unwrap the instance key.")
        }
        let details: [String: JSONValue] = [
            "key_custody": .string(keyring.provider.name), "key_id": .string(keyring.provider.keyID),
            "keys_rewrapped": .number(Double(moved + (rewrapped ? 1 : 0))),
        ]
        try await database.write { db in
            try await self.audit.append(
                [
                    AuditEvent(
                        action: .updated, workspaceID: nil, secretID: nil, userID: nil, origin: RequestOrigin(),
                        details: details, success: true)
                ], on: db)
        }
        return moved + (rewrapped ? 1 : 0)
    }

    /// The key provider's name (`local`, …), for metric labels.
    public var keyProviderName: String { keyring.provider.name }

    /// Whether the key provider can wrap and unwrap now.
    public func keyProviderIsHealthy() async -> Bool { await keyring.provider.checkHealth() }

    /// A service that appends every audit record of this store to a JSON-lines file at `path`.
    public func auditFileExporter(path: String, logger: Logger) -> AuditFileExporter {
        AuditFileExporter(path: path, database: database, logger: logger)
    }

    /// Whether the store answers and the key provider can wrap and unwrap.
    public func isHealthy() async -> Bool {
        guard (try? await database.read({ try await UserRepository().count(on: $0) })) != nil else { return false }
        return await keyring.provider.checkHealth()
    }

    public func close() async {
        try? await hashingPool.shutdownGracefully()
        await database.close()
    }
}
