import CofferCore
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Running processes without blocking a cooperative thread

/// What a finished process left behind.
struct CLIResult: CustomStringConvertible {
    let status: Int32
    let stdout: String
    let stderr: String
    let timedOut: Bool

    var description: String { "status \(status)\(timedOut ? " (timed out)" : "")\n--- stdout:\n\(stdout)\n--- stderr:\n\(stderr)" }
}

/// A started child process whose stdout and stderr go to temporary files (never pipes, so a chatty child cannot
/// fill a pipe buffer and stall) and whose stdin is a file (so it is never a TTY and nothing can get SIGPIPE).
/// Waiting polls with `Task.sleep`, so the live server in the same process keeps its cooperative threads.
final class Spawned: @unchecked Sendable {
    let process = Process()
    private let io: URL

    init(_ executable: URL, _ arguments: [String], environment: [String: String], stdin: Data?) throws {
        io = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-cli-io-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: io, withIntermediateDirectories: true)
        let outURL = io.appendingPathComponent("stdout")
        let errURL = io.appendingPathComponent("stderr")
        let inURL = io.appendingPathComponent("stdin")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        FileManager.default.createFile(atPath: inURL.path, contents: stdin ?? Data())
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        let input = try FileHandle(forReadingFrom: inURL)
        defer {
            try? out.close()
            try? err.close()
            try? input.close()
        }
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// Waits (bounded) for the process to end; on timeout it is killed and the test records an issue.
    func wait(timeout: Duration = .seconds(30)) async throws -> CLIResult {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while process.isRunning, clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        var timedOut = false
        if process.isRunning {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            let killDeadline = clock.now + .seconds(5)
            while process.isRunning, clock.now < killDeadline { try await Task.sleep(for: .milliseconds(20)) }
        }
        defer { try? FileManager.default.removeItem(at: io) }
        let stdout = (try? Data(contentsOf: io.appendingPathComponent("stdout"))) ?? Data()
        let stderr = (try? Data(contentsOf: io.appendingPathComponent("stderr"))) ?? Data()
        let result = CLIResult(
            status: process.isRunning ? -1 : process.terminationStatus,
            stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self),
            timedOut: timedOut)
        if timedOut { Issue.record("process timed out: \(process.arguments ?? [])\n\(result)") }
        return result
    }
}

/// The environment of this test process without any Coffer client settings.
func cleanEnvironment() -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    for name in ["COFFER_TOKEN", "COFFER_WORKSPACE", "COFFER_ADDR", "XDG_CONFIG_HOME"] { environment[name] = nil }
    return environment
}

/// Runs `python3 -c script args…` (bounded).
func python(_ script: String, _ arguments: [String] = [], stdin: String? = nil) async throws -> CLIResult {
    let spawned = try Spawned(
        URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script] + arguments, environment: cleanEnvironment(),
        stdin: stdin.map { Data($0.utf8) })
    return try await spawned.wait()
}

/// A coffer client with its own HOME and XDG_CONFIG_HOME, pointed at one server.
struct CLISandbox {
    let home: URL
    let port: Int

    init(port: Int) throws {
        self.port = port
        home = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-cli-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
    }

    var address: String { "http://127.0.0.1:\(port)" }
    var credentialsURL: URL { home.appendingPathComponent("coffer/credentials.json") }

    func remove() { try? FileManager.default.removeItem(at: home) }

    func environment(_ extra: [String: String]) -> [String: String] {
        var environment = cleanEnvironment()
        environment["HOME"] = home.path
        environment["XDG_CONFIG_HOME"] = home.path
        environment["COFFER_ADDR"] = address
        environment.merge(extra) { $1 }
        return environment
    }

    /// Starts `coffer args…` and returns at once.
    func start(_ arguments: [String], env extra: [String: String] = [:], stdin: String? = nil) throws -> Spawned {
        try Spawned(cofferBinary, arguments, environment: environment(extra), stdin: stdin.map { Data($0.utf8) })
    }

    /// Runs `coffer args…` to the end (bounded).
    func callAsFunction(
        _ arguments: [String], env extra: [String: String] = [:], stdin: String? = nil, timeout: Duration = .seconds(30)
    ) async throws -> CLIResult {
        try await start(arguments, env: extra, stdin: stdin).wait(timeout: timeout)
    }

    /// A file in the sandbox with these exact bytes.
    func file(_ name: String, _ contents: String) throws -> String {
        let url = home.appendingPathComponent(name)
        try Data(contents.utf8).write(to: url)
        return url.path
    }

    func credentials() -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: credentialsURL.path) else { return [:] }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }
}

func jsonObject(_ text: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
}

func items(_ text: String) -> [[String: Any]] { jsonObject(text)?["items"] as? [[String: Any]] ?? [] }

// MARK: - The tests

