import ArgumentParser
import CofferCore
import CofferCrypto
import CofferKeys
import CofferServer
import CofferStore
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Offline operations on a store: what an operator runs with the server stopped (or, for `backup`, running).
struct StorageOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The server's data directory (default ./data, or COFFER_DATA_DIR).")
    var dataDir: String?

    var directory: URL {
        URL(fileURLWithPath: dataDir ?? ProcessInfo.processInfo.environment["COFFER_DATA_DIR"] ?? "./data", isDirectory: true)
    }

    var databasePath: String { directory.appendingPathComponent("coffer.db").path }

    /// The configured key providers (`SECRET_ENCRYPTION_BACKEND` and the others whose settings are given); a local
    /// master key is never generated here.
    func custody(logger: Logger, backend: KeyBackend? = nil) throws -> KeyCustody {
        try KeyCustody.load(
            environment: ProcessInfo.processInfo.environment, dataDirectory: directory, logger: logger, backend: backend,
            generateLocalKey: false)
    }
}

/// Runs `body`, printing a failure as `coffer: message` and exiting 1.
private func reportingFailure(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        FileHandle.standardError.write(Data("coffer: \(userMessage(error))\n".utf8))
        throw ExitCode.failure
    }
}

/// Opens a Coffer over `database` (taking it over) with the configured key providers, recomputes its audit chain,
/// and closes it.
/// - Throws: the key's error if no configured provider holds the key the data was written with.
func auditVerification(of database: any CofferDatabase, custody: KeyCustody) async throws -> AuditVerification {
    var logger = Logger(label: "coffer")
    logger.logLevel = .error
    let coffer = try await Coffer.open(
        database: database, provider: custody.current, otherProviders: custody.others, jwtKey: KeyMaterial.generate(),
        logger: logger)
    do {
        let result = try await coffer.audit.verify()
        await coffer.close()
        return result
    } catch {
        await coffer.close()
        throw error
    }
}

/// ``auditVerification(of:custody:)``, as an error naming the first bad record if the chain does not verify;
/// returns the records checked.
private func verifyAuditChain(_ database: any CofferDatabase, custody: KeyCustody, what: String) async throws -> Int {
    let result = try await auditVerification(of: database, custody: custody)
    if let bad = result.firstBadSequence {
        throw ConfigurationError("The audit chain of \(what) does not verify (first bad record: sequence \(bad)).")
    }
    return result.checked
}

struct StorageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "Move a store between databases.",
        subcommands: [StorageMigrateCommand.self]
    )
}

