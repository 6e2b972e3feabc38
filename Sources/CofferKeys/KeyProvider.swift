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

/// What one attempt of a remote key provider's call came to.
public enum ProviderAttempt<Value> {
    /// The call's answer.
    case done(Value)
    /// A failure worth another attempt (no answer, throttling, a server error); reported if none is left.
    case retry(KeyError)
    /// A failure another attempt would repeat (refused credentials, a wrong key); reported at once.
    case fail(KeyError)
}

/// The attempts of one remote key-provider call (KMS, Vault): at most `attempts`, with a jittered pause before
/// each retry (full jitter over an exponential cap: 100 ms, 200 ms, 400 ms …, at most 2 s, so that many instances
/// retrying at once spread out), and all of them within one deadline, `timeout` after the call began: each
/// attempt is given only the time left, so a provider that refuses or hangs costs a caller `timeout`, not
/// `attempts` times it.
public enum ProviderBackoff {
    public static func call<Value>(
        attempts: Int, within timeout: Duration, unanswered: KeyError,
        _ attempt: (_ timeLeft: Duration) async -> ProviderAttempt<Value>
    ) async throws(KeyError) -> Value {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var lastError = unanswered
        for number in 0..<max(1, attempts) {
            if number > 0 {
                guard !Task.isCancelled else { break }
                let cap = Duration.milliseconds(min(2_000, 100 << min(number - 1, 5)))
                let pause = cap * Double.random(in: 0...1)
                guard clock.now + pause < deadline else { break }
                try? await Task.sleep(for: pause)
            }
            let left = deadline - clock.now
            guard left > .zero else { break }
            switch await attempt(left) {
            case .done(let value): return value
            case .retry(let error): lastError = error
            case .fail(let error): throw error
            }
        }
        throw lastError
    }

    /// Runs `exchange` (a request and the reading of its whole answer) for at most `time`: then it is cancelled,
    /// and ``ExchangeTimedOut`` thrown once it has ended. An HTTP client's own timeout may stop at the response's
    /// head, leaving a body that trickles or stalls unbounded.
    public static func within<T: Sendable>(
        _ time: Duration, _ exchange: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await exchange() }
            group.addTask {
                try await Task.sleep(for: time)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw ExchangeTimedOut() }
            return value
        }
    }
}

/// A key provider's exchange did not end within the time left to its call.
public struct ExchangeTimedOut: Error {}
