import Crypto
import Foundation
import Testing

@testable import CofferCrypto

@Suite("Envelope")
struct EnvelopeTests {
    let key = SymmetricKey(size: .bits256)
    let aad = Array("workspace:7/secret:42".utf8)

    @Test("seal then open returns the plaintext", arguments: [0, 1, 15, 16, 17, 100, 4096])
    func roundTrip(size: Int) throws {
        let plaintext = randomBytes(size)
        let envelope = try Envelope.seal(plaintext, using: key, keyVersion: 3, authenticating: aad)
        #expect(try Envelope.open(envelope, using: key, authenticating: aad) == plaintext)
        #expect(try Envelope.open(Data(envelope), using: key, authenticating: Data(aad)) == plaintext)
    }

    @Test("layout: format byte 0x01, big-endian key version, plaintext + overhead bytes")
    func layout() throws {
        #expect(Envelope.overhead == 1 + 4 + 12 + 16)
        #expect(Envelope.formatVersion == 0x01)
        let plaintext = Array("hello, coffer".utf8)
        for version: UInt32 in [0, 1, 0x0102_0304, 0xDEAD_BEEF, .max] {
            let envelope = try Envelope.seal(plaintext, using: key, keyVersion: version, authenticating: aad)
            #expect(envelope.count == plaintext.count + Envelope.overhead)
            #expect(envelope[0] == 0x01)
            let expectedVersion: [UInt8] = [
                UInt8(version >> 24), UInt8((version >> 16) & 0xFF), UInt8((version >> 8) & 0xFF), UInt8(version & 0xFF),
            ]
            #expect(Array(envelope[1...4]) == expectedVersion)
            #expect(try Envelope.keyVersion(of: envelope) == version)
            // The plaintext never appears in the clear.
            #expect(!envelope.hex.contains(plaintext.hex))
        }
    }

    @Test("a known nonce gives the envelope computed independently with Python's AESGCM")
    func knownAnswerEnvelope() throws {
        // python3: AESGCM(K).encrypt(IV, b"coffer", bytes([1,0,0,0,7]) + b"record:42"), header + IV prepended.
        let key = SymmetricKey(data: [UInt8](hex: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"))
        let nonce = [UInt8](hex: "cafebabefacedbaddecaf888")
        let envelope = try Envelope.seal(
            Array("coffer".utf8), using: key, keyVersion: 7, nonce: nonce, authenticating: Array("record:42".utf8))
        #expect(envelope.hex == "0100000007cafebabefacedbaddecaf888" + "e87395b304a0" + "2cc48e8a5e7faede56a8aea2575cd572")
        #expect(try Envelope.open(envelope, using: key, authenticating: Array("record:42".utf8)) == Array("coffer".utf8))
    }

    @Test("changing any single bit of an envelope makes open throw and never return plaintext")
    func everyBitFlipFails() throws {
        let plaintext = Array("the quick brown fox".utf8)
        let envelope = try Envelope.seal(plaintext, using: key, keyVersion: 0x0000_0102, authenticating: aad)
        for index in envelope.indices {
            for bit in 0..<8 {
                var tampered = envelope
                tampered[index] ^= UInt8(1) << UInt8(bit)
                do {
                    let opened = try Envelope.open(tampered, using: key, authenticating: aad)
                    Issue.record("byte \(index) bit \(bit) altered, yet open returned \(opened.count) bytes")
                } catch {
                    #expect(
                        error.code == .integrityCheckFailed || error.code == .malformedCiphertext,
                        "byte \(index) bit \(bit): \(error)")
                    // The format byte is checked first; every other byte is caught by authentication.
                    #expect(error.code == (index == 0 ? .malformedCiphertext : .integrityCheckFailed))
                }
            }
        }
    }

    @Test("rewriting the key version in the header fails even when that version maps to the same key")
    func headerIsAuthenticated() throws {
        let envelope = try Envelope.seal(Array("x".utf8), using: key, keyVersion: 1, authenticating: aad)
        var relabelled = envelope
        relabelled[4] = 2
        #expect(try Envelope.keyVersion(of: relabelled) == 2)
        #expect(throws: CryptoError(.integrityCheckFailed)) {
            try Envelope.open(relabelled, using: { _ in key }, authenticating: aad)
        }
    }

