import Crypto
import CofferTestSupport
import Foundation
import Testing

@testable import CofferCrypto

@Suite("CompactJWT")
struct CompactJWTTests {
    struct Claims: Codable, Equatable {
        let sub: String
        let exp: Int
        let roles: [String]
    }

    let key = SymmetricKey(size: .bits256)
    let claims = Claims(sub: "user-7", exp: 1_800_000_000, roles: ["admin", "reader"])

    static func b64url(_ text: String) -> String { Base64.encode(Array(text.utf8), urlSafe: true, padded: false) }

    /// A token built by hand: any header, signed with HMAC-SHA256 under `key`.
    static func handmade(header: String, payload: String, key: SymmetricKey) -> String {
        let input = b64url(header) + "." + b64url(payload)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: key)
        return input + "." + Base64.encode(Array(mac), urlSafe: true, padded: false)
    }

    @Test("sign then verify returns the claims; the token is three unpadded base64url parts")
    func roundTrip() throws {
        let jwt = CompactJWT(key: key)
        let token = try jwt.sign(claims)
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3)
        #expect(!token.contains("=") && !token.contains("+") && !token.contains("/"))
        let header = try #require(Base64.decode(parts[0]))
        let headerJSON = try JSONSerialization.jsonObject(with: Data(header)) as? [String: String]
        #expect(headerJSON == ["alg": "HS256", "typ": "JWT"])
        #expect(try #require(Base64.decode(parts[2])).count == 32)
        #expect(try jwt.verify(token, as: Claims.self) == claims)
        let decoded: Claims = try jwt.verify(token)
        #expect(decoded == claims)
    }

    @Test("a token signed with another key is invalidSignature")
    func otherKey() throws {
        let token = try CompactJWT(key: SymmetricKey(size: .bits256)).sign(claims)
        #expect(throws: CryptoError(.invalidSignature)) { try CompactJWT(key: key).verify(token, as: Claims.self) }
    }

    @Test("an altered payload or signature is invalidSignature")
    func alteredPayload() throws {
        let jwt = CompactJWT(key: key)
        let token = try jwt.sign(claims)
        let parts = token.split(separator: ".").map(String.init)
        let forgedPayload = Self.b64url(#"{"exp":1800000000,"roles":["admin","owner"],"sub":"user-7"}"#)
        let forged = [parts[0], forgedPayload, parts[2]].joined(separator: ".")
        #expect(throws: CryptoError(.invalidSignature)) { try jwt.verify(forged, as: Claims.self) }
        // Another user's payload with this token's signature.
        let other = try jwt.sign(Claims(sub: "user-8", exp: 1_800_000_000, roles: []))
        let spliced = [parts[0], String(other.split(separator: ".")[1]), parts[2]].joined(separator: ".")
        #expect(throws: CryptoError(.invalidSignature)) { try jwt.verify(spliced, as: Claims.self) }
        // Every single-character change of the signature.
        var signature = Array(parts[2])
        for index in signature.indices {
            let original = signature[index]
            signature[index] = original == "A" ? "B" : "A"
            let tampered = parts[0] + "." + parts[1] + "." + String(signature)
            do {
                _ = try jwt.verify(tampered, as: Claims.self)
                Issue.record("signature character \(index) changed, yet the token verified")
            } catch {
                #expect(error.code == .invalidSignature || error.code == .malformedToken)
            }
            signature[index] = original
        }
    }

    @Test("alg none with an empty signature is refused")
    func algNone() throws {
        let unsigned = Self.b64url(#"{"alg":"none","typ":"JWT"}"#) + "." + Self.b64url(#"{"sub":"admin","exp":1,"roles":[]}"#) + "."
        do {
            _ = try CompactJWT(key: key).verify(unsigned, as: Claims.self)
            Issue.record("an unsigned alg=none token verified")
        } catch {
            #expect(error.code == .invalidSignature || error.code == .malformedToken)
        }
        // Even correctly MACed, a header naming another algorithm is not accepted.
        let signedNone = Self.handmade(header: #"{"alg":"none"}"#, payload: #"{"sub":"a","exp":1,"roles":[]}"#, key: key)
        #expect(throws: CryptoError(.malformedToken)) { try CompactJWT(key: key).verify(signedNone, as: Claims.self) }
    }

    @Test("a header naming HS512, correctly signed with the right HMAC key, is malformedToken")
    func otherAlgorithm() throws {
        let payload = #"{"sub":"user-7","exp":1800000000,"roles":[]}"#
        for header in [#"{"alg":"HS512"}"#, #"{"alg":"HS512","typ":"JWT"}"#, #"{"alg":"RS256","typ":"JWT"}"#, #"{"alg":"hs256"}"#, #"{"typ":"JWT"}"#, #"{"alg":"HS256","typ":"JWS"}"#, "not json"] {
            let token = Self.handmade(header: header, payload: payload, key: key)
            #expect(throws: CryptoError(.malformedToken), "\(header)") {
                try CompactJWT(key: key).verify(token, as: Claims.self)
            }
        }
        // The same construction with the accepted header verifies, so the refusals above are about the header.
        for header in [#"{"alg":"HS256","typ":"JWT"}"#, #"{"typ":"JWT","alg":"HS256"}"#] {
            let token = Self.handmade(header: header, payload: payload, key: key)
            #expect(try CompactJWT(key: key).verify(token, as: Claims.self).sub == "user-7")
        }
    }

    @Test("garbage is malformedToken", arguments: ["", "a.b", "a.b.c.d", "abc", "a.b.c", "!!.??.**", "eyJ.eyJ"])
    func garbage(token: String) {
        #expect(throws: CryptoError(.malformedToken)) { try CompactJWT(key: key).verify(token, as: Claims.self) }
    }

    @Test("oversized tokens and claims of the wrong shape are malformedToken")
    func oversizedAndWrongShape() throws {
        let jwt = CompactJWT(key: key)
        let huge = try jwt.sign(Claims(sub: String(repeating: "x", count: 9000), exp: 0, roles: []))
        #expect(throws: CryptoError(.malformedToken)) { try jwt.verify(huge, as: Claims.self) }
        struct Other: Decodable { let tenant: String }
        let token = try jwt.sign(claims)
        #expect(throws: CryptoError(.malformedToken)) { try jwt.verify(token, as: Other.self) }
    }

    struct PythonToken: Codable {
        let token: String
        let valid: Bool
        let sub: String
    }

    @Test("Python-made HS256 tokens verify in Swift, and Swift tokens verify in Python")
    func interoperatesWithPython() throws {
        let keyBytes = key.withUnsafeBytes { Array($0) }
        let swiftToken = try CompactJWT(key: key).sign(claims)
        let result = try Python.json(
            script: """
                import sys, json, hmac, hashlib, base64
                request = json.load(sys.stdin)
                key = bytes.fromhex(request["key"])
                def b64(data): return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
                def unb64(text): return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
                header = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
                payload = b64(json.dumps({"sub": "from-python", "exp": 1900000000, "roles": ["ops"]}).encode())
                signing_input = header + "." + payload
                signature = b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())
                h, p, s = request["swift"].split(".")
                expected = hmac.new(key, (h + "." + p).encode(), hashlib.sha256).digest()
                valid = hmac.compare_digest(expected, unb64(s)) and json.loads(unb64(h)) == {"alg": "HS256", "typ": "JWT"}
                print(json.dumps({"token": signing_input + "." + signature, "valid": valid, "sub": json.loads(unb64(p))["sub"]}))
                """,
            input: ["key": keyBytes.hex, "swift": swiftToken], as: PythonToken.self)
        #expect(result.valid)
        #expect(result.sub == "user-7")
        let verified = try CompactJWT(key: key).verify(result.token, as: Claims.self)
        #expect(verified == Claims(sub: "from-python", exp: 1_900_000_000, roles: ["ops"]))
        #expect(throws: CryptoError(.invalidSignature)) {
            try CompactJWT(key: SymmetricKey(size: .bits256)).verify(result.token, as: Claims.self)
        }
    }
}
