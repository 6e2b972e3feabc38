import AsyncHTTPClient
import CofferCrypto
import CofferKeys
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Where and as whom to reach a Vault (or OpenBao, or Coffer's own `/v1`) transit engine.
public struct VaultTransitConfiguration: Sendable {
    public var address: URL
    public var token: String
    public var namespace: String?
    public var mount: String
    public var key: String
    /// A PEM file of CA certificates to trust instead of the system's.
    public var caCertificate: String?
    /// Bounds each call, its retries included.
    public var timeout: Duration = .seconds(5)
    /// Attempts per call within ``timeout`` (5xx, 429 and connection failures are retried with jittered backoff).
    public var attempts = 4

    public init(address: URL, token: String, namespace: String? = nil, mount: String = "transit", key: String = "coffer") {
        self.address = address
        self.token = token
        self.namespace = namespace
        self.mount = mount
        self.key = key
    }

    /// `VAULT_ADDR` (or `VAULT_URL`), `VAULT_TOKEN`, `VAULT_NAMESPACE`, `VAULT_TRANSIT_MOUNT` (default `transit`),
    /// `VAULT_TRANSIT_KEY` (default `coffer`), `VAULT_CACERT`.
    /// - Throws: a ``KeyError`` `.missingKey` naming what to set.
    public static func from(environment: [String: String]) throws(KeyError) -> VaultTransitConfiguration {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        guard let text = value("VAULT_ADDR") ?? value("VAULT_URL") else {
            throw KeyError(.missingKey, "SECRET_ENCRYPTION_BACKEND=vault needs VAULT_ADDR (for example https://vault:8200).")
        }
        guard let address = URL(string: text), let scheme = address.scheme, ["http", "https"].contains(scheme),
            address.host != nil
        else { throw KeyError(.invalidKey, "VAULT_ADDR \(text) is not an http(s) URL.") }
        guard let token = value("VAULT_TOKEN") else {
            throw KeyError(.missingKey, "SECRET_ENCRYPTION_BACKEND=vault needs VAULT_TOKEN.")
        }
        var configuration = VaultTransitConfiguration(
            address: address, token: token, namespace: value("VAULT_NAMESPACE"),
            mount: (value("VAULT_TRANSIT_MOUNT") ?? "transit").trimmingCharacters(in: CharacterSet(charactersIn: "/")),
            key: value("VAULT_TRANSIT_KEY") ?? "coffer")
        configuration.caCertificate = value("VAULT_CACERT")
        if let seconds = value("COFFER_KEY_PROVIDER_TIMEOUT_SECONDS").flatMap(Double.init), seconds > 0 {
            configuration.timeout = .milliseconds(Int(seconds * 1000))
        }
        return configuration
    }
}

/// Wraps keys with a Vault transit key (seed 004's `vault` backend): `encrypt` and `decrypt` with associated data
/// that binds each wrapped key to what it protects.
///
/// Guarantees: the token travels only in the `X-Vault-Token` header and appears in no error or description; a
/// wrapped key presented with another context is `unwrapFailed`; an unreachable, sealed or refusing Vault is
/// `providerUnavailable` with the cause in words.
public final class VaultTransitKeyProvider: KeyProvider, CustomStringConvertible {
    public let name = "vault"
    public let keyID: String
    let configuration: VaultTransitConfiguration
    let client: HTTPClient
    /// A client made here (for `VAULT_CACERT`) is shut down with ``shutdown()``.
    private let ownsClient: Bool

    public init(_ configuration: VaultTransitConfiguration) throws(KeyError) {
        self.configuration = configuration
        self.keyID = "vault:\(configuration.mount)/\(configuration.key)"
        if let path = configuration.caCertificate {
            var tls = TLSConfiguration.makeClientConfiguration()
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
            } catch {
                throw KeyError(.providerUnavailable, "VAULT_CACERT \(path) holds no readable PEM certificate.")
            }
            client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
            ownsClient = true
        } else {
            client = .shared
            ownsClient = false
        }
    }

    public var description: String { "VaultTransitKeyProvider(\(configuration.address.absoluteString), \(keyID))" }

    public func shutdown() async {
        if ownsClient { try? await client.shutdown() }
    }

    public func wrap(_ key: SymmetricKey, context: String) async throws -> Data {
        let plaintext = key.withUnsafeBytes { Base64.encode($0) }
        let data = try await call(
            "encrypt", ["plaintext": plaintext, "associated_data": Base64.encode(Array(context.utf8))])
        guard let ciphertext = data["ciphertext"] as? String else {
            throw KeyError(.providerUnavailable, "Vault answered encrypt without a ciphertext.")
        }
        return Data(ciphertext.utf8)
    }

    public func unwrap(_ wrapped: Data, context: String) async throws -> SymmetricKey {
        let data = try await call(
            "decrypt",
            ["ciphertext": String(decoding: wrapped, as: UTF8.self), "associated_data": Base64.encode(Array(context.utf8))])
        guard let text = data["plaintext"] as? String, var bytes = Base64.decode(text) else {
            throw KeyError(.providerUnavailable, "Vault answered decrypt without a plaintext.")
        }
        defer { KeyMaterial.wipe(&bytes) }
        return SymmetricKey(data: bytes)
    }

    public func checkHealth() async -> Bool {
        (try? await request(.GET, "keys/\(configuration.key)", body: nil, timeout: configuration.timeout)).map { $0.status == 200 } ?? false
    }

    /// One transit operation, retried on 5xx, 429 and connection failures with jittered backoff, all within the
    /// configured timeout (``ProviderBackoff``).
    private func call(_ operation: String, _ body: [String: String]) async throws(KeyError) -> [String: Any] {
        try await ProviderBackoff.call(
            attempts: configuration.attempts, within: configuration.timeout,
            unanswered: KeyError(.providerUnavailable, "Vault did not answer.")
        ) { timeLeft in
            await attempt(operation, body, timeout: timeLeft)
        }
    }

    private func attempt(
        _ operation: String, _ body: [String: String], timeout: Duration
    ) async -> ProviderAttempt<[String: Any]> {
        let reply: (status: UInt, object: [String: Any]?)
        do {
            reply = try await request(.POST, "\(operation)/\(configuration.key)", body: body, timeout: timeout)
        } catch {
            return .retry(KeyError(
                .providerUnavailable,
                "Vault at \(configuration.address.host ?? "?") could not be reached or did not answer in time."))
        }
        let errors = (reply.object?["errors"] as? [String])?.joined(separator: "; ") ?? ""
        switch reply.status {
        case 200:
            guard let data = reply.object?["data"] as? [String: Any] else {
                return .fail(KeyError(.providerUnavailable, "Vault answered \(operation) without data."))
            }
            return .done(data)
        case 429, 500...599:
            return .retry(KeyError(.providerUnavailable, "Vault is failing or sealed (HTTP \(reply.status)); retry later."))
        case 403:
            return .fail(KeyError(.providerUnavailable, "Vault refused the token for transit \(operation) (permission denied)."))
        case 400 where operation == "decrypt" && !errors.contains("key not found"):
            return .fail(KeyError(
                .unwrapFailed, "Vault refused to decrypt a wrapped key: it was not made by this key with this context."))
        default:
            return .fail(KeyError(
                .providerUnavailable,
                "Vault refused transit \(operation) with key \(configuration.key) (HTTP \(reply.status))"
                    + (errors.isEmpty ? "." : ": \(errors.prefix(200)).")))
        }
    }

    private func request(
        _ method: HTTPMethod, _ path: String, body: [String: String]?, timeout: Duration
    ) async throws -> (status: UInt, object: [String: Any]?) {
        var url = configuration.address.absoluteString
        if url.hasSuffix("/") { url.removeLast() }
        var request = HTTPClientRequest(url: "\(url)/v1/\(configuration.mount)/\(path)")
        request.method = method
        request.headers.add(name: "X-Vault-Token", value: configuration.token)
        request.headers.add(name: "X-Vault-Request", value: "true")
        if let namespace = configuration.namespace { request.headers.add(name: "X-Vault-Namespace", value: namespace) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let (status, bytes) = try await ProviderBackoff.within(timeout) { [client, request] in
            let response = try await client.execute(request, timeout: .init(timeout))
            return (response.status.code, try await response.body.collect(upTo: 1 << 20))
        }
        return (status, (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any])
    }
}
