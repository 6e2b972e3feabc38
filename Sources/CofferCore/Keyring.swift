import CofferCrypto
import CofferKeys
import CofferStore
import Crypto
import Foundation
import SQLKit
import Synchronization

/// The barrier: every encryption and decryption of stored data passes through here, and nothing else in Coffer
/// calls AES.
///
/// Guarantees:
/// - Each workspace has its own random 256-bit data key (DEK), stored only wrapped by the key provider, bound to
///   `coffer:dek:<workspace>:<version>`; nothing decrypts across workspaces.
/// - A secret value is sealed with its workspace's active DEK and the associated data
///   `coffer:secret:<workspace>:<secret>:<version>`: a ciphertext altered by one byte, or moved onto another
///   secret, version or workspace, fails with `integrity_check_failed` and yields no plaintext.
/// - Unwrapped DEKs are cached in memory (bounded), prepared for AES-GCM as ``EnvelopeKey``s, whose memory BoringSSL
///   zeroes when they are released.
public final class Keyring: Sendable {
    /// The provider new keys are wrapped with.
    public let provider: any KeyProvider
    /// Other configured providers: stored keys wrapped by one of them (a store moving custody) still unwrap.
    let others: [any KeyProvider]
    private let keys = KeyRepository()
    let transitKeys = TransitKeyRepository()
    private let cache = Mutex<[String: EnvelopeKey]>([:])
    private let cacheCapacity: Int

    public init(provider: any KeyProvider, others: [any KeyProvider] = [], cacheCapacity: Int = 10_000) {
        self.provider = provider
        self.others = others
        self.cacheCapacity = cacheCapacity
    }

    /// The provider that wrapped a stored key, from the name and key id its record keeps: the current one, else a
    /// configured other, else the current one (whose unwrap then fails as it should).
    func provider(named name: String, keyID: String) -> any KeyProvider {
        if provider.name == name, provider.keyID == keyID { return provider }
        return others.first { $0.name == name && $0.keyID == keyID } ?? others.first { $0.name == name }
            ?? provider
    }

    /// Unwraps with `provider`, as the domain's errors: a key provider that cannot be reached is
    /// `key_provider_unavailable` (503); a wrapping that does not authenticate is rethrown as `KeyError`
    /// `unwrapFailed` for the caller to judge.
    static func unwrap(
        _ wrapped: Data, context: String, with provider: any KeyProvider
    ) async throws -> SymmetricKey {
        do {
            return try await provider.unwrap(wrapped, context: context)
        } catch let error as KeyError where error.code == .unwrapFailed {
            throw error
        } catch let error as KeyError {
            throw CofferError(.keyProviderUnavailable, error.publicMessage)
        }
    }

    static func dekContext(workspaceID: String, version: Int) -> String { "coffer:dek:\(workspaceID):\(version)" }

    static func secretAAD(workspaceID: String, secretID: String, version: Int) -> [UInt8] {
        Array("coffer:secret:\(workspaceID):\(secretID):\(version)".utf8)
    }

    /// Creates and stores a new random DEK version for a workspace, wrapped by the provider.
    func createWorkspaceKey(workspaceID: String, version: Int, at time: Date, on db: any SQLDatabase) async throws {
        let dek = KeyMaterial.generate()
        let wrapped = try await wrap(dek, context: Self.dekContext(workspaceID: workspaceID, version: version))
        try await keys.insert(
            WorkspaceKeyRecord(
                workspaceId: workspaceID, version: version, wrappedKey: wrapped, provider: provider.name,
                keyId: provider.keyID, state: .active, createdAt: time.millis),
            on: db)
        remember(try EnvelopeKey(dek), workspaceID: workspaceID, version: version)
    }

    /// Seals a value for a secret version with the workspace's active DEK; returns the envelope and DEK version.
    func seal(
        _ value: String, workspaceID: String, secretID: String, version: Int, on db: any SQLDatabase
    ) async throws -> (ciphertext: Data, dekVersion: Int) {
        guard let record = try await keys.active(workspaceID: workspaceID, on: db) else {
            throw CofferError(.internalError, "The workspace has no active data key.")
        }
        let dek = try await dataKey(record)
        let aad = Self.secretAAD(workspaceID: workspaceID, secretID: secretID, version: version)
        let envelope = try Envelope.seal(
            Array(value.utf8), using: dek, keyVersion: UInt32(record.version), authenticating: aad)
        return (Data(envelope), record.version)
    }

    /// Opens a stored secret version.
    /// - Throws: `integrity_check_failed` if the ciphertext, its DEK or its binding to workspace, secret and
    ///   version does not authenticate.
    func open(_ stored: SecretVersionRecord, workspaceID: String, on db: any SQLDatabase) async throws -> String {
        try await open(stored, workspaceID: workspaceID) { version in
            try await dataKey(workspaceID: workspaceID, version: version, on: db)
        }
    }

