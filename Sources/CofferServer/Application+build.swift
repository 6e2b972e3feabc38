import CofferCore
import CofferKeys
import CofferStore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Opens the data directory, keys and database, and assembles the domain. Keys and the database URL are read from
/// `environment` (the process's, for `coffer server`), which nothing keeps afterwards.
///
/// Refuses to start (with a message that says what to set) when the master key or JWT secret is missing in
/// production, malformed, or not the key the data was written with.
public func openCoffer(
    _ configuration: ServerConfiguration, environment: [String: String], logger: Logger
) async throws -> Coffer {
    let directory = URL(fileURLWithPath: configuration.dataDirectory, isDirectory: true)
    try prepareDataDirectory(directory, logger: logger)
    let loader = KeyLoader(environment: environment, dataDirectory: directory, logger: logger)
    let custody = try KeyCustody.load(environment: environment, dataDirectory: directory, logger: logger)
    let previous = try loader.previousMasterKey().map(LocalKeyProvider.init(masterKey:))
    let (jwtKey, _) = try loader.jwtSecret()
    let provider = custody.current
    logger.info(
        "key provider", metadata: [
            "backend": "\(provider.name)", "key_id": "\(provider.keyID)",
            "source": "\(custody.masterKeySource.map { "\($0)" } ?? provider.name)",
            "also_unwrapping": "\(custody.others.map(\.name).joined(separator: ","))",
        ])
    if !configuration.settings.auditEnabled {
        logger.critical(
            "ENABLE_SECRET_AUDIT_LOGGING=false: secret access is NOT being audited. Do not run production like this.")
    }
    let location = try StoreLocation.from(
        environment: environment, dataDirectory: configuration.dataDirectory)
    logger.info("store", metadata: ["location": "\(location)"])
    let database = try await location.open(logger: logger)
    let coffer = try await Coffer.open(
        database: database, provider: provider, otherProviders: custody.others, previousProvider: previous, jwtKey: jwtKey,
        settings: configuration.settings, logger: logger, webhookTransport: HTTPWebhookTransport())
    // Resume a re-encryption job a previous run left unfinished before serving.
    try await coffer.keyRotation.runPending()
    return coffer
}

/// Creates the data directory with mode 0700; warns if an existing one is open to others.
func prepareDataDirectory(_ directory: URL, logger: Logger) throws {
    let path = directory.path
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
        guard isDirectory.boolValue else { throw ConfigurationError("\(path) exists and is not a directory.") }
        if let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int,
            mode & 0o077 != 0
        {
            logger.warning(
                "The data directory is open to group or others; restrict it with chmod 700.",
                metadata: ["path": "\(path)"])
        }
    } else {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ConfigurationError("Cannot create the data directory \(path): \(error.localizedDescription)")
        }
    }
}

/// The TLS configuration for `--tls-cert`/`--tls-key`, or `nil` for plain HTTP.
/// - Throws: a ``ConfigurationError`` naming the file when only one is given or a file does not load.
public func tlsConfiguration(_ configuration: ServerConfiguration) throws -> TLSConfiguration? {
    switch (configuration.tlsCertificate, configuration.tlsKey) {
    case (nil, nil):
        return nil
    case (let certificate?, let key?):
        let chain: [NIOSSLCertificate]
        let privateKey: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate)
        } catch {
            throw ConfigurationError("Cannot load the TLS certificate \(certificate): \(error)")
        }
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw ConfigurationError("Cannot load the TLS private key \(key).")
        }
        guard !chain.isEmpty else { throw ConfigurationError("\(certificate) holds no certificate.") }
        return TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
    default:
        throw ConfigurationError("Give both --tls-cert and --tls-key (or COFFER_TLS_CERT and COFFER_TLS_KEY).")
    }
}

