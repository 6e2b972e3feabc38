import AsyncHTTPClient
import CofferCrypto
import CofferKeys
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Where and as whom to reach AWS KMS.
public struct KMSConfiguration: Sendable {
    /// A key id, key ARN or `alias/…`.
    public var keyID: String
    public var region: String
    /// `https://kms.<region>.amazonaws.com`, or `AWS_ENDPOINT_URL_KMS` / `AWS_ENDPOINT_URL` (LocalStack, moto, a
    /// VPC endpoint).
    public var endpoint: URL
    public var credentials: AWSCredentials
    /// Bounds each call, its retries included.
    public var timeout: Duration = .seconds(5)
    /// Attempts per call within ``timeout`` (throttling, 5xx and connection failures are retried with jittered
    /// backoff).
    public var attempts = 4

    public init(keyID: String, region: String, endpoint: URL, credentials: AWSCredentials) {
        self.keyID = keyID
        self.region = region
        self.endpoint = endpoint
        self.credentials = credentials
    }

    /// Seed 004's and the AWS SDKs' settings.
    /// - Throws: a ``KeyError`` `.missingKey` naming what to set.
    public static func from(environment: [String: String]) throws(KeyError) -> KMSConfiguration {
        guard let keyID = environment["AWS_KMS_KEY_ID"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw KeyError(.missingKey, "SECRET_ENCRYPTION_BACKEND=aws_kms needs AWS_KMS_KEY_ID (a key id, ARN or alias/…).")
        }
        guard let region = (environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"]).flatMap({ $0.isEmpty ? nil : $0 })
        else { throw KeyError(.missingKey, "SECRET_ENCRYPTION_BACKEND=aws_kms needs AWS_REGION.") }
        guard let credentials = AWSCredentials.load(environment: environment) else {
            throw KeyError(
                .missingKey,
                "No AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile (AWS_PROFILE) in "
                    + "the shared credentials file.")
        }
        let text = environment["AWS_ENDPOINT_URL_KMS"] ?? environment["AWS_ENDPOINT_URL"] ?? "https://kms.\(region).amazonaws.com"
        guard let endpoint = URL(string: text), let scheme = endpoint.scheme, ["http", "https"].contains(scheme),
            endpoint.host != nil
        else { throw KeyError(.invalidKey, "The AWS KMS endpoint \(text) is not an http(s) URL.") }
        var configuration = KMSConfiguration(keyID: keyID, region: region, endpoint: endpoint, credentials: credentials)
        if let seconds = environment["COFFER_KEY_PROVIDER_TIMEOUT_SECONDS"].flatMap(Double.init), seconds > 0 {
            configuration.timeout = .milliseconds(Int(seconds * 1000))
        }
        return configuration
    }
}

/// Wraps keys with an AWS KMS key (seed 004's `aws_kms` backend): `Encrypt` and `Decrypt` with an encryption
/// context that binds each wrapped key to what it protects, signed with SigV4.
///
/// Guarantees: key material travels only in the TLS-protected body of `Encrypt`/`Decrypt` calls; a wrapped key
/// presented with another context, or made by another KMS key, is `unwrapFailed`; an unreachable, throttling or
/// refusing KMS is `providerUnavailable` with the cause in words, never the credentials.
public struct KMSKeyProvider: KeyProvider {
    public let name = "aws_kms"
    public let keyID: String
    let configuration: KMSConfiguration
    let signer: SigV4
    let client: HTTPClient

    public init(_ configuration: KMSConfiguration, client: HTTPClient = .shared) {
        self.configuration = configuration
        self.keyID = configuration.keyID
        self.signer = SigV4(credentials: configuration.credentials, region: configuration.region, service: "kms")
        self.client = client
    }

    /// The encryption context of a wrapped key.
    static func context(_ context: String) -> [String: String] { ["coffer": context] }

    public func wrap(_ key: SymmetricKey, context: String) async throws -> Data {
        let plaintext = key.withUnsafeBytes { Base64.encode($0) }
        let reply = try await call(
            "Encrypt", ["KeyId": keyID, "Plaintext": plaintext, "EncryptionContext": Self.context(context)])
        guard let blob = reply["CiphertextBlob"] as? String, let bytes = Base64.decode(blob) else {
            throw KeyError(.providerUnavailable, "AWS KMS answered Encrypt without a ciphertext.")
        }
        return Data(bytes)
    }

    public func unwrap(_ wrapped: Data, context: String) async throws -> SymmetricKey {
        let reply = try await call(
            "Decrypt",
            ["KeyId": keyID, "CiphertextBlob": Base64.encode(wrapped), "EncryptionContext": Self.context(context)])
        guard let text = reply["Plaintext"] as? String, var bytes = Base64.decode(text) else {
            throw KeyError(.providerUnavailable, "AWS KMS answered Decrypt without a plaintext.")
        }
        defer { KeyMaterial.wipe(&bytes) }
        return SymmetricKey(data: bytes)
    }