    /// As ``open(_:workspaceID:on:)``, outside a transaction: the data key's record is read through `database`
    /// only when the key is not in memory, so a read whose key is cached takes no second read of the store.
    func open(_ stored: SecretVersionRecord, workspaceID: String, reading database: any CofferDatabase) async throws -> String {
        try await open(stored, workspaceID: workspaceID) { version in
            if let cached = cached(workspaceID: workspaceID, version: version) { return cached }
            return try await database.read { db in
                try await self.dataKey(workspaceID: workspaceID, version: version, on: db)
            }
        }
    }

    private func open(
        _ stored: SecretVersionRecord, workspaceID: String, key: (Int) async throws -> EnvelopeKey?
    ) async throws -> String {
        let integrityError = CofferError(
            .integrityCheckFailed, "The stored value failed its integrity check; it was not returned.")
        let aad = Self.secretAAD(workspaceID: workspaceID, secretID: stored.secretId, version: stored.version)
        let plaintext = try await unseal(
            stored.ciphertext, dekVersion: stored.dekVersion, aad: aad, integrityError: integrityError, key: key)
        guard let text = String(validating: plaintext, as: UTF8.self) else { throw integrityError }
        return text
    }

    /// Re-seals stale versions under their workspace's `targetVersion` (same binding, same value bytes), for the
    /// re-encryption job. Each version is authenticated first, exactly as ``open(_:workspaceID:on:)`` does.
    ///
    /// A version that does not authenticate (tampered with, or its data key's wrapping) is not re-sealed and is
    /// returned in `failed`: it stays as it is, under its old key, and the rest of the batch goes on. One damaged
    /// row must not stop a key rotation for every other secret.
    /// - Throws: when a key cannot be had at all (the provider is unavailable, the target key is missing).
    func reseal(
        _ stale: [StaleVersion], on db: any SQLDatabase
    ) async throws -> (resealed: [ResealedVersion], failed: [StaleVersion]) {
        let integrityError = CofferError(
            .integrityCheckFailed, "A stored value failed its integrity check during re-encryption.")
        var resealed: [ResealedVersion] = []
        resealed.reserveCapacity(stale.count)
        var failed: [StaleVersion] = []
        // Versions of one workspace come in runs: look each key up once a run, not once a version.
        var source: (workspace: String, version: Int, key: EnvelopeKey)?
        var target: (workspace: String, version: Int, key: EnvelopeKey)?
        for version in stale {
            let aad = Self.secretAAD(workspaceID: version.workspaceId, secretID: version.secretId, version: version.version)
            var plaintext: [UInt8]
            do {
                plaintext = try await unseal(
                    version.ciphertext, dekVersion: version.dekVersion, aad: aad, integrityError: integrityError
                ) { dekVersion in
                    if let source, source.workspace == version.workspaceId, source.version == dekVersion {
                        return source.key
                    }
                    let key = try await dataKey(workspaceID: version.workspaceId, version: dekVersion, on: db)
                    source = key.map { (version.workspaceId, dekVersion, $0) }
                    return key
                }
            } catch let error as CofferError where error.code == .integrityCheckFailed {
                failed.append(version)
                continue
            }
            defer { plaintext.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
            if target?.workspace != version.workspaceId || target?.version != version.targetVersion {
                guard let key = try await dataKey(workspaceID: version.workspaceId, version: version.targetVersion, on: db)
                else { throw CofferError(.internalError, "The target data key is missing.") }
                target = (version.workspaceId, version.targetVersion, key)
            }
            let envelope = try Envelope.seal(
                plaintext, using: target!.key, keyVersion: UInt32(version.targetVersion), authenticating: aad)
            resealed.append(
                ResealedVersion(
                    position: version.position, fromDEK: version.dekVersion, ciphertext: Data(envelope),
                    dekVersion: version.targetVersion))
        }
        return (resealed, failed)
    }

    /// The plaintext of a stored envelope. Its header must name `dekVersion`, and it must authenticate under that
    /// data key (from `key`) and `aad`; otherwise `integrityError` is thrown and nothing is returned. A data key
    /// whose wrapping does not authenticate counts as the same failure. The one integrity check of stored values,
    /// for reads and for re-encryption alike.
    private func unseal(
        _ ciphertext: Data, dekVersion: Int, aad: [UInt8], integrityError: CofferError,
        key: (Int) async throws -> EnvelopeKey?
    ) async throws -> [UInt8] {
        guard let named = try? Envelope.keyVersion(of: ciphertext), Int(named) == dekVersion else { throw integrityError }
        let dek: EnvelopeKey?
        do {
            dek = try await key(dekVersion)
        } catch let error as KeyError where error.code == .unwrapFailed {
            throw integrityError
        }
        guard let dek, let plaintext = try? Envelope.open(ciphertext, using: dek, authenticating: aad)
        else { throw integrityError }
        return plaintext
    }

    /// Re-wraps every stored data key, and the instance key, from `old` to this keyring's provider, in the
    /// caller's transaction: O(workspaces), no secret is re-encrypted. Returns how many data keys were rewrapped.
    func rewrapAll(from old: any KeyProvider, instanceKey: SymmetricKey, on db: any SQLDatabase) async throws -> Int {
        let all = try await keys.all(on: db)
        for record in all { try await rewrap(record, from: old, on: db) }
        for version in try await transitKeys.allVersions(on: db) { try await rewrap(version, from: old, on: db) }
        return all.count
    }

    /// Rewraps one data key from `source` to this keyring's provider.
    private func rewrap(_ record: WorkspaceKeyRecord, from source: any KeyProvider, on db: any SQLDatabase) async throws {
        let context = Self.dekContext(workspaceID: record.workspaceId, version: record.version)
        let key = try await Self.unwrap(record.wrappedKey, context: context, with: source)
        try await keys.rewrap(
            workspaceID: record.workspaceId, version: record.version, wrappedKey: try await wrap(key, context: context),
            provider: provider.name, keyID: provider.keyID, on: db)
    }

    /// Rewraps one transit key version from `source` to this keyring's provider.
    private func rewrap(_ version: TransitKeyVersionRecord, from source: any KeyProvider, on db: any SQLDatabase) async throws {
        var version = version
        let context = Self.transitContext(workspaceID: version.workspaceId, name: version.name, version: version.version)
        let key = try await Self.unwrap(version.wrappedKey, context: context, with: source)
        version.wrappedKey = try await wrap(key, context: context)
        version.provider = provider.name
        version.keyId = provider.keyID
        try await transitKeys.rewrap(version, on: db)
    }

    /// Rewraps up to `limit` stored keys (data keys, then transit keys) that another provider wrapped, under this
    /// keyring's provider, in the caller's transaction; returns how many. Run until it returns 0 to move custody:
    /// each batch commits on its own, so an interrupted move resumes where it stopped. No secret is re-encrypted.
    func rewrapForeign(limit: Int, on db: any SQLDatabase) async throws -> Int {
        var done = 0
        for record in try await keys.all(on: db) where done < limit {
            guard record.provider != provider.name || record.keyId != provider.keyID else { continue }
            try await rewrap(record, from: provider(named: record.provider, keyID: record.keyId), on: db)
            done += 1
        }
        for version in try await transitKeys.allVersions(on: db) where done < limit {
            guard version.provider != provider.name || version.keyId != provider.keyID else { continue }
            try await rewrap(version, from: provider(named: version.provider, keyID: version.keyId), on: db)
            done += 1
        }
        return done
    }

    /// Wraps an instance-level key (audit MAC key) under the provider.
    func wrap(_ key: SymmetricKey, context: String) async throws -> Data {
        do {
            return try await provider.wrap(key, context: context)
        } catch let error as KeyError {
            throw CofferError(.keyProviderUnavailable, error.publicMessage)
        }
    }

    /// A workspace's data key of one version: from the cache, else unwrapped from its record; `nil` if none is
    /// stored.
    private func dataKey(workspaceID: String, version: Int, on db: any SQLDatabase) async throws -> EnvelopeKey? {
        if let cached = cached(workspaceID: workspaceID, version: version) { return cached }
        guard let record = try await keys.find(workspaceID: workspaceID, version: version, on: db) else { return nil }
        return try await dataKey(record)
    }

    private func dataKey(_ record: WorkspaceKeyRecord) async throws -> EnvelopeKey {
        if let cached = cached(workspaceID: record.workspaceId, version: record.version) { return cached }
        let dek = try await Self.unwrap(
            record.wrappedKey, context: Self.dekContext(workspaceID: record.workspaceId, version: record.version),
            with: provider(named: record.provider, keyID: record.keyId))
        let prepared = try EnvelopeKey(dek)
        remember(prepared, workspaceID: record.workspaceId, version: record.version)
        return prepared
    }

    private func cached(workspaceID: String, version: Int) -> EnvelopeKey? {
        cached("\(workspaceID):\(version)")
    }

    private func remember(_ key: EnvelopeKey, workspaceID: String, version: Int) {
        remember(key, as: "\(workspaceID):\(version)")
    }

    func cached(_ name: String) -> EnvelopeKey? {
        cache.withLock { $0[name] }
    }

    func remember(_ key: EnvelopeKey, as name: String) {
        cache.withLock { cache in
            if cache.count >= cacheCapacity { cache.removeAll(keepingCapacity: true) }
            cache[name] = key
        }
    }

}
