import CofferCrypto
import CofferStore
import Foundation
import SQLKit

/// A transit key as Vault's transit engine describes it (never its material).
public struct TransitKeyInfo: Sendable {
    public let name: String
    public let type: String
    public let latestVersion: Int
    public let minDecryptionVersion: Int
    public let minEncryptionVersion: Int
    public let minAvailableVersion: Int
    public let deletionAllowed: Bool
    /// Each stored version and when it was made.
    public let versions: [(version: Int, createdAt: Date)]
}

/// Changes to a transit key's configuration; `nil` leaves one as it is.
public struct TransitKeyChange: Sendable {
    public var minDecryptionVersion: Int?
    public var minEncryptionVersion: Int?
    public var deletionAllowed: Bool?

    public init(minDecryptionVersion: Int? = nil, minEncryptionVersion: Int? = nil, deletionAllowed: Bool? = nil) {
        self.minDecryptionVersion = minDecryptionVersion
        self.minEncryptionVersion = minEncryptionVersion
        self.deletionAllowed = deletionAllowed
    }
}

/// One item of an encrypt, decrypt or rewrap request. Plaintexts and associated data are base64, as Vault's.
public struct TransitItem: Sendable {
    /// Base64 plaintext (encrypt) or a `vault:v<N>:…` ciphertext (decrypt, rewrap).
    public var input: String
    public var associatedData: String?
    /// The key version to encrypt with (0 or nil: the latest).
    public var keyVersion: Int?

    public init(input: String, associatedData: String? = nil, keyVersion: Int? = nil) {
        self.input = input
        self.associatedData = associatedData
        self.keyVersion = keyVersion
    }
}

/// One item's outcome: the output text (ciphertext, or base64 plaintext) and key version, or a message saying why
/// this item failed (the others still succeed).
public enum TransitResult: Sendable {
    case success(String, keyVersion: Int)
    case failure(String)
}

/// A data key made for a caller: the plaintext key (base64) when asked for, and always its wrapped form.
public struct TransitDataKey: Sendable {
    public let plaintext: String?
    public let ciphertext: String
    public let keyVersion: Int
}

/// Encryption as a service (Vault's transit engine): named keys of a workspace encrypt and decrypt callers' data,
/// and never leave the server.
///
/// Guarantees:
/// - Key material exists only wrapped in the store and prepared in the keyring's memory; no operation returns it.
/// - Encrypting, decrypting, rewrapping and data keys need `reader`; creating, rotating, configuring, trimming and
///   deleting keys need `admin` (a denial is audited).
/// - Every request writes one audit record (who, key, versions, how many items, success; never plaintext or
///   ciphertext), durable before any plaintext or ciphertext is returned.
/// - A malformed, foreign or tampered ciphertext fails with `invalid_ciphertext` (per item in a batch), never with
///   a plaintext.
public final class TransitService: Sendable {
    let database: any CofferDatabase
    let keyring: Keyring
    let audit: AuditLog
    let access: WorkspaceService
    let clock: @Sendable () -> Date
    let keys = TransitKeyRepository()
    /// Items in one request.
    public static let maxBatch = 10_000
    /// Bytes of one plaintext.
    public static let maxPlaintextBytes = 1 << 20

    init(
        database: any CofferDatabase, keyring: Keyring, audit: AuditLog, access: WorkspaceService,
        clock: @escaping @Sendable () -> Date
    ) {
        self.database = database
        self.keyring = keyring
        self.audit = audit
        self.access = access
        self.clock = clock
    }

    static let keyType = "aes256-gcm96"

    static func validateName(_ name: String) throws {
        guard (1...128).contains(name.utf8.count), SecretService.isPlain(name, also: "_.-") else { throw CofferError.validation("key name must be 1 to 128 of the characters A-Z a-z 0-9 _ . -") }
    }

    private func event(
        _ action: AuditAction, key: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin,
        success: Bool = true, _ details: [String: JSONValue] = [:]
    ) -> AuditEvent {
        var details = details
        details["transit_key"] = .string(key)
        return AuditEvent(
            action: action, workspaceID: workspaceID, secretID: nil, userID: principal.userID, origin: origin,
            details: details, success: success)
    }

