import Crypto
import CofferTestSupport
import Foundation
import Testing

@testable import CofferCrypto

/// The Fernet spec's vectors, as shipped in PyPI's `cryptography-vectors` under `fernet/`.
enum FernetVectors {
    struct Generate: Decodable { let token: String; let now: String; let iv: [UInt8]; let src: String; let secret: String }
    struct Verify: Decodable { let token: String; let now: String; let ttl_sec: Int64; let src: String; let secret: String }
    struct Invalid: Decodable { let desc: String; let token: String; let now: String; let ttl_sec: Int64; let secret: String }

    static func load<T: Decodable>(_ name: String, as: T.Type) throws -> [T] {
        let path = try Python.run(
            script: """
                import os
                try:
                    import cryptography_vectors
                except ImportError:
                    raise SystemExit("the PyPI package cryptography-vectors is missing (scripts/test installs it)")
                print(os.path.join(os.path.dirname(cryptography_vectors.__file__), "fernet", "\(name).json"))
                """)
        return try JSONDecoder().decode([T].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func seconds(_ iso: String) -> Int64 {
        Int64(ISO8601DateFormatter().date(from: iso)!.timeIntervalSince1970)
    }
}

/// Whether `body` fails with a CryptoError (the code differs by where a token is wrong, as in Python, where all
/// are `InvalidToken`).
func refused(_ body: () throws -> Any) -> Bool {
    do {
        _ = try body()
        return false
    } catch {
        return error is CofferCrypto.CryptoError
    }
}

@Suite("Fernet")
struct FernetTests {
    @Test("the spec's generate vectors are reproduced byte for byte")
    func generateVectors() throws {
        let vectors = try FernetVectors.load("generate", as: FernetVectors.Generate.self)
        #expect(!vectors.isEmpty)
        for v in vectors {
            let token = try Fernet(key: v.secret).encrypt(Array(v.src.utf8), at: FernetVectors.seconds(v.now), iv: v.iv)
            #expect(token == v.token)
        }
    }

    @Test("the spec's verify vectors decrypt")
    func verifyVectors() throws {
        let vectors = try FernetVectors.load("verify", as: FernetVectors.Verify.self)
        #expect(!vectors.isEmpty)
        for v in vectors {
            let plaintext = try Fernet(key: v.secret).decrypt(v.token, ttl: v.ttl_sec, now: FernetVectors.seconds(v.now))
            #expect(String(decoding: plaintext, as: UTF8.self) == v.src)
        }
    }

    @Test("every one of the spec's invalid vectors is refused")
    func invalidVectors() throws {
        let vectors = try FernetVectors.load("invalid", as: FernetVectors.Invalid.self)
        #expect(vectors.count >= 5)
        for v in vectors {
            #expect(refused { try Fernet(key: v.secret).decrypt(v.token, ttl: v.ttl_sec, now: FernetVectors.seconds(v.now)) }, "\(v.desc)")
        }
    }

    @Test("Swift tokens decrypt in Python, Python tokens decrypt in Swift, for many sizes")
    func pythonInterop() throws {
        let key = Fernet.generateKey()
        let fernet = try Fernet(key: key)
        let sizes = [0, 1, 15, 16, 17, 100, 1000, 65_536]
        let plaintexts = sizes.map { Base64.encode(randomBytes($0)) }
        let tokens = try plaintexts.map { try fernet.encrypt(Array($0.utf8)) }
        struct Input: Encodable { let key: String; let tokens: [String]; let plaintexts: [String] }
        struct Output: Decodable { let decrypted: [String]; let tokens: [String] }
        let output = try Python.json(
            script: """
                import json, sys
                from cryptography.fernet import Fernet
                data = json.load(sys.stdin)
                f = Fernet(data["key"].encode())
                print(json.dumps({
                    "decrypted": [f.decrypt(t.encode()).decode() for t in data["tokens"]],
                    "tokens": [f.encrypt(p.encode()).decode() for p in data["plaintexts"]],
                }))
                """, input: Input(key: key, tokens: tokens, plaintexts: plaintexts), as: Output.self)
        #expect(output.decrypted == plaintexts)
        for (token, plaintext) in zip(output.tokens, plaintexts) {
            #expect(String(decoding: try fernet.decrypt(token), as: UTF8.self) == plaintext)
        }
    }

    @Test("TTL: fresh tokens pass, old ones and far-future ones fail, as in Python")
    func ttl() throws {
        let key = Fernet.generateKey()
        let fernet = try Fernet(key: key)
        let token = try fernet.encrypt(Array("x".utf8), at: 1_000_000, iv: randomBytes(16))
        #expect(try fernet.decrypt(token, ttl: 10, now: 1_000_010) == Array("x".utf8))
        #expect(refused { try fernet.decrypt(token, ttl: 10, now: 1_000_011) })
        #expect(refused { try fernet.decrypt(token, ttl: 10, now: 1_000_000 - 61) })
        #expect(try fernet.decrypt(token, ttl: 10, now: 1_000_000 - 60) == Array("x".utf8))
        #expect(try fernet.decrypt(token, now: 9_000_000) == Array("x".utf8))  // no TTL: age does not matter
        // Python agrees on an expired token.
        let verdict = try Python.run(
            script: """
                import sys, time
                from cryptography.fernet import Fernet, InvalidToken
                key, token = sys.stdin.read().split()
                try:
                    Fernet(key.encode()).decrypt_at_time(token.encode(), ttl=10, current_time=1000011)
                    print("ok")
                except InvalidToken:
                    print("invalid")
                """, stdin: "\(key) \(token)")
        #expect(verdict == "invalid")
    }

    @Test("MultiFernet: encrypt with the first key, decrypt with any, rotate keeps the timestamp; Python agrees")
    func multiFernet() throws {
        let old = Fernet.generateKey()
        let new = Fernet.generateKey()
        let multi = try MultiFernet([Fernet(key: new), Fernet(key: old)])
        let oldToken = try Fernet(key: old).encrypt(Array("legacy".utf8), at: 1_700_000_000, iv: randomBytes(16))
        #expect(try multi.decrypt(oldToken) == Array("legacy".utf8))
        let rotated = try multi.rotate(oldToken)
        #expect(try Fernet(key: new).decrypt(rotated) == Array("legacy".utf8))
        #expect(try Fernet(key: new).timestamp(of: rotated) == 1_700_000_000)
        #expect(refused { try Fernet(key: old).decrypt(rotated) })
        #expect(refused { try MultiFernet([Fernet(key: Fernet.generateKey())]).decrypt(oldToken) })
        struct Input: Encodable { let keys: [String]; let token: String; let rotated: String }
        struct Output: Decodable { let plain: String; let rotatedByPython: String }
        let output = try Python.json(
            script: """
                import json, sys
                from cryptography.fernet import Fernet, MultiFernet
                d = json.load(sys.stdin)
                m = MultiFernet([Fernet(k.encode()) for k in d["keys"]])
                print(json.dumps({"plain": m.decrypt(d["rotated"].encode()).decode(),
                                  "rotatedByPython": m.rotate(d["token"].encode()).decode()}))
                """, input: Input(keys: [new, old], token: oldToken, rotated: rotated), as: Output.self)
        #expect(output.plain == "legacy")
        #expect(try Fernet(key: new).decrypt(output.rotatedByPython) == Array("legacy".utf8))
        #expect(try Fernet(key: new).timestamp(of: output.rotatedByPython) == 1_700_000_000)
    }

    @Test("tampering with any byte of a token, or a malformed key, is refused")
    func tampering() throws {
        let key = Fernet.generateKey()
        let fernet = try Fernet(key: key)
        let token = try fernet.encrypt(Array("secret".utf8))
        var bytes = Base64.decode(token)!
        for index in bytes.indices {
            bytes[index] ^= 0x01
            let forged = Base64.encode(bytes, urlSafe: true, padded: true)
            #expect(refused { try fernet.decrypt(forged) })
            bytes[index] ^= 0x01
        }
        for badKey in ["", "short", Base64.encode(randomBytes(16), urlSafe: true), "not base64 !!!"] {
            #expect(refused { try Fernet(key: badKey) })
        }
        #expect(refused { try fernet.decrypt("") })
        // The standard alphabet is not Fernet's: a token spelled with + and / is refused, as in Python.
        var urlSafe = token
        for _ in 0..<200 where !urlSafe.contains(where: { $0 == "-" || $0 == "_" }) { urlSafe = try fernet.encrypt(Array("secret".utf8)) }
        let standard = urlSafe.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        #expect(standard != urlSafe)
        #expect(refused { try fernet.decrypt(standard) })
    }
}
