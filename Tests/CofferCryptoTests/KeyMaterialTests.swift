import Crypto
import CofferTestSupport
import Foundation
import Testing

@testable import CofferCrypto

@Suite("KeyMaterial")
struct KeyMaterialTests {
    @Test("parseKey accepts standard, url-safe, padded, unpadded and surrounding white space")
    func parseForms() throws {
        // Bytes chosen so that the two alphabets differ (characters 62 and 63 appear).
        var bytes = randomBytes(32)
        bytes[0] = 0xfb
        bytes[1] = 0xff
        bytes[2] = 0xbf
        let standard = Data(bytes).base64EncodedString()
        #expect(standard.contains("+") && standard.contains("/") && standard.hasSuffix("="))
        let urlSafe = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let forms = [
            standard, urlSafe, standard.replacingOccurrences(of: "=", with: ""),
            urlSafe.replacingOccurrences(of: "=", with: ""), "  \(standard)\n", "\t\(urlSafe) \r\n",
            "\n\n\(urlSafe.replacingOccurrences(of: "=", with: ""))\n",
        ]
        for form in forms {
            let key = try KeyMaterial.parseKey(form)
            #expect(key.bitCount == 256)
            #expect(key.withUnsafeBytes { Array($0) } == bytes, "\(form.debugDescription)")
        }
    }

    @Test(
        "parseKey refuses wrong lengths and non-base64 with invalidKey",
        arguments: [
            Base64.encode(randomBytes(31)), Base64.encode(randomBytes(33)), Base64.encode(randomBytes(16)),
            Base64.encode(randomBytes(64)), "", "   ", "not base64 at all!", String(repeating: "*", count: 44),
            Base64.encode(randomBytes(32)) + "!", "0x" + randomBytes(32).hex,
        ])
    func parseRefuses(text: String) {
        #expect(throws: CryptoError(.invalidKey)) { try KeyMaterial.parseKey(text) }
    }

    @Test("hex of 32 bytes is not accepted as a key (it is 64 characters of base64 = 48 bytes)")
    func hexIsNotAKey() {
        #expect(throws: CryptoError(.invalidKey)) { try KeyMaterial.parseKey(randomBytes(32).hex) }
    }

    @Test("encode gives url-safe padded base64 that parseKey reads back")
    func encodeRoundTrip() throws {
        for _ in 0..<32 {
            let key = KeyMaterial.generate()
            #expect(key.bitCount == 256)
            let text = KeyMaterial.encode(key)
            #expect(text.count == 44)
            #expect(text.hasSuffix("="))
            #expect(!text.contains("+") && !text.contains("/"))
            #expect(try KeyMaterial.parseKey(text) == key)
            #expect(Base64.decode(text) == key.withUnsafeBytes { Array($0) })
        }
        #expect(KeyMaterial.generate() != KeyMaterial.generate())
    }

    @Test("a key from Python's Fernet.generate_key() parses to the same 32 bytes")
    func fernetKeyParses() throws {
        let output = try Python.run(
            script: """
                import base64
                from cryptography.fernet import Fernet
                key = Fernet.generate_key()
                print(key.decode(), base64.urlsafe_b64decode(key).hex())
                """)
        let parts = output.split(separator: " ").map(String.init)
        try #require(parts.count == 2)
        let key = try KeyMaterial.parseKey(parts[0])
        #expect(key.withUnsafeBytes { Array($0) }.hex == parts[1])
        #expect(KeyMaterial.encode(key) == parts[0])
    }