@Suite("coffer CLI", .serialized)
struct CLITests {
    /// Registers alice through the API, logs the CLI in, and creates the workspace `prod` (unless nil).
    func loggedIn(_ api: LiveServer, workspace: String? = "prod") async throws -> CLISandbox {
        _ = try await api.user("alice")
        let cli = try CLISandbox(port: try #require(api.client.port))
        let login = try await cli(["login", "--username", "alice", "--password-stdin"], stdin: LiveServer.password + "\n")
        #expect(login.status == 0, "\(login)")
        if let workspace {
            let created = try await cli(["workspace", "create", workspace])
            #expect(created.status == 0, "\(created)")
        }
        return cli
    }

    /// The current value of a secret as `coffer secrets get` prints it (without the added newline).
    func value(_ cli: CLISandbox, _ name: String, _ workspace: String = "prod") async throws -> String? {
        let got = try await cli(["secrets", "get", name, "-w", workspace])
        guard got.status == 0, got.stdout.hasSuffix("\n") else { return nil }
        return String(got.stdout.dropLast())
    }

    func secretList(_ cli: CLISandbox, _ workspace: String = "prod") async throws -> [[String: Any]] {
        let listed = try await cli(["secrets", "list", "-w", workspace, "--json"])
        #expect(listed.status == 0, "\(listed)")
        return items(listed.stdout)
    }

    // 1.
    @Test("login stores a 0600 session; wrong password, no username; workspace create and list")
    func login() async throws {
        try await withLiveServer { api, _ in
            _ = try await api.user("alice")
            let cli = try CLISandbox(port: try #require(api.client.port))
            defer { cli.remove() }

            let wrong = try await cli(["login", "--username", "alice", "--password-stdin"], stdin: "not the password\n")
            #expect(wrong.status == 1, "\(wrong)")
            #expect(wrong.stderr.contains("invalid_credentials"), "\(wrong)")
            #expect(!FileManager.default.fileExists(atPath: cli.credentialsURL.path))

            let noUsername = try await cli(["login"])
            #expect(noUsername.status == 2, "\(noUsername)")
            let noTerminal = try await cli(["login", "--username", "alice"])
            #expect(noTerminal.status == 2, "\(noTerminal)")

            let ok = try await cli(["login", "--username", "alice", "--password-stdin"], stdin: LiveServer.password + "\n")
            #expect(ok.status == 0, "\(ok)")
            let attributes = try FileManager.default.attributesOfItem(atPath: cli.credentialsURL.path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            let stored = cli.credentials()
            #expect(((stored["refresh_token"] as? String) ?? "").isEmpty == false, "\(stored.keys)")
            #expect(((stored["access_token"] as? String) ?? "").isEmpty == false)
            #expect(stored["username"] as? String == "alice")
            // The password is never stored.
            let rawCredentials = try String(contentsOf: cli.credentialsURL, encoding: .utf8)
            #expect(!rawCredentials.contains(LiveServer.password))

            let created = try await cli(["workspace", "create", "prod"])
            #expect(created.status == 0, "\(created)")
            let table = try await cli(["workspace", "list"])
            #expect(table.status == 0, "\(table)")
            #expect(table.stdout.hasPrefix("NAME"), "\(table)")
            #expect(table.stdout.split(separator: "\n").contains { $0.hasPrefix("prod ") && $0.contains("owner") }, "\(table)")
            let json = try await cli(["workspace", "list", "--json"])
            #expect(json.status == 0, "\(json)")
            let list = try #require(jsonObject(json.stdout), "\(json)")
            let workspaces = try #require(list["items"] as? [[String: Any]])
            #expect(workspaces.map { $0["name"] as? String } == ["prod"])

            // Without COFFER_ADDR the stored address is used.
            let storedAddress = try await cli(["workspace", "list"], env: ["COFFER_ADDR": ""])
            #expect(storedAddress.status == 0 && storedAddress.stdout.contains("prod"), "\(storedAddress)")

            // logout ends the session on the server and forgets it locally.
            let access = try #require(stored["access_token"] as? String)
            let logout = try await cli(["logout"])
            #expect(logout.status == 0, "\(logout)")
            #expect(!FileManager.default.fileExists(atPath: cli.credentialsURL.path))
            #expect(try await api.call(.get, "/api/workspaces", token: access).status == 401)
            let afterLogout = try await cli(["workspace", "list"])
            #expect(afterLogout.status == 1 && afterLogout.stderr.contains("not logged in"), "\(afterLogout)")
        }
    }

    // 2.
    @Test("secrets set/get/list/versions/rollback/rotate/audit/rm, human and --json, workspace by name, id and env")
    func secretsCommands() async throws {
        try await withLiveServer { api, _ in
            let cli = try await loggedIn(api)
            defer { cli.remove() }

            // set from an argument, then again: an update to version 2.
            let first = try await cli(["secrets", "set", "API_KEY", "value-one", "-w", "prod"])
            #expect(first.status == 0, "\(first)")
            #expect(first.stderr.contains("created API_KEY (version 1)"), "\(first)")
            let second = try await cli(["secrets", "set", "API_KEY", "value-two", "-w", "prod", "--json"])
            #expect(second.status == 0, "\(second)")
            let secondJSON = try #require(jsonObject(second.stdout), "\(second)")
            #expect(secondJSON["version"] as? Int == 2)
            #expect(secondJSON["name"] as? String == "API_KEY")
            #expect(secondJSON["value"] == nil, "set --json must not echo the value")
            let third = try await cli(["secrets", "set", "API_KEY", "value-three", "-w", "prod"])
            #expect(third.status == 0, "\(third)")
            #expect(third.stderr.contains("updated API_KEY (version 3)"), "\(third)")

            // set from standard input: exactly one trailing newline is dropped.
            let piped = try await cli(["secrets", "set", "PIPED", "-w", "prod"], stdin: "line one\nline two\n\n")
            #expect(piped.status == 0, "\(piped)")
            let pipedGet = try await cli(["secrets", "get", "PIPED", "-w", "prod"])
            #expect(pipedGet.stdout == "line one\nline two\n\n", "\(pipedGet)")
            let simplePipe = try await cli(["secrets", "set", "SIMPLE", "-w", "prod"], stdin: "from stdin\n")
            #expect(simplePipe.status == 0, "\(simplePipe)")
            #expect(try await value(cli, "SIMPLE") == "from stdin")

            // --from-file keeps the exact bytes, trailing newline included.
            let path = try cli.file("value.txt", "file value ✓\n")
            let fromFile = try await cli(["secrets", "set", "FROM_FILE", "--from-file", path, "-w", "prod"])
            #expect(fromFile.status == 0, "\(fromFile)")
            let fileGet = try await cli(["secrets", "get", "FROM_FILE", "-w", "prod"])
            #expect(fileGet.status == 0)
            #expect(fileGet.stdout == "file value ✓\n\n", "\(fileGet)")
            let both = try await cli(["secrets", "set", "FROM_FILE", "x", "--from-file", path, "-w", "prod"])
            #expect(both.status == 2, "\(both)")

            // get: the value and a newline; a past version; --json.
            let got = try await cli(["secrets", "get", "API_KEY", "-w", "prod"])
            #expect(got.status == 0, "\(got)")
            #expect(got.stdout == "value-three\n", "\(got)")
            let old = try await cli(["secrets", "get", "API_KEY", "--version", "1", "-w", "prod"])
            #expect(old.stdout == "value-one\n", "\(old)")
            let gotJSON = try await cli(["secrets", "get", "API_KEY", "-w", "prod", "--json"])
            let getObject = try #require(jsonObject(gotJSON.stdout), "\(gotJSON)")
            #expect(getObject["value"] as? String == "value-three")
            #expect(getObject["version"] as? Int == 3)
            let missingVersion = try await cli(["secrets", "get", "API_KEY", "--version", "99", "-w", "prod"])
            #expect(missingVersion.status == 1, "\(missingVersion)")

            // list: a table with a NAME header, and JSON with items (never values).
            let list = try await cli(["secrets", "list", "-w", "prod"])
            #expect(list.status == 0, "\(list)")
            let lines = list.stdout.split(separator: "\n")
            #expect(lines.first?.hasPrefix("NAME") == true, "\(list)")
            #expect(lines.first?.contains("VERSION") == true)
            for name in ["API_KEY", "FROM_FILE", "PIPED", "SIMPLE"] {
                #expect(lines.contains { $0.hasPrefix(name + " ") }, "\(name) in \(list)")
            }
            #expect(!list.stdout.contains("value-three"))
            let listJSON = try await cli(["secrets", "list", "-w", "prod", "--json"])
            #expect(listJSON.status == 0)
            #expect(items(listJSON.stdout).compactMap { $0["name"] as? String } == ["API_KEY", "FROM_FILE", "PIPED", "SIMPLE"])
            #expect(!listJSON.stdout.contains("value-three"))

            // versions.
            let versions = try await cli(["secrets", "versions", "API_KEY", "-w", "prod"])
            #expect(versions.status == 0, "\(versions)")
            let versionLines = versions.stdout.split(separator: "\n")
            #expect(versionLines.first?.hasPrefix("VERSION") == true, "\(versions)")
            #expect(versionLines.count == 4, "\(versions)")
            #expect(versionLines.dropFirst().first?.hasPrefix("3 ") == true && versionLines[1].contains("*"), "\(versions)")
            let versionsJSON = try await cli(["secrets", "versions", "API_KEY", "-w", "prod", "--json"])
            let versionItems = items(versionsJSON.stdout)
            #expect(versionItems.compactMap { $0["version"] as? Int } == [3, 2, 1], "\(versionsJSON)")
            #expect(versionItems.first?["is_current"] as? Bool == true)
            #expect(!versionsJSON.stdout.contains("value-"))

            // rollback to version 1: a new version 4 holding version 1's value.
            let rollback = try await cli(["secrets", "rollback", "API_KEY", "--version", "1", "-w", "prod"])
            #expect(rollback.status == 0, "\(rollback)")
            #expect(try await value(cli, "API_KEY") == "value-one")
            let rollbackJSON = try await cli(["secrets", "rollback", "API_KEY", "--version", "2", "-w", "prod", "--json"])
            #expect(jsonObject(rollbackJSON.stdout)?["version"] as? Int == 5, "\(rollbackJSON)")
            #expect(try await value(cli, "API_KEY") == "value-two")

            // rotate.
            let rotate = try await cli(["secrets", "rotate", "API_KEY", "rotated-value", "-w", "prod"])
            #expect(rotate.status == 0, "\(rotate)")
            #expect(rotate.stderr.contains("version 6"), "\(rotate)")
            #expect(try await value(cli, "API_KEY") == "rotated-value")
            let rotateJSON = try await cli(["secrets", "rotate", "API_KEY", "rotated-again", "-w", "prod", "--json"])
            #expect(jsonObject(rotateJSON.stdout)?["version"] as? Int == 7, "\(rotateJSON)")
            #expect(try await value(cli, "API_KEY") == "rotated-again")

            // audit (alice owns the workspace).
            let audit = try await cli(["secrets", "audit", "API_KEY", "-w", "prod"])
            #expect(audit.status == 0, "\(audit)")
            #expect(audit.stdout.hasPrefix("TIME"), "\(audit)")
            for action in ["created", "updated", "accessed", "rotated"] {
                #expect(audit.stdout.contains(action), "\(action) in \(audit)")
            }
            let auditJSON = try await cli(["secrets", "audit", "API_KEY", "-w", "prod", "--json"])
            #expect(auditJSON.status == 0, "\(auditJSON)")
            let actions = Set(items(auditJSON.stdout).compactMap { $0["action"] as? String })
            #expect(actions.isSuperset(of: ["created", "updated", "accessed", "rotated"]), "\(actions)")
            #expect(!auditJSON.stdout.contains("rotated-again"))

            // The workspace by id and through COFFER_WORKSPACE.
            let workspaces = try await cli(["workspace", "list", "--json"])
            let id = try #require(items(workspaces.stdout).first?["id"] as? String)
            let byID = try await cli(["secrets", "get", "API_KEY", "-w", id])
            #expect(byID.status == 0 && byID.stdout == "rotated-again\n", "\(byID)")
            let byEnv = try await cli(["secrets", "get", "API_KEY"], env: ["COFFER_WORKSPACE": "prod"])
            #expect(byEnv.status == 0 && byEnv.stdout == "rotated-again\n", "\(byEnv)")
            let byEnvID = try await cli(["secrets", "list"], env: ["COFFER_WORKSPACE": id])
            #expect(byEnvID.status == 0 && byEnvID.stdout.contains("API_KEY"), "\(byEnvID)")
            let flagWins = try await cli(["secrets", "get", "API_KEY", "-w", "prod"], env: ["COFFER_WORKSPACE": "nope"])
            #expect(flagWins.status == 0, "\(flagWins)")

            // No workspace at all: usage (2). An unknown one: failure (1).
            let noWorkspace = try await cli(["secrets", "list"])
            #expect(noWorkspace.status == 2, "\(noWorkspace)")
            #expect(noWorkspace.stderr.contains("workspace"), "\(noWorkspace)")
            let unknownWorkspace = try await cli(["secrets", "list", "-w", "nope"])
            #expect(unknownWorkspace.status == 1, "\(unknownWorkspace)")
            #expect(unknownWorkspace.stderr.contains("workspace_not_found"), "\(unknownWorkspace)")

            // rm: the secret is gone for get; --purge too.
            let rm = try await cli(["secrets", "rm", "PIPED", "-w", "prod"])
            #expect(rm.status == 0, "\(rm)")
            let gone = try await cli(["secrets", "get", "PIPED", "-w", "prod"])
            #expect(gone.status == 1, "\(gone)")
            #expect(gone.stderr.contains("secret_not_found"), "\(gone)")
            #expect(gone.stdout.isEmpty)
            let purge = try await cli(["secrets", "rm", "FROM_FILE", "--purge", "-w", "prod"])
            #expect(purge.status == 0, "\(purge)")
            #expect(purge.stderr.contains("purged"), "\(purge)")
            let purged = try await cli(["secrets", "get", "FROM_FILE", "-w", "prod"])
            #expect(purged.status == 1 && purged.stderr.contains("secret_not_found"), "\(purged)")
            let rmAgain = try await cli(["secrets", "rm", "PIPED", "-w", "prod"])
            #expect(rmAgain.status == 1 && rmAgain.stderr.contains("secret_not_found"), "\(rmAgain)")
            #expect(try await secretList(cli).compactMap { $0["name"] as? String } == ["API_KEY", "SIMPLE"])
            // A deleted secret's name can be used again: a new secret at version 1.
            let reused = try await cli(["secrets", "set", "PIPED", "again", "-w", "prod"])
            #expect(reused.status == 0 && reused.stderr.contains("created PIPED (version 1)"), "\(reused)")
            #expect(try await value(cli, "PIPED") == "again")

            // Unknown commands and flags: usage (2).
            let unknownCommand = try await cli(["frobnicate"])
            #expect(unknownCommand.status == 2, "\(unknownCommand)")
            let unknownSubcommand = try await cli(["secrets", "frobnicate"])
            #expect(unknownSubcommand.status == 2, "\(unknownSubcommand)")
            let unknownFlag = try await cli(["secrets", "list", "-w", "prod", "--bogus"])
            #expect(unknownFlag.status == 2, "\(unknownFlag)")
            let badVersion = try await cli(["secrets", "get", "API_KEY", "--version", "abc", "-w", "prod"])
            #expect(badVersion.status == 2, "\(badVersion)")
        }
    }

    // 3.
    @Test("an expired access token is refreshed (new refresh token stored); COFFER_TOKEN overrides; a bad one fails")
    func refreshAndTokenOverride() async throws {
        try await withLiveServer { api, _ in
            let cli = try await loggedIn(api)
            defer { cli.remove() }
            let before = cli.credentials()
            let firstRefresh = try #require(before["refresh_token"] as? String)
            let firstAccess = try #require(before["access_token"] as? String)

            api.clock.advance(by: 16 * 60)
            // The stored token is now expired for the server.
            let direct = try await api.call(.get, "/api/workspaces", token: firstAccess)
            #expect(direct.status == 401, "\(direct.raw)")

            let list = try await cli(["workspace", "list"])
            #expect(list.status == 0, "\(list)")
            #expect(list.stdout.contains("prod"), "\(list)")
            let after = cli.credentials()
            let secondRefresh = try #require(after["refresh_token"] as? String)
            let secondAccess = try #require(after["access_token"] as? String)
            #expect(secondRefresh != firstRefresh)
            #expect(secondAccess != firstAccess)
            let mode = try FileManager.default.attributesOfItem(atPath: cli.credentialsURL.path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let set = try await cli(["secrets", "set", "AFTER_REFRESH", "works", "-w", "prod"])
            #expect(set.status == 0, "\(set)")

            // COFFER_TOKEN with an empty HOME: no credentials file needed, none written.
            let bare = try CLISandbox(port: cli.port)
            defer { bare.remove() }
            let withToken = try await bare(["secrets", "get", "AFTER_REFRESH", "-w", "prod"], env: ["COFFER_TOKEN": secondAccess])
            #expect(withToken.status == 0, "\(withToken)")
            #expect(withToken.stdout == "works\n")
            let workspaces = try await bare(["workspace", "list"], env: ["COFFER_TOKEN": secondAccess])
            #expect(workspaces.status == 0 && workspaces.stdout.contains("prod"), "\(workspaces)")
            #expect(!FileManager.default.fileExists(atPath: bare.credentialsURL.path))

            let notLoggedIn = try await bare(["workspace", "list"])
            #expect(notLoggedIn.status == 1, "\(notLoggedIn)")
            #expect(notLoggedIn.stderr.contains("login"), "\(notLoggedIn)")

            let garbage = try await bare(["workspace", "list"], env: ["COFFER_TOKEN": "garbage.not.a-token"])
            #expect(garbage.status == 1, "\(garbage)")
            #expect(garbage.stderr.contains("invalid_token"), "\(garbage)")
            // COFFER_TOKEN also wins over a stored session, and is never refreshed away.
            let overrides = try await cli(["workspace", "list"], env: ["COFFER_TOKEN": "garbage.not.a-token"])
            #expect(overrides.status == 1 && overrides.stderr.contains("invalid_token"), "\(overrides)")
            #expect(cli.credentials()["refresh_token"] as? String == secondRefresh)
        }
    }

    // 4.
    @Test("coffer run: prefix, exit status, --only, no COFFER_TOKEN in the child, usage, 127, SIGTERM forwarding, audit")
    func run() async throws {
        try await withLiveServer { api, _ in
            let cli = try await loggedIn(api)
            defer { cli.remove() }
            let apiKey = "sk-live-123"
            let password = "pa ss $HOME `x` \"q\" 'y'"
            #expect(try await cli(["secrets", "set", "API_KEY", apiKey, "-w", "prod"]).status == 0)
            #expect(try await cli(["secrets", "set", "DB_PASSWORD", password, "-w", "prod"]).status == 0)

            let printed = try await cli([
                "run", "-w", "prod", "--prefix", "APP_", "--", "sh", "-c",
                #"printf "%s|%s" "$APP_API_KEY" "$APP_DB_PASSWORD"; exit 7"#,
            ])
            #expect(printed.status == 7, "\(printed)")
            #expect(printed.stdout == "\(apiKey)|\(password)", "\(printed)")

            let only = try await cli([
                "run", "-w", "prod", "--only", "API_KEY", "--", "sh", "-c",
                #"printf "%s|%s" "$API_KEY" "${DB_PASSWORD-unset}""#,
            ])
            #expect(only.status == 0, "\(only)")
            #expect(only.stdout == "\(apiKey)|unset", "\(only)")

            let nope = try await cli(["run", "-w", "prod", "--only", "NOPE", "--", "sh", "-c", "echo ran"])
            #expect(nope.status == 1, "\(nope)")
            #expect(nope.stderr.contains("NOPE"), "\(nope)")
            #expect(!nope.stdout.contains("ran"))

            let token = try #require(cli.credentials()["access_token"] as? String)
            let noToken = try await cli(
                ["run", "-w", "prod", "--", "sh", "-c", #"test -z "$COFFER_TOKEN" && test -n "$API_KEY""#],
                env: ["COFFER_TOKEN": token])
            #expect(noToken.status == 0, "\(noToken)")

            // CI's way: a reader service token and the workspace id, no login and no workspace listing.
            let workspaces = try await api.call(.get, "/api/workspaces", token: token)
            let prodID = try #require((workspaces["items"] as? [[String: Any]])?.first { $0["name"] as? String == "prod" }?["id"] as? String)
            let issued = try await api.call(
                .post, "/api/workspaces/\(prodID)/tokens", token: token, body: api.json(["name": "ci", "role": "reader"]))
            #expect(issued.status == 201)
            let bare = try CLISandbox(port: cli.port)
            defer { bare.remove() }
            let serviceRun = try await bare(
                ["run", "-w", prodID, "--", "sh", "-c", #"printf "%s" "$API_KEY""#],
                env: ["COFFER_TOKEN": issued.text("token")])
            #expect(serviceRun.status == 0, "\(serviceRun)")
            #expect(serviceRun.stdout == apiKey, "\(serviceRun)")

            // The child's status comes back unchanged (2 included, with nothing added on stderr), and death by
            // signal N becomes 128+N.
            let two = try await cli(["run", "-w", "prod", "--", "sh", "-c", "exit 2"])
            #expect(two.status == 2, "\(two)")
            #expect(two.stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(two)")
            // 64 is EX_USAGE, ArgumentParser's `validationFailure`: it must still be passed through as 64.
            let sixtyFour = try await cli(["run", "-w", "prod", "--", "sh", "-c", "exit 64"])
            #expect(sixtyFour.status == 64, "\(sixtyFour)")
            #expect(sixtyFour.stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(sixtyFour)")
            let signaled = try await cli(["run", "-w", "prod", "--", "sh", "-c", "kill -KILL $$"])
            #expect(signaled.status == 128 + 9, "\(signaled)")

            let noCommand = try await cli(["run", "-w", "prod"])
            #expect(noCommand.status == 2, "\(noCommand)")
            let emptyCommand = try await cli(["run", "-w", "prod", "--"])
            #expect(emptyCommand.status == 2, "\(emptyCommand)")
            let missing = try await cli(["run", "-w", "prod", "--", "coffer-no-such-command-\(UUID().uuidString)"])
            #expect(missing.status == 127, "\(missing)")

            // SIGTERM to coffer reaches the child, and coffer exits with the child's status.
            let mark = cli.home.appendingPathComponent("started")
            let child = try cli.start(
                [
                    "run", "-w", "prod", "--", "sh", "-c",
                    // Bounded: the child gives up by itself after ~30 s if the signal never arrives.
                    #"trap "exit 42" TERM; touch "$MARK"; i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; exit 3"#,
                ],
                env: ["MARK": mark.path])
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(20)
            while !FileManager.default.fileExists(atPath: mark.path), child.process.isRunning, clock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(FileManager.default.fileExists(atPath: mark.path), "the child never started")
            kill(child.pid, SIGTERM)
            let terminated = try await child.wait(timeout: .seconds(40))
            #expect(terminated.status == 42, "\(terminated)")

            // Every value `run` handed out was audited.
            let audit = try await cli(["secrets", "audit", "API_KEY", "-w", "prod", "--json"])
            #expect(audit.status == 0, "\(audit)")
            let accessed = items(audit.stdout).filter { $0["action"] as? String == "accessed" && $0["success"] as? Bool == true }
            #expect(accessed.count >= 3, "\(audit)")
        }
    }

    // 5.
    static let trickyDotenv =
        "# Coffer import test: comments, blanks, export, quotes, escapes\n"
        + "   # an indented comment\n"
        + "\n"
        + "export EXPORTED=exported value\n"
        + "UNQUOTED=plain value   # a trailing comment\n"
        + "URL=https://example.com/path#fragment\n"
        + "SPACED_EQUALS = around the sign\n"
        + "SINGLE='literal $HOME and \\n and \\t stay # not a comment'\n"
        + "DOUBLE=\"line1\\nline2\\ttab \\\"quoted\\\" back\\\\slash \\$NOT_EXPANDED\" # comment\n"
        + "MULTI=\"first line\n"
        + "second line\n"
        + "  third, indented\"\n"
        + "SINGLE_MULTI='one\n"
        + "two'\n"
        + "UNICODE=héllo wörld ✓ 中文 🚀🔑\n"
        + "EQUALS=a=b=c==\n"
        + "SPACES=\"  padded both sides  \"\n"
        + "CRLF=windows line\r\n"
        + "\n"
        + "DB_PASSWORD=hunter2\n"
        + "GITHUB_TOKEN=ghp_abc\n"

    @Test("import then export round-trips a tricky .env exactly; JSON export; type heuristics and --type")
    func importExportRoundTrip() async throws {
        try await withLiveServer { api, _ in
            let cli = try await loggedIn(api)
            defer { cli.remove() }
            let original = try Dotenv.parse(Self.trickyDotenv)
            let expected = Dictionary(uniqueKeysWithValues: original.map { ($0.name, $0.value) })
            // The parse itself is what the file says.
            #expect(expected["EXPORTED"] == "exported value")
            #expect(expected["UNQUOTED"] == "plain value")
            #expect(expected["URL"] == "https://example.com/path#fragment")
            #expect(expected["SINGLE"] == #"literal $HOME and \n and \t stay # not a comment"#)
            #expect(expected["DOUBLE"] == "line1\nline2\ttab \"quoted\" back\\slash $NOT_EXPANDED")
            #expect(expected["MULTI"] == "first line\nsecond line\n  third, indented")
            #expect(expected["UNICODE"] == "héllo wörld ✓ 中文 🚀🔑")
            #expect(expected["EQUALS"] == "a=b=c==")
            #expect(expected["SPACES"] == "  padded both sides  ")
            #expect(expected["CRLF"] == "windows line")
            #expect(original.count == 14)

            let file = try cli.file("tricky.env", Self.trickyDotenv)
            let imported = try await cli(["import", file, "-w", "prod"])
            #expect(imported.status == 0, "\(imported)")
            #expect(imported.stderr.contains("created 14"), "\(imported)")

            let dotenv = try await cli(["export", "-w", "prod", "--format", "dotenv"])
            #expect(dotenv.status == 0, "\(dotenv)")
            let exported = try Dotenv.parse(dotenv.stdout)
            #expect(exported.count == expected.count)
            for (name, value) in exported {
                #expect(expected[name].map { Array($0.unicodeScalars) } == Array(value.unicodeScalars), "\(name)")
            }
            #expect(Set(exported.map(\.name)) == Set(expected.keys))

            let json = try await cli(["export", "-w", "prod", "--format", "json"])
            #expect(json.status == 0, "\(json)")
            let object = try #require(jsonObject(json.stdout), "\(json)")
            #expect(object.count == expected.count)
            for (name, value) in expected {
                #expect((object[name] as? String).map { Array($0.unicodeScalars) } == Array(value.unicodeScalars), "\(name)")
            }

            // Single values, byte for byte, through `secrets get`.
            #expect(try await value(cli, "MULTI") == expected["MULTI"])
            #expect(try await value(cli, "UNICODE") == expected["UNICODE"])

            // Types: name heuristics, or --type for every entry.
            let types = Dictionary(uniqueKeysWithValues: try await secretList(cli).compactMap { item in
                (item["name"] as? String).map { ($0, item["secret_type"] as? String ?? "") }
            })
            #expect(types["DB_PASSWORD"] == "database_credential")
            #expect(types["GITHUB_TOKEN"] == "oauth_token")
            #expect(types["UNQUOTED"] == "api_key")
            #expect(types["URL"] == "api_key")
            let generic = try cli.file("generic.env", "OTHER_TOKEN=t\nOTHER_PASSWORD=p\nOTHER=o\n")
            let importedGeneric = try await cli(["import", generic, "-w", "prod", "--type", "generic"])
            #expect(importedGeneric.status == 0, "\(importedGeneric)")
            let after = try await secretList(cli)
            for name in ["OTHER_TOKEN", "OTHER_PASSWORD", "OTHER"] {
                #expect(after.first { $0["name"] as? String == name }?["secret_type"] as? String == "generic", "\(name)")
            }
        }
    }

    // 6.
    @Test("import is all or nothing: a malformed line, an oversized value; --dry-run and --overwrite")
    func importAllOrNothing() async throws {
        try await withLiveServer { api, _ in
            let cli = try await loggedIn(api)
            defer { cli.remove() }
            #expect(try await cli(["secrets", "set", "EXISTING", "original", "-w", "prod"]).status == 0)

            // (a) a malformed line 3.
            let malformed = try cli.file("bad.env", "GOOD_ONE=1\nGOOD_TWO=2\nNOT VALID\nGOOD_THREE=3\n")
            let bad = try await cli(["import", malformed, "-w", "prod"])
            #expect(bad.status == 1, "\(bad)")
            #expect(bad.stderr.contains("line 3"), "\(bad)")
            #expect(try await secretList(cli).compactMap { $0["name"] as? String } == ["EXISTING"])

            // (b) one value over the server's 64 KiB limit: none of the others are stored either.
            let big = String(repeating: "x", count: 64 * 1024 + 1)
            let oversized = try cli.file("big.env", "SMALL_A=a\nEXISTING=changed\nBIG=\(big)\nSMALL_B=b\n")
            let tooBig = try await cli(["import", oversized, "-w", "prod", "--overwrite"])
            #expect(tooBig.status == 1, "\(tooBig)")
            #expect(tooBig.stderr.contains("BIG"), "\(tooBig)")
            #expect(try await secretList(cli).compactMap { $0["name"] as? String } == ["EXISTING"])
            #expect(try await value(cli, "EXISTING") == "original")

            // (c) --dry-run shows the plan and changes nothing.
            let plan = try cli.file("plan.env", "EXISTING=replaced\nNEW_ONE=new\n")
            let dry = try await cli(["import", plan, "-w", "prod", "--dry-run"])
            #expect(dry.status == 0, "\(dry)")
            let dryLines = dry.stdout.split(separator: "\n")
            #expect(dryLines.contains { $0.hasPrefix("EXISTING ") && $0.contains("skip") }, "\(dry)")
            #expect(dryLines.contains { $0.hasPrefix("NEW_ONE ") && $0.contains("create") }, "\(dry)")
            let dryOverwrite = try await cli(["import", plan, "-w", "prod", "--dry-run", "--overwrite", "--json"])
            #expect(dryOverwrite.status == 0, "\(dryOverwrite)")
            let report = try #require(jsonObject(dryOverwrite.stdout), "\(dryOverwrite)")
            #expect(report["dry_run"] as? Bool == true)
            let actions = Dictionary(uniqueKeysWithValues: (report["entries"] as? [[String: Any]] ?? []).compactMap { entry in
                (entry["name"] as? String).map { ($0, entry["action"] as? String ?? "") }
            })
            #expect(actions == ["EXISTING": "update", "NEW_ONE": "create"])
            #expect(try await secretList(cli).compactMap { $0["name"] as? String } == ["EXISTING"])
            #expect(try await value(cli, "EXISTING") == "original")

            // Without --overwrite existing names are skipped; with it they get a new version.
            let skip = try await cli(["import", plan, "-w", "prod"])
            #expect(skip.status == 0, "\(skip)")
            #expect(skip.stderr.contains("created 1") && skip.stderr.contains("skipped 1"), "\(skip)")
            #expect(try await value(cli, "EXISTING") == "original")
            #expect(try await value(cli, "NEW_ONE") == "new")
            let overwrite = try await cli(["import", plan, "-w", "prod", "--overwrite"])
            #expect(overwrite.status == 0, "\(overwrite)")
            #expect(overwrite.stderr.contains("updated 2"), "\(overwrite)")
            #expect(try await value(cli, "EXISTING") == "replaced")
            let list = try await secretList(cli)
            #expect(list.first { $0["name"] as? String == "EXISTING" }?["version"] as? Int == 2)
        }
    }

    // 7.
    @Test("coffer fernet interoperates with Python's cryptography")
    func fernet() async throws {
        let cli = try CLISandbox(port: 1)
        defer { cli.remove() }

        let generated = try await cli(["fernet", "generate-key"])
        #expect(generated.status == 0, "\(generated)")
        let key = generated.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let accepted = try await python(
            "import sys; from cryptography.fernet import Fernet; Fernet(sys.argv[1].encode()); print('ok')", [key])
        #expect(accepted.stdout == "ok\n", "\(accepted)")
        let keyFile = try cli.file("key", generated.stdout)

        // coffer encrypts, Python decrypts.
        let plaintext = "attack at dawn ✓\nsecond line"
        let encrypted = try await cli(["fernet", "encrypt", "--key-file", keyFile], stdin: plaintext)
        #expect(encrypted.status == 0, "\(encrypted)")
        let token = encrypted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("gAAAAA"))
        let decryptScript = """
            import sys
            from cryptography.fernet import Fernet
            sys.stdout.buffer.write(Fernet(sys.argv[1].encode()).decrypt(sys.argv[2].encode()))
            """
        let pythonDecrypted = try await python(decryptScript, [key, token])
        #expect(pythonDecrypted.status == 0, "\(pythonDecrypted)")
        #expect(pythonDecrypted.stdout == plaintext)

        // Python encrypts, coffer decrypts.
        let pythonToken = try await python(
            "import sys; from cryptography.fernet import Fernet; print(Fernet(sys.argv[1].encode()).encrypt('from python ✓'.encode()).decode())",
            [key])
        #expect(pythonToken.status == 0, "\(pythonToken)")
        let decrypted = try await cli(["fernet", "decrypt", "--key-file", keyFile], stdin: pythonToken.stdout)
        #expect(decrypted.status == 0, "\(decrypted)")
        #expect(decrypted.stdout == "from python ✓", "\(decrypted)")

        // rotate: an OLD token re-encrypted under NEW, timestamp kept.
        let keys = try await python("from cryptography.fernet import Fernet; print(Fernet.generate_key().decode()); print(Fernet.generate_key().decode())")
        let pair = keys.stdout.split(separator: "\n").map(String.init)
        try #require(pair.count == 2, "\(keys)")
        let (oldKey, newKey) = (pair[0], pair[1])
        let oldFile = try cli.file("old.key", oldKey + "\n")
        let newFile = try cli.file("new.key", newKey + "\n")
        let oldToken = try await python(
            "import sys, time; from cryptography.fernet import Fernet; print(Fernet(sys.argv[1].encode()).encrypt_at_time(b'rotate me', int(time.time()) - 50).decode())",
            [oldKey])
        let rotated = try await cli(["fernet", "rotate", "--key-file", newFile, "--key-file", oldFile], stdin: oldToken.stdout)
        #expect(rotated.status == 0, "\(rotated)")
        let rotatedToken = rotated.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let checkRotated = try await python(
            """
            import sys
            from cryptography.fernet import Fernet, InvalidToken
            new, old = Fernet(sys.argv[1].encode()), Fernet(sys.argv[2].encode())
            rotated, original = sys.argv[3].encode(), sys.argv[4].encode()
            assert new.decrypt(rotated) == b'rotate me'
            assert new.extract_timestamp(rotated) == old.extract_timestamp(original)
            try:
                old.decrypt(rotated)
                print('old key still works')
            except InvalidToken:
                print('ok')
            """, [newKey, oldKey, rotatedToken, oldToken.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(checkRotated.stdout == "ok\n", "\(checkRotated)")

        // A tampered token: exit 1, invalid_token, nothing on stdout.
        var bytes = try #require(
            Data(base64Encoded: token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")))
        bytes[30] ^= 0x01
        let tampered = bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let rejected = try await cli(["fernet", "decrypt", "--key-file", keyFile], stdin: tampered)
        #expect(rejected.status == 1, "\(rejected)")
        #expect(rejected.stderr.contains("invalid_token"), "\(rejected)")
        #expect(rejected.stdout.isEmpty)
        let wrongKey = try await cli(["fernet", "decrypt", "--key-file", newFile], stdin: token)
        #expect(wrongKey.status == 1 && wrongKey.stderr.contains("invalid_token"), "\(wrongKey)")

        // --ttl: a token made 100 s ago is too old for 1 s, fine for 1000 s.
        let agedToken = try await python(
            "import sys, time; from cryptography.fernet import Fernet; print(Fernet(sys.argv[1].encode()).encrypt_at_time(b'aged', int(time.time()) - 100).decode())",
            [key])
        let expired = try await cli(["fernet", "decrypt", "--key-file", keyFile, "--ttl", "1"], stdin: agedToken.stdout)
        #expect(expired.status == 1, "\(expired)")
        #expect(expired.stderr.contains("invalid_token"), "\(expired)")
        #expect(expired.stdout.isEmpty)
        let fresh = try await cli(["fernet", "decrypt", "--key-file", keyFile, "--ttl", "1000"], stdin: agedToken.stdout)
        #expect(fresh.status == 0 && fresh.stdout == "aged", "\(fresh)")

        // A malformed key file: exit 1. No key file: usage.
        let badKey = try cli.file("bad.key", "not-a-fernet-key\n")
        let malformed = try await cli(["fernet", "encrypt", "--key-file", badKey], stdin: "x")
        #expect(malformed.status == 1, "\(malformed)")
        #expect(malformed.stderr.contains("invalid_key"), "\(malformed)")
        let shortKey = try cli.file("short.key", "c2hvcnQ=\n")
        let short = try await cli(["fernet", "decrypt", "--key-file", shortKey], stdin: token)
        #expect(short.status == 1, "\(short)")
        let noKey = try await cli(["fernet", "encrypt"], stdin: "x")
        #expect(noKey.status == 2, "\(noKey)")
    }

    // 8.
    @Test("migration: Fernet values under two keys and plaintext, from JSON and .env; a missing key imports nothing; legacy base64")
    func migration() async throws {
        try await withLiveServer { api, _ in
            let cli = try await loggedIn(api)
            defer { cli.remove() }
            let k1 = cli.home.appendingPathComponent("k1.key").path
            let k2 = cli.home.appendingPathComponent("k2.key").path
            let jsonFile = cli.home.appendingPathComponent("seed.json").path
            let envFile = cli.home.appendingPathComponent("seed.env").path
            let made = try await python(
                """
                import json, sys
                from cryptography.fernet import Fernet
                k1, k2 = Fernet.generate_key(), Fernet.generate_key()
                open(sys.argv[1], 'wb').write(k1 + b'\\n')
                open(sys.argv[2], 'wb').write(k2 + b'\\n')
                f1, f2 = Fernet(k1), Fernet(k2)
                json.dump({
                    'DB_PASSWORD': f1.encrypt('pg sécret "quoted"'.encode()).decode(),
                    'STRIPE_API_KEY': f2.encrypt(b'sk_live_abc').decode(),
                    'PLAIN_SETTING': 'just text',
                }, open(sys.argv[3], 'w'))
                with open(sys.argv[4], 'w') as env:
                    env.write('# migrated from seed 002\\n')
                    env.write('ENV_ONE=' + f1.encrypt(b'one\\nwith newline').decode() + '\\n')
                    env.write('ENV_TWO="' + f2.encrypt('two 🔑'.encode()).decode() + '"\\n')
                    env.write('ENV_PLAIN=plain value\\n')
                print('ok')
                """, [k1, k2, jsonFile, envFile])
            try #require(made.stdout == "ok\n", "\(made)")

            // Only K1: STRIPE_API_KEY does not decrypt; the import stops before storing anything.
            let onlyK1 = try await cli(["import", jsonFile, "-w", "prod", "--format", "json", "--fernet-key-file", k1])
            #expect(onlyK1.status == 1, "\(onlyK1)")
            #expect(onlyK1.stderr.contains("STRIPE_API_KEY"), "\(onlyK1)")
            #expect(!onlyK1.stderr.contains("DB_PASSWORD"), "\(onlyK1)")
            #expect(try await secretList(cli).isEmpty)
            let onlyK1Dry = try await cli([
                "import", jsonFile, "-w", "prod", "--format", "json", "--fernet-key-file", k1, "--dry-run", "--json",
            ])
            #expect(onlyK1Dry.status == 1, "\(onlyK1Dry)")
            let failing = (jsonObject(onlyK1Dry.stdout)?["entries"] as? [[String: Any]] ?? [])
                .filter { $0["decrypts"] as? Bool == false }.compactMap { $0["name"] as? String }
            #expect(failing == ["STRIPE_API_KEY"], "\(onlyK1Dry)")
            let envOnlyK1 = try await cli(["import", envFile, "-w", "prod", "--fernet-key-file", k1])
            #expect(envOnlyK1.status == 1 && envOnlyK1.stderr.contains("ENV_TWO"), "\(envOnlyK1)")
            #expect(try await secretList(cli).isEmpty)

            // Dry run with both keys: kinds and decrypts, nothing stored.
            let dry = try await cli([
                "import", jsonFile, "-w", "prod", "--format", "json", "--fernet-key-file", k1, "--fernet-key-file", k2,
                "--dry-run", "--json",
            ])
            #expect(dry.status == 0, "\(dry)")
            let entries = jsonObject(dry.stdout)?["entries"] as? [[String: Any]] ?? []
            let kinds = Dictionary(uniqueKeysWithValues: entries.compactMap { entry in
                (entry["name"] as? String).map { ($0, "\(entry["kind"] as? String ?? "")/\(entry["decrypts"] as? Bool ?? false)/\(entry["action"] as? String ?? "")") }
            })
            #expect(kinds == [
                "DB_PASSWORD": "fernet/true/create", "STRIPE_API_KEY": "fernet/true/create",
                "PLAIN_SETTING": "plaintext/true/create",
            ], "\(dry)")
            #expect(!dry.stdout.contains("sk_live_abc"))
            #expect(try await secretList(cli).isEmpty)

            // The real imports: plaintexts stored.
            let json = try await cli([
                "import", jsonFile, "-w", "prod", "--format", "json", "--fernet-key-file", k1, "--fernet-key-file", k2,
            ])
            #expect(json.status == 0, "\(json)")
            #expect(try await value(cli, "DB_PASSWORD") == "pg sécret \"quoted\"")
            #expect(try await value(cli, "STRIPE_API_KEY") == "sk_live_abc")
            #expect(try await value(cli, "PLAIN_SETTING") == "just text")
            let env = try await cli(["import", envFile, "-w", "prod", "--fernet-key-file", k2, "--fernet-key-file", k1])
            #expect(env.status == 0, "\(env)")
            #expect(try await value(cli, "ENV_ONE") == "one\nwith newline")
            #expect(try await value(cli, "ENV_TWO") == "two 🔑")
            #expect(try await value(cli, "ENV_PLAIN") == "plain value")

            // Seed 002's base64 values.
            let legacyValues = ["LEGACY_ONE": "legacy sécret ✓", "LEGACY_TWO": "a b c\nd"]
            let legacy = try cli.file(
                "legacy.env",
                legacyValues.sorted { $0.key < $1.key }.map { "\($0.key)=\(Data($0.value.utf8).base64EncodedString())\n" }.joined())
            let legacyImport = try await cli(["import", legacy, "-w", "prod", "--legacy-base64"])
            #expect(legacyImport.status == 0, "\(legacyImport)")
            for (name, plain) in legacyValues {
                #expect(try await value(cli, name) == plain, "\(name)")
            }
        }
    }

    // 9.
    @Test("shell completion scripts", arguments: ["bash", "zsh", "fish"])
    func completions(shell: String) async throws {
        let cli = try CLISandbox(port: 1)
        defer { cli.remove() }
        let script = try await cli(["--generate-completion-script", shell])
        #expect(script.status == 0, "\(script)")
        #expect(!script.stdout.isEmpty)
        #expect(script.stdout.contains("secrets"), "\(shell)")
    }
}
