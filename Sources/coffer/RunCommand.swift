import ArgumentParser
import CofferClient
import CofferCore
import Foundation
import NIOHTTP1
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `coffer run`: a command with the workspace's secrets in its environment (seed 004's env injection).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command with the workspace's secrets in its environment.",
        discussion: """
            All values come in one request (each read is audited). The command gets them as environment variables,
            never as arguments; COFFER_TOKEN is removed from its environment. Signals (INT, TERM, HUP, QUIT, USR1,
            USR2) are passed on, and coffer exits with the command's exit status (128+N if it died of signal N).
            Example: coffer run -w production --prefix APP_ -- ./server --port 8080
            """
    )

    @OptionGroup var workspace: WorkspaceOption
    @Option(help: "Put this in front of every variable name (e.g. SECRET_).") var prefix = ""
    @Option(help: "Only these secrets (comma-separated names).") var only: String?
    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.") var command: [String] = []

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("give the command to run after --, e.g. coffer run -w WS -- env") }
        if !prefix.isEmpty, !prefix.unicodeScalars.allSatisfy({ $0 == "_" || ($0.isASCII && $0.properties.isAlphabetic) || ("0"..."9").contains($0) }) {
            throw ValidationError("--prefix may hold only letters, digits and _")
        }
    }

    func run() async throws {
        let client = try CofferClient.fromEnvironment()
        let ws = try await client.workspaceID(option: workspace.workspace)
        let wanted = only.map { Set($0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }) }
        let (found, inactive) = try await client.values(of: wanted?.sorted(), in: ws)
        let items = found.values.sorted { $0.name < $1.name }
        if let wanted {
            let refused = wanted.intersection(inactive)
            guard refused.isEmpty else {
                throw CLIError(
                    message: "\(refused.sorted().joined(separator: ", ")) is deactivated (is_active is false)",
                    code: "secret_inactive")
            }
            let missing = wanted.subtracting(items.map(\.name))
            guard missing.isEmpty else {
                throw CLIError(message: "no secret \(missing.sorted().joined(separator: ", ")) in this workspace", code: "secret_not_found")
            }
        }
        if !inactive.isEmpty {
            Output.note("left out \(inactive.count) deactivated secret(s): " + inactive.sorted().joined(separator: ", "))
        }
        var environment = ProcessInfo.processInfo.environment
        environment["COFFER_TOKEN"] = nil
        // KV entries (`app/db`) are not variable names: they would make malformed environment entries.
        let variables = items.filter { Dotenv.isVariableName($0.name) }
        let others = items.filter { !Dotenv.isVariableName($0.name) }
        if !others.isEmpty {
            Output.note("skipped \(others.count) secret(s) whose names are not environment variable names: "
                + others.map(\.name).sorted().joined(separator: ", "))
        }
        for secret in variables { environment[prefix + secret.name] = secret.value }
        let status = try ChildProcess.run(command, environment: environment)
        throw ExitCode(status)
    }
}

/// Spawns a child with an environment, forwards signals to it, and returns its exit status.
enum ChildProcess {
    static let forwarded: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]

    static func run(_ command: [String], environment: [String: String]) throws -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with default handlers even though this process ignores the signals it forwards.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in forwarded { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        // Forwarding is in place before the child exists: a signal that arrives before the spawn returns is
        // held and delivered right after, never lost.
        let target = Mutex<(pid: pid_t, pending: [Int32])>((0, []))
        for signal in forwarded { Glibc.signal(signal, SIG_IGN) }
        var sources: [any DispatchSourceSignal] = []
        for signal in forwarded {
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler {
                let pid = target.withLock { state -> pid_t in
                    if state.pid == 0 { state.pending.append(signal) }
                    return state.pid
                }
                if pid != 0 { kill(pid, signal) }
            }
            source.resume()
            sources.append(source)
        }
        defer { for source in sources { source.cancel() } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, command[0], nil, &attributes, argv, envp)
        guard spawned == 0 else {
            throw CLIError(message: "cannot run \(command[0]): \(String(cString: strerror(spawned)))", status: 127)
        }
        let child = pid
        let pending = target.withLock { state -> [Int32] in
            state.pid = child
            defer { state.pending = [] }
            return state.pending
        }
        for signal in pending { kill(child, signal) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let termination = status & 0x7f
        return termination == 0 ? (status >> 8) & 0xff : 128 + termination
    }
}