struct StorageMigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a SQLite store into an empty PostgreSQL database.",
        discussion: """
            Stop the server first. The ciphertexts are copied as they are, never decrypted, so the PostgreSQL
            instances must use the same COFFER_MASTER_KEY (or <data-dir>/master.key). The source's audit chain is
            verified first, every table's row count is compared inside the copy's one transaction, and the chain is
            verified again on the target: all or nothing. A target that already holds data is refused.
            The URL may come from COFFER_DATABASE_URL instead of --to, which keeps its password out of `ps`.
            """
    )

    @OptionGroup var options: StorageOptions

    @Option(help: "postgres://user:password@host:5432/database?sslmode=… (default: COFFER_DATABASE_URL).")
    var to: String?

    func run() async throws {
        var logger = Logger(label: "coffer")
        logger.logLevel = .error
        try await reportingFailure {
            let environment = ProcessInfo.processInfo.environment
            guard let text = to ?? environment["COFFER_DATABASE_URL"] ?? environment["DATABASE_URL"] else {
                throw ConfigurationError("Give the target with --to postgres://… or COFFER_DATABASE_URL.")
            }
            let url = try PostgresURL(text)
            guard FileManager.default.fileExists(atPath: options.databasePath) else {
                throw ConfigurationError("No Coffer database at \(options.databasePath).")
            }
            let custody = try options.custody(logger: logger)
            let source = try await SQLiteDatabaseStore.open(path: options.databasePath, readerCount: 1, logger: logger)
            let records = try await verifyAuditChain(source, custody: custody, what: options.databasePath)
            let reopened = try await SQLiteDatabaseStore.open(path: options.databasePath, readerCount: 1, logger: logger)
            let target: any CofferDatabase
            do {
                target = try await PostgresDatabaseStore.open(url: url, poolSize: 2, timeout: .seconds(60), logger: logger)
            } catch {
                await reopened.close()
                throw error
            }
            let copied: [String: Int]
            do {
                copied = try await StoreCopy.copy(from: reopened, to: target)
            } catch {
                await reopened.close()
                await target.close()
                throw error
            }
            await reopened.close()
            do {
                _ = try await verifyAuditChain(target, custody: custody, what: "\(url)")
            } catch {
                let cleanup = try await PostgresDatabaseStore.open(url: url, poolSize: 2, timeout: .seconds(60), logger: logger)
                try? await StoreCopy.erase(cleanup)
                await cleanup.close()
                throw error
            }
            for (table, count) in copied.sorted(by: { $0.key < $1.key }) {
                print("\(table): \(count)")
            }
            print("copied to \(url); audit chain verified (\(records) records)")
        }
    }
}

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent snapshot of the SQLite store to a new file.",
        discussion: """
            Safe while the server runs (SQLite's VACUUM INTO). The snapshot holds wrapped keys only: restoring it
            needs the master key, which is not in it (back up COFFER_MASTER_KEY or <data-dir>/master.key apart).
            For PostgreSQL use pg_dump (README.md, "Running several instances").
            """
    )

    @OptionGroup var options: StorageOptions

    @Option(help: "The new file to write (mode 0600; an existing file is refused).")
    var out: String

    func run() async throws {
        try await reportingFailure {
            try SQLiteDatabaseStore.backup(databaseAt: options.databasePath, to: out)
            print("backup written to \(out)")
        }
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Replace the SQLite store with a backup, after checking it.",
        discussion: """
            Stop the server first. The backup is checked before anything is replaced: the configured master key
            (COFFER_MASTER_KEY or <data-dir>/master.key) must unwrap it and its audit chain must verify. The
            database it replaces is kept beside it as coffer.db.replaced-<time>.
            """
    )

    @Argument(help: "A file written by `coffer backup`.")
    var file: String

    @OptionGroup var options: StorageOptions

    func run() async throws {
        var logger = Logger(label: "coffer")
        logger.logLevel = .error
        try await reportingFailure {
            guard FileManager.default.fileExists(atPath: file) else { throw ConfigurationError("No file at \(file).") }
            let custody = try options.custody(logger: logger)
            let fileManager = FileManager.default
            let staging = options.databasePath + ".restoring"
            for suffix in ["", "-wal", "-shm"] { try? fileManager.removeItem(atPath: staging + suffix) }
            let previous = umask(0o077)
            defer { umask(previous) }
            try fileManager.copyItem(atPath: file, toPath: staging)
            do {
                let store = try await SQLiteDatabaseStore.open(path: staging, readerCount: 1, logger: logger)
                let records = try await verifyAuditChain(store, custody: custody, what: file)
                let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
                if fileManager.fileExists(atPath: options.databasePath) {
                    for suffix in ["", "-wal", "-shm"] where fileManager.fileExists(atPath: options.databasePath + suffix) {
                        try fileManager.moveItem(
                            atPath: options.databasePath + suffix, toPath: options.databasePath + ".replaced-\(stamp)" + suffix)
                    }
                }
                for suffix in ["-wal", "-shm"] { try? fileManager.removeItem(atPath: staging + suffix) }
                try fileManager.moveItem(atPath: staging, toPath: options.databasePath)
                print("restored \(file) into \(options.databasePath); audit chain verified (\(records) records)")
            } catch {
                for suffix in ["", "-wal", "-shm"] { try? fileManager.removeItem(atPath: staging + suffix) }
                throw error
            }
        }
    }
}

/// `coffer keys …`: key custody.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Key custody: move the root of trust between key providers.",
        subcommands: [KeysMigrateCommand.self])
}

/// `coffer keys migrate --to aws_kms|vault|local`: rewraps the instance key and every data and transit key from
/// the providers they are under to another one. No secret is re-encrypted; each batch commits, so a migration cut
/// short resumes when run again; audited.
struct KeysMigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Rewrap every stored key under another key provider (run with the server stopped).",
        discussion: """
            Give the settings of both providers: the one the keys are under now (SECRET_ENCRYPTION_BACKEND, or a \
            local master key, AWS_KMS_KEY_ID…, VAULT_ADDR and VAULT_TOKEN) and the target. Afterwards start the \
            server with SECRET_ENCRYPTION_BACKEND set to the target. Interrupted, run it again: it resumes.
            """)

    @OptionGroup var options: StorageOptions

    @Option(help: "The provider to move to: local (alias fernet), aws_kms or vault.")
    var to: String

    func run() async throws {
        try await reportingFailure {
            guard let target = KeyBackend(setting: to) else {
                throw ConfigurationError("--to must be local, aws_kms or vault, not \(to).")
            }
            var logger = Logger(label: "coffer")
            logger.logLevel = .error
            let environment = ProcessInfo.processInfo.environment
            let location = try StoreLocation.from(environment: environment, dataDirectory: options.directory.path)
            if case .sqlite(let path) = location, !FileManager.default.fileExists(atPath: path) {
                throw ConfigurationError("No Coffer database at \(path).")
            }
            let custody = try options.custody(logger: logger, backend: target)
            let database = try await location.open(logger: logger, readerCount: 1)
            let coffer = try await Coffer.open(
                database: database, provider: custody.current, otherProviders: custody.others,
                jwtKey: KeyMaterial.generate(), logger: logger)
            do {
                let moved = try await coffer.adoptKeys()
                await coffer.close()
                print("keys migrated to \(custody.current.name) (\(custody.current.keyID)): \(moved) keys rewrapped")
            } catch {
                await coffer.close()
                throw error
            }
        }
    }
}
