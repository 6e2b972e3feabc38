import Crypto
import Foundation

/// HS256 JSON Web Tokens (RFC 7519) in compact form.
///
/// Guarantees:
/// - Only tokens whose header names `"alg":"HS256"` (and `"typ":"JWT"` or no `typ`) are accepted: `none`,
///   RS256 and every other algorithm are refused, so a token cannot pick its own verification.
/// - Each part must be unpadded base64url (RFC 7515), so one token has exactly one spelling.
/// - The signature is checked in constant time before the claims are decoded.
/// - Claim checks that need a clock (expiry) are the caller's; this type is pure.
public struct CompactJWT: Sendable {
    private let key: SymmetricKey
    private static let header = Base64.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8), urlSafe: true, padded: false)

    private static func isBase64URL(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }

    /// A signer and verifier with one HMAC key (at least 256 bits are expected of callers).
    public init(key: SymmetricKey) { self.key = key }

    /// Signs `claims` (encoded as JSON) and returns `header.payload.signature`.
    public func sign(_ claims: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let payload = Base64.encode(try encoder.encode(claims), urlSafe: true, padded: false)
        let signingInput = Self.header + "." + payload
        let mac = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: key)
        return signingInput + "." + Base64.encode(Array(mac), urlSafe: true, padded: false)
    }

    /// Verifies the signature and algorithm, then decodes the claims.
    /// - Throws: ``CryptoError/Code-swift.struct/malformedToken`` or
    ///   ``CryptoError/Code-swift.struct/invalidSignature``.
    public func verify<Claims: Decodable>(_ token: String, as type: Claims.Type = Claims.self) throws(CryptoError) -> Claims {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count <= 8192, parts.allSatisfy({ $0.allSatisfy(Self.isBase64URL) }),
            let headerBytes = Base64.decode(Substring(parts[0])),
            let payloadBytes = Base64.decode(Substring(parts[1])),
            let signature = Base64.decode(Substring(parts[2]))
        else { throw CryptoError(.malformedToken) }
        let signingInput = token.utf8.prefix(parts[0].count + 1 + parts[1].count)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Array(signingInput), using: key)
        else { throw CryptoError(.invalidSignature) }
        guard let header = try? JSONDecoder().decode(JWTHeader.self, from: Data(headerBytes)), header.alg == "HS256",
            header.typ == nil || header.typ == "JWT"
        else { throw CryptoError(.malformedToken) }
        do {
            return try JSONDecoder().decode(Claims.self, from: Data(payloadBytes))
        } catch {
            throw CryptoError(.malformedToken)
        }
    }
}

private struct JWTHeader: Decodable {
    let alg: String
    let typ: String?
}