    @Test("other associated data fails with integrityCheckFailed")
    func otherAssociatedDataFails() throws {
        let envelope = try Envelope.seal(Array("secret".utf8), using: key, keyVersion: 1, authenticating: aad)
        for other in [Array("workspace:7/secret:43".utf8), [], aad + [0], Array(aad.dropLast())] {
            #expect(throws: CryptoError(.integrityCheckFailed)) {
                try Envelope.open(envelope, using: key, authenticating: other)
            }
        }
        let sealedWithoutAAD = try Envelope.seal(Array("secret".utf8), using: key, keyVersion: 1, authenticating: [UInt8]())
        #expect(throws: CryptoError(.integrityCheckFailed)) {
            try Envelope.open(sealedWithoutAAD, using: key, authenticating: aad)
        }
        #expect(try Envelope.open(sealedWithoutAAD, using: key, authenticating: [UInt8]()) == Array("secret".utf8))
    }

    @Test("another key fails with integrityCheckFailed")
    func wrongKeyFails() throws {
        let envelope = try Envelope.seal(Array("secret".utf8), using: key, keyVersion: 1, authenticating: aad)
        #expect(throws: CryptoError(.integrityCheckFailed)) {
            try Envelope.open(envelope, using: SymmetricKey(size: .bits256), authenticating: aad)
        }
    }

    @Test("keyVersion(of:) reads the header and refuses short or unknown-format input")
    func keyVersionOf() throws {
        for version: UInt32 in [0, 1, 255, 256, 65_536, 0x7FFF_FFFF, .max] {
            let envelope = try Envelope.seal([UInt8](), using: key, keyVersion: version, authenticating: aad)
            #expect(try Envelope.keyVersion(of: envelope) == version)
            #expect(try Envelope.keyVersion(of: Data(envelope)) == version)
        }
        #expect(throws: CryptoError(.malformedCiphertext)) { try Envelope.keyVersion(of: [UInt8]()) }
        #expect(throws: CryptoError(.malformedCiphertext)) {
            try Envelope.keyVersion(of: [UInt8](repeating: 0, count: Envelope.overhead))
        }
        #expect(throws: CryptoError(.malformedCiphertext)) {
            try Envelope.keyVersion(of: [0x01] + [UInt8](repeating: 0, count: Envelope.overhead - 2))
        }
    }

    @Test("open(using:) picks the key named by the header and refuses unknown versions")
    func openWithKeyLookup() throws {
        let keys: [UInt32: SymmetricKey] = [1: SymmetricKey(size: .bits256), 2: SymmetricKey(size: .bits256)]
        let first = try Envelope.seal(Array("one".utf8), using: keys[1]!, keyVersion: 1, authenticating: aad)
        let second = try Envelope.seal(Array("two".utf8), using: keys[2]!, keyVersion: 2, authenticating: aad)
        var asked: [UInt32] = []
        let lookup: (UInt32) throws -> SymmetricKey? = { version in
            asked.append(version)
            return keys[version]
        }
        #expect(try Envelope.open(first, using: lookup, authenticating: aad) == Array("one".utf8))
        #expect(try Envelope.open(second, using: lookup, authenticating: aad) == Array("two".utf8))
        #expect(asked == [1, 2])

        let third = try Envelope.seal(Array("three".utf8), using: key, keyVersion: 3, authenticating: aad)
        #expect(throws: CryptoError(.unknownKeyVersion)) {
            try Envelope.open(third, using: lookup, authenticating: aad)
        }
        #expect(throws: CryptoError(.unknownKeyVersion)) {
            try Envelope.open(first, using: { _ in nil }, authenticating: aad)
        }
        // A lookup that returns the wrong key is caught by authentication.
        #expect(throws: CryptoError(.integrityCheckFailed)) {
            try Envelope.open(first, using: { _ in keys[2] }, authenticating: aad)
        }
        // A malformed envelope is refused before the lookup is asked.
        var called = false
        #expect(throws: CryptoError(.malformedCiphertext)) {
            try Envelope.open([UInt8](repeating: 1, count: 10), using: { _ in called = true; return key }, authenticating: aad)
        }
        #expect(!called)
        // Errors from the lookup propagate unchanged.
        struct LookupFailed: Error, Equatable {}
        #expect(throws: LookupFailed()) {
            try Envelope.open(first, using: { _ in throw LookupFailed() }, authenticating: aad)
        }
    }

    @Test("input shorter than the overhead is malformedCiphertext; a shortened envelope never opens")
    func truncated() throws {
        let envelope = try Envelope.seal(Array("truncate me".utf8), using: key, keyVersion: 9, authenticating: aad)
        for length in 0..<Envelope.overhead {
            #expect(throws: CryptoError(.malformedCiphertext), "length \(length)") {
                try Envelope.open(Array(envelope.prefix(length)), using: key, authenticating: aad)
            }
            #expect(throws: CryptoError(.malformedCiphertext), "length \(length)") {
                try Envelope.open(Array(envelope.prefix(length)), using: { _ in key }, authenticating: aad)
            }
        }
        for length in Envelope.overhead..<envelope.count {
            #expect(throws: CryptoError(.integrityCheckFailed), "length \(length)") {
                try Envelope.open(Array(envelope.prefix(length)), using: key, authenticating: aad)
            }
        }
        #expect(throws: CryptoError(.integrityCheckFailed)) {
            try Envelope.open(envelope + [0], using: key, authenticating: aad)
        }
    }

    @Test("keys that are not 256 bits are invalidKey", arguments: [0, 16, 24, 31, 33, 64])
    func nonAES256Key(byteCount: Int) throws {
        let shortKey = SymmetricKey(data: randomBytes(byteCount))
        #expect(throws: CryptoError(.invalidKey)) {
            try Envelope.seal(Array("x".utf8), using: shortKey, keyVersion: 1, authenticating: aad)
        }
        let envelope = try Envelope.seal(Array("x".utf8), using: key, keyVersion: 1, authenticating: aad)
        #expect(throws: CryptoError(.invalidKey)) {
            try Envelope.open(envelope, using: shortKey, authenticating: aad)
        }
    }

    @Test("two seals of the same plaintext differ (fresh random nonce)")
    func randomNonce() throws {
        let plaintext = Array("same every time".utf8)
        var nonces = Set<[UInt8]>()
        var envelopes = Set<[UInt8]>()
        for _ in 0..<64 {
            let envelope = try Envelope.seal(plaintext, using: key, keyVersion: 1, authenticating: aad)
            nonces.insert(Array(envelope[5..<17]))
            envelopes.insert(envelope)
        }
        #expect(nonces.count == 64)
        #expect(envelopes.count == 64)
    }

    @Test("errors describe only their code")
    func errorDescription() {
        #expect(CryptoError(.integrityCheckFailed).description == "CryptoError(integrity_check_failed)")
        #expect(CryptoError.Code.unknownKeyVersion.description == "unknown_key_version")
        #expect(CryptoError(.invalidKey) != CryptoError(.invalidParameter))
    }
}
