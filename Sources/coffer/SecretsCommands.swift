import ArgumentParser
import CofferClient
import CofferCore
import Foundation
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// `coffer secrets …`: secrets by name in a workspace.
struct SecretsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets", abstract: "Store, read and manage secrets by name.",
        subcommands: [Set_.self, Get.self, List.self, Remove.self, Rotate.self, Versions.self, Rollback.self, Audit.self])

    /// The value for `set`/`rotate`: the argument, `--from-file` (exact bytes), or standard input (one trailing
    /// newline dropped).
    static func value(argument: String?, file: String?, readStdinIfMissing: Bool) throws -> String? {
        if let argument, file != nil {
            _ = argument
            throw CLIError(message: "give the value as an argument or with --from-file, not both", status: 2)
        }
        if let argument { return argument }
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CLIError(message: "cannot read \(file)")
            }
            guard let text = String(data: data, encoding: .utf8) else { throw CLIError(message: "\(file) is not UTF-8 text") }
            return text
        }
        guard readStdinIfMissing, isatty(STDIN_FILENO) == 0 else { return nil }
        var text = String(decoding: readStandardInput(), as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    static func base(_ ws: String) -> String { "/api/secrets/workspaces/\(ws)/secrets" }

    /// The client, and the API path of a named secret in the chosen workspace.
    static func secretPath(_ name: String, _ workspace: WorkspaceOption) async throws -> (CofferClient, String) {
        let client = try CofferClient.fromEnvironment()
        let ws = try await client.workspaceID(option: workspace.workspace)
        let id = try await client.secret(named: name, in: ws).id
        return (client, "\(base(ws))/\(id)")
    }

    struct Set_: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Create a secret, or store a new version of an existing one.",
            discussion: "The value comes from VALUE, --from-file, or standard input (for values that must not appear in `ps`).")
        @Argument(help: "Secret name (an environment variable name).") var name: String
        @Argument(help: "The value (prefer --from-file or standard input for real secrets).") var value: String?
        @Option(help: "Read the value from this file (exact bytes).") var fromFile: String?
        @Option(name: .customLong("type"), help: "Secret type (api_key, database_credential, oauth_token, …).") var secretType: String?
        @Option(name: .customLong("tag"), help: "A tag (repeatable).") var tags: [String] = []
        @Option(help: "manual, auto_30_days, … auto_365_days.") var rotationPolicy: String?
        @Option(help: "What the secret is for.") var usage: String?
        @OptionGroup var workspace: WorkspaceOption
        @OptionGroup var options: ClientOptions

        func run() async throws {
            guard let value = try SecretsCommand.value(argument: value, file: fromFile, readStdinIfMissing: true) else {
                throw CLIError(message: "no value: give VALUE, --from-file FILE, or pipe it on standard input", status: 2)
            }
            let client = try CofferClient.fromEnvironment()
            let ws = try await client.workspaceID(option: workspace.workspace)
            let create = SecretCreate(
                name: name, value: value, secretType: secretType, usage: usage, rotationPolicy: rotationPolicy,
                tags: tags.isEmpty ? nil : tags)
            let data: Data
            do {
                data = try await client.send(.POST, SecretsCommand.base(ws), body: try create.jsonBody())
            } catch let error as CofferClientError where error.code == "secret_name_conflict" {
                let id = try await client.secret(named: name, in: ws).id
                let patch = SecretPatch(
                    value: value, usage: usage, tags: tags.isEmpty ? nil : tags, secretType: secretType,
                    rotationPolicy: rotationPolicy)
                data = try await client.send(.PATCH, "\(SecretsCommand.base(ws))/\(id)", body: try patch.jsonBody())
            }
            if options.json { return Output.json(data) }
            let secret = try JSONDecoder().decode(Meta.self, from: data)
            Output.note("\(secret.version == 1 ? "created" : "updated") \(secret.name) (version \(secret.version))")
        }
    }

    struct Meta: Decodable { let name: String; let version: Int }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a secret's value (audited).")
        @Argument var name: String
        @Option(help: "A past version.") var version: Int?
        @OptionGroup var workspace: WorkspaceOption
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let (client, path) = try await SecretsCommand.secretPath(name, workspace)
            let data = try await client.send(
                .GET, "\(path)/value" + (version.map { "?version=\($0)" } ?? ""))
            if options.json { return Output.json(data) }
            let value = try JSONDecoder().decode(CofferCore.SecretValue.self, from: data)
            Output.print(value.value + "\n")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a workspace's secrets (never values).")
        @OptionGroup var workspace: WorkspaceOption
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let client = try CofferClient.fromEnvironment()
            let ws = try await client.workspaceID(option: workspace.workspace)
            if options.json {
                return Output.json(try await client.send(.GET, "\(SecretsCommand.base(ws))?limit=1000"))
            }
            let secrets = try await client.allSecrets(in: ws)
            Output.table(
                ["NAME", "TYPE", "VERSION", "ROTATION", "DUE", "UPDATED"],
                secrets.map {
                    [$0.name, $0.secretType, String($0.version), $0.rotationPolicy, Output.date($0.rotationDueAt), Output.date($0.updatedAt)]
                })
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a secret (restorable unless --purge).")
        @Argument var name: String
        @Flag(help: "Destroy every version for good.") var purge = false
        @OptionGroup var workspace: WorkspaceOption

        func run() async throws {
            let (client, path) = try await SecretsCommand.secretPath(name, workspace)
            _ = try await client.send(.DELETE, "\(path)" + (purge ? "?purge=true" : ""))
            Output.note("\(purge ? "purged" : "deleted") \(name)")
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a new value and restart the rotation period (generated secrets make their own).")
        @Argument var name: String
        @Argument var value: String?
        @Option(help: "Read the new value from this file.") var fromFile: String?
        @OptionGroup var workspace: WorkspaceOption
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let newValue = try SecretsCommand.value(argument: value, file: fromFile, readStdinIfMissing: true)
            let (client, path) = try await SecretsCommand.secretPath(name, workspace)
            let data = try await client.send(
                .POST, "\(path)/rotate", body: try SecretRotate(newValue: newValue).jsonBody())
            if options.json { return Output.json(data) }
            let secret = try JSONDecoder().decode(Meta.self, from: data)
            Output.note("rotated \(secret.name) (version \(secret.version))")
        }
    }

    struct Versions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A secret's versions, newest first.")
        @Argument var name: String
        @OptionGroup var workspace: WorkspaceOption
        @OptionGroup var options: ClientOptions

        struct Version: Decodable { let version: Int; let is_current: Bool; let created_at: String; let created_by_user_id: String? }
        struct List: Decodable { let items: [Version] }

        func run() async throws {
            let (client, path) = try await SecretsCommand.secretPath(name, workspace)
            let data = try await client.send(.GET, "\(path)/versions")
            if options.json { return Output.json(data) }
            let list = try JSONDecoder().decode(List.self, from: data)
            Output.table(
                ["VERSION", "CURRENT", "CREATED", "BY"],
                list.items.map { [String($0.version), $0.is_current ? "*" : "", $0.created_at, $0.created_by_user_id ?? "system"] })
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make an old version's value current again (as a new version).")
        @Argument var name: String
        @Option(help: "The version to bring back.") var version: Int
        @OptionGroup var workspace: WorkspaceOption
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let (client, path) = try await SecretsCommand.secretPath(name, workspace)
            let data = try await client.send(
                .POST, "\(path)/rollback", body: try SecretRollback(version: version).jsonBody())
            if options.json { return Output.json(data) }
            let secret = try JSONDecoder().decode(Meta.self, from: data)
            Output.note("rolled \(secret.name) back to version \(version) (now version \(secret.version))")
        }
    }

    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A secret's audit trail (workspace admins).")
        @Argument var name: String
        @Option(help: "At most this many records.") var limit = 50
        @OptionGroup var workspace: WorkspaceOption
        @OptionGroup var options: ClientOptions

        struct Record: Decodable {
            let created_at: String; let action: String; let success: Bool; let user_id: String?; let ip_address: String?
        }
        struct List: Decodable { let items: [Record] }

        func run() async throws {
            let (client, path) = try await SecretsCommand.secretPath(name, workspace)
            let data = try await client.send(.GET, "\(path)/audit?limit=\(limit)")
            if options.json { return Output.json(data) }
            let list = try JSONDecoder().decode(List.self, from: data)
            Output.table(
                ["TIME", "ACTION", "OK", "USER", "IP"],
                list.items.map { [$0.created_at, $0.action, $0.success ? "yes" : "NO", $0.user_id ?? "system", $0.ip_address ?? "-"] })
        }
    }
}
