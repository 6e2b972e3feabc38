import Crypto
import CofferTestSupport
import Foundation
import Testing

@testable import CofferCrypto

/// Vault's `aes256-gcm96` layout, checked against Python's `cryptography` in both directions.
@Suite("Transit ciphertexts")
struct TransitCiphertextTests {
    struct Case: Codable {
        let text: String
        let aad: String
        let plaintext: String
    }
    struct Request: Codable {
        let key: String
        let cases: [Case]
    }

    @Test("Swift seals in Vault's layout, Python's AESGCM opens; Python seals, Swift opens")
    func pythonOracle() throws {
        let key = SymmetricKey(size: .bits256)
        let prepared = try EnvelopeKey(key)
        var cases: [Case] = []
        for (i, size) in [0, 1, 100, 4096].enumerated() {
            let plaintext = randomBytes(size)
            let aad = i % 2 == 0 ? [UInt8]() : Array("context-\(i)".utf8)
            let sealed = try TransitCiphertext.seal(plaintext, using: prepared, authenticating: aad)
            cases.append(Case(text: TransitCiphertext.text(version: i + 1, sealed: sealed), aad: aad.hex, plaintext: plaintext.hex))
        }
        let reply = try Python.json(
            script: """
                import sys, json, base64, os
                from cryptography.hazmat.primitives.ciphers.aead import AESGCM
                request = json.load(sys.stdin)
                aead = AESGCM(bytes.fromhex(request["key"]))
                out = []
                for i, case in enumerate(request["cases"]):
                    prefix, version, body = case["text"].split(":")
                    assert prefix == "vault" and version == f"v{i + 1}", case["text"]
                    raw = base64.b64decode(body, validate=True)
                    ad = bytes.fromhex(case["aad"]) or None
                    assert aead.decrypt(raw[:12], raw[12:], ad).hex() == case["plaintext"]
                    nonce = os.urandom(12)
                    again = nonce + aead.encrypt(nonce, bytes.fromhex(case["plaintext"]), ad)
                    out.append({"text": f"vault:v{i + 1}:" + base64.b64encode(again).decode(), "aad": case["aad"],
                                "plaintext": case["plaintext"]})
                print(json.dumps(out))
                """,
            input: Request(key: key.withUnsafeBytes { Array($0) }.hex, cases: cases), as: [Case].self)
        try #require(reply.count == cases.count)
        for (i, item) in reply.enumerated() {
            let (version, sealed) = try TransitCiphertext.parse(item.text)
            #expect(version == i + 1)
            let opened = try TransitCiphertext.open(sealed, using: prepared, authenticating: [UInt8](hex: item.aad))
            #expect(opened.hex == item.plaintext)
        }
    }

    @Test("Every changed byte, wrong associated data or malformed text is refused")
    func refusals() throws {
        let prepared = try EnvelopeKey(SymmetricKey(size: .bits256))
        let sealed = try TransitCiphertext.seal(Array("payload".utf8), using: prepared, authenticating: [1, 2])
        for index in sealed.indices {
            var changed = sealed
            changed[index] ^= 0x01
            #expect(throws: CofferCrypto.CryptoError.self) { try TransitCiphertext.open(changed, using: prepared, authenticating: [1, 2]) }
        }
        #expect(throws: CofferCrypto.CryptoError.self) { try TransitCiphertext.open(sealed, using: prepared, authenticating: [1, 3]) }
        let text = TransitCiphertext.text(version: 3, sealed: sealed)
        #expect(try TransitCiphertext.parse(text).version == 3)
        for bad in [
            "", "vault:", "vault:v:", "vault:v0:" + text.split(separator: ":")[2], "vault:v1x:AAAA", "vault:v1:notbase64!!",
            "vault:v1:AAAA", "vault:v99999999999:" + text.split(separator: ":")[2], "VAULT:v1:" + text.split(separator: ":")[2],
            String(text.split(separator: ":")[2]),
        ] {
            #expect(throws: CofferCrypto.CryptoError.self, "\(bad)") { try TransitCiphertext.parse(bad) }
        }
    }
}
