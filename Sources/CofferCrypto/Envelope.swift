import Crypto
import Foundation

/// AES-256-GCM envelope: the one ciphertext format Coffer stores.
///
/// Layout: `format (1 byte, 0x01) ‖ key version (4 bytes, big-endian) ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`.
///
/// Guarantees:
/// - Every envelope names the key version that sealed it, so older envelopes keep opening after a rotation.
/// - The header (format and key version) is authenticated together with the caller's associated data: changing
///   any byte of the envelope, or opening it with other associated data (for example after copying it onto
///   another record), fails and yields no plaintext — with ``CryptoError/Code-swift.struct/malformedCiphertext``
///   for an unknown format byte or a short envelope, else ``CryptoError/Code-swift.struct/integrityCheckFailed``.
/// - A fresh random 96-bit nonce is drawn for every seal.
public enum Envelope {
    /// The format byte written by this version.
    public static let formatVersion: UInt8 = 0x01
    /// Bytes an envelope adds to its plaintext.
    public static let overhead = headerSize + 12 + 16
    static let headerSize = 1 + 4

    /// Seals `plaintext` with a 256-bit `key`, naming `keyVersion` in the header and binding `associatedData`.
    public static func seal(
        _ plaintext: some DataProtocol,
        using key: SymmetricKey,
        keyVersion: UInt32,
        authenticating associatedData: some DataProtocol
    ) throws(CryptoError) -> [UInt8] {
        try seal(plaintext, using: EnvelopeKey(key), keyVersion: keyVersion, authenticating: associatedData)
    }

    /// Seals with a prepared key: what the keyring does for every secret value.
    public static func seal(
        _ plaintext: some DataProtocol,
        using key: EnvelopeKey,
        keyVersion: UInt32,
        authenticating associatedData: some DataProtocol
    ) throws(CryptoError) -> [UInt8] {
        var nonce: (UInt64, UInt32) = (0, 0)
        withUnsafeMutableBytes(of: &nonce) { SecureRandom.fill($0) }
        return try withUnsafeBytes(of: nonce) { nonce throws(CryptoError) in
            try seal(plaintext, using: key, keyVersion: keyVersion, nonce: nonce, authenticating: associatedData)
        }
    }

    /// Seals with a caller-chosen nonce. Only for known-answer tests: reusing a nonce under one key breaks GCM.
    static func seal(
        _ plaintext: some DataProtocol,
        using key: EnvelopeKey,
        keyVersion: UInt32,
        nonce: UnsafeRawBufferPointer,
        authenticating associatedData: some DataProtocol
    ) throws(CryptoError) -> [UInt8] {
        // The header, then the caller's associated data: what GCM authenticates besides the ciphertext.
        var aad = header(keyVersion: keyVersion)
        aad.append(contentsOf: associatedData)
        let message = plaintext as? [UInt8] ?? Array(plaintext)
        let count = overhead + message.count
        var sealed = false
        let envelope = [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
            let out = UnsafeMutableRawBufferPointer(output)
            for index in 0..<headerSize { out[index] = aad[index] }
            UnsafeMutableRawBufferPointer(rebasing: out[headerSize..<(headerSize + 12)]).copyMemory(from: nonce)
            sealed = message.withUnsafeBytes { message in
                aad.withUnsafeBytes { aad in
                    key.seal(message, nonce: nonce, authenticating: aad,
                             into: UnsafeMutableRawBufferPointer(rebasing: out[(headerSize + 12)...]))
                }
            }
            initialized = sealed ? count : 0
        }
        guard sealed else { throw CryptoError(.invalidParameter) }
        return envelope
    }

    /// Seals with a caller-chosen nonce, for known-answer tests only.
    static func seal(
        _ plaintext: [UInt8], using key: SymmetricKey, keyVersion: UInt32, nonce: [UInt8], authenticating aad: [UInt8]
    ) throws(CryptoError) -> [UInt8] {
        let prepared = try EnvelopeKey(key)
        do {
            return try nonce.withUnsafeBytes { nonce in
                try seal(plaintext, using: prepared, keyVersion: keyVersion, nonce: nonce, authenticating: aad)
            }
        } catch let error as CryptoError {
            throw error
        } catch {
            throw CryptoError(.invalidParameter)
        }
    }

    /// The key version named in an envelope's header. The header is not yet authenticated: use this only to
    /// choose the key for ``open(_:using:authenticating:)``, which authenticates it.
    public static func keyVersion(of envelope: some DataProtocol) throws(CryptoError) -> UInt32 {
        guard envelope.count >= overhead else { throw CryptoError(.malformedCiphertext) }
        var iterator = envelope.makeIterator()
        guard iterator.next() == formatVersion else { throw CryptoError(.malformedCiphertext) }
        var version: UInt32 = 0
        for _ in 0..<4 { version = version << 8 | UInt32(iterator.next()!) }
        return version
    }

    /// Opens an envelope with the key its header names.
    ///
    /// - Parameter key: returns the key for a version, or `nil` if there is none
    ///   (``CryptoError/Code-swift.struct/unknownKeyVersion``).
    /// - Throws: ``CryptoError/Code-swift.struct/integrityCheckFailed`` if any byte or the associated data differs
    ///   from what was sealed; nothing is returned in that case.
    public static func open(
        _ envelope: some DataProtocol,
        using key: (UInt32) throws -> SymmetricKey?,
        authenticating associatedData: some DataProtocol
    ) throws -> [UInt8] {
        let bytes = Array(envelope)
        let version = try keyVersion(of: bytes)
        guard let symmetricKey = try key(version) else { throw CryptoError(.unknownKeyVersion) }
        return try open(bytes, using: symmetricKey, authenticating: associatedData)
    }

    /// Opens an envelope with one key (whatever version the header names; the header is still authenticated).
    public static func open(
        _ envelope: some DataProtocol,
        using key: SymmetricKey,
        authenticating associatedData: some DataProtocol
    ) throws(CryptoError) -> [UInt8] {
        _ = try keyVersion(of: envelope)  // a malformed envelope is reported before a wrong key
        return try open(envelope, using: EnvelopeKey(key), authenticating: associatedData)
    }

    /// Opens an envelope with a prepared key (whatever version the header names; the header is still
    /// authenticated).
    public static func open(
        _ envelope: some DataProtocol,
        using key: EnvelopeKey,
        authenticating associatedData: some DataProtocol
    ) throws(CryptoError) -> [UInt8] {
        let bytes = envelope as? [UInt8] ?? Array(envelope)
        _ = try keyVersion(of: bytes)
        var aad = [UInt8]()
        aad.reserveCapacity(headerSize + associatedData.count)
        aad.append(contentsOf: bytes[0..<headerSize])
        aad.append(contentsOf: associatedData)
        let plaintext = bytes.withUnsafeBytes { bytes in
            aad.withUnsafeBytes { aad in
                key.open(
                    UnsafeRawBufferPointer(rebasing: bytes[(headerSize + 12)...]),
                    nonce: UnsafeRawBufferPointer(rebasing: bytes[headerSize..<(headerSize + 12)]),
                    authenticating: aad)
            }
        }
        guard let plaintext else { throw CryptoError(.integrityCheckFailed) }
        return plaintext
    }

    static func header(keyVersion: UInt32) -> [UInt8] {
        [formatVersion, UInt8(keyVersion >> 24), UInt8(keyVersion >> 16 & 0xFF), UInt8(keyVersion >> 8 & 0xFF),
         UInt8(keyVersion & 0xFF)]
    }
}
