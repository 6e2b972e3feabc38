import CofferCrypto
import Crypto
import Foundation

/// A key backend that wraps and unwraps data keys (seed 004's encryption backends).
///
/// Guarantees expected of every implementation:
/// - `unwrap` returns a key only if `wrapped` was produced by `wrap` of this backend's key with the same
///   `context`; otherwise it throws ``KeyError/Code-swift.struct/unwrapFailed``.
/// - No key material appears in errors, logs or `description`s.
public protocol KeyProvider: Sendable {
    /// The backend's name as seed 004 spells it (`fernet`, `aws_kms`, `vault`).
    var name: String { get }
    /// A non-secret identifier of the key in use.
    var keyID: String { get }
    /// Encrypts a data key, binding it to `context`.
    func wrap(_ key: SymmetricKey, context: String) async throws -> Data
    /// Decrypts a data key wrapped for `context`.
    func unwrap(_ wrapped: Data, context: String) async throws -> SymmetricKey
    /// Whether the backend can wrap and unwrap right now.
    func checkHealth() async -> Bool
}

/// Wraps data keys with a local 256-bit master key (seed 004's `fernet` backend, here AES-256-GCM).
///
/// The master key itself never encrypts data: a key-encryption key is derived from it with HKDF
/// (`coffer:kek:v1`), so other purposes can derive independent keys from the same master.
public struct LocalKeyProvider: KeyProvider {
    public let name = "fernet"
    public let keyID: String
    private let kek: SymmetricKey

    public init(masterKey: SymmetricKey) {
        self.kek = KeyDerivation.hkdf(masterKey, purpose: "coffer:kek:v1")
        self.keyID = "local:" + KeyMaterial.fingerprint(masterKey)
    }

    public func wrap(_ key: SymmetricKey, context: String) throws -> Data {
        do {
            return try key.withUnsafeBytes { bytes in
                Data(try Envelope.seal(bytes, using: kek, keyVersion: 1, authenticating: Array(context.utf8)))
            }
        } catch {
            throw KeyError(.providerUnavailable, "The local master key could not wrap a data key.")
        }
    }

    public func unwrap(_ wrapped: Data, context: String) throws -> SymmetricKey {
        do {
            var bytes = try Envelope.open(wrapped, using: kek, authenticating: Array(context.utf8))
            defer { KeyMaterial.wipe(&bytes) }
            return SymmetricKey(data: bytes)
        } catch {
            throw KeyError(.unwrapFailed, "A data key could not be unwrapped with the configured master key.")
        }
    }

    public func checkHealth() -> Bool {
        let probe = KeyMaterial.generate()
        guard let wrapped = try? wrap(probe, context: "coffer:health"),
            let back = try? unwrap(wrapped, context: "coffer:health")
        else { return false }
        return back == probe
    }
}

/// The pause before a remote key provider's retry: full jitter over an exponential cap (100 ms, 200 ms, 400 ms …,
/// at most 2 s), so that many instances retrying at once spread out.
public enum ProviderBackoff {
    public static func pause(beforeAttempt attempt: Int) async {
        guard attempt > 0 else { return }
        let cap = min(2_000, 100 << min(attempt - 1, 5))
        try? await Task.sleep(for: .milliseconds(Int.random(in: 0...cap)))
    }
}
