import CofferClient
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A failure the CLI reports: a message for stderr, the API's error code if there is one, and the exit status.
struct CLIError: Error, CustomStringConvertible {
    let message: String
    var code: String?
    var status: Int32 = 1

    var description: String { code.map { "\(message) (\($0))" } ?? message }
}

/// The session `coffer login` stores in `~/.config/coffer/credentials.json` (mode 0600).
struct StoredCredentials: Codable {
    var address: String
    var username: String
    var accessToken: String
    var refreshToken: String?
    var expiresAt: Date

    enum CodingKeys: String, CodingKey {
        case address, username, accessToken = "access_token", refreshToken = "refresh_token", expiresAt = "expires_at"
    }

    /// `$XDG_CONFIG_HOME/coffer/credentials.json`, else `$HOME/.config/coffer/credentials.json`.
    static var path: URL {
        let environment = ProcessInfo.processInfo.environment
        let base =
            environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory()).appendingPathComponent(".config")
        return base.appendingPathComponent("coffer/credentials.json")
    }

    static func load() -> StoredCredentials? {
        guard let data = FileManager.default.contents(atPath: path.path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(StoredCredentials.self, from: data)
    }

    /// Writes atomically with mode 0600 (folder 0700): a temporary file renamed over the old one.
    func save() throws {
        let url = Self.path
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        let temporary = url.path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError(message: "cannot write \(url.path)") }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == data.count, rename(temporary, url.path) == 0 else {
            unlink(temporary)
            throw CLIError(message: "cannot write \(url.path)")
        }
    }

    static func remove() { try? FileManager.default.removeItem(at: path) }
}

extension CofferClient {
    /// The CLI's client: `COFFER_ADDR` and `COFFER_TOKEN` override the stored session. A token from the
    /// environment is never refreshed or written anywhere; a stored session is refreshed when it expires, and each
    /// new one is written back to the credentials file.
    static func fromEnvironment() throws -> CofferClient {
        let environment = ProcessInfo.processInfo.environment
        let stored = StoredCredentials.load()
        let address = environment["COFFER_ADDR"].flatMap { $0.isEmpty ? nil : $0 } ?? stored?.address
            ?? "http://127.0.0.1:8700"
        let configuration = Configuration(address: address, timeout: .seconds(60), userAgent: "coffer-cli/\(cofferVersion)")
        if let token = environment["COFFER_TOKEN"], !token.isEmpty {
            return CofferClient(configuration: configuration, authentication: .token(token))
        }
        guard let stored else {
            throw CLIError(message: "not logged in: run `coffer login` or set COFFER_TOKEN")
        }
        guard let refreshToken = stored.refreshToken else {
            return CofferClient(configuration: configuration, authentication: .token(stored.accessToken))
        }
        let session = CofferSession(accessToken: stored.accessToken, refreshToken: refreshToken, expiresAt: stored.expiresAt)
        return CofferClient(configuration: configuration, authentication: .session(session)) { renewed in
            var updated = stored
            updated.accessToken = renewed.accessToken
            updated.refreshToken = renewed.refreshToken
            updated.expiresAt = renewed.expiresAt
            try updated.save()
        }
    }

    /// The workspace of `-w` (or `COFFER_WORKSPACE`), by id or name, as an id.
    func workspaceID(option given: String?) async throws -> String {
        guard let given = given ?? ProcessInfo.processInfo.environment["COFFER_WORKSPACE"], !given.isEmpty else {
            throw CLIError(message: "no workspace: pass -w/--workspace NAME or set COFFER_WORKSPACE", status: 2)
        }
        return try await workspaceID(given)
    }
}
