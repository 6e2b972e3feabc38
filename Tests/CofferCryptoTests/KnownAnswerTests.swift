import Crypto
import CofferTestSupport
import Foundation
import Testing

@testable import CofferCrypto

/// Published test vectors. Every hex value here was re-computed with Python's `cryptography` / `hashlib` before
/// being written down.
@Suite("Known-answer vectors")
struct KnownAnswerTests {
    @Test("AES-256-GCM: McGrew-Viega / NIST GCM test case 16 (AES-256 with AAD)")
    func gcmTestCase16() throws {
        let key = SymmetricKey(data: [UInt8](hex: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"))
        let plaintext = [UInt8](
            hex: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
        let aad = [UInt8](hex: "feedfacedeadbeeffeedfacedeadbeefabaddad2")
        let nonce = [UInt8](hex: "cafebabefacedbaddecaf888")
        let expected =
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
            + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" + "76fc6ece0f4e1768cddf8853bb2d551b"

        // Coffer's AES-GCM (BoringSSL's AEAD context, kept per key).
        let prepared = try EnvelopeKey(key)
        var sealed = [UInt8](repeating: 0, count: plaintext.count + 16)
        let ok = plaintext.withUnsafeBytes { plaintext in
            nonce.withUnsafeBytes { nonce in
                aad.withUnsafeBytes { aad in
                    sealed.withUnsafeMutableBytes { prepared.seal(plaintext, nonce: nonce, authenticating: aad, into: $0) }
                }
            }
        }
        #expect(ok)
        #expect(sealed.hex == expected)
        let opened = sealed.withUnsafeBytes { sealed in
            nonce.withUnsafeBytes { nonce in
                aad.withUnsafeBytes { prepared.open(sealed, nonce: nonce, authenticating: $0) }
            }
        }
        #expect(opened == plaintext)

        // swift-crypto's AES.GCM agrees, both ways.
        let box = try AES.GCM.seal(plaintext, using: key, nonce: AES.GCM.Nonce(data: nonce), authenticating: aad)
        #expect((box.ciphertext + box.tag).hex == expected)
        #expect(Array(try AES.GCM.open(box, using: key, authenticating: aad)) == plaintext)
    }

    @Test("AES-256-GCM: a changed tag, nonce or AAD opens nothing, and the output buffer is not returned")
    func gcmRejects() throws {
        let key = try EnvelopeKey(SymmetricKey(size: .bits256))
        let nonce = [UInt8](repeating: 7, count: 12)
        let plaintext = Array("attack at dawn".utf8)
        var sealed = [UInt8](repeating: 0, count: plaintext.count + 16)
        let ok = plaintext.withUnsafeBytes { plaintext in
            nonce.withUnsafeBytes { nonce in
                sealed.withUnsafeMutableBytes { key.seal(plaintext, nonce: nonce, authenticating: .init(start: nil, count: 0), into: $0) }
            }
        }
        #expect(ok)
        func open(_ sealed: [UInt8], nonce: [UInt8], aad: [UInt8]) -> [UInt8]? {
            sealed.withUnsafeBytes { sealed in
                nonce.withUnsafeBytes { nonce in aad.withUnsafeBytes { key.open(sealed, nonce: nonce, authenticating: $0) } }
            }
        }
        #expect(open(sealed, nonce: nonce, aad: []) == plaintext)
        var tampered = sealed
        tampered[tampered.count - 1] ^= 1
        #expect(open(tampered, nonce: nonce, aad: []) == nil)
        #expect(open(sealed, nonce: [UInt8](repeating: 8, count: 12), aad: []) == nil)
        #expect(open(sealed, nonce: nonce, aad: [0]) == nil)
        #expect(open(Array(sealed.prefix(15)), nonce: nonce, aad: []) == nil)
        #expect(open(sealed, nonce: Array(nonce.prefix(11)), aad: []) == nil)
        // Wrong sizes are refused, not written past.
        var short = [UInt8](repeating: 0, count: plaintext.count + 15)
        let refused = plaintext.withUnsafeBytes { plaintext in
            nonce.withUnsafeBytes { nonce in
                short.withUnsafeMutableBytes { key.seal(plaintext, nonce: nonce, authenticating: .init(start: nil, count: 0), into: $0) }
            }
        }
        #expect(!refused)
        #expect(throws: CryptoError(.invalidKey)) { try EnvelopeKey(SymmetricKey(size: .bits128)) }
    }

    @Test("HKDF-SHA256: RFC 5869 test case 1")
    func hkdfTestCase1() {
        let okm = KeyDerivation.hkdf(
            SymmetricKey(data: [UInt8](repeating: 0x0b, count: 22)),
            salt: [UInt8](hex: "000102030405060708090a0b0c"),
            info: [UInt8](hex: "f0f1f2f3f4f5f6f7f8f9"),
            outputByteCount: 42)
        #expect(
            okm.withUnsafeBytes { Array($0) }.hex
                == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    }

    @Test("HKDF-SHA256: RFC 5869 test case 2 (long inputs) and 3 (empty salt and info, the default salt)")
    func hkdfTestCases2And3() {
        let okm2 = KeyDerivation.hkdf(
            SymmetricKey(data: Array(0x00...0x4f as ClosedRange<UInt8>)),
            salt: Array(0x60...0xaf as ClosedRange<UInt8>),
            info: Array(0xb0...0xff as ClosedRange<UInt8>),
            outputByteCount: 82)
        #expect(
            okm2.withUnsafeBytes { Array($0) }.hex
                == "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
                + "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
                + "cc30c58179ec3e87c14c01d5c1f3434f1d87")
        let okm3 = KeyDerivation.hkdf(
            SymmetricKey(data: [UInt8](repeating: 0x0b, count: 22)), info: [UInt8](), outputByteCount: 42)
        #expect(
            okm3.withUnsafeBytes { Array($0) }.hex
                == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
    }

    @Test("HKDF purpose labels: 32 bytes, equal to info = UTF-8 of the label, independent per label")
    func hkdfPurpose() {
        let master = SymmetricKey(size: .bits256)
        let a = KeyDerivation.hkdf(master, purpose: "coffer:a")
        #expect(a.bitCount == 256)
        #expect(a == KeyDerivation.hkdf(master, info: Array("coffer:a".utf8)))
        #expect(a == KeyDerivation.hkdf(master, purpose: "coffer:a"))
        #expect(a != KeyDerivation.hkdf(master, purpose: "coffer:b"))
        #expect(a != master)
        #expect(a != KeyDerivation.hkdf(SymmetricKey(size: .bits256), purpose: "coffer:a"))
    }

    @Test("PBKDF2-HMAC-SHA256: RFC 7914 §11 (P=\"passwd\", S=\"salt\", c=1, dkLen=64)")
    func pbkdf2RFC7914() throws {
        let dk = try KeyDerivation.pbkdf2(
            password: Array("passwd".utf8), salt: Array("salt".utf8), rounds: 1, outputByteCount: 64)
        #expect(
            dk.withUnsafeBytes { Array($0) }.hex
                == "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                + "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
    }

    @Test("PBKDF2 with the default 100,000 rounds matches Python's hashlib.pbkdf2_hmac")
    func pbkdf2DefaultRoundsAgainstPython() throws {
        #expect(KeyDerivation.defaultPBKDF2Rounds == 100_000)
        let password = "correct horse battery staple ✓"
        let salt = randomBytes(16)
        let swift = try KeyDerivation.pbkdf2(password: Array(password.utf8), salt: salt)
        #expect(swift.bitCount == 256)
        let python = try Python.run(
            script: """
                import sys, hashlib
                password, salt = sys.stdin.read().split()
                print(hashlib.pbkdf2_hmac("sha256", bytes.fromhex(password), bytes.fromhex(salt), 100000, 32).hex())
                """,
            stdin: Array(password.utf8).hex + " " + salt.hex)
        #expect(swift.withUnsafeBytes { Array($0) }.hex == python)
    }

    @Test("PBKDF2 refuses zero rounds and empty output")
    func pbkdf2Parameters() {
        #expect(throws: CryptoError(.invalidParameter)) {
            try KeyDerivation.pbkdf2(password: Array("p".utf8), salt: Array("s".utf8), rounds: 0)
        }
        #expect(throws: CryptoError(.invalidParameter)) {
            try KeyDerivation.pbkdf2(password: Array("p".utf8), salt: Array("s".utf8), rounds: -5)
        }
        #expect(throws: CryptoError(.invalidParameter)) {
            try KeyDerivation.pbkdf2(password: Array("p".utf8), salt: Array("s".utf8), rounds: 1, outputByteCount: 0)
        }
    }
}