    @Test("fingerprint: 16 lowercase hex characters, stable, different between keys, equal to HKDF in Python")
    func fingerprint() throws {
        let bytes = randomBytes(32)
        let key = SymmetricKey(data: bytes)
        let print1 = KeyMaterial.fingerprint(key)
        #expect(print1.count == 16)
        #expect(print1.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(KeyMaterial.fingerprint(key) == print1)
        #expect(KeyMaterial.fingerprint(SymmetricKey(data: bytes)) == print1)
        #expect(!bytes.hex.contains(print1))
        var prints = Set([print1])
        for _ in 0..<50 { prints.insert(KeyMaterial.fingerprint(KeyMaterial.generate())) }
        #expect(prints.count == 51)

        let python = try Python.run(
            script: """
                import sys
                from cryptography.hazmat.primitives.kdf.hkdf import HKDF
                from cryptography.hazmat.primitives import hashes
                key = bytes.fromhex(sys.stdin.read().strip())
                print(HKDF(hashes.SHA256(), 32, None, b"coffer:key-fingerprint").derive(key)[:8].hex())
                """,
            stdin: bytes.hex)
        #expect(python == print1)
    }

    @Test("SecureRandom gives the requested count and fresh values")
    func randomBytesCount() {
        #expect(SecureRandom.bytes(0).isEmpty)
        #expect(SecureRandom.bytes(1).count == 1)
        #expect(SecureRandom.bytes(100).count == 100)
        #expect(SecureRandom.bytes(32) != SecureRandom.bytes(32))
        // 4096 random bytes take (almost surely) more than 200 distinct values.
        #expect(Set(SecureRandom.bytes(4096)).count > 200)
        // Every size, below and above the direct-to-kernel threshold and across block refills.
        for size in 1...300 {
            let bytes = SecureRandom.bytes(size)
            #expect(bytes.count == size)
            if size >= 16 { #expect(bytes != [UInt8](repeating: 0, count: size)) }
        }
    }

    @Test("SecureRandom never hands the same bytes to two callers, from any number of threads")
    func randomBytesUniqueAcrossThreads() async {
        // 16,000 nonces of 12 bytes drawn by 8 tasks at once: a byte handed out twice (a race on the shared
        // block) would show up as a repeated nonce.
        let nonces = await withTaskGroup(of: [[UInt8]].self) { group in
            for _ in 0..<8 { group.addTask { (0..<2_000).map { _ in SecureRandom.bytes(12) } } }
            var all: [[UInt8]] = []
            for await drawn in group { all += drawn }
            return all
        }
        #expect(nonces.count == 16_000)
        #expect(Set(nonces).count == 16_000)
        // Draws of 31 bytes (the largest taken from the block) cross block boundaries; none repeats.
        let large = (0..<200).map { _ in SecureRandom.bytes(31) }
        #expect(Set(large).count == 200)
    }
}

@Suite("ConstantTime")
struct ConstantTimeTests {
    @Test("equals compares content and length")
    func equals() {
        let a: [UInt8] = [1, 2, 3, 4]
        #expect(ConstantTime.equals(a, a))
        #expect(ConstantTime.equals(a, [1, 2, 3, 4] as [UInt8]))
        #expect(ConstantTime.equals(a, Data([1, 2, 3, 4])))
        #expect(ConstantTime.equals([UInt8](), [UInt8]()))
        #expect(!ConstantTime.equals(a, [0, 2, 3, 4] as [UInt8]))
        #expect(!ConstantTime.equals(a, [1, 2, 3, 5] as [UInt8]))
        #expect(!ConstantTime.equals(a, [1, 2, 3] as [UInt8]))
        #expect(!ConstantTime.equals(a, [1, 2, 3, 4, 0] as [UInt8]))
        #expect(!ConstantTime.equals([UInt8](), [0] as [UInt8]))
        for index in a.indices {
            for bit in 0..<8 {
                var b = a
                b[index] ^= UInt8(1) << UInt8(bit)
                #expect(!ConstantTime.equals(a, b))
            }
        }
    }
}

@Suite("Wiping key bytes")
struct WipeTests {
    @Test("wipe zeroes every byte of an array and of Data, in place")
    func wipes() {
        var bytes = SecureRandom.bytes(64)
        bytes[0] = 1
        KeyMaterial.wipe(&bytes)
        #expect(bytes.count == 64 && bytes.allSatisfy { $0 == 0 })
        var data = Data(repeating: 0xAB, count: 33)
        KeyMaterial.wipe(&data)
        #expect(data.count == 33 && data.allSatisfy { $0 == 0 })
    }
}
