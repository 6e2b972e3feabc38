import ArgumentParser
import CofferCore
import CofferCrypto
import CofferKeys
import CofferServer
import CofferStore
import Foundation
import Hummingbird
import Logging

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
            See README.md for the HTTP API.
            """,
        version: cofferVersion,
        subcommands: [ServerCommand.self, KeygenCommand.self]
    )
}

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the Coffer HTTP API server.",
        discussion: """
            Settings come from these flags or the environment (flags win):
              COFFER_HOST, COFFER_PORT, COFFER_DATA_DIR      where to listen and keep data
              COFFER_MASTER_KEY (or SECRET_ENCRYPTION_KEY,   base64 of 32 bytes; otherwise <data>/master.key,
                ENCRYPTION_KEY)                              generated on first start outside production
              JWT_SECRET_KEY                                 token signing secret; otherwise <data>/jwt.secret
              ENVIRONMENT=production                         refuse to start without explicit keys
              JWT_EXPIRE_MINUTES (15), COFFER_ALLOW_SIGNUP (false), COFFER_MAX_SECRET_BYTES (65536),
              SECRET_ROTATION_DAYS (manual), COFFER_MAX_BODY_BYTES, COFFER_LOG_LEVEL (info)
            """
    )

    @Option(help: "Address to listen on (default 127.0.0.1, or COFFER_HOST).")
    var host: String?

    @Option(help: "Port to listen on (default 8700, or COFFER_PORT).")
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "Directory for the database and generated keys (default ./data, or COFFER_DATA_DIR).")
    var dataDir: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let logger = makeLogger(environment)
        umask(0o077)
        do {
            var configuration = try ServerConfiguration(environment: environment)
            if let host { configuration.host = host }
            if let port {
                guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535.") }
                configuration.port = port
            }
            if let dataDir { configuration.dataDirectory = dataDir }
            let coffer = try await openCoffer(configuration, logger: logger)
            let app = buildApplication(configuration, coffer: coffer, logger: logger)
            try await app.runService()
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
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    var logger = Logger(label: "coffer")
    logger.logLevel = level
    return logger
}
