import AsyncHTTPClient
import CofferCore
import Foundation
import NIOCore
import NIOHTTP1

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

/// Talks to a Coffer server as the logged-in user (or `COFFER_TOKEN`), refreshing an expired session.
actor APIClient {
    let address: String
    private var token: String
    private var credentials: StoredCredentials?

    /// `COFFER_ADDR` and `COFFER_TOKEN` override the stored session; a token from the environment is never
    /// refreshed or written anywhere.
    static func fromEnvironment() throws -> APIClient {
        let environment = ProcessInfo.processInfo.environment
        let stored = StoredCredentials.load()
        let address = environment["COFFER_ADDR"].flatMap { $0.isEmpty ? nil : $0 } ?? stored?.address
            ?? "http://127.0.0.1:8700"
        if let token = environment["COFFER_TOKEN"], !token.isEmpty {
            return APIClient(address: address, token: token, credentials: nil)
        }
        guard let stored else {
            throw CLIError(message: "not logged in: run `coffer login` or set COFFER_TOKEN")
        }
        return APIClient(address: address, token: stored.accessToken, credentials: stored)
    }

    init(address: String, token: String, credentials: StoredCredentials?) {
        self.address = address.hasSuffix("/") ? String(address.dropLast()) : address
        self.token = token
        self.credentials = credentials
    }

    /// Sends a request; returns the body of a 2xx answer, else throws the API's error as a `CLIError`.
    func send(_ method: HTTPMethod, _ path: String, json body: Data? = nil, authenticated: Bool = true) async throws -> Data {
        if authenticated, let credentials, credentials.expiresAt < Date().addingTimeInterval(30), credentials.refreshToken != nil {
            try await refresh()
        }
        var (status, data) = try await raw(method, path, body: body, authenticated: authenticated)
        if status == 401, authenticated, credentials?.refreshToken != nil,
            Self.errorCode(data) == "token_expired" || Self.errorCode(data) == "invalid_token"
        {
            try await refresh()
            (status, data) = try await raw(method, path, body: body, authenticated: authenticated)
        }
        guard (200..<300).contains(status) else {
            let code = Self.errorCode(data)
            let message = Self.errorMessage(data) ?? "the server answered \(status)"
            throw CLIError(message: message, code: code)
        }
        return data
    }

    func decode<T: Decodable>(_ type: T.Type, _ method: HTTPMethod, _ path: String, json body: Data? = nil) async throws -> T {
        let data = try await send(method, path, json: body)
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(T.self, from: data)
        } catch {
            throw CLIError(message: "unexpected answer from the server")
        }
    }

    private func raw(_ method: HTTPMethod, _ path: String, body: Data?, authenticated: Bool) async throws -> (Int, Data) {
        var request = HTTPClientRequest(url: address + path)
        request.method = method
        request.headers.add(name: "User-Agent", value: "coffer-cli/\(cofferVersion)")
        if authenticated { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            let buffer = try await response.body.collect(upTo: 64 << 20)
            return (Int(response.status.code), Data(buffer.readableBytesView))
        } catch {
            throw CLIError(message: "cannot reach the Coffer server at \(address): \(error)")
        }
    }

    private func refresh() async throws {
        guard var credentials, let refreshToken = credentials.refreshToken else { return }
        let body = try JSONEncoder().encode(RefreshRequest(refreshToken: refreshToken))
        let (status, data) = try await raw(.POST, "/api/auth/refresh", body: body, authenticated: false)
        guard status == 200, let grant = try? JSONDecoder().decode(Grant.self, from: data) else {
            throw CLIError(message: "the session has expired: run `coffer login` again", code: Self.errorCode(data))
        }
        credentials.accessToken = grant.accessToken
        credentials.refreshToken = grant.refreshToken
        credentials.expiresAt = Date().addingTimeInterval(TimeInterval(grant.expiresIn))
        try credentials.save()
        self.credentials = credentials
        token = grant.accessToken
    }

    struct Grant: Decodable {
        let accessToken: String
        let refreshToken: String?
        let expiresIn: Int

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token", refreshToken = "refresh_token", expiresIn = "expires_in"
        }
    }

    nonisolated static func errorCode(_ data: Data) -> String? {
        ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]).flatMap { ($0["error"] as? [String: Any])?["code"] as? String }
    }

    nonisolated static func errorMessage(_ data: Data) -> String? {
        ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]).flatMap { ($0["error"] as? [String: Any])?["message"] as? String }
    }

    // MARK: Lookups by name

    struct WorkspaceItem: Decodable { let id: String; let name: String; let role: String }
    struct WorkspaceList: Decodable { let items: [WorkspaceItem] }

    /// A workspace by id or name (`-w` or `COFFER_WORKSPACE`).
    func workspaceID(_ given: String?) async throws -> String {
        guard let given = given ?? ProcessInfo.processInfo.environment["COFFER_WORKSPACE"], !given.isEmpty else {
            throw CLIError(message: "no workspace: pass -w/--workspace NAME or set COFFER_WORKSPACE", status: 2)
        }
        // An id needs no lookup (the server decides access), and a service token, which can only reach its
        // workspace's secrets, could not list workspaces anyway.
        if let id = UUID(uuidString: given) { return id.uuidString.lowercased() }
        let list = try await decode(WorkspaceList.self, .GET, "/api/workspaces")
        if let match = list.items.first(where: { $0.id == given }) { return match.id }
        let named = list.items.filter { $0.name == given }
        guard named.count <= 1 else {
            throw CLIError(message: "several workspaces are named \(given): use the id", code: "ambiguous_workspace")
        }
        guard let match = named.first else {
            throw CLIError(message: "no workspace \(given) among yours", code: "workspace_not_found")
        }
        return match.id
    }

    struct SecretItem: Decodable {
        let id: String
        let name: String
        let secretType: String
        let version: Int
        let rotationPolicy: String
        let rotationDueAt: Date?
        let updatedAt: Date

        enum CodingKeys: String, CodingKey {
            case id, name, secretType = "secret_type", version, rotationPolicy = "rotation_policy"
            case rotationDueAt = "rotation_due_at", updatedAt = "updated_at"
        }
    }

    struct SecretPage: Decodable { let items: [SecretItem]; let total: Int }

    /// Every secret of a workspace (paged through), in name order.
    func secrets(in workspace: String) async throws -> [SecretItem] {
        var all: [SecretItem] = []
        while true {
            let page = try await decode(
                SecretPage.self, .GET, "/api/secrets/workspaces/\(workspace)/secrets?limit=1000&offset=\(all.count)")
            all += page.items
            if page.items.isEmpty || all.count >= page.total { return all }
        }
    }

    /// A live secret's id by its name.
    func secretID(named name: String, in workspace: String) async throws -> String {
        let encoded = name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(["_"])) ?? name
        let page = try await decode(
            SecretPage.self, .GET, "/api/secrets/workspaces/\(workspace)/secrets?limit=1000&name_prefix=\(encoded)")
        guard let match = page.items.first(where: { $0.name == name }) else {
            throw CLIError(message: "no secret \(name) in this workspace", code: "secret_not_found")
        }
        return match.id
    }
}
