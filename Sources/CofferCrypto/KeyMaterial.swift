import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Generation and text encoding of 256-bit keys.
///
/// Keys live in `SymmetricKey`, whose storage swift-crypto zeroes when it is released; BoringSSL clears a cipher
/// context's key schedule when the context is freed. Plain byte arrays that held a key on the way in or out are
/// cleared with ``wipe(_:)`` before they are released.
public enum KeyMaterial {
    /// A fresh random 256-bit key, straight from the kernel's generator (``SecureRandom``).
    public static func generate() -> SymmetricKey {
        withUnsafeTemporaryAllocation(byteCount: 32, alignment: 16) { buffer in
            SecureRandom.fill(buffer)
            defer { buffer.initializeMemory(as: UInt8.self, repeating: 0) }
            return SymmetricKey(data: UnsafeRawBufferPointer(buffer))
        }
    }

    /// Parses a 32-byte key written as base64 or url-safe base64, padded or not (a Fernet key, the output of
    /// `secrets.token_urlsafe(32)`, or `openssl rand -base64 32`). Surrounding white space is ignored.
    ///
    /// - Throws: ``CryptoError/Code-swift.struct/invalidKey`` if the text is not base64 or does not decode to
    ///   exactly 32 bytes.
    public static func parseKey(_ text: String) throws(CryptoError) -> SymmetricKey {
        guard var bytes = Base64.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CryptoError(.invalidKey)
        }
        defer { wipe(&bytes) }
        guard bytes.count == 32 else { throw CryptoError(.invalidKey) }
        return SymmetricKey(data: bytes)
    }

    /// Overwrites `bytes` with zeros in a way the optimizer may not remove (`explicit_bzero`), for a buffer that
    /// held key material and is about to be released.
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { if let base = $0.baseAddress { explicit_bzero(base, $0.count) } }
    }

    /// ``wipe(_:)`` for `Data`.
    public static func wipe(_ bytes: inout Data) {
        bytes.withUnsafeMutableBytes { if let base = $0.baseAddress { explicit_bzero(base, $0.count) } }
    }

    /// The url-safe, padded base64 text of a key: the form a Fernet key takes, and the form `parseKey` reads.
    public static func encode(_ key: SymmetricKey) -> String {
        key.withUnsafeBytes {
            var bytes = Array($0)
            defer { wipe(&bytes) }
            return Base64.encode(bytes, urlSafe: true, padded: true)
        }
    }

    /// A short, non-secret identifier of a key (first 8 bytes of an HKDF output, hex). Two keys share an
    /// identifier only by chance (2^-64); the identifier reveals nothing usable about the key.
    public static func fingerprint(_ key: SymmetricKey) -> String {
        let derived = KeyDerivation.hkdf(key, purpose: "coffer:key-fingerprint")
        return derived.withUnsafeBytes { Hex.encode($0.prefix(8)) }
    }
}

/// Constant-time comparison of byte strings.
public enum ConstantTime {
    /// `true` when `a` and `b` are equal. Time depends only on the lengths, never on where they differ.
    public static func equals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }
}
