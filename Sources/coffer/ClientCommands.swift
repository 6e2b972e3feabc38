import ArgumentParser
import CofferClient
import CofferCore
import Foundation
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// Options every client command shares.
struct ClientOptions: ParsableArguments {
    @Flag(help: "Print JSON for scripts instead of a table.")
    var json = false
}

struct WorkspaceOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "Workspace name or id (default: COFFER_WORKSPACE).")
    var workspace: String?
}

// MARK: - login / logout

struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Log in to a Coffer server and keep the session in ~/.config/coffer/credentials.json (0600).",
        discussion: "The password is read from the terminal without echo, or from standard input with --password-stdin; never from a flag."
    )

    @Option(help: "Server address (default: COFFER_ADDR, else http://127.0.0.1:8700).")
    var address: String?

    @Option(help: "Username (asked on the terminal if omitted).")
    var username: String?

    @Flag(help: "Read the password from standard input (first line).")
    var passwordStdin = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let address = self.address ?? environment["COFFER_ADDR"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:8700"
        guard let username = username ?? prompt("Username: ") else {
            throw CLIError(message: "no username: pass --username", status: 2)
        }
        let password: String
        if passwordStdin {
            password = String(decoding: readStandardInput(), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                .first.map(String.init) ?? ""
        } else {
            guard isatty(STDIN_FILENO) == 1, let typed = getpass("Password: ") else {
                throw CLIError(message: "no terminal to ask for the password: use --password-stdin", status: 2)
            }
            password = String(cString: typed)
        }
        let client = CofferClient(
            configuration: .init(address: address, timeout: .seconds(60), userAgent: "coffer-cli/\(cofferVersion)"))
        let session = try await client.login(username: username, password: password)
        try StoredCredentials(
            address: address, username: username, accessToken: session.accessToken, refreshToken: session.refreshToken,
            expiresAt: session.expiresAt
        ).save()
        Output.note("logged in to \(address) as \(username)")
    }

    private func prompt(_ text: String) -> String? {
        guard isatty(STDIN_FILENO) == 1 else { return nil }
        Output.note(text)
        return readLine()
    }
}

struct LogoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logout", abstract: "End the session and forget it.")

    func run() async throws {
        if let client = try? CofferClient.fromEnvironment() {
            _ = try? await client.send(.POST, "/api/auth/logout")
        }
        StoredCredentials.remove()
        Output.note("logged out")
    }
}

// MARK: - workspaces

/// What the workspace commands print of a workspace.
struct WorkspaceItem: Decodable { let id: String; let name: String; let role: String }
struct WorkspaceList: Decodable { let items: [WorkspaceItem] }

struct WorkspaceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workspace", abstract: "Create and list workspaces, manage members.",
        subcommands: [Create.self, List.self, Members.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a workspace (you become its owner).")
        @Argument var name: String
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let client = try CofferClient.fromEnvironment()
            let data = try await client.send(.POST, "/api/workspaces", body: try WorkspaceCreate(name: name).jsonBody())
            if options.json { return Output.json(data) }
            let created = try JSONDecoder().decode(WorkspaceItem.self, from: data)
            Output.note("created workspace \(created.name) (\(created.id))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Your workspaces.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let client = try CofferClient.fromEnvironment()
            let data = try await client.send(.GET, "/api/workspaces")
            if options.json { return Output.json(data) }
            let list = try JSONDecoder().decode(WorkspaceList.self, from: data)
            Output.table(["NAME", "ROLE", "ID"], list.items.map { [$0.name, $0.role, $0.id] })
        }
    }

    struct Members: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Workspace members.", subcommands: [Add.self, List.self])

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add a member or change a member's role.")
            @Argument(help: "Username.") var user: String
            @Option(help: "reader, writer, admin or owner.") var role: String
            @OptionGroup var workspace: WorkspaceOption
            @OptionGroup var options: ClientOptions

            func run() async throws {
                let client = try CofferClient.fromEnvironment()
                let ws = try await client.workspaceID(option: workspace.workspace)
                let data = try await client.send(
                    .POST, "/api/workspaces/\(ws)/members", body: try MemberAdd(username: user, role: role).jsonBody())
                if options.json { return Output.json(data) }
                Output.note("\(user) is now \(role)")
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List members.")
            @OptionGroup var workspace: WorkspaceOption
            @OptionGroup var options: ClientOptions

            struct Member: Decodable { let username: String; let role: String; let user_id: String }
            struct Members: Decodable { let items: [Member] }

            func run() async throws {
                let client = try CofferClient.fromEnvironment()
                let ws = try await client.workspaceID(option: workspace.workspace)
                let data = try await client.send(.GET, "/api/workspaces/\(ws)/members")
                if options.json { return Output.json(data) }
                let list = try JSONDecoder().decode(Members.self, from: data)
                Output.table(["USER", "ROLE", "ID"], list.items.map { [$0.username, $0.role, $0.user_id] })
            }
        }
    }
}
