/// Vault transit's `aes256-gcm96` ciphertext: `vault:v<N>:` and the standard base64 of
/// `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`, AES-256-GCM under the key's version N with the caller's
/// associated data.
///
/// Guarantees:
/// - Byte-compatible with Vault's layout (the tests check it against Python `cryptography`'s AES-GCM).
/// - A fresh random 96-bit nonce is drawn for every seal.
/// - ``open(_:using:authenticating:)`` returns a plaintext only if every byte and the associated data
///   authenticate; ``parse(_:)`` rejects anything but the exact text form, before any key is looked up.
public enum TransitCiphertext {
    /// The text form for key version `version` of sealed bytes.
    public static func text(version: Int, sealed: [UInt8]) -> String {
        "vault:v\(version):" + Base64.encode(sealed)
    }

    /// The key version and sealed bytes of a text ciphertext.
    /// - Throws: ``CryptoError/Code-swift.struct/malformedCiphertext`` with nothing else said.
    public static func parse(_ text: String) throws(CryptoError) -> (version: Int, sealed: [UInt8]) {
        let utf8 = text.utf8
        guard utf8.starts(with: "vault:v".utf8) else { throw CryptoError(.malformedCiphertext) }
        let rest = utf8.dropFirst(7)
        guard let colon = rest.firstIndex(of: UInt8(ascii: ":")) else { throw CryptoError(.malformedCiphertext) }
        let digits = rest[rest.startIndex..<colon]
        guard (1...9).contains(digits.count), digits.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            let version = Int(String(decoding: digits, as: UTF8.self)), version >= 1,
            let sealed = Base64.decode(Substring(text)[rest.index(after: colon)...]),
            sealed.count >= 12 + 16
        else { throw CryptoError(.malformedCiphertext) }
        return (version, sealed)
    }

    /// Seals `plaintext` with a fresh nonce: `nonce ‖ ciphertext ‖ tag`.
    public static func seal(
        _ plaintext: [UInt8], using key: EnvelopeKey, authenticating aad: [UInt8]
    ) throws(CryptoError) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: EnvelopeKey.nonceSize)
        nonce.withUnsafeMutableBytes { SecureRandom.fill($0) }
        let count = nonce.count + plaintext.count + EnvelopeKey.tagSize
        var sealed = false
        let output = [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
            let out = UnsafeMutableRawBufferPointer(output)
            nonce.withUnsafeBytes { nonce in
                UnsafeMutableRawBufferPointer(rebasing: out[0..<nonce.count]).copyMemory(from: nonce)
                sealed = plaintext.withUnsafeBytes { message in
                    aad.withUnsafeBytes { aad in
                        key.seal(
                            message, nonce: nonce, authenticating: aad,
                            into: UnsafeMutableRawBufferPointer(rebasing: out[nonce.count...]))
                    }
                }
            }
            initialized = sealed ? count : 0
        }
        guard sealed else { throw CryptoError(.invalidParameter) }
        return output
    }

    /// Opens `nonce ‖ ciphertext ‖ tag`.
    /// - Throws: ``CryptoError/Code-swift.struct/integrityCheckFailed`` for a wrong key, wrong associated data or
    ///   any changed byte; nothing is returned then.
    public static func open(
        _ sealed: [UInt8], using key: EnvelopeKey, authenticating aad: [UInt8]
    ) throws(CryptoError) -> [UInt8] {
        guard sealed.count >= EnvelopeKey.nonceSize + EnvelopeKey.tagSize else { throw CryptoError(.malformedCiphertext) }
        let plaintext = sealed.withUnsafeBytes { bytes in
            aad.withUnsafeBytes { aad in
                key.open(
                    UnsafeRawBufferPointer(rebasing: bytes[EnvelopeKey.nonceSize...]),
                    nonce: UnsafeRawBufferPointer(rebasing: bytes[0..<EnvelopeKey.nonceSize]), authenticating: aad)
            }
        }
        guard let plaintext else { throw CryptoError(.integrityCheckFailed) }
        return plaintext
    }
}
