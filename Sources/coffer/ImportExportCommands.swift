import ArgumentParser
import CofferClient
import CofferCore
import CofferCrypto
import Foundation
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// The formats `import` reads and `export` writes.
enum SecretFileFormat: String, ExpressibleByArgument, CaseIterable {
    case dotenv, json
}

/// `coffer import`: a .env or JSON file into a workspace, all or nothing (seed 004's migration from .env).
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import secrets from a .env or JSON file, all or nothing.",
        discussion: """
            Types follow seed 004's name heuristics (a name with `password` → database_credential, with `token` →
            oauth_token, else api_key) unless --type is given. Values that are Fernet tokens are decrypted with
            --fernet-key-file keys (repeatable, tried in order, as MultiFernet); --legacy-base64 decodes seed 002's
            base64-encoded values. A value that does not decrypt stops the import, naming it. Existing names are
            skipped unless --overwrite. --dry-run shows what would be created, updated and skipped.
            Seeds 000 and 002 derive each user's Fernet key with PBKDF2-HMAC-SHA256 from a master key and a salt:
            --fernet-master-key-env NAME --pbkdf2-salt TEXT [--pbkdf2-iterations N] derives it the same way.
            An entry with an empty value (DEBUG=) is skipped and named: a Coffer secret is never empty.
            --match GLOB keeps only matching names; --from-environment imports from this process's environment
            (seed 004's migration) instead of a file, and needs --match so that PATH and HOME stay out.
            """
    )

    @Argument(help: "The file to import (none with --from-environment).") var file: String?
    @Flag(help: "Import this process's environment variables (with --match) instead of a file.") var fromEnvironment = false
    @Option(help: "Only names matching this shell glob (e.g. 'STRIPE_*').") var match: String?
    @Option(name: .customLong("fernet-master-key-env"), help: "The variable holding the master key a Fernet key is derived from with PBKDF2.")
    var fernetMasterKeyEnv: String?
    @Option(name: .customLong("pbkdf2-salt"), help: "The PBKDF2 salt (seed 000: user_id:twin_id).") var pbkdf2Salt: String?
    @Option(name: .customLong("pbkdf2-iterations"), help: "PBKDF2 iterations (default 100000).") var pbkdf2Iterations = KeyDerivation.defaultPBKDF2Rounds
    @OptionGroup var workspace: WorkspaceOption
    @Option(help: "dotenv or json (a flat object of names to string values).") var format: SecretFileFormat = .dotenv
    @Flag(help: "Show the plan; change nothing.") var dryRun = false
    @Flag(help: "Store new versions of secrets that already exist.") var overwrite = false
    @Option(name: .customLong("type"), help: "One secret type for every entry.") var secretType: String?
    @Option(name: .customLong("fernet-key-file"), help: "A Fernet key file for encrypted values (repeatable).") var fernetKeyFiles: [String] = []
    @Flag(help: "Values are base64 (seed 002's legacy encoding).") var legacyBase64 = false
    @OptionGroup var options: ClientOptions

    enum Kind: String, Encodable { case plaintext, base64, fernet }

    struct PlanEntry: Encodable {
        let name: String
        let kind: Kind
        let decrypts: Bool
        let action: String
        let secretType: String

        enum CodingKeys: String, CodingKey { case name, kind, decrypts, action, secretType = "secret_type" }
    }

    static func heuristicType(_ name: String) -> String {
        let lower = name.lowercased()
        if lower.contains("password") { return "database_credential" }
        if lower.contains("token") { return "oauth_token" }
        return "api_key"
    }

    func validate() throws {
        if fromEnvironment {
            guard file == nil else { throw ValidationError("give either a file or --from-environment, not both") }
            guard match != nil else {
                throw ValidationError("--from-environment needs --match GLOB (so that PATH, HOME and the like stay out)")
            }
        } else if file == nil {
            throw ValidationError("give the file to import (or --from-environment)")
        }
        if (fernetMasterKeyEnv == nil) != (pbkdf2Salt == nil) {
            throw ValidationError("--fernet-master-key-env and --pbkdf2-salt go together")
        }
        guard pbkdf2Iterations >= 1 else { throw ValidationError("--pbkdf2-iterations must be 1 or more") }
    }

    /// The entries of the file, or of the environment (variable names only, Coffer's own settings left out).
    func readEntries() throws -> [(name: String, value: String)] {
        guard let file else {
            return ProcessInfo.processInfo.environment
                .filter { Dotenv.isVariableName($0.key) && !$0.key.hasPrefix("COFFER_") }
                .sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError(message: "cannot read \(file)") }
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError(message: "\(file) is not UTF-8 text") }
        switch format {
        case .dotenv:
            do {
                return try Dotenv.parse(text)
            } catch {
                throw CLIError(message: "\(file): \(error.description); nothing was imported", code: "malformed_file")
            }
        case .json:
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw CLIError(message: "\(file): expected a JSON object of names to string values; nothing was imported", code: "malformed_file")
            }
            return try object.keys.sorted().map { key in
                guard let value = object[key] as? String else {
                    throw CLIError(message: "\(file): the value of \(key) is not a string; nothing was imported", code: "malformed_file")
                }
                return (key, value)
            }
        }
    }

    /// The Fernet keys to try: the key files, then the one derived with PBKDF2 (seeds 000 and 002).
    func fernetKeys() throws -> [Fernet] {
        var keys = try fernetKeyFiles.map { path -> Fernet in
            guard let keyText = FileManager.default.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) }) else {
                throw CLIError(message: "cannot read the key file \(path)")
            }
            do { return try Fernet(key: keyText) } catch { throw CLIError(message: "\(path) does not hold a Fernet key (url-safe base64 of 32 bytes)") }
        }
        if let name = fernetMasterKeyEnv, let salt = pbkdf2Salt {
            guard let master = ProcessInfo.processInfo.environment[name], !master.isEmpty else {
                throw CLIError(message: "\(name) is not set (--fernet-master-key-env names the variable holding the master key)")
            }
            let derived = try KeyDerivation.pbkdf2(
                password: Array(master.utf8), salt: Array(salt.utf8), rounds: pbkdf2Iterations, outputByteCount: 32)
            keys.append(try Fernet(key: derived))
        }
        return keys
    }

    func run() async throws {
        let source = file ?? "the environment"
        var entries = try readEntries()
        if let match {
            entries = entries.filter { fnmatch(match, $0.name, 0) == 0 }
        }
        let empty = entries.filter { $0.value.isEmpty }.map(\.name)
        entries = entries.filter { !$0.value.isEmpty }
        if !empty.isEmpty {
            Output.note("skipped \(empty.count) empty value(s) (a secret is never empty): " + empty.joined(separator: ", "))
        }
        guard !entries.isEmpty else { throw CLIError(message: "\(source) holds no secrets to import" + (match.map { " matching \($0)" } ?? "")) }
        let keys = try fernetKeys()
        let fernet = keys.isEmpty ? nil : try MultiFernet(keys)

        var items: [SecretImportItem] = []
        var kinds: [String: (Kind, Bool)] = [:]
        for (name, raw) in entries {
            var kind = Kind.plaintext
            var value: String? = raw
            if let fernet, raw.hasPrefix("gAAAAA") {
                kind = .fernet
                value = (try? fernet.decrypt(raw)).flatMap { String(bytes: $0, encoding: .utf8) }
            } else if legacyBase64, let bytes = Base64.decode(raw), !raw.isEmpty {
                kind = .base64
                value = String(bytes: bytes, encoding: .utf8)
            }
            kinds[name] = (kind, value != nil)
            guard let value else {
                if dryRun { continue }
                throw CLIError(message: "\(name): the \(kind.rawValue) value does not decrypt with the given keys; nothing was imported", code: "decryption_failed")
            }
            items.append(SecretImportItem(name: name, value: value, secretType: secretType ?? Self.heuristicType(name)))
        }
        let client = try CofferClient.fromEnvironment()
        let ws = try await client.workspaceID(option: workspace.workspace)
        let batch = SecretBatch(items: items, overwrite: overwrite, dryRun: dryRun)
        let result = try await client.decode(
            ImportResult.self, .POST, "/api/secrets/workspaces/\(ws)/secrets/batch", body: try batch.jsonBody())
        let actions = Dictionary(
            uniqueKeysWithValues: result.created.map { ($0, "create") } + result.updated.map { ($0, "update") }
                + result.skipped.map { ($0, "skip") })
        let plan = entries.map { entry in
            PlanEntry(
                name: entry.name, kind: kinds[entry.name]!.0, decrypts: kinds[entry.name]!.1,
                action: kinds[entry.name]!.1 ? actions[entry.name] ?? "skip" : "fail",
                secretType: secretType ?? Self.heuristicType(entry.name))
        }
        if options.json {
            struct Report: Encodable { let dryRun: Bool; let entries: [PlanEntry]
                enum CodingKeys: String, CodingKey { case dryRun = "dry_run", entries } }
            try Output.json(Report(dryRun: dryRun, entries: plan))
        } else {
            Output.table(
                ["NAME", "ACTION", "TYPE", "VALUE", "DECRYPTS"],
                plan.map { [$0.name, ($0.action == "fail" ? "FAIL" : $0.action), $0.secretType, $0.kind.rawValue, $0.decrypts ? "yes" : "NO"] })
        }
        let failed = plan.filter { !$0.decrypts }.map(\.name)
        Output.note(
            (dryRun ? "dry run: would create \(result.created.count), update \(result.updated.count), skip \(result.skipped.count)"
                : "created \(result.created.count), updated \(result.updated.count), skipped \(result.skipped.count)")
                + (failed.isEmpty ? "" : "; \(failed.count) would fail to decrypt: \(failed.joined(separator: ", "))"))
        if dryRun, !failed.isEmpty { throw ExitCode.failure }
    }
}

