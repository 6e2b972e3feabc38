import CCryptoBoringSSL
import Crypto

/// A 256-bit AES-GCM key prepared once for any number of seals and opens.
///
/// swift-crypto's `AES.GCM` sets up BoringSSL's AEAD context (the AES key schedule and the GHASH tables) again
/// for every call and goes through `Data` several times; that was three quarters of an envelope's cost (issue 6's
/// profile). This type keeps one context per key and calls BoringSSL's AEAD API (`EVP_AEAD_CTX`), the same
/// BoringSSL, the same AES-GCM, that swift-crypto itself compiles into Coffer. Its module, `CCryptoBoringSSL`, is not
/// a product of swift-crypto, but SwiftPM exposes it to every target that depends on `Crypto`; if a future
/// swift-crypto renamed it, the build would fail, never the behaviour.
///
/// Guarantees:
/// - Only 256-bit keys are accepted, with the standard 96-bit nonce and 128-bit tag; the known-answer tests check
///   it against NIST's vectors, swift-crypto's `AES.GCM` and Python `cryptography`.
/// - `open` authenticates before it returns anything: on failure the output buffer, which BoringSSL fills before it
///   compares tags, is zeroed and released, and no plaintext leaves.
/// - The context (the expanded key) lives in BoringSSL's memory, which BoringSSL zeroes when it frees it, at the
///   latest when the last reference to this key goes.
/// - One key may be used from any number of threads at once (BoringSSL documents its seal and open as safe to
///   call concurrently on one context).
public final class EnvelopeKey: @unchecked Sendable {
    private let context: UnsafeMutablePointer<EVP_AEAD_CTX>
    /// Bytes of the authentication tag.
    static let tagSize = 16
    /// Bytes of the nonce.
    static let nonceSize = 12

    /// Prepares `key`, which must be 256 bits.
    public init(_ key: SymmetricKey) throws(CryptoError) {
        guard key.bitCount == 256 else { throw CryptoError(.invalidKey) }
        let context = key.withUnsafeBytes { bytes in
            CCryptoBoringSSL_EVP_AEAD_CTX_new(
                CCryptoBoringSSL_EVP_aead_aes_256_gcm(), bytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
                bytes.count, Self.tagSize)
        }
        guard let context else {
            CCryptoBoringSSL_ERR_clear_error()
            throw CryptoError(.invalidKey)
        }
        self.context = context
    }

    deinit { CCryptoBoringSSL_EVP_AEAD_CTX_free(context) }

    /// AES-256-GCM: writes `ciphertext ‖ tag` (`plaintext.count + 16` bytes) to `output`; `false` if the sizes
    /// are wrong.
    func seal(
        _ plaintext: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, authenticating aad: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard nonce.count == Self.nonceSize, output.count == plaintext.count + Self.tagSize else { return false }
        var written = 0
        let ok = CCryptoBoringSSL_EVP_AEAD_CTX_seal(
            context, output.baseAddress?.assumingMemoryBound(to: UInt8.self), &written, output.count,
            nonce.baseAddress?.assumingMemoryBound(to: UInt8.self), nonce.count,
            plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), plaintext.count,
            aad.baseAddress?.assumingMemoryBound(to: UInt8.self), aad.count)
        guard ok == 1, written == output.count else {
            CCryptoBoringSSL_ERR_clear_error()
            return false
        }
        return true
    }

    /// AES-256-GCM: authenticates `ciphertext ‖ tag` and returns the plaintext, or `nil` for a wrong key, nonce,
    /// associated data or any changed byte (nothing else is returned then).
    func open(
        _ sealed: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, authenticating aad: UnsafeRawBufferPointer
    ) -> [UInt8]? {
        guard nonce.count == Self.nonceSize, sealed.count >= Self.tagSize else { return nil }
        let length = sealed.count - Self.tagSize
        var authentic = false
        // At least one byte of capacity, so that BoringSSL always gets a real output pointer.
        let plaintext = [UInt8](unsafeUninitializedCapacity: max(length, 1)) { output, initialized in
            var written = 0
            let ok = CCryptoBoringSSL_EVP_AEAD_CTX_open(
                context, output.baseAddress, &written, output.count,
                nonce.baseAddress?.assumingMemoryBound(to: UInt8.self), nonce.count,
                sealed.baseAddress?.assumingMemoryBound(to: UInt8.self), sealed.count,
                aad.baseAddress?.assumingMemoryBound(to: UInt8.self), aad.count)
            authentic = ok == 1 && written == length
            if !authentic {
                // BoringSSL decrypts before it compares tags: wipe what it wrote.
                UnsafeMutableRawBufferPointer(output).initializeMemory(as: UInt8.self, repeating: 0)
                CCryptoBoringSSL_ERR_clear_error()
            }
            initialized = authentic ? length : 0
        }
        return authentic ? plaintext : nil
    }
}