    public func checkHealth() async -> Bool {
        guard let reply = try? await call("DescribeKey", ["KeyId": keyID]),
            let metadata = reply["KeyMetadata"] as? [String: Any]
        else { return false }
        return metadata["Enabled"] as? Bool ?? false
    }

    /// One KMS API call (JSON 1.1 protocol), retried on throttling, 5xx and connection failures, all within the
    /// configured timeout (``ProviderBackoff``).
    func call(_ operation: String, _ body: [String: Any]) async throws(KeyError) -> [String: Any] {
        let payload: [UInt8]
        do {
            payload = Array(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
        } catch {
            throw KeyError(.providerUnavailable, "The AWS KMS request could not be encoded.")
        }
        return try await ProviderBackoff.call(
            attempts: configuration.attempts, within: configuration.timeout,
            unanswered: KeyError(.providerUnavailable, "AWS KMS did not answer.")
        ) { timeLeft in
            await exchange(operation, payload, timeout: timeLeft)
        }
    }

    private func exchange(_ operation: String, _ payload: [UInt8], timeout: Duration) async -> ProviderAttempt<[String: Any]> {
        let endpoint = configuration.endpoint
        let host = endpoint.port.map { "\(endpoint.host!):\($0)" } ?? endpoint.host!
        let target = "TrentService.\(operation)"
        var headers = HTTPHeaders()
        let base: [(String, String)] = [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", target)]
        for (name, value) in base { headers.add(name: name, value: value) }
        for (name, value) in signer.sign(method: "POST", host: host, path: "/", headers: base, body: payload, date: Date()) {
            headers.add(name: name, value: value)
        }
        var request = HTTPClientRequest(url: endpoint.absoluteString.hasSuffix("/") ? endpoint.absoluteString : endpoint.absoluteString + "/")
        request.method = .POST
        request.headers = headers
        request.body = .bytes(ByteBuffer(bytes: payload))
        let status: UInt
        let body: ByteBuffer
        do {
            (status, body) = try await ProviderBackoff.within(timeout) { [client, request] in
                let response = try await client.execute(request, timeout: .init(timeout))
                return (response.status.code, try await response.body.collect(upTo: 1 << 20))
            }
        } catch {
            return .retry(KeyError(.providerUnavailable, "AWS KMS at \(host) could not be reached or did not answer in time."))
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
        if status == 200, let object { return .done(object) }
        let type = Self.errorType(object: object, text: String(buffer: body))
        switch type {
        case "ThrottlingException", "RequestLimitExceeded", "Throttling", "KMSInternalException", "DependencyTimeoutException":
            return .retry(KeyError(.providerUnavailable, "AWS KMS is throttling or failing (\(type)); retry later."))
        case "InvalidCiphertextException", "IncorrectKeyException":
            return .fail(KeyError(.unwrapFailed, "AWS KMS refused to decrypt a wrapped key: it was not made by this key with this context."))
        case "NotFoundException":
            return .fail(KeyError(.providerUnavailable, "AWS KMS has no key \(configuration.keyID) in \(configuration.region)."))
        case "DisabledException", "KMSInvalidStateException":
            return .fail(KeyError(.providerUnavailable, "The AWS KMS key \(configuration.keyID) is disabled or pending deletion."))
        case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignature",
            "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredTokenException", "AccessDenied":
            return .fail(KeyError(.providerUnavailable, "AWS KMS refused the credentials or their permissions (\(type))."))
        default:
            if status >= 500 || status == 429 {
                return .retry(KeyError(.providerUnavailable, "AWS KMS failed (HTTP \(status)); retry later."))
            }
            if status == 403 {
                return .fail(KeyError(.providerUnavailable, "AWS KMS refused the credentials or their permissions (HTTP 403)."))
            }
            return .fail(KeyError(.providerUnavailable, "AWS KMS refused \(operation) (HTTP \(status)\(type.isEmpty ? "" : ", \(type)"))."))
        }
    }

    /// The error's type: JSON's `__type` (`com.amazonaws.kms#NotFoundException` → `NotFoundException`), or an XML
    /// `<Code>` (moto answers XML).
    static func errorType(object: [String: Any]?, text: String) -> String {
        if let type = object?["__type"] as? String { return String(type.split(separator: "#").last ?? "") }
        if let start = text.range(of: "<Code>"), let end = text.range(of: "</Code>", range: start.upperBound..<text.endIndex) {
            return String(text[start.upperBound..<end.lowerBound])
        }
        return ""
    }
}
