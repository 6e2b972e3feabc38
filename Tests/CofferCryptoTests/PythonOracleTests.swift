import Crypto
import CofferTestSupport
import Foundation
import Testing

@testable import CofferCrypto

/// Python's `cryptography` (OpenSSL) as an independent implementation of the envelope format, both directions.
@Suite("Envelope against Python cryptography")
struct PythonOracleTests {
    struct SealedCase: Codable {
        let envelope: String
        let ad: String
    }
    struct SwiftSealed: Codable {
        let key: String
        let cases: [SealedCase]
    }
    struct PythonOpened: Codable {
        let version: UInt32
        let plaintext: String
    }

    @Test("Swift seals, Python's AESGCM opens (0, 1, 100 and 65536 bytes)")
    func swiftSealsPythonOpens() throws {
        let key = SymmetricKey(size: .bits256)
        let keyBytes = key.withUnsafeBytes { Array($0) }
        var plaintexts: [[UInt8]] = []
        var cases: [SealedCase] = []
        var versions: [UInt32] = []
        for (i, size) in [0, 1, 100, 65_536].enumerated() {
            let plaintext = randomBytes(size)
            let ad = i == 0 ? [UInt8]() : Array("secret:\(i)".utf8)
            let version = UInt32(i) * 0x0101_0101 + 1
            let envelope = try Envelope.seal(plaintext, using: key, keyVersion: version, authenticating: ad)
            plaintexts.append(plaintext)
            versions.append(version)
            cases.append(SealedCase(envelope: envelope.hex, ad: ad.hex))
        }
        let opened = try Python.json(
            script: """
                import sys, json
                from cryptography.hazmat.primitives.ciphers.aead import AESGCM
                request = json.load(sys.stdin)
                aead = AESGCM(bytes.fromhex(request["key"]))
                out = []
                for case in request["cases"]:
                    env = bytes.fromhex(case["envelope"])
                    ad = bytes.fromhex(case["ad"])
                    assert env[0] == 1, "format byte"
                    pt = aead.decrypt(env[5:17], env[17:], env[0:5] + ad)
                    out.append({"version": int.from_bytes(env[1:5], "big"), "plaintext": pt.hex()})
                print(json.dumps(out))
                """,
            input: SwiftSealed(key: keyBytes.hex, cases: cases), as: [PythonOpened].self)
        try #require(opened.count == plaintexts.count)
        for i in plaintexts.indices {
            #expect(opened[i].plaintext == plaintexts[i].hex, "plaintext of \(plaintexts[i].count) bytes")
            #expect(opened[i].version == versions[i])
        }
    }

    struct PlainCase: Codable {
        let plaintext: String
        let ad: String
        let version: UInt32
    }
    struct PythonSealRequest: Codable {
        let key: String
        let cases: [PlainCase]
        let bindHeader: Bool
    }

    static let pythonSeal = """
        import sys, json, os
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        request = json.load(sys.stdin)
        aead = AESGCM(bytes.fromhex(request["key"]))
        out = []
        for case in request["cases"]:
            header = bytes([1]) + case["version"].to_bytes(4, "big")
            nonce = os.urandom(12)
            ad = bytes.fromhex(case["ad"])
            aad = header + ad if request["bindHeader"] else ad
            out.append((header + nonce + aead.encrypt(nonce, bytes.fromhex(case["plaintext"]), aad)).hex())
        print(json.dumps(out))
        """

    @Test("Python builds envelopes, Swift opens them")
    func pythonSealsSwiftOpens() throws {
        let key = SymmetricKey(size: .bits256)
        let cases = [0, 1, 100, 65_536].enumerated().map { i, size in
            PlainCase(
                plaintext: randomBytes(size).hex, ad: i == 1 ? "" : Array("record:\(i)".utf8).hex,
                version: [0, 1, 42, .max][i])
        }
        let envelopes = try Python.json(
            script: Self.pythonSeal,
            input: PythonSealRequest(key: key.withUnsafeBytes { Array($0) }.hex, cases: cases, bindHeader: true),
            as: [String].self)
        try #require(envelopes.count == cases.count)
        for (envelopeHex, plain) in zip(envelopes, cases) {
            let envelope = [UInt8](hex: envelopeHex)
            let ad = [UInt8](hex: plain.ad)
            #expect(envelope.count == plain.plaintext.count / 2 + Envelope.overhead)
            #expect(try Envelope.keyVersion(of: envelope) == plain.version)
            #expect(try Envelope.open(envelope, using: key, authenticating: ad).hex == plain.plaintext)
            let viaLookup = try Envelope.open(
                envelope, using: { $0 == plain.version ? key : nil }, authenticating: ad)
            #expect(viaLookup.hex == plain.plaintext)
            #expect(throws: CryptoError(.integrityCheckFailed)) {
                try Envelope.open(envelope, using: key, authenticating: ad + [0x00])
            }
        }
    }

    @Test("an envelope whose header Python did not authenticate is refused")
    func pythonWithoutHeaderBindingIsRefused() throws {
        let key = SymmetricKey(size: .bits256)
        let cases = [PlainCase(plaintext: Array("hello".utf8).hex, ad: Array("ad".utf8).hex, version: 1)]
        let envelopes = try Python.json(
            script: Self.pythonSeal,
            input: PythonSealRequest(key: key.withUnsafeBytes { Array($0) }.hex, cases: cases, bindHeader: false),
            as: [String].self)
        let envelope = [UInt8](hex: try #require(envelopes.first))
        #expect(throws: CryptoError(.integrityCheckFailed)) {
            try Envelope.open(envelope, using: key, authenticating: Array("ad".utf8))
        }
    }
}