    private func find(_ name: String, in workspaceID: String, on db: any SQLDatabase) async throws -> TransitKeyRecord {
        guard let key = try await keys.find(workspaceID: workspaceID, name: name, on: db) else {
            throw CofferError(.transitKeyNotFound, "encryption key not found")
        }
        return key
    }

    // MARK: Keys

    /// Creates a key at version 1; creating one that exists changes nothing. Only `aes256-gcm96` keys, not
    /// exportable, not derived.
    public func createKey(
        _ name: String, type: String?, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws {
        _ = try await access.authorize(.administer, in: workspaceID, principal: principal, action: .created, origin: origin)
        try Self.validateName(name)
        if let type, type != Self.keyType {
            throw CofferError.validation("key type \(type) is not supported; Coffer's transit keys are \(Self.keyType)")
        }
        try await database.write { db in
            try await self.create(name, in: workspaceID, by: principal, origin: origin, on: db)
        }
    }

    /// Creates the key unless it exists; returns the stored record either way.
    @discardableResult
    private func create(
        _ name: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin, on db: any SQLDatabase
    ) async throws -> TransitKeyRecord {
        if let existing = try await keys.find(workspaceID: workspaceID, name: name, on: db) { return existing }
        let now = clock()
        let key = TransitKeyRecord(
            workspaceId: workspaceID, name: name, keyType: Self.keyType, latestVersion: 1, minDecryptionVersion: 1,
            minEncryptionVersion: 0, minAvailableVersion: 0, deletionAllowed: false, createdAt: now.millis,
            updatedAt: now.millis)
        try await keys.insert(key, on: db)
        try await keyring.createTransitKeyVersion(key, version: 1, at: now, on: db)
        try await audit.append([event(.created, key: name, in: workspaceID, by: principal, origin: origin, ["version": 1])], on: db)
        return key
    }

    public func key(
        _ name: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> TransitKeyInfo {
        _ = try await access.authorize(.read, in: workspaceID, principal: principal, action: .accessed, origin: origin)
        try Self.validateName(name)
        return try await database.read { db in
            let key = try await self.find(name, in: workspaceID, on: db)
            let versions = try await self.keys.versionTimes(workspaceID: workspaceID, name: name, on: db)
            return TransitKeyInfo(
                name: key.name, type: key.keyType, latestVersion: key.latestVersion,
                minDecryptionVersion: key.minDecryptionVersion, minEncryptionVersion: key.minEncryptionVersion,
                minAvailableVersion: key.minAvailableVersion, deletionAllowed: key.deletionAllowed,
                versions: versions.map { ($0.version, Date(millis: $0.createdAt)) })
        }
    }

    /// The workspace's key names.
    /// - Throws: `transit_key_not_found` when there are none (Vault answers an empty list with 404).
    public func listKeys(in workspaceID: String, by principal: Principal, origin: RequestOrigin) async throws -> [String] {
        _ = try await access.authorize(.read, in: workspaceID, principal: principal, action: .listed, origin: origin)
        let names = try await database.read { db in try await self.keys.names(workspaceID: workspaceID, on: db) }.sorted()
        guard !names.isEmpty else { throw CofferError(.transitKeyNotFound, "No transit keys.") }
        return names
    }

    /// Adds a new latest version; older versions keep decrypting.
    public func rotate(
        _ name: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws {
        _ = try await access.authorize(.administer, in: workspaceID, principal: principal, action: .rotated, origin: origin)
        try Self.validateName(name)
        try await database.write { db in
            var key = try await self.find(name, in: workspaceID, on: db)
            let now = self.clock()
            key.latestVersion += 1
            key.updatedAt = now.millis
            try await self.keys.update(key, on: db)
            try await self.keyring.createTransitKeyVersion(key, version: key.latestVersion, at: now, on: db)
            try await self.audit.append(
                [
                    self.event(
                        .rotated, key: name, in: workspaceID, by: principal, origin: origin,
                        ["version": .number(Double(key.latestVersion))])
                ], on: db)
        }
    }

    /// Changes the version bounds and whether the key may be deleted, with Vault's rules.
    public func configure(
        _ name: String, with change: TransitKeyChange, in workspaceID: String, by principal: Principal,
        origin: RequestOrigin
    ) async throws {
        _ = try await access.authorize(.administer, in: workspaceID, principal: principal, action: .updated, origin: origin)
        try Self.validateName(name)
        try await database.write { db in
            var key = try await self.find(name, in: workspaceID, on: db)
            if let given = change.minDecryptionVersion {
                // 0 means 1, as in Vault; either way not below the versions trimmed away.
                let min = max(given, 1)
                guard given >= 0, min <= key.latestVersion else {
                    throw CofferError.validation("min_decryption_version cannot be greater than the latest version")
                }
                guard min >= key.minAvailableVersion else {
                    throw CofferError.validation("min_decryption_version cannot be below the trimmed versions")
                }
                key.minDecryptionVersion = min
            }
            if let min = change.minEncryptionVersion {
                guard min >= 0, min <= key.latestVersion else {
                    throw CofferError.validation("min_encryption_version cannot be greater than the latest version")
                }
                key.minEncryptionVersion = min
            }
            if key.minEncryptionVersion > 0, key.minEncryptionVersion < key.minDecryptionVersion {
                throw CofferError.validation("min encryption version should not be less than min decryption version")
            }
            if let allowed = change.deletionAllowed { key.deletionAllowed = allowed }
            key.updatedAt = self.clock().millis
            try await self.keys.update(key, on: db)
            try await self.audit.append(
                [
                    self.event(
                        .updated, key: name, in: workspaceID, by: principal, origin: origin,
                        [
                            "min_decryption_version": .number(Double(key.minDecryptionVersion)),
                            "min_encryption_version": .number(Double(key.minEncryptionVersion)),
                            "deletion_allowed": .bool(key.deletionAllowed),
                        ])
                ], on: db)
        }
    }

    /// Destroys the versions below `minAvailableVersion` for good: ciphertexts made by them can never be
    /// decrypted again.
    public func trim(
        _ name: String, minAvailableVersion: Int, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws {
        _ = try await access.authorize(.administer, in: workspaceID, principal: principal, action: .purged, origin: origin)
        try Self.validateName(name)
        try await database.write { db in
            var key = try await self.find(name, in: workspaceID, on: db)
            let minEncryption = key.minEncryptionVersion == 0 ? key.latestVersion : key.minEncryptionVersion
            guard minAvailableVersion >= 1 else { throw CofferError.validation("min_available_version must be 1 or more") }
            guard minAvailableVersion <= key.minDecryptionVersion else {
                throw CofferError.validation("cannot set min_available_version above min_decryption_version")
            }
            guard minAvailableVersion <= minEncryption else {
                throw CofferError.validation("cannot set min_available_version above min_encryption_version")
            }
            guard minAvailableVersion >= key.minAvailableVersion else {
                throw CofferError.validation("min_available_version cannot go back to trimmed versions")
            }
            key.minAvailableVersion = minAvailableVersion
            key.updatedAt = self.clock().millis
            try await self.keys.trim(workspaceID: workspaceID, name: name, below: minAvailableVersion, on: db)
            try await self.keys.update(key, on: db)
            try await self.audit.append(
                [
                    self.event(
                        .purged, key: name, in: workspaceID, by: principal, origin: origin,
                        ["min_available_version": .number(Double(minAvailableVersion))])
                ], on: db)
        }
        // Trimmed key material leaves the store's files too.
        try await database.compact()
    }

    /// Deletes a key and every version, if its configuration allows deletion.
    public func deleteKey(
        _ name: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws {
        _ = try await access.authorize(.administer, in: workspaceID, principal: principal, action: .purged, origin: origin)
        try Self.validateName(name)
        try await database.write { db in
            let key = try await self.find(name, in: workspaceID, on: db)
            guard key.deletionAllowed else { throw CofferError.validation("deletion is not allowed for this key") }
            try await self.keys.delete(workspaceID: workspaceID, name: name, on: db)
            try await self.audit.append(
                [self.event(.purged, key: name, in: workspaceID, by: principal, origin: origin, ["deleted": true])],
                on: db)
        }
        try await database.compact()
    }

    // MARK: Cryptography

    private func checkBatch(_ items: [TransitItem]) throws {
        guard (1...Self.maxBatch).contains(items.count) else {
            throw CofferError.validation("a request holds 1 to \(Self.maxBatch) items")
        }
    }

    private static func decode(_ base64: String?, field: String) throws(TransitItemError) -> [UInt8] {
        guard let base64, !base64.isEmpty else { return [] }
        guard let bytes = Base64.decode(base64) else { throw TransitItemError("failed to base64-decode \(field)") }
        return bytes
    }

    private struct TransitItemError: Error { let message: String; init(_ m: String) { message = m } }

    /// Runs `body` on each item with the key's record, writes the request's one audit record durably, and returns
    /// the results. When `create` is set and the caller is an admin, a missing key is made first (Vault's upsert).
    private func run(
        _ action: AuditAction, key name: String, items: [TransitItem], create: Bool, in workspaceID: String,
        by principal: Principal, origin: RequestOrigin,
        _ body: @Sendable (TransitItem, TransitKeyVersions) async throws -> TransitResult
    ) async throws -> [TransitResult] {
        let role = try await access.authorize(.read, in: workspaceID, principal: principal, action: action, origin: origin)
        try Self.validateName(name)
        try checkBatch(items)
        var key = try await database.read { db in try await self.keys.find(workspaceID: workspaceID, name: name, on: db) }
        if key == nil, create, role.allows(.administer) {
            key = try await database.write { db in
                try await self.create(name, in: workspaceID, by: principal, origin: origin, on: db)
            }
        }
        guard let key else {
            try await audit.appendDurably(
                event(action, key: name, in: workspaceID, by: principal, origin: origin, success: false, ["reason": "not_found"]))
            throw CofferError(.transitKeyNotFound, "encryption key not found")
        }
        let results: [TransitResult]
        do {
            results = try await readItems(items, key: key, body)
        } catch {
            // A failure beyond the items' own (the store, the key provider): still one audited record.
            try await audit.appendDurably(
                event(action, key: name, in: workspaceID, by: principal, origin: origin, success: false, ["reason": "error"]))
            throw error
        }
        var versions = Set<Int>()
        var failed = 0
        for result in results {
            switch result {
            case .success(_, let version): versions.insert(version)
            case .failure: failed += 1
            }
        }
        try await audit.appendDurably(
            event(
                action, key: name, in: workspaceID, by: principal, origin: origin, success: failed < results.count,
                [
                    "items": .number(Double(results.count)), "failed": .number(Double(failed)),
                    "versions": .array(versions.sorted().map { .number(Double($0)) }),
                ]))
        return results
    }

    /// Runs `body` over the items in one read; an item's own failure (its input, its ciphertext) is its result.
    private func readItems(
        _ items: [TransitItem], key: TransitKeyRecord,
        _ body: @Sendable (TransitItem, TransitKeyVersions) async throws -> TransitResult
    ) async throws -> [TransitResult] {
        try await database.read { db in
            let versions = TransitKeyVersions(key, keyring: self.keyring, on: db)
            var results: [TransitResult] = []
            results.reserveCapacity(items.count)
            for item in items {
                do {
                    results.append(try await body(item, versions))
                } catch let error as TransitItemError {
                    results.append(.failure(error.message))
                } catch let error as CofferError where [.invalidCiphertext, .validationFailed].contains(error.code) {
                    results.append(.failure(error.publicMessage))
                }
            }
            return results
        }
    }

    /// The version an item encrypts with: the latest unless it names one allowed by the key's bounds.
    private static func encryptionVersion(_ item: TransitItem, _ key: TransitKeyRecord) throws(TransitItemError) -> Int {
        let requested = item.keyVersion ?? 0
        if requested == 0 { return key.latestVersion }
        guard requested <= key.latestVersion else { throw TransitItemError("requested version for encryption is higher than the latest key version") }
        guard requested >= max(key.minEncryptionVersion, key.minAvailableVersion) else {
            throw TransitItemError("requested version for encryption is less than the minimum encryption key version")
        }
        return requested
    }

    /// Encrypts base64 plaintexts.
    public func encrypt(
        _ items: [TransitItem], key name: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> [TransitResult] {
        try await run(.encrypted, key: name, items: items, create: true, in: workspaceID, by: principal, origin: origin) {
            item, versions in
            let plaintext = try Self.decode(item.input, field: "plaintext")
            guard plaintext.count <= Self.maxPlaintextBytes else { throw TransitItemError("plaintext is too large") }
            let aad = try Self.decode(item.associatedData, field: "associated_data")
            let version = try Self.encryptionVersion(item, versions.key)
            let text = try await self.keyring.transitEncrypt(plaintext, version: version, aad: aad, with: versions)
            return .success(text, keyVersion: version)
        }
    }

    /// Decrypts ciphertexts to base64 plaintexts.
    public func decrypt(
        _ items: [TransitItem], key name: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> [TransitResult] {
        try await run(.decrypted, key: name, items: items, create: false, in: workspaceID, by: principal, origin: origin) {
            item, versions in
            let aad = try Self.decode(item.associatedData, field: "associated_data")
            var (plaintext, version) = try await self.keyring.transitDecrypt(item.input, aad: aad, with: versions)
            defer { plaintext.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
            return .success(Base64.encode(plaintext), keyVersion: version)
        }
    }

    /// Decrypts ciphertexts and encrypts them again with the latest (or the named) version, without returning
    /// the plaintext.
    public func rewrap(
        _ items: [TransitItem], key name: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> [TransitResult] {
        try await run(.rewrapped, key: name, items: items, create: false, in: workspaceID, by: principal, origin: origin) {
            item, versions in
            let aad = try Self.decode(item.associatedData, field: "associated_data")
            var (plaintext, _) = try await self.keyring.transitDecrypt(item.input, aad: aad, with: versions)
            defer { plaintext.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
            let version = try Self.encryptionVersion(item, versions.key)
            let text = try await self.keyring.transitEncrypt(plaintext, version: version, aad: aad, with: versions)
            return .success(text, keyVersion: version)
        }
    }

    /// A fresh random data key of `bits` (128, 256 or 512), encrypted by the transit key; its plaintext too when
    /// `includePlaintext`.
    public func dataKey(
        key name: String, bits: Int, includePlaintext: Bool, associatedData: String?, in workspaceID: String,
        by principal: Principal, origin: RequestOrigin
    ) async throws -> TransitDataKey {
        guard [128, 256, 512].contains(bits) else { throw CofferError.validation("bits must be 128, 256 or 512") }
        var material = SecureRandom.bytes(bits / 8)
        defer { material.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
        let encoded = Base64.encode(material)
        let results = try await run(
            .encrypted, key: name, items: [TransitItem(input: encoded, associatedData: associatedData)], create: false,
            in: workspaceID, by: principal, origin: origin
        ) { item, versions in
            let aad = try Self.decode(item.associatedData, field: "associated_data")
            let text = try await self.keyring.transitEncrypt(
                try Self.decode(item.input, field: "plaintext"), version: versions.key.latestVersion, aad: aad,
                with: versions)
            return .success(text, keyVersion: versions.key.latestVersion)
        }
        switch results[0] {
        case .success(let ciphertext, let version):
            return TransitDataKey(plaintext: includePlaintext ? encoded : nil, ciphertext: ciphertext, keyVersion: version)
        case .failure(let message):
            throw CofferError.validation(message)
        }
    }
}
