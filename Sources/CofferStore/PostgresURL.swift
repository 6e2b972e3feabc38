import Foundation
import NIOSSL
import PostgresNIO

/// A PostgreSQL connection URL: `postgres://user:password@host:5432/database?sslmode=verify-full`.
///
/// `description` never shows the password, so the URL can be logged and put into errors as it is.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    /// How the connection is encrypted (`sslmode`, with libpq's names).
    public enum SSLMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS if the server offers it, without checking its certificate (libpq's default).
        case prefer
        /// TLS or no connection; the certificate is not checked.
        case require
        /// TLS, with the certificate checked against the trusted roots (`sslrootcert`, or the system's) and the
        /// host name.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    /// A PEM file of CA certificates for `verify-full` (`sslrootcert`); the system's roots when nil.
    public var rootCertificatePath: String?

    /// Parses a `postgres://` or `postgresql://` URL.
    /// - Throws: ``StoreError`` `.unavailable` naming what is wrong, never echoing the password.
    public init(_ text: String) throws {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql"
        else {
            throw StoreError(
                .unavailable, "The database URL must look like postgres://user:password@host:5432/database.")
        }
        guard let host = components.host, !host.isEmpty else {
            throw StoreError(.unavailable, "The database URL names no host.")
        }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? 5432
        self.username = components.percentEncodedUser.flatMap { $0.removingPercentEncoding } ?? "postgres"
        self.password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? username : path
        var mode = SSLMode.prefer
        var root: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    throw StoreError(
                        .unavailable,
                        "sslmode must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                mode = value
            case "sslrootcert":
                root = item.value
            default:
                throw StoreError(.unavailable, "The database URL has an unknown parameter `\(item.name)`.")
            }
        }
        self.sslMode = mode
        self.rootCertificatePath = root
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        "postgres://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    /// The URL itself, password included, to hand to another process (an environment variable); never log it.
    public var connectionString: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = username
        components.password = password
        components.host = host.contains(":") ? "[\(host)]" : host
        components.port = port
        components.path = "/" + database
        components.queryItems = [URLQueryItem(name: "sslmode", value: sslMode.rawValue)]
            + (rootCertificatePath.map { [URLQueryItem(name: "sslrootcert", value: $0)] } ?? [])
        return components.string ?? description
    }

    /// The same server and credentials, another database.
    public func with(database: String) -> PostgresURL {
        var url = self
        url.database = database
        return url
    }

    /// The TLS settings for `sslMode`, or nil for `disable`.
    private func tlsConfiguration() throws -> TLSConfiguration? {
        switch sslMode {
        case .disable:
            return nil
        case .prefer, .require:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            return configuration
        case .verifyFull:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .fullVerification
            if let rootCertificatePath {
                do {
                    configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(rootCertificatePath))
                } catch {
                    throw StoreError(.unavailable, "Cannot read sslrootcert \(rootCertificatePath).")
                }
            }
            return configuration
        }
    }

    /// postgres-nio's pool configuration for this URL.
    func clientConfiguration(poolSize: Int) throws -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch (sslMode, try tlsConfiguration()) {
            case (_, nil): .disable
            case (.prefer, let configuration?): .prefer(configuration)
            case (_, let configuration?): .require(configuration)
            }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.maximumConnections = max(2, poolSize)
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = [("application_name", "coffer")]
        return configuration
    }

    /// postgres-nio's configuration of a single connection for this URL (the start-up check).
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS =
            switch (sslMode, try tlsConfiguration()) {
            case (_, nil): .disable
            case (.prefer, let configuration?): .prefer(try NIOSSLContext(configuration: configuration))
            case (_, let configuration?): .require(try NIOSSLContext(configuration: configuration))
            }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = [("application_name", "coffer")]
        return configuration
    }
}