/// The HTTP application over an opened ``Coffer``; HTTPS when `tls` is given.
public func buildApplication(
    _ configuration: ServerConfiguration, coffer: Coffer, tls: TLSConfiguration? = nil, logger: Logger
) throws -> some ApplicationProtocol {
    let router = Router(context: CofferRequestContext.self)
    let metrics = CofferMetrics(coffer: coffer)
    router.add(
        middleware: APIMiddleware(
            maxBodyBytes: configuration.maxBodyBytes, maxImportBytes: configuration.maxImportBytes, corsOrigins: Set(configuration.corsOrigins), hsts: tls != nil,
            metrics: metrics, trustedProxies: configuration.trustedProxies))
    let limiter = RateLimiter(limits: configuration.rateLimits, now: coffer.now)
    router.add(middleware: RateLimitMiddleware(limiter: limiter))
    router.add(
        middleware: AuthMiddleware(
            accounts: coffer.accounts, serviceTokens: coffer.serviceTokens, metricsToken: configuration.metricsToken?.value))
    router.get("/health") { request, context -> Response in
        let healthy = await coffer.isHealthy()
        struct Health: Encodable, Sendable { let status: String }
        if healthy {
            return try JSONResponse(Health(status: "ok")).response(from: request, context: context)
        }
        return APIError(status: .serviceUnavailable, code: "unhealthy", message: "The store or key provider is not usable.")
            .response()
    }
    let metricsController = MetricsController(metrics: metrics, admin: coffer.admin, isPublic: configuration.metricsPublic)
    router.get("/metrics", use: metricsController.handle)
    // Encoded once: the document is large and never changes while the server runs.
    let openAPI = ByteBuffer(bytes: try JSONCoding.encoder.encode(OpenAPIDocument.document))
    router.get("/openapi.json") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: openAPI))
    }
    let cookies = CookieSessions(
        secure: configuration.cookieSecure || tls != nil, sessionSeconds: configuration.settings.sessionDays * 86_400)
    router.addRoutes(
        AuthController(accounts: coffer.accounts, limiter: limiter, cookies: cookies).routes, atPath: "/api/auth")
    WebUI().add(to: router)
    router.addRoutes(WorkspacesController(workspaces: coffer.workspaces).routes, atPath: "/api/workspaces")
    router.addRoutes(ServiceTokensController(tokens: coffer.serviceTokens).routes, atPath: "/api/workspaces/:workspace_id/tokens")
    router.addRoutes(
        SecretsController(secrets: coffer.secrets).routes, atPath: "/api/secrets/workspaces/:workspace_id/secrets")
    router.addRoutes(
        WorkspaceAuditController(secrets: coffer.secrets).routes, atPath: "/api/secrets/workspaces/:workspace_id/audit")
    router.addRoutes(AdminController(admin: coffer.admin).routes, atPath: "/api/secrets/admin")
    router.addRoutes(InstanceAuditController(admin: coffer.admin).routes, atPath: "/api/admin/audit")
    // The Vault-compatible surface: its own token header, error shape and rate-limit classes.
    let vault = router.group("v1").add(
        middleware: VaultMiddleware(accounts: coffer.accounts, serviceTokens: coffer.serviceTokens, limiter: limiter))
    VaultSysController(coffer: coffer).add(to: vault)
    VaultKVController(coffer: coffer).add(to: vault)
    VaultTransitController(coffer: coffer).add(to: vault)
    let http1 = HTTPServerBuilder.cofferHTTP1(deadlines: configuration.deadlines)
    // Services stop in reverse order: the database closes last.
    var services: [any Service] = [CofferShutdown(coffer: coffer), coffer.keyRotation, coffer.scheduler]
    if let path = configuration.auditFile {
        services.append(coffer.auditFileExporter(path: path, logger: logger))
    }
    return Application(
        router: router,
        server: try tls.map { try .tls(http1, tlsConfiguration: $0) } ?? http1,
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port), serverName: "Coffer",
            availableConnectionsDelegate: MaximumAvailableConnections(
                min(configuration.maxConnections, DescriptorLimit.connectionBudget()), logger: logger)),
        services: services,
        logger: logger)
}

/// Closes the domain (database, hashing threads) after the server has stopped taking requests.
struct CofferShutdown: Service {
    let coffer: Coffer

    func run() async throws {
        try? await gracefulShutdown()
        await coffer.close()
    }
}
