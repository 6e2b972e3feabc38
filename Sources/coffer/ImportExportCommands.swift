import ArgumentParser
import CofferCore
import CofferCrypto
import Foundation
import NIOHTTP1

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
            """
    )

    @Argument(help: "The file to import.") var file: String
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

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError(message: "cannot read \(file)") }
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError(message: "\(file) is not UTF-8 text") }
        let entries: [(name: String, value: String)]
        switch format {
        case .dotenv:
            do {
                entries = try Dotenv.parse(text)
            } catch {
                throw CLIError(message: "\(file): \(error.description); nothing was imported", code: "malformed_file")
            }
        case .json:
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw CLIError(message: "\(file): expected a JSON object of names to string values; nothing was imported", code: "malformed_file")
            }
            entries = try object.keys.sorted().map { key in
                guard let value = object[key] as? String else {
                    throw CLIError(message: "\(file): the value of \(key) is not a string; nothing was imported", code: "malformed_file")
                }
                return (key, value)
            }
        }
        guard !entries.isEmpty else { throw CLIError(message: "\(file) holds no secrets") }
        let fernet = try fernetKeyFiles.isEmpty ? nil : MultiFernet(fernetKeyFiles.map { path -> Fernet in
            guard let keyText = FileManager.default.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) }) else {
                throw CLIError(message: "cannot read the key file \(path)")
            }
            do { return try Fernet(key: keyText) } catch { throw CLIError(message: "\(path) does not hold a Fernet key (url-safe base64 of 32 bytes)") }
        })

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
        let client = try APIClient.fromEnvironment()
        let ws = try await client.workspaceID(workspace.workspace)
        let batch = SecretBatch(items: items, overwrite: overwrite, dryRun: dryRun)
        let result = try await client.decode(
            ImportResult.self, .POST, "/api/secrets/workspaces/\(ws)/secrets/batch", json: try batch.jsonBody())
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
        let client = try APIClient.fromEnvironment()
        let ws = try await client.workspaceID(workspace.workspace)
        struct Values: Decodable {
            let items: [SecretValue]
            let inactive: [String]?
        }
        let values = try await client.decode(Values.self, .GET, "/api/secrets/workspaces/\(ws)/secrets/values")
        if let inactive = values.inactive, !inactive.isEmpty {
            Output.note("left out \(inactive.count) deactivated secret(s): " + inactive.sorted().joined(separator: ", "))
        }
        switch format {
        case .dotenv:
            // KV entries (`app/db`) have no .env form; the JSON format carries them.
            let skipped = values.items.filter { !Dotenv.isVariableName($0.name) }.map(\.name)
            if !skipped.isEmpty {
                Output.note("skipped \(skipped.count) secret(s) whose names are not variable names (use --format json): "
                    + skipped.sorted().joined(separator: ", "))
            }
            Output.print(Dotenv.render(values.items.filter { Dotenv.isVariableName($0.name) }.map { ($0.name, $0.value) }))
        case .json:
            let object = Dictionary(uniqueKeysWithValues: values.items.map { ($0.name, $0.value) })
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