/// `coffer export`: the workspace's values as .env or JSON on stdout (each read audited).
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Print every secret's value as .env or JSON (each read is audited).")

    @OptionGroup var workspace: WorkspaceOption
    @Option(help: "dotenv or json.") var format: SecretFileFormat = .dotenv

    func run() async throws {
        let client = try CofferClient.fromEnvironment()
        let ws = try await client.workspaceID(option: workspace.workspace)
        let (found, inactive) = try await client.values(in: ws)
        let items = found.values.sorted { $0.name < $1.name }
        if !inactive.isEmpty {
            Output.note("left out \(inactive.count) deactivated secret(s): " + inactive.sorted().joined(separator: ", "))
        }
        switch format {
        case .dotenv:
            // KV entries (`app/db`) have no .env form; the JSON format carries them.
            let skipped = items.filter { !Dotenv.isVariableName($0.name) }.map(\.name)
            if !skipped.isEmpty {
                Output.note("skipped \(skipped.count) secret(s) whose names are not variable names (use --format json): "
                    + skipped.sorted().joined(separator: ", "))
            }
            Output.print(Dotenv.render(items.filter { Dotenv.isVariableName($0.name) }.map { ($0.name, $0.value) }))
        case .json:
            let object = Dictionary(uniqueKeysWithValues: items.map { ($0.name, $0.value) })
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            Output.print(String(decoding: data, as: UTF8.self) + "\n")
        }
    }
}

