import Crypto
import CryptoExtras
import Foundation

/// Fernet (https://github.com/fernet/spec), byte-compatible with Python `cryptography`'s `Fernet`.
///
/// Guarantees:
/// - A token is `0x80 ‖ timestamp (8 bytes, big-endian seconds) ‖ IV (16) ‖ AES-128-CBC ciphertext (PKCS#7) ‖
///   HMAC-SHA256 (32)`, url-safe base64 with padding; the HMAC covers everything before it and is checked in
///   constant time before anything is decrypted.
/// - `decrypt` yields plaintext only for an authentic token; a tampered, truncated or foreign token, or one
///   older than `ttl`, fails with ``CryptoError/Code-swift.struct/invalidSignature`` or
///   ``CryptoError/Code-swift.struct/malformedToken`` (Python's `InvalidToken`), never with garbage.
/// - As in Python, a token stamped more than 60 seconds in the future is refused when a TTL is given.
public struct Fernet: Sendable {
    private let signingKey: SymmetricKey
    private let encryptionKey: SymmetricKey

    /// Clock skew tolerated for tokens from the future when a TTL is checked (Python: 60 s).
    public static let maxClockSkew: Int64 = 60

    /// A key from its text form: url-safe base64 of 32 bytes (what `Fernet.generate_key()` prints).
    public init(key text: String) throws(CryptoError) {
        try self.init(key: KeyMaterial.parseKey(text))
    }

    /// A key of 32 bytes: the first 16 sign, the last 16 encrypt.
    public init(key: SymmetricKey) throws(CryptoError) {
        guard key.bitCount == 256 else { throw CryptoError(.invalidKey) }
        let bytes = key.withUnsafeBytes { Array($0) }
        signingKey = SymmetricKey(data: bytes[0..<16])
        encryptionKey = SymmetricKey(data: bytes[16..<32])
    }

    /// A fresh key, in the text form Python prints.
    public static func generateKey() -> String { KeyMaterial.encode(KeyMaterial.generate()) }

    /// Encrypts with a random IV and the current time.
    public func encrypt(_ plaintext: some DataProtocol) throws(CryptoError) -> String {
        try encrypt(plaintext, at: Int64(Date().timeIntervalSince1970), iv: KeyMaterial.randomBytes(16))
    }

    /// Encrypts with a given time and IV: for the spec's known-answer vectors only.
    public func encrypt(_ plaintext: some DataProtocol, at timestamp: Int64, iv: [UInt8]) throws(CryptoError) -> String {
        guard iv.count == 16 else { throw CryptoError(.invalidParameter) }
        let ciphertext: Data
        do {
            ciphertext = try AES._CBC.encrypt(plaintext, using: encryptionKey, iv: AES._CBC.IV(ivBytes: iv))
        } catch {
            throw CryptoError(.invalidKey)
        }
        var token: [UInt8] = [0x80]
        token.reserveCapacity(57 + ciphertext.count)
        for shift in stride(from: 56, through: 0, by: -8) { token.append(UInt8(truncatingIfNeeded: timestamp >> Int64(shift))) }
        token += iv
        ciphertext.withUnsafeBytes { token.append(contentsOf: $0) }
        HMAC<SHA256>.authenticationCode(for: token, using: signingKey).withUnsafeBytes { token.append(contentsOf: $0) }
        return Base64.encode(token, urlSafe: true, padded: true)
    }

    /// The timestamp a token carries, after checking it is authentic under this key.
    public func timestamp(of token: String) throws(CryptoError) -> Int64 {
        try authenticate(token).timestamp
    }

    /// Decrypts an authentic token; with `ttl` (seconds), also refuses tokens older than that (or from the future).
    public func decrypt(_ token: String, ttl: Int64? = nil, now: Int64 = Int64(Date().timeIntervalSince1970)) throws(CryptoError) -> [UInt8] {
        let (timestamp, bytes) = try authenticate(token)
        if let ttl {
            guard timestamp + ttl >= now, timestamp <= now + Self.maxClockSkew else {
                throw CryptoError(.invalidSignature)
            }
        }
        do {
            let iv = try AES._CBC.IV(ivBytes: bytes[9..<25])
            return Array(try AES._CBC.decrypt(bytes[25..<(bytes.count - 32)], using: encryptionKey, iv: iv))
        } catch {
            throw CryptoError(.malformedToken)
        }
    }

    private func authenticate(_ token: String) throws(CryptoError) -> (timestamp: Int64, bytes: [UInt8]) {
        // Python accepts url-safe base64 only (with or without surrounding white space it strips nothing).
        guard token.utf8.allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "/") }),
            let bytes = Base64.decode(token), bytes.count >= 73, (bytes.count - 57) % 16 == 0, bytes[0] == 0x80
        else { throw CryptoError(.malformedToken) }
        let body = bytes[0..<(bytes.count - 32)]
        guard HMAC<SHA256>.isValidAuthenticationCode(bytes[(bytes.count - 32)...], authenticating: body, using: signingKey)
        else { throw CryptoError(.invalidSignature) }
        let timestamp = bytes[1..<9].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        return (timestamp, bytes)
    }
}

/// Several Fernet keys (Python's `MultiFernet`): encrypts with the first, decrypts with any, and rotates tokens
/// to the first key keeping their original timestamp.
public struct MultiFernet: Sendable {
    public let keys: [Fernet]

    public init(_ keys: [Fernet]) throws(CryptoError) {
        guard !keys.isEmpty else { throw CryptoError(.invalidParameter) }
        self.keys = keys
    }

    public func encrypt(_ plaintext: some DataProtocol) throws(CryptoError) -> String { try keys[0].encrypt(plaintext) }

    /// Decrypts with the first key under which the token is authentic (and, with `ttl`, fresh enough).
    public func decrypt(_ token: String, ttl: Int64? = nil, now: Int64 = Int64(Date().timeIntervalSince1970)) throws(CryptoError) -> [UInt8] {
        for key in keys {
            if let plaintext = try? key.decrypt(token, ttl: ttl, now: now) { return plaintext }
        }
        throw CryptoError(.invalidSignature)
    }

    /// Re-encrypts a token under the first key, keeping its timestamp (Python's `MultiFernet.rotate`).
    public func rotate(_ token: String) throws(CryptoError) -> String {
        for key in keys {
            guard let timestamp = try? key.timestamp(of: token) else { continue }
            let plaintext = try key.decrypt(token)
            return try keys[0].encrypt(plaintext, at: timestamp, iv: KeyMaterial.randomBytes(16))
        }
        throw CryptoError(.invalidSignature)
    }
}

