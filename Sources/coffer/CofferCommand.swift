import ArgumentParser
import CofferClient
import CofferCore
import CofferCrypto
import CofferKeys
import CofferServer
import CofferStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The version printed by `coffer --version`.
let cofferVersion = "0.1.0"

@main
struct CofferCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coffer",
        abstract: "Coffer: a self-hosted secrets manager and encryption service.",
        discussion: """
            Start the server with `coffer server` (SQLite and an auto-generated master key under ./data).
            As a client: `coffer login`, then `coffer secrets set|get|list …`, `coffer run -w WS -- CMD`.
            Exit status: 0 ok, 1 failure, 2 usage. See README.md for the HTTP API.
            """,
        version: cofferVersion,
        subcommands: [
            ServerCommand.self, LoginCommand.self, LogoutCommand.self, WorkspaceCommand.self, SecretsCommand.self,
            RunCommand.self, ImportCommand.self, ExportCommand.self, FernetCommand.self, AuditCommand.self,
            KeygenCommand.self, BackupCommand.self, RestoreCommand.self, StorageCommand.self, KeysCommand.self,
        ]
    )

    /// Exit statuses: 0 ok, 1 failure (the API's error code in the message), 2 usage.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if command is ServerCommand {
                // The server's tasks run on NIO's event loop threads, where its connections' I/O already runs,
                // instead of hopping to Swift's own pool and back on every await that touches a connection. Work
                // that holds a thread for long runs on threads of its own: bcrypt and WAL checkpoints on thread
                // pools, SQLite commits on the writer's thread, audit verification and the audit file's export on
                // `BlockingWork`'s. A SQLite read runs on its caller's thread; the usual ones take microseconds.
                NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let exit as ExitCode {
            // A status chosen on purpose (e.g. `coffer run` passing on its command's) is kept as it is.
            Glibc.exit(exit.rawValue)
        } catch let error as CLIError {
            FileHandle.standardError.write(Data("coffer: \(error)\n".utf8))
            Glibc.exit(error.status)
        } catch let error as CofferClientError {
            let hint = error.status == 401 ? ": run `coffer login` again" : ""
            FileHandle.standardError.write(Data("coffer: \(error)\(hint)\n".utf8))
            Glibc.exit(1)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }
}

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the Coffer HTTP API server.",
        discussion: """
            Settings come from these flags or the environment (flags win):
              COFFER_HOST, COFFER_PORT, COFFER_DATA_DIR      where to listen and keep data
              COFFER_DATABASE_URL (or DATABASE_URL)          postgres://user:pass@host:5432/db?sslmode=
                                                             disable|prefer|require|verify-full: PostgreSQL,
                                                             for several instances; unset: SQLite in the data dir
              COFFER_DATABASE_POOL_SIZE (10),                PostgreSQL connections; how long a request waits
                COFFER_DATABASE_TIMEOUT_SECONDS (5)          for one before it fails with 503
              COFFER_MASTER_KEY (or SECRET_ENCRYPTION_KEY,   base64 of 32 bytes; otherwise <data>/master.key,
                ENCRYPTION_KEY, FOSSAWORK_MASTER_KEY,        generated on first start outside production
                TOKEN_ENCRYPTION_KEY)
              SECRET_ENCRYPTION_BACKEND (local)              who wraps the keys: local (alias fernet: the master
                                                             key above), aws_kms or vault (no master key then)
              AWS_KMS_KEY_ID, AWS_REGION, AWS_ACCESS_KEY_ID,  aws_kms: the key (id, ARN or alias/…), credentials
                AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,      (else AWS_PROFILE in the shared credentials file),
                AWS_ENDPOINT_URL_KMS (or AWS_ENDPOINT_URL)     and an endpoint for LocalStack, moto or a VPC
              VAULT_ADDR (or VAULT_URL), VAULT_TOKEN,        vault: a Vault/OpenBao transit engine; transit mount
                VAULT_NAMESPACE, VAULT_TRANSIT_MOUNT,          (transit) and key (coffer); CA file for TLS
                VAULT_TRANSIT_KEY, VAULT_CACERT
              COFFER_KEY_PROVIDER_TIMEOUT_SECONDS (5)        bounds each KMS or Vault call, retries included
              JWT_SECRET_KEY                                 token signing secret; otherwise <data>/jwt.secret
              ENVIRONMENT=production                         refuse to start without explicit keys
              JWT_EXPIRE_MINUTES (15) or JWT_ACCESS_TOKEN_EXPIRES (seconds), COFFER_ALLOW_SIGNUP (false),
              COFFER_MAX_SECRET_BYTES (65536),
              SECRET_ROTATION_DAYS (manual), COFFER_MAX_BODY_BYTES, COFFER_LOG_LEVEL (info),
              COFFER_LOG_FORMAT (text | json), COFFER_METRICS_PUBLIC (false),
              COFFER_METRICS_TOKEN (a Prometheus bearer token for /metrics only)
              COFFER_RATE_LIMIT_PER_MINUTE (1200), COFFER_RATE_LIMIT_VALUES_PER_MINUTE (600),
              COFFER_RATE_LIMIT_AUTH_PER_MINUTE (30), COFFER_LOGIN_MAX_FAILURES (5 per 15 min)
              COFFER_PREVIOUS_MASTER_KEY                     the old master key, to rewrap data keys at start-up
              COFFER_MAX_VERSIONS (100)                      versions kept per secret
              COFFER_AUTH_CACHE_SECONDS (2)                  how long a session or role read is reused; this
                                                             server's own revocations apply at once
              ENABLE_SECRET_AUDIT_LOGGING (true), SECRET_AUDIT_RETENTION_DAYS (365)
              COFFER_AUDIT_FILE                              JSON-lines copy of every audit record
              COFFER_TLS_CERT, COFFER_TLS_KEY                serve HTTPS (HSTS is sent then)
              CORS_ORIGINS                                   comma-separated browser origins allowed (none)
              COFFER_TRUSTED_PROXIES                         proxies (CIDRs) whose X-Forwarded-For/-Proto count
              COFFER_SESSION_DAYS (30), COFFER_REENCRYPTION_BATCH_SIZE (1000)
              COFFER_KEY_ROTATION_DAYS (off)                 rotate data keys older than this many days
              COFFER_WEBHOOK_SECRET                          signs rotation webhook requests (needed to set one)
            """
    )

    @Option(help: "Address to listen on (default 127.0.0.1, or COFFER_HOST).")
    var host: String?

    @Option(help: "Port to listen on (default 8700, or COFFER_PORT).")
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "Directory for the database and generated keys (default ./data, or COFFER_DATA_DIR).")
    var dataDir: String?

    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: serve HTTPS (with --tls-key; or COFFER_TLS_CERT).")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert (or COFFER_TLS_KEY).")
    var tlsKey: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let logger = makeLogger(environment)
        umask(0o077)
        let descriptors = DescriptorLimit.raise()
        logger.debug("open-file limit", metadata: ["soft": "\(descriptors)"])
        do {
            var configuration = try ServerConfiguration(environment: environment)
            // Before any key is loaded.
            try ProcessHardening.apply(lockMemory: configuration.lockMemory, logger: logger)
            if let host { configuration.host = host }
            if let port {
                guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535.") }
                configuration.port = port
            }
            if let dataDir { configuration.dataDirectory = dataDir }
            if let tlsCert { configuration.tlsCertificate = tlsCert }
            if let tlsKey { configuration.tlsKey = tlsKey }
            let tls = try tlsConfiguration(configuration)
            let coffer = try await openCoffer(configuration, environment: environment, logger: logger)
            do {
                try await buildApplication(configuration, coffer: coffer, tls: tls, logger: logger).runService()
            } catch {
                await coffer.close()
                throw error
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            FileHandle.standardError.write(Data("coffer: \(userMessage(error))\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Print a new random 256-bit key (url-safe base64; usable as COFFER_MASTER_KEY or a Fernet key)."
    )

    func run() {
        print(KeyMaterial.encode(KeyMaterial.generate()))
    }
}

/// The message an operator sees for a start-up failure: the error's public message, never key material.
func userMessage(_ error: any Error) -> String {
    switch error {
    case let error as KeyError: error.publicMessage
    case let error as StoreError: error.publicMessage
    case let error as ConfigurationError: error.message
    case let error as CofferError: error.publicMessage
    default: "\(error)"
    }
}

func makeLogger(_ environment: [String: String]) -> Logger {
    let level = environment["COFFER_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
    let json = environment["COFFER_LOG_FORMAT"]?.lowercased() == "json"
    LoggingSystem.bootstrap { label in
        if json {
            var handler = JSONLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    var logger = Logger(label: "coffer")
    logger.logLevel = level
    return logger
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Work with the audit log.",
        subcommands: [AuditVerifyCommand.self]
    )
}

struct AuditVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the audit log's hash chain offline.",
        discussion: """
            Reads <data-dir>/coffer.db, or the PostgreSQL database of COFFER_DATABASE_URL, with the master key
            (COFFER_MASTER_KEY or <data-dir>/master.key) and recomputes every record's MAC. Exits 0 when the chain is intact, 1 when a record was edited, deleted,
            inserted or reordered (the first bad sequence number is printed), 1 on any other error.
            """
    )

    @Option(name: .customLong("data-dir"), help: "The server's data directory (default ./data, or COFFER_DATA_DIR).")
    var dataDir: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var logger = Logger(label: "coffer")
        logger.logLevel = .error
        do {
            let directory = URL(fileURLWithPath: dataDir ?? environment["COFFER_DATA_DIR"] ?? "./data", isDirectory: true)
            let location = try StoreLocation.from(environment: environment, dataDirectory: directory.path)
            if case .sqlite(let databasePath) = location, !FileManager.default.fileExists(atPath: databasePath) {
                throw ConfigurationError("No Coffer database at \(databasePath).")
            }
            let custody = try KeyCustody.load(
                environment: environment, dataDirectory: directory, logger: logger, generateLocalKey: false)
            let database = try await location.open(logger: logger, readerCount: 1)
            let result = try await auditVerification(of: database, custody: custody)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else if let bad = result.firstBadSequence {
                print("audit log BROKEN: \(result.checked) records checked; first bad record: sequence \(bad)")
            } else {
                print("audit log intact: \(result.checked) records checked")
            }
            if !result.isIntact { throw ExitCode.failure }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("coffer: \(userMessage(error))\n".utf8))
            throw ExitCode.failure
        }
    }
}