/// `coffer fernet …`: Fernet tokens compatible with Python `cryptography`, on stdin and stdout.
struct FernetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fernet", abstract: "Fernet keys and tokens (compatible with Python's cryptography).",
        subcommands: [GenerateKey.self, Encrypt.self, Decrypt.self, Rotate.self])

    struct Keys: ParsableArguments {
        @Option(name: .customLong("key-file"), help: "A file holding a Fernet key; repeat for old keys (the first encrypts).")
        var keyFiles: [String] = []

        func load() throws -> MultiFernet {
            guard !keyFiles.isEmpty else { throw CLIError(message: "give at least one --key-file", status: 2) }
            return try MultiFernet(keyFiles.map { path in
                guard let data = FileManager.default.contents(atPath: path) else { throw CLIError(message: "cannot read \(path)") }
                do { return try Fernet(key: String(decoding: data, as: UTF8.self)) } catch {
                    throw CLIError(message: "\(path) does not hold a Fernet key (url-safe base64 of 32 bytes)", code: "invalid_key")
                }
            })
        }
    }

    static func token() -> String {
        String(decoding: readStandardInput(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct GenerateKey: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "generate-key", abstract: "Print a new Fernet key.")
        func run() { Output.print(Fernet.generateKey() + "\n") }
    }

    struct Encrypt: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Encrypt standard input into a token.")
        @OptionGroup var keys: Keys
        func run() throws {
            Output.print(try keys.load().encrypt(readStandardInput()) + "\n")
        }
    }

    struct Decrypt: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Decrypt a token from standard input.")
        @OptionGroup var keys: Keys
        @Option(help: "Refuse tokens older than this many seconds.") var ttl: Int64?
        func run() throws {
            do {
                FileHandle.standardOutput.write(Data(try keys.load().decrypt(FernetCommand.token(), ttl: ttl)))
            } catch is CryptoError {
                throw CLIError(message: "invalid token: tampered, expired, malformed, or made with another key", code: "invalid_token")
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-encrypt a token under the first key, keeping its timestamp.")
        @OptionGroup var keys: Keys
        func run() throws {
            do {
                Output.print(try keys.load().rotate(FernetCommand.token()) + "\n")
            } catch is CryptoError {
                throw CLIError(message: "invalid token: tampered, malformed, or made with none of the keys", code: "invalid_token")
            }
        }
    }
}
