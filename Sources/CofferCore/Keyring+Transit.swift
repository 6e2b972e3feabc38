import CofferCrypto
import CofferKeys
import CofferStore
import Crypto
import Foundation
import SQLKit

/// Transit keys: workspace keys that encrypt callers' data and never leave the server.
///
/// Guarantees (beside the keyring's own):
/// - Each version is a random 256-bit key stored only wrapped by the key provider, bound to
///   `coffer:transit:<workspace>:<name>:<version>`; a master-key rewrap rewraps them with the data keys.
/// - Ciphertexts are Vault's `aes256-gcm96` (``TransitCiphertext``); a ciphertext that does not authenticate, or
///   names a version that is not stored, yields `invalid_ciphertext` and no plaintext.
/// - Unwrapped versions are cached under the key's generation (its creation time), so a key deleted and made
///   again under the same name on another instance is never served from here; a version is cached only once it
///   has been read back from the store, never from inside the transaction that creates it (which may roll back).
extension Keyring {
    static func transitContext(workspaceID: String, name: String, version: Int) -> String {
        "coffer:transit:\(workspaceID):\(name):\(version)"
    }

    private static func cacheName(_ key: TransitKeyRecord, version: Int) -> String {
        "transit:\(key.workspaceId):\(key.name):\(key.createdAt):\(version)"
    }

    /// Makes and stores version `version` of a transit key, wrapped by the provider.
    func createTransitKeyVersion(_ key: TransitKeyRecord, version: Int, at time: Date, on db: any SQLDatabase) async throws {
        let material = KeyMaterial.generate()
        let wrapped = try await wrap(
            material, context: Self.transitContext(workspaceID: key.workspaceId, name: key.name, version: version))
        try await transitKeys.insertVersion(
            TransitKeyVersionRecord(
                workspaceId: key.workspaceId, name: key.name, version: version, wrappedKey: wrapped,
                provider: provider.name, keyId: provider.keyID, createdAt: time.millis),
            on: db)
    }

    /// A version of a transit key, from the cache or unwrapped from its record; `nil` if it is not stored.
    fileprivate func transitKey(_ key: TransitKeyRecord, version: Int, on db: any SQLDatabase) async throws -> EnvelopeKey? {
        let cacheName = Self.cacheName(key, version: version)
        if let cached = cached(cacheName) { return cached }
        guard let record = try await transitKeys.version(version, workspaceID: key.workspaceId, name: key.name, on: db)
        else { return nil }
        let material: SymmetricKey
        do {
            material = try await Self.unwrap(
                record.wrappedKey,
                context: Self.transitContext(workspaceID: key.workspaceId, name: key.name, version: version),
                with: provider(named: record.provider, keyID: record.keyId))
        } catch let error as KeyError where error.code == .unwrapFailed {
            throw CofferError(.integrityCheckFailed, "A stored transit key failed its integrity check.")
        }
        let prepared = try EnvelopeKey(material)
        remember(prepared, as: cacheName)
        return prepared
    }

    /// Encrypts with version `version` of a transit key: Vault's `vault:v<N>:…` text.
    func transitEncrypt(
        _ plaintext: [UInt8], version: Int, aad: [UInt8], with versions: TransitKeyVersions
    ) async throws -> String {
        guard let prepared = try await versions.prepared(version) else {
            throw CofferError(.validationFailed, "requested version for encryption is not available")
        }
        return TransitCiphertext.text(
            version: version, sealed: try TransitCiphertext.seal(plaintext, using: prepared, authenticating: aad))
    }

    /// Decrypts a `vault:v<N>:…` text whose version the key's bounds allow (at least `min_decryption_version`,
    /// not trimmed away); returns the plaintext and N.
    func transitDecrypt(
        _ ciphertext: String, aad: [UInt8], with versions: TransitKeyVersions
    ) async throws -> (plaintext: [UInt8], version: Int) {
        let key = versions.key
        let minimumVersion = max(key.minDecryptionVersion, key.minAvailableVersion)
        let parsed: (version: Int, sealed: [UInt8])
        do {
            parsed = try TransitCiphertext.parse(ciphertext)
        } catch {
            throw CofferError(.invalidCiphertext, "invalid ciphertext: expected vault:v<N>:<base64>")
        }
        guard parsed.version >= minimumVersion else {
            throw CofferError(.invalidCiphertext, "ciphertext or signature version is disallowed by policy (too old)")
        }
        guard parsed.version <= key.latestVersion,
            let prepared = try await versions.prepared(parsed.version)
        else {
            throw CofferError(.invalidCiphertext, "invalid ciphertext: no key version \(parsed.version)")
        }
        do {
            return (try TransitCiphertext.open(parsed.sealed, using: prepared, authenticating: aad), parsed.version)
        } catch {
            throw CofferError(.invalidCiphertext, "cipher: message authentication failed")
        }
    }
}

/// The versions of one transit key that one request uses, each looked up in the keyring once per request rather
/// than once per item (a batch's items mostly share one version). Used by one task, inside one read.
final class TransitKeyVersions {
    let key: TransitKeyRecord
    private let keyring: Keyring
    private let db: any SQLDatabase
    private var found: [Int: EnvelopeKey] = [:]

    init(_ key: TransitKeyRecord, keyring: Keyring, on db: any SQLDatabase) {
        self.key = key
        self.keyring = keyring
        self.db = db
    }

    /// Version `version`, prepared for AES-GCM; `nil` if it is not stored.
    func prepared(_ version: Int) async throws -> EnvelopeKey? {
        if let known = found[version] { return known }
        let prepared = try await keyring.transitKey(key, version: version, on: db)
        if let prepared { found[version] = prepared }
        return prepared
    }
}
