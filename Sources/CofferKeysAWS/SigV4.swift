import Crypto
import Foundation

/// AWS credentials: an access key, its secret, and a session token for temporary credentials.
public struct AWSCredentials: Sendable, CustomStringConvertible {
    public let accessKeyID: String
    public let secretAccessKey: String
    public let sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// The access key id only: never the secret or the session token.
    public var description: String { "AWSCredentials(\(accessKeyID))" }
}

/// AWS Signature Version 4 (`AWS4-HMAC-SHA256`), as botocore's `SigV4Auth` computes it: the canonical request, the
/// string to sign, the derived signing key and the `Authorization` header.
///
/// Guarantees: the same request, headers, body, credentials, region, service and time give byte for byte the
/// `Authorization` header botocore gives (the tests compare them); every header given is signed; the secret key
/// appears in no output, error or description.
public struct SigV4: Sendable, CustomStringConvertible {
    public let credentials: AWSCredentials
    public let region: String
    public let service: String

    public init(credentials: AWSCredentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    public var description: String { "SigV4(\(credentials), \(region), \(service))" }

    /// The headers to add to a request before sending it: `X-Amz-Date`, `X-Amz-Security-Token` (with a session
    /// token) and `Authorization`.
    ///
    /// - Parameters:
    ///   - host: the `Host` header's value (`kms.eu-west-1.amazonaws.com`, or `127.0.0.1:4566` with a port).
    ///   - path: the request path, not yet percent-encoded (`/`).
    ///   - query: the query parameters, not yet encoded.
    ///   - headers: every other header the request carries (all are signed).
    public func sign(
        method: String, host: String, path: String, query: [(String, String)] = [], headers: [(String, String)],
        body: [UInt8], date: Date
    ) -> [(String, String)] {
        let (amzDate, day) = Self.timestamps(date)
        var signed: [(String, String)] = headers + [("Host", host), ("X-Amz-Date", amzDate)]
        var added = [("X-Amz-Date", amzDate)]
        if let token = credentials.sessionToken {
            signed.append(("X-Amz-Security-Token", token))
            added.append(("X-Amz-Security-Token", token))
        }
        let (canonical, signedNames) = Self.canonicalRequest(
            method: method, path: path, query: query, headers: signed, body: body)
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(Self.hex(SHA256.hash(data: Array(canonical.utf8))))"
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: signingKey(day: day)))
        added.append((
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedNames), "
                + "Signature=\(signature)"
        ))
        return added
    }

    /// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request")`.
    func signingKey(day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + credentials.secretAccessKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    /// The canonical request and the signed header names (`content-type;host;x-amz-date`).
    static func canonicalRequest(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], body: [UInt8]
    ) -> (String, String) {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            merged[name.lowercased(), default: []].append(Self.normalize(value))
        }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedNames = names.joined(separator: ";")
        let encoded: [(key: String, value: String)] = query.map { (encode($0.0, slash: true), encode($0.1, slash: true)) }
        let sortedQuery = encoded.sorted { a, b in a.key == b.key ? a.value < b.value : a.key < b.key }
        let canonicalQuery = sortedQuery.map { $0.key + "=" + $0.value }.joined(separator: "&")
        // Every service but S3 encodes the (already encoded) path a second time.
        let canonicalPath = path.isEmpty ? "/" : encode(encode(path, slash: false), slash: false)
        let request = [
            method, canonicalPath, canonicalQuery, canonicalHeaders, signedNames,
            hex(SHA256.hash(data: body)),
        ].joined(separator: "\n")
        return (request, signedNames)
    }

    /// Header values: runs of white space folded to one space, none at either end (SigV4's rule).
    static func normalize(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    /// RFC 3986 percent-encoding of all but the unreserved characters; `slash` encodes `/` too.
    static func encode(_ text: String, slash: Bool) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where !slash:
                out.append("/")
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// `20261202T054600Z` and `20261202`, in UTC.
    static func timestamps(_ date: Date) -> (String, String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let day = String(format: "%04d%02d%02d", c.year!, c.month!, c.day!)
        return (day + String(format: "T%02d%02d%02dZ", c.hour!, c.minute!, c.second!), day)
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}
