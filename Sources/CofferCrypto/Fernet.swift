import CCryptoBoringSSL
import Crypto
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
    private let keys: FernetKeys

    /// Clock skew tolerated for tokens from the future when a TTL is checked (Python: 60 s).
    public static let maxClockSkew: Int64 = 60

    /// A key from its text form: url-safe base64 of 32 bytes (what `Fernet.generate_key()` prints).
    public init(key text: String) throws(CryptoError) {
        try self.init(key: KeyMaterial.parseKey(text))
    }

    /// A key of 32 bytes: the first 16 sign, the last 16 encrypt.
    public init(key: SymmetricKey) throws(CryptoError) {
        guard key.bitCount == 256 else { throw CryptoError(.invalidKey) }
        keys = key.withUnsafeBytes { FernetKeys($0) }
    }

    /// A fresh key, in the text form Python prints.
    public static func generateKey() -> String { KeyMaterial.encode(KeyMaterial.generate()) }

    /// Encrypts with a random IV and the current time.
    public func encrypt(_ plaintext: some DataProtocol) throws(CryptoError) -> String {
        try encrypt(plaintext, at: Int64(Date().timeIntervalSince1970), iv: SecureRandom.bytes(16))
    }

    /// Encrypts with a given time and IV: for the spec's known-answer vectors only.
    public func encrypt(_ plaintext: some DataProtocol, at timestamp: Int64, iv: [UInt8]) throws(CryptoError) -> String {
        guard iv.count == 16 else { throw CryptoError(.invalidParameter) }
        let message = plaintext as? [UInt8] ?? Array(plaintext)
        // PKCS#7: 1 to 16 bytes of padding, each holding the padding's length.
        let padded = (message.count / 16 + 1) * 16
        let bodyCount = 25 + padded
        let token = [UInt8](unsafeUninitializedCapacity: bodyCount + 32) { out, initialized in
            out[0] = 0x80
            for index in 0..<8 { out[1 + index] = UInt8(truncatingIfNeeded: timestamp >> Int64(56 - 8 * index)) }
            for index in 0..<16 { out[9 + index] = iv[index] }
            _ = UnsafeMutableBufferPointer(rebasing: out[25..<(25 + message.count)]).initialize(from: message)
            let padding = UInt8(padded - message.count)
            for index in (25 + message.count)..<bodyCount { out[index] = padding }
            keys.cbc(out.baseAddress! + 25, count: padded, iv: iv, encrypt: true)
            keys.hmac(UnsafeBufferPointer(rebasing: out[0..<bodyCount]), into: out.baseAddress! + bodyCount)
            initialized = bodyCount + 32
        }
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
        let count = bytes.count - 57
        var valid = false
        let plaintext = [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            bytes.withUnsafeBufferPointer { bytes in
                _ = UnsafeMutableBufferPointer(rebasing: out[0..<count]).initialize(from: bytes[25..<(25 + count)])
                keys.cbc(out.baseAddress!, count: count, iv: Array(bytes[9..<25]), encrypt: false)
            }
            // The token is authentic, so this is not a padding oracle; Python's `InvalidToken` all the same.
            let padding = Int(out[count - 1])
            valid = (1...16).contains(padding) && out[(count - padding)..<count].allSatisfy { $0 == UInt8(padding) }
            if valid {
                initialized = count - padding
            } else {
                out.baseAddress!.update(repeating: 0, count: count)
                initialized = 0
            }
        }
        guard valid else { throw CryptoError(.malformedToken) }
        return plaintext
    }

    private func authenticate(_ token: String) throws(CryptoError) -> (timestamp: Int64, bytes: [UInt8]) {
        // Python accepts url-safe base64 only (and strips no white space).
        guard let bytes = Base64.decode(token, urlSafeOnly: true), bytes.count >= 73, (bytes.count - 57) % 16 == 0,
            bytes[0] == 0x80
        else { throw CryptoError(.malformedToken) }
        let bodyCount = bytes.count - 32
        var expected = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBufferPointer { keys.hmac(UnsafeBufferPointer(rebasing: $0[0..<bodyCount]), into: &expected) }
        guard ConstantTime.equals(expected, bytes[bodyCount...]) else { throw CryptoError(.invalidSignature) }
        let timestamp = bytes[1..<9].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        return (timestamp, bytes)
    }
}

/// A Fernet key's two halves, prepared once: the HMAC-SHA256 signing key and the AES-128 key schedules for
/// encryption and decryption, computed by the BoringSSL that swift-crypto compiles into Coffer (see
/// ``EnvelopeKey`` for why it is called directly). All three are read-only after `init`, so one key serves any
/// number of threads, and all are zeroed when the key is released.
private final class FernetKeys: @unchecked Sendable {
    private let signing = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 16)
    private let encryption = UnsafeMutablePointer<AES_KEY>.allocate(capacity: 1)
    private let decryption = UnsafeMutablePointer<AES_KEY>.allocate(capacity: 1)

    init(_ key: UnsafeRawBufferPointer) {
        signing.copyMemory(from: UnsafeRawBufferPointer(rebasing: key[0..<16]))
        let encryptionKey = key.baseAddress!.assumingMemoryBound(to: UInt8.self) + 16
        // Only a key length other than 128, 192 or 256 bits fails.
        precondition(CCryptoBoringSSL_AES_set_encrypt_key(encryptionKey, 128, encryption) == 0)
        precondition(CCryptoBoringSSL_AES_set_decrypt_key(encryptionKey, 128, decryption) == 0)
    }

    deinit {
        signing.initializeMemory(as: UInt8.self, repeating: 0)
        signing.deallocate()
        for schedule in [encryption, decryption] {
            UnsafeMutableRawPointer(schedule).initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<AES_KEY>.size)
            schedule.deallocate()
        }
    }

    /// AES-128-CBC in place over `count` bytes (a multiple of 16).
    func cbc(_ data: UnsafeMutablePointer<UInt8>, count: Int, iv: [UInt8], encrypt: Bool) {
        var chain = iv
        CCryptoBoringSSL_AES_cbc_encrypt(data, data, count, encrypt ? encryption : decryption, &chain, encrypt ? 1 : 0)
    }

    /// HMAC-SHA256 of `message`, 32 bytes written at `output`.
    func hmac(_ message: UnsafeBufferPointer<UInt8>, into output: UnsafeMutablePointer<UInt8>) {
        var length: UInt32 = 0
        let done = CCryptoBoringSSL_HMAC(
            CCryptoBoringSSL_EVP_sha256(), signing.baseAddress, 16, message.baseAddress, message.count, output, &length)
        // Fails only if SHA-256 is missing or memory runs out.
        precondition(done != nil && length == 32, "HMAC-SHA256 failed")
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
            return try keys[0].encrypt(plaintext, at: timestamp, iv: SecureRandom.bytes(16))
        }
        throw CryptoError(.invalidSignature)
    }
}

