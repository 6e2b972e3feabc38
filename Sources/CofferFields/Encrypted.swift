import CofferCrypto
import Foundation
import Metrics

/// The keys an application's encrypted fields use (seed 003's `TOKEN_ENCRYPTION_KEY`): Fernet keys, the first
/// encrypts and any decrypts (Python's `MultiFernet` rule), so a key can be rotated without downtime.
///
/// Guarantees: tokens are byte-compatible with Python `cryptography`'s Fernet; no key appears in `description`,
/// errors or logs; with `ENVIRONMENT=production` a missing or invalid key is an error, never a generated one.
public struct FieldKeys: Sendable, CustomStringConvertible {
    let fernet: MultiFernet

    /// Url-safe base64 Fernet keys (32 bytes each), newest first.
    public init(keys: [String]) throws(FieldKeyError) {
        guard !keys.isEmpty else { throw FieldKeyError("no field encryption key given") }
        var parsed: [Fernet] = []
        for (index, key) in keys.enumerated() {
            do {
                parsed.append(try Fernet(key: key.trimmingCharacters(in: .whitespacesAndNewlines)))
            } catch {
                throw FieldKeyError("field encryption key #\(index + 1) is not a Fernet key (url-safe base64 of 32 bytes)")
            }
        }
        fernet = try! MultiFernet(parsed)
    }

    /// `TOKEN_ENCRYPTION_KEY`: one key, or several separated by commas (newest first) while rotating.
    ///
    /// With `ENVIRONMENT=production` (or `COFFER_ENV`) a missing key is an error; elsewhere a random key is made for
    /// this process only (data written with it is unreadable after a restart; fine for development and tests).
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(FieldKeyError) -> FieldKeys {
        let production = ["ENVIRONMENT", "COFFER_ENV"].contains {
            ["production", "prod"].contains(environment[$0]?.lowercased() ?? "")
        }
        guard let text = environment["TOKEN_ENCRYPTION_KEY"], !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            if production {
                throw FieldKeyError(
                    "TOKEN_ENCRYPTION_KEY is not set: in production field encryption needs an explicit key "
                        + "(generate one with `coffer keygen`)")
            }
            return try FieldKeys(keys: [Fernet.generateKey()])
        }
        do {
            return try FieldKeys(keys: text.split(separator: ",").map(String.init))
        } catch {
            throw FieldKeyError("TOKEN_ENCRYPTION_KEY: \(error.message)")
        }
    }

    /// Seeds 000 and 002's per-user key: PBKDF2-HMAC-SHA256 of `masterKey`'s text with `salt`
    /// (seed 000: `user_id:twin_id`), 100,000 rounds by default, as a Fernet key.
    public static func derived(
        masterKey: String, salt: String, iterations: Int = KeyDerivation.defaultPBKDF2Rounds
    ) throws(FieldKeyError) -> FieldKeys {
        do {
            let key = try KeyDerivation.pbkdf2(password: Array(masterKey.utf8), salt: Array(salt.utf8), rounds: iterations)
            return FieldKeys(fernet: try MultiFernet([try Fernet(key: key)]))
        } catch {
            throw FieldKeyError("the PBKDF2 parameters are not usable")
        }
    }

    init(fernet: MultiFernet) { self.fernet = fernet }

    public var description: String { "FieldKeys(\(fernet.keys.count) key(s))" }

    static let failures = Counter(label: "coffer_fields_decryption_failures")

    /// A Fernet token of `bytes` under the newest key.
    public func seal(_ bytes: [UInt8]) throws(FieldKeyError) -> String {
        do { return try fernet.encrypt(bytes) } catch { throw FieldKeyError("encryption failed") }
    }

    /// The plaintext of a token made under any of the keys; a failure is counted (`coffer_fields_decryption_failures`).
    public func open(_ token: String) throws(FieldKeyError) -> [UInt8] {
        do {
            return try fernet.decrypt(token)
        } catch {
            Self.failures.increment()
            throw FieldKeyError("a stored field does not decrypt with the configured keys")
        }
    }

    /// Re-encrypts stored tokens under the newest key (timestamps kept), for a batch job after a key is added; the
    /// old key can go once every stored token has been rotated.
    public func rotate(_ tokens: [String]) throws(FieldKeyError) -> [String] {
        var rotated: [String] = []
        rotated.reserveCapacity(tokens.count)
        for token in tokens {
            do { rotated.append(try fernet.rotate(token)) } catch {
                Self.failures.increment()
                throw FieldKeyError("a stored field does not decrypt with the configured keys")
            }
        }
        return rotated
    }

    /// The keys `Encrypted` values use in this task (`FieldKeys.$current.withValue(keys) { … }`), when the encoder
    /// or decoder does not carry them in `userInfo[.cofferFieldKeys]`.
    @TaskLocal public static var current: FieldKeys?
}

/// Why field keys could not be used; the message never holds key material.
public struct FieldKeyError: Error, Sendable, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { "FieldKeyError: \(message)" }
}

extension CodingUserInfoKey {
    /// Where `Encrypted` looks for its ``FieldKeys`` first.
    public static let cofferFieldKeys = CodingUserInfoKey(rawValue: "coffer.fieldKeys")!
}

/// A model field stored encrypted: it encodes to a Fernet token (a string) and decodes from one, with the
/// ``FieldKeys`` of the encoder's `userInfo[.cofferFieldKeys]` or of ``FieldKeys/current``.
///
/// ```swift
/// struct Account: Codable { var id: String; var oauthToken: Encrypted<String> }
/// ```
///
/// Guarantees: the value appears in no `description`, `debugDescription` or reflection; a token that does not
/// decrypt is an error (and counted), never a default value.
public struct Encrypted<Value: Codable & Sendable>: Codable, Sendable, CustomStringConvertible,
    CustomDebugStringConvertible, CustomReflectable
{
    public var value: Value

    public init(_ value: Value) { self.value = value }

    public var description: String { "Encrypted(<redacted>)" }
    public var debugDescription: String { "Encrypted(<redacted>)" }
    public var customMirror: Mirror { Mirror(self, children: []) }

    static func keys(_ userInfo: [CodingUserInfoKey: Any]) throws -> FieldKeys {
        if let keys = userInfo[.cofferFieldKeys] as? FieldKeys { return keys }
        if let keys = FieldKeys.current { return keys }
        throw FieldKeyError("no FieldKeys: pass them in userInfo[.cofferFieldKeys] or FieldKeys.$current")
    }

    public func encode(to encoder: any Encoder) throws {
        let keys = try Self.keys(encoder.userInfo)
        // Strings are stored as their bytes (what Python's Fernet(key).encrypt(b"…") holds); other values as JSON.
        let bytes: [UInt8]
        if let text = value as? String {
            bytes = Array(text.utf8)
        } else {
            bytes = Array(try JSONEncoder().encode(value))
        }
        var container = encoder.singleValueContainer()
        try container.encode(try keys.seal(bytes))
    }

    public init(from decoder: any Decoder) throws {
        let keys = try Self.keys(decoder.userInfo)
        let token = try decoder.singleValueContainer().decode(String.self)
        let bytes = try keys.open(token)
        if Value.self == String.self {
            guard let text = String(bytes: bytes, encoding: .utf8) else { throw FieldKeyError("a stored text field is not UTF-8") }
            value = text as! Value
        } else {
            value = try JSONDecoder().decode(Value.self, from: Data(bytes))
        }
    }
}
