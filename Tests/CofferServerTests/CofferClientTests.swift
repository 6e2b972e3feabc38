import AsyncHTTPClient
import CofferClient
import Foundation
import HTTPTypes
import NIOHTTP1
import Synchronization
import Testing

/// `CofferClient` (the Swift client library) against a live server on loopback: sessions and their refresh,
/// service tokens, the secret calls, errors, the value cache (with a real outage) and transit.
@Suite("CofferClient against a live server")
struct CofferClientTests {
    // MARK: Helpers

    /// Every session a client hands to `onSessionChange`, in order.
    final class SessionRecorder: Sendable {
        private let recorded = Mutex<[CofferSession]>([])

        var sessions: [CofferSession] { recorded.withLock { $0 } }

        func record(_ session: CofferSession) { recorded.withLock { $0.append(session) } }
    }

    /// A client of the live server (or of `port`), on the server's test clock unless `realClock`.
    func makeClient(
        _ api: LiveServer, port: Int? = nil, authentication: CofferClient.Authentication = .none,
        cache: ValueCachePolicy? = nil, recorder: SessionRecorder? = nil, timeout: Duration = .seconds(20),
        httpClient: HTTPClient = .shared, realClock: Bool = false
    ) throws -> CofferClient {
        let serverPort = try #require(api.client.port)
        let clock = api.clock
        let now: @Sendable () -> Date
        if realClock { now = { Date() } } else { now = { clock.now } }
        var onSessionChange: (@Sendable (CofferSession) async throws -> Void)? = nil
        if let recorder { onSessionChange = { recorder.record($0) } }
        return CofferClient(
            configuration: .init(
                address: "http://127.0.0.1:\(port ?? serverPort)", timeout: timeout, cache: cache, now: now),
            authentication: authentication, httpClient: httpClient, onSessionChange: onSessionChange)
    }

    /// The successful `accessed` records of one secret, newest first (as the audit endpoint lists them).
    func accesses(_ api: LiveServer, workspace: String, secret: String, token: String) async throws -> [[String: Any]] {
        let audit = try await api.call(
            .get, "/api/secrets/workspaces/\(workspace)/secrets/\(secret)/audit?limit=100", token: token)
        #expect(audit.status == 200, "\(audit.raw)")
        return audit.items.filter { $0["action"] as? String == "accessed" && $0["success"] as? Bool == true }
    }

    // MARK: 1. Login and the secret calls

    @Test("login, workspaces and every secret call: versions, listing, rotation, bulk values, deactivation, deletion")
    func secretLifecycle() async throws {
        try await withLiveServer { api, _ in
            let admin = try await api.user("alice")
            let recorder = SessionRecorder()
            let coffer = try makeClient(api, recorder: recorder)
            #expect(await coffer.session == nil)

            let session = try await coffer.login(username: "alice", password: LiveServer.password)
            #expect(await coffer.session == session)
            #expect(recorder.sessions == [session], "onSessionChange is called once, with the new session")
            #expect(!session.accessToken.isEmpty && session.refreshToken.hasPrefix("cfr_"))
            #expect(abs(session.expiresAt.timeIntervalSince(api.clock.now) - 900) < 0.001, "\(session.expiresAt)")
            // The raw calls authenticate with the session too.
            let raw = try await coffer.send(.GET, "/api/auth/me")
            let me = try JSONSerialization.jsonObject(with: raw) as? [String: Any]
            #expect(me?["username"] as? String == "alice")
            struct Me: Decodable, Sendable { let username: String }
            #expect(try await coffer.decode(Me.self, .GET, "/api/auth/me").username == "alice")

            let workspace = try await coffer.createWorkspace(named: "team")
            #expect(workspace.name == "team" && workspace.role == "owner" && !workspace.id.isEmpty)
            #expect(try await coffer.workspaces().map(\.id) == [workspace.id])
            #expect(try await coffer.workspaceID("team") == workspace.id)
            #expect(try await coffer.workspaceID(workspace.id.uppercased()) == workspace.id, "an id is taken as it is")

            // setSecret creates, then stores a new version under the same name.
            let created = try await coffer.setSecret(
                named: "DB_PASSWORD", value: "first-value-1", in: "team",
                options: SecretOptions(secretType: "password", tags: ["db"]))
            #expect(created.version == 1 && created.name == "DB_PASSWORD" && created.workspaceID == workspace.id)
            #expect(created.isActive && created.secretType == "password" && created.tags == ["db"] && created.deletedAt == nil)
            let second = try await coffer.setSecret(named: "DB_PASSWORD", value: "second-value-2", in: "team")
            #expect(second.id == created.id && second.version == 2, "\(second)")

            let metadata = try await coffer.secret(named: "DB_PASSWORD", in: "team")
            #expect(metadata.id == created.id && metadata.version == 2 && metadata.tags == ["db"])
            let value = try await coffer.value(of: "DB_PASSWORD", in: "team")
            #expect(value.value == "second-value-2" && value.version == 2)
            #expect(value.id == created.id && value.name == "DB_PASSWORD")

            // A second secret, by workspace id this time; listings are in name order with the total.
            let apiKey = try await coffer.setSecret(named: "API_KEY", value: "api-key-value", in: workspace.id)
            #expect(apiKey.version == 1)
            let prefixed = try await coffer.secrets(in: "team", namePrefix: "DB_")
            #expect(prefixed.items.map(\.name) == ["DB_PASSWORD"] && prefixed.total == 1, "\(prefixed.items.map(\.name))")
            let tagged = try await coffer.secrets(in: "team", tag: "db")
            #expect(tagged.items.map(\.name) == ["DB_PASSWORD"] && tagged.total == 1)
            let firstPage = try await coffer.secrets(in: "team", limit: 1)
            #expect(firstPage.items.map(\.name) == ["API_KEY"] && firstPage.total == 2 && firstPage.limit == 1)
            let secondPage = try await coffer.secrets(in: "team", limit: 1, offset: 1)
            #expect(secondPage.items.map(\.name) == ["DB_PASSWORD"] && secondPage.offset == 1)
            #expect(try await coffer.allSecrets(in: "team").map(\.name) == ["API_KEY", "DB_PASSWORD"])
            #expect(try await coffer.allSecrets(in: "team", namePrefix: "API").map(\.name) == ["API_KEY"])

            // Rotation stores version 3 with the new value.
            let rotated = try await coffer.rotate(named: "DB_PASSWORD", in: "team", newValue: "third-value-3")
            #expect(rotated.id == created.id && rotated.version == 3 && rotated.lastRotatedAt != nil, "\(rotated)")
            let afterRotation = try await coffer.value(of: "DB_PASSWORD", in: "team")
            #expect(afterRotation.value == "third-value-3" && afterRotation.version == 3)
            // A manual secret cannot be rotated without a value.
            let noValue = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.rotate(named: "DB_PASSWORD", in: "team")
            }
            #expect(noValue?.status == 422 && noValue?.code == "validation_failed", "\(String(describing: noValue))")
            #expect(try await coffer.value(of: "DB_PASSWORD", in: "team").version == 3)

            // Several values in one request (one request: the bulk records share one request id).
            let both = try await coffer.values(of: ["DB_PASSWORD", "API_KEY"], in: "team")
            #expect(both.values.count == 2 && both.inactive.isEmpty)
            #expect(both.values["DB_PASSWORD"]?.value == "third-value-3" && both.values["DB_PASSWORD"]?.version == 3)
            #expect(both.values["API_KEY"]?.value == "api-key-value" && both.values["API_KEY"]?.id == apiKey.id)
            let passwordReads = try await accesses(api, workspace: workspace.id, secret: created.id, token: admin.token)
            let keyReads = try await accesses(api, workspace: workspace.id, secret: apiKey.id, token: admin.token)
            #expect(passwordReads.count == 4 && keyReads.count == 1, "\(passwordReads.count) and \(keyReads.count) reads")
            let bulkRecords = [passwordReads.first, keyReads.first]
            #expect(bulkRecords.allSatisfy { ($0?["details"] as? [String: Any])?["bulk"] as? Bool == true }, "\(bulkRecords)")
            let requestIDs = Set(bulkRecords.compactMap { $0?["request_id"] as? String })
            #expect(requestIDs.count == 1, "one request for both values: \(requestIDs)")
            let onlyOne = try await coffer.values(of: ["API_KEY"], in: "team")
            #expect(Array(onlyOne.values.keys) == ["API_KEY"])

            // A deactivated secret is left out of a bulk read and named in `inactive`; its value is refused.
            let deactivate = try await api.call(
                .patch, "/api/secrets/workspaces/\(workspace.id)/secrets/\(apiKey.id)", token: admin.token,
                body: api.json(["is_active": false]))
            #expect(deactivate.status == 200 && deactivate["is_active"] as? Bool == false, "\(deactivate.raw)")
            let partial = try await coffer.values(of: ["DB_PASSWORD", "API_KEY"], in: "team")
            #expect(Array(partial.values.keys) == ["DB_PASSWORD"] && partial.inactive == ["API_KEY"], "\(partial.inactive)")
            let everything = try await coffer.values(in: "team")
            #expect(Array(everything.values.keys) == ["DB_PASSWORD"] && everything.inactive == ["API_KEY"])
            let inactive = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.value(of: "API_KEY", in: "team")
            }
            #expect(inactive?.status == 409 && inactive?.code == "secret_inactive", "\(String(describing: inactive))")
            #expect(try await coffer.secret(named: "API_KEY", in: "team").isActive == false)

            // A KV path (a name with slashes, written through /v1) is found by name too.
            let kv = try await api.call(
                .post, "/v1/team/data/app/db", token: admin.token, body: api.json(["data": ["user": "app"]]))
            #expect(kv.status == 200, "\(kv.raw)")
            #expect(try await coffer.value(of: "app/db", in: "team").value == #"{"user":"app"}"#)

            // Deletion: the name is gone.
            try await coffer.deleteSecret(named: "DB_PASSWORD", in: "team")
            let deleted = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.secret(named: "DB_PASSWORD", in: "team")
            }
            #expect(deleted?.status == 404 && deleted?.code == "secret_not_found", "\(String(describing: deleted))")
            let deletedValue = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.value(of: "DB_PASSWORD", in: "team")
            }
            #expect(deletedValue?.code == "secret_not_found")
            #expect(try await coffer.allSecrets(in: "team").map(\.name) == ["API_KEY", "app/db"])
            #expect(recorder.sessions.count == 1, "no refresh was needed")

            // logout ends the session on the server and here.
            try await coffer.logout()
            #expect(await coffer.session == nil)
            let ended = try await api.call(.get, "/api/auth/me", token: session.accessToken)
            #expect(ended.status == 401, "\(ended.raw)")
            let loggedOut = await #expect(throws: CofferClientError.self) { _ = try await coffer.workspaces() }
            #expect(loggedOut?.status == 401 && loggedOut?.code == "authentication_required")

            // The client's promise: no token in any description.
            #expect(!String(describing: session).contains(session.refreshToken))
            #expect(!String(describing: session).contains(session.accessToken))
            #expect(!String(reflecting: CofferClient.Authentication.session(session)).contains(session.accessToken))
        }
    }

    // MARK: 2. Sessions

    @Test("an expiring session is refreshed before the call (once, for concurrent calls); the used refresh token is dead")
    func sessionRefresh() async throws {
        try await withLiveServer { api, _ in
            _ = try await api.user("alice")
            let recorder = SessionRecorder()
            let coffer = try makeClient(api, recorder: recorder)
            let first = try await coffer.login(username: "alice", password: LiveServer.password)
            _ = try await coffer.createWorkspace(named: "team")

            api.clock.advance(by: 901)
            let expired = try await api.call(.get, "/api/auth/me", token: first.accessToken)
            #expect(expired.status == 401 && expired.errorCode == "token_expired", "\(expired.raw)")
            #expect(try await coffer.workspaces().map(\.name) == ["team"], "the client refreshed first")
            let sessions = recorder.sessions
            #expect(sessions.count == 2, "\(sessions.count) sessions")
            let second = try #require(sessions.last)
            #expect(second != first && second.accessToken != first.accessToken && second.refreshToken != first.refreshToken)
            #expect(await coffer.session == second)
            #expect(abs(second.expiresAt.timeIntervalSince(api.clock.now) - 900) < 0.001)
            let renewed = try await api.call(.get, "/api/auth/me", token: second.accessToken)
            #expect(renewed.status == 200 && renewed.text("username") == "alice", "\(renewed.raw)")

            // Concurrent calls on an expiring session share one refresh.
            api.clock.advance(by: 901)
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<5 { group.addTask { try await coffer.workspaces().count } }
                for try await count in group { #expect(count == 1) }
            }
            #expect(recorder.sessions.count == 3, "one refresh for five calls: \(recorder.sessions.count) sessions")
            #expect(Set(recorder.sessions.map(\.refreshToken)).count == 3)

            // A refresh token works once: the first one is refused (and its replay revokes the session).
            let replay = try await api.call(
                .post, "/api/auth/refresh", body: api.json(["refresh_token": first.refreshToken]))
            #expect(replay.status == 401, "\(replay.raw)")
            let revoked = await #expect(throws: CofferClientError.self) { _ = try await coffer.workspaces() }
            #expect(revoked?.status == 401, "\(String(describing: revoked))")
            #expect(recorder.sessions.count == 3, "a refused refresh hands out no session")
        }
    }

    @Test("a session the server finds expired (the clocks disagree) is refreshed on the 401 and the call retried")
    func refreshOn401() async throws {
        try await withLiveServer { api, _ in
            _ = try await api.user("alice")
            let recorder = SessionRecorder()
            // The client keeps real time; the server's clock runs ahead, past the access token's expiry.
            let coffer = try makeClient(api, recorder: recorder, realClock: true)
            let first = try await coffer.login(username: "alice", password: LiveServer.password)
            _ = try await coffer.createWorkspace(named: "team")
            api.clock.advance(by: 901)
            #expect(try await coffer.workspaces().map(\.name) == ["team"])
            #expect(recorder.sessions.count == 2 && recorder.sessions.last != first, "\(recorder.sessions.count)")
            let current = try #require(await coffer.session)
            #expect(current.accessToken != first.accessToken)
        }
    }

    @Test("a session ended elsewhere (logout from a client sharing it) fails with 401 and no new session")
    func revokedSession() async throws {
        try await withLiveServer { api, _ in
            _ = try await api.user("alice")
            let recorder = SessionRecorder()
            let coffer = try makeClient(api, recorder: recorder)
            let session = try await coffer.login(username: "alice", password: LiveServer.password)
            _ = try await coffer.createWorkspace(named: "team")

            let other = try makeClient(api, authentication: .session(session))
            #expect(await other.session == session)
            try await other.logout()
            #expect(await other.session == nil)

            let refused = await #expect(throws: CofferClientError.self) { _ = try await coffer.workspaces() }
            #expect(refused?.status == 401, "\(String(describing: refused))")
            #expect(recorder.sessions == [session])
            let refresh = try await api.call(
                .post, "/api/auth/refresh", body: api.json(["refresh_token": session.refreshToken]))
            #expect(refresh.status == 401, "\(refresh.raw)")
            // The same when the session ended by the API directly and the client must refresh first.
            let again = try await coffer.login(username: "alice", password: LiveServer.password)
            let logout = try await api.call(.post, "/api/auth/logout", token: again.accessToken)
            #expect(logout.status == 204, "\(logout.raw)")
            api.clock.advance(by: 901)
            let expired = await #expect(throws: CofferClientError.self) { _ = try await coffer.workspaces() }
            #expect(expired?.status == 401, "\(String(describing: expired))")
            #expect(recorder.sessions == [session, again])
        }
    }

    // MARK: 3. Service tokens

    @Test("a reader service token reads a value by workspace id, is never refreshed, and is refused writes (403)")
    func serviceToken() async throws {
        try await withLiveServer { api, _ in
            let admin = try await api.user("alice")
            let ws = try await api.workspace("team", token: admin.token)
            _ = try await api.secret("DEPLOY_KEY", value: "deploy-key-value", in: ws, token: admin.token)
            let created = try await api.call(
                .post, "/api/workspaces/\(ws)/tokens", token: admin.token, body: api.json(["name": "ci", "role": "reader"]))
            let token = created.text("token")
            #expect(created.status == 201 && token.hasPrefix("cst_"), "\(created.raw)")

            let recorder = SessionRecorder()
            let coffer = try makeClient(api, authentication: .token(token), recorder: recorder)
            #expect(await coffer.session == nil)
            let value = try await coffer.value(of: "DEPLOY_KEY", in: ws)
            #expect(value.value == "deploy-key-value" && value.version == 1)
            #expect(try await coffer.secret(named: "DEPLOY_KEY", in: ws).name == "DEPLOY_KEY")
            #expect(try await coffer.values(of: ["DEPLOY_KEY"], in: ws).values["DEPLOY_KEY"]?.value == "deploy-key-value")

            let denied = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.setSecret(named: "DEPLOY_KEY", value: "overwritten-value", in: ws)
            }
            #expect(denied?.status == 403 && denied?.code == "forbidden", "\(String(describing: denied))")
            let deniedText = denied.map { "\($0) \($0.message)" } ?? ""
            #expect(!deniedText.contains(token) && !deniedText.contains("overwritten-value"))
            let undeleted = await #expect(throws: CofferClientError.self) {
                try await coffer.deleteSecret(named: "DEPLOY_KEY", in: ws)
            }
            #expect(undeleted?.status == 403)
            #expect(try await coffer.value(of: "DEPLOY_KEY", in: ws).value == "deploy-key-value", "nothing changed")

            // A service token cannot list workspaces, so a workspace name cannot be resolved.
            let byName = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.value(of: "DEPLOY_KEY", in: "team")
            }
            #expect(byName?.status == 403, "\(String(describing: byName))")

            // Time passing does not matter to a bare token, and nothing is refreshed.
            api.clock.advance(by: 3600)
            #expect(try await coffer.value(of: "DEPLOY_KEY", in: ws).value == "deploy-key-value")
            #expect(recorder.sessions.isEmpty)
        }
    }

    // MARK: 4. Errors

    @Test("errors carry the API's code and status; an outage is status 0 unreachable; no value or token is shown")
    func errors() async throws {
        try await withLiveServer { api, _ in
            let admin = try await api.user("alice")
            let coffer = try makeClient(api)

            let wrong = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.login(username: "alice", password: "not the password at all")
            }
            #expect(wrong?.status == 401 && wrong?.code == "invalid_credentials", "\(String(describing: wrong))")
            #expect(wrong.map { !"\($0)".contains("not the password at all") } == true)
            #expect(await coffer.session == nil)
            let anonymous = await #expect(throws: CofferClientError.self) { _ = try await coffer.workspaces() }
            #expect(anonymous?.status == 401 && anonymous?.code == "authentication_required")

            let session = try await coffer.login(username: "alice", password: LiveServer.password)
            let unknownName = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.value(of: "ANYTHING", in: "nowhere")
            }
            #expect(unknownName?.status == 404 && unknownName?.code == "workspace_not_found")
            let unknownID = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.value(of: "ANYTHING", in: UUID().uuidString)
            }
            #expect(unknownID?.status == 404 && unknownID?.code == "workspace_not_found", "\(String(describing: unknownID))")

            // A refused write shows neither the value nor the token.
            _ = try await coffer.createWorkspace(named: "team")
            let invalid = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.setSecret(named: "not a name", value: "hunter2-secret-value", in: "team")
            }
            #expect(invalid?.status == 422 && invalid?.code == "validation_failed", "\(String(describing: invalid))")
            for error in [wrong, anonymous, unknownName, unknownID, invalid].compactMap({ $0 }) {
                let text = "\(error) \(String(reflecting: error)) \(error.message)"
                #expect(!error.message.isEmpty && text.contains(error.code))
                #expect(!text.contains("hunter2-secret-value") && !text.contains(session.accessToken))
                #expect(!text.contains(session.refreshToken) && !text.contains(admin.token))
                #expect(!error.isOutage, "a refusal is not an outage: \(error)")
            }

            // A value's description does not show it.
            try await coffer.setSecret(named: "SHOWN", value: "hunter2-secret-value", in: "team")
            let value = try await coffer.value(of: "SHOWN", in: "team")
            #expect(value.value == "hunter2-secret-value")
            #expect(!String(describing: value).contains("hunter2") && !String(reflecting: value).contains("hunter2"))
            #expect(!"\(value)".contains("hunter2") && String(describing: value).contains("SHOWN"))

            // Two workspaces with one name: a name is ambiguous, and stays so.
            _ = try await api.workspace("twin", token: admin.token)
            _ = try await api.workspace("twin", token: admin.token)
            let fresh = try makeClient(api, authentication: .token(admin.token))
            let ambiguous = await #expect(throws: CofferClientError.self) { _ = try await fresh.workspaceID("twin") }
            #expect(ambiguous?.code == "ambiguous_workspace", "\(String(describing: ambiguous))")
            let again = await #expect(throws: CofferClientError.self) { _ = try await fresh.workspaceID("twin") }
            #expect(again?.code == "ambiguous_workspace")
        }
        // Nothing listens on port 1 of loopback.
        let token = "cst_not-a-real-token-but-secret"
        let down = CofferClient(
            configuration: .init(address: "http://127.0.0.1:1/", timeout: .seconds(2)), authentication: .token(token))
        let started = ContinuousClock.now
        let unreachable = await #expect(throws: CofferClientError.self) {
            _ = try await down.value(of: "ANYTHING", in: UUID().uuidString)
        }
        #expect(ContinuousClock.now - started < .seconds(15), "the timeout bounds an unreachable server")
        #expect(unreachable?.status == 0 && unreachable?.code == "unreachable", "\(String(describing: unreachable))")
        #expect(unreachable?.isOutage == true)
        #expect(unreachable.map { !"\($0)".contains(token) && !$0.message.contains(token) } == true)
        #expect(CofferClientError(status: 503, code: "unavailable", message: "x").isOutage)
        #expect(CofferClientError(status: 429, code: "rate_limited", message: "x").isOutage)
        #expect(!CofferClientError(status: 404, code: "secret_not_found", message: "x").isOutage)
    }

    // MARK: 5. The value cache

    /// A loopback TCP forwarder (python3) in front of the live server, so that a test can take the server away
    /// from a client. It listens on 127.0.0.1 only, exits by itself after `lifetime` seconds, and dies with its
    /// process, connections and all.
    final class Forwarder: Sendable {
        let port: Int
        private let spawned: Spawned
        private let directory: URL

        static let script = """
            import os, socket, sys, threading, time
            target, port_file, lifetime = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            listener.listen(32)
            listener.settimeout(0.5)
            with open(port_file + ".tmp", "w") as f:
                f.write(str(listener.getsockname()[1]))
            os.rename(port_file + ".tmp", port_file)
            def pipe(source, sink):
                try:
                    while True:
                        data = source.recv(65536)
                        if not data:
                            break
                        sink.sendall(data)
                except OSError:
                    pass
                for s in (source, sink):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            deadline = time.monotonic() + lifetime
            while time.monotonic() < deadline:
                try:
                    client, _ = listener.accept()
                except socket.timeout:
                    continue
                client.settimeout(None)
                try:
                    upstream = socket.create_connection(("127.0.0.1", target), timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    client.close()
                    continue
                threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
                threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
            """

        struct Failure: Error, CustomStringConvertible { let description: String }

        private init(port: Int, spawned: Spawned, directory: URL) {
            self.port = port
            self.spawned = spawned
            self.directory = directory
        }

        static func start(to target: Int, lifetime: Int = 300) async throws -> Forwarder {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-forwarder-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let portFile = directory.appendingPathComponent("port")
            let spawned = try Spawned(
                URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script, String(target), portFile.path, String(lifetime)],
                environment: cleanEnvironment(), stdin: nil)
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(20)
            while clock.now < deadline, spawned.process.isRunning {
                if let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text) {
                    return Forwarder(port: port, spawned: spawned, directory: directory)
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            if spawned.process.isRunning { spawned.process.terminate() }
            let result = try await spawned.wait(timeout: .seconds(10))
            try? FileManager.default.removeItem(at: directory)
            throw Failure(description: "the forwarder did not start: \(result)")
        }

        /// Ends the process (and every connection through it); idempotent.
        func stop() async {
            // SIGKILL: the test process's blocked SIGTERM is inherited by what it spawns.
            if spawned.process.isRunning { kill(spawned.pid, SIGKILL) }
            _ = try? await spawned.wait(timeout: .seconds(10))
            try? FileManager.default.removeItem(at: directory)
        }
    }

    @Test("the cache: one audited read within the TTL, writes drop it, stale-if-error through an outage, refusals shown")
    func valueCache() async throws {
        try await withLiveServer { api, _ in
            let admin = try await api.user("alice")
            let ws = try await api.workspace("team", token: admin.token)
            let cachedID = try await api.secret("CACHED", value: "cached-value-1", in: ws, token: admin.token)
            let doomedID = try await api.secret("DOOMED", value: "doomed-value", in: ws, token: admin.token)
            let forwarder = try await Forwarder.start(to: try #require(api.client.port))
            // Its own HTTP client, which fails at once when the connection is refused (the shared one retries
            // connecting until the request's deadline), closed at the end like the forwarder.
            var pool = HTTPClient.Configuration.ConnectionPool()
            pool.retryConnectionEstablishment = false
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(connectionPool: pool))
            func cleanUp() async {
                await forwarder.stop()
                try? await http.shutdown()
            }
            do {
                let coffer = try makeClient(
                    api, port: forwarder.port,
                    cache: ValueCachePolicy(ttl: .seconds(60), staleIfError: .seconds(300)), httpClient: http)
                try await coffer.login(username: "alice", password: LiveServer.password)
                func reads(_ id: String) async throws -> Int {
                    try await accesses(api, workspace: ws, secret: id, token: admin.token).count
                }
                func read(_ name: String) async throws -> SecretValue { try await coffer.value(of: name, in: ws) }

                // Within the TTL: one audited read.
                #expect(try await read("CACHED").value == "cached-value-1")
                #expect(try await reads(cachedID) == 1)
                api.clock.advance(by: 30)
                #expect(try await read("CACHED").value == "cached-value-1")
                #expect(try await reads(cachedID) == 1, "the second read within the TTL came from the cache")
                // Past the TTL: the server again.
                api.clock.advance(by: 31)
                #expect(try await read("CACHED").value == "cached-value-1")
                #expect(try await reads(cachedID) == 2)

                // A write through the client drops the cached value: the next read sees the new one at once.
                let written = try await coffer.setSecret(named: "CACHED", value: "cached-value-2", in: ws)
                #expect(written.version == 2)
                let afterWrite = try await read("CACHED")
                #expect(afterWrite.value == "cached-value-2" && afterWrite.version == 2)
                #expect(try await reads(cachedID) == 3)
                // A write elsewhere is seen when the TTL ends (the cache's contract), not before.
                let elsewhere = try await api.call(
                    .patch, "/api/secrets/workspaces/\(ws)/secrets/\(cachedID)", token: admin.token,
                    body: api.json(["value": "cached-value-3"]))
                #expect(elsewhere.status == 200, "\(elsewhere.raw)")
                #expect(try await read("CACHED").value == "cached-value-2")
                #expect(try await reads(cachedID) == 3)

                // A refusal is never hidden: deleted elsewhere, the cached value stands only until the TTL ends.
                #expect(try await read("DOOMED").value == "doomed-value")
                let deleted = try await api.call(.delete, "/api/secrets/workspaces/\(ws)/secrets/\(doomedID)", token: admin.token)
                #expect(deleted.status == 204, "\(deleted.raw)")
                #expect(try await read("DOOMED").value == "doomed-value")
                api.clock.advance(by: 61)
                let refused = await #expect(throws: CofferClientError.self) { _ = try await read("DOOMED") }
                #expect(refused?.status == 404 && refused?.code == "secret_not_found", "\(String(describing: refused))")
                let fresh = try await read("CACHED")
                #expect(fresh.value == "cached-value-3" && fresh.version == 3)
                #expect(try await reads(cachedID) == 4)

                // The outage: the forwarder goes, the client keeps its cache.
                await forwarder.stop()
                api.clock.advance(by: 61)
                let stale = try await read("CACHED")
                #expect(stale.value == "cached-value-3" && stale.version == 3, "stale-if-error served the cached value")
                let staleBulk = try await coffer.values(of: ["CACHED"], in: ws)
                #expect(staleBulk.values["CACHED"]?.value == "cached-value-3" && staleBulk.inactive.isEmpty)
                let partlyCached = await #expect(throws: CofferClientError.self) {
                    _ = try await coffer.values(of: ["CACHED", "NEVER_READ"], in: ws)
                }
                #expect(partlyCached?.code == "unreachable")
                let neverRead = await #expect(throws: CofferClientError.self) { _ = try await read("NEVER_READ") }
                #expect(neverRead?.status == 0 && neverRead?.code == "unreachable" && neverRead?.isOutage == true)
                let metadata = await #expect(throws: CofferClientError.self) {
                    _ = try await coffer.secret(named: "CACHED", in: ws)
                }
                #expect(metadata?.code == "unreachable", "metadata is never cached")
                // A value the server refused (404) is not served again in an outage.
                let gone = await #expect(throws: CofferClientError.self) { _ = try await read("DOOMED") }
                #expect(gone?.code == "unreachable", "\(String(describing: gone))")

                // Past TTL + stale-if-error the outage shows.
                api.clock.advance(by: 300)
                let tooOld = await #expect(throws: CofferClientError.self) { _ = try await read("CACHED") }
                #expect(tooOld?.status == 0 && tooOld?.code == "unreachable" && tooOld?.isOutage == true)
                #expect(tooOld.map { !"\($0)".contains("cached-value") } == true)
            } catch {
                await cleanUp()
                throw error
            }
            await cleanUp()
        }
    }

    // MARK: 6. Transit

    @Test("transit: encrypt gives vault:v1:…, decrypt gives the bytes back; associated data must match")
    func transit() async throws {
        try await withLiveServer { api, _ in
            let admin = try await api.user("alice")
            let coffer = try makeClient(api)
            try await coffer.login(username: "alice", password: LiveServer.password)
            let workspace = try await coffer.createWorkspace(named: "team")
            let key = try await api.call(.post, "/v1/team/transit/keys/app", token: admin.token)
            #expect((200..<300).contains(key.status), "\(key.raw)")

            let hello = Array("hello".utf8)
            let ciphertext = try await coffer.encrypt(hello, key: "app", mount: "team")
            #expect(ciphertext.hasPrefix("vault:v1:") && !ciphertext.contains("aGVsbG8"), "\(ciphertext)")
            #expect(try await coffer.decrypt(ciphertext, key: "app", mount: "team") == hello)
            #expect(try await coffer.decrypt(ciphertext, key: "app", mount: workspace.id) == hello, "the mount by id")
            let again = try await coffer.encrypt("hello".utf8, key: "app", mount: "team")
            #expect(again != ciphertext, "a fresh nonce each time")

            // Associated data binds the ciphertext: without it, or with other data, decryption fails.
            let context = Array("order-42".utf8)
            let bound = try await coffer.encrypt(hello, key: "app", mount: "team", context: context)
            #expect(bound.hasPrefix("vault:v1:"))
            #expect(try await coffer.decrypt(bound, key: "app", mount: "team", context: context) == hello)
            let without = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.decrypt(bound, key: "app", mount: "team")
            }
            #expect(without?.status == 400, "\(String(describing: without))")
            let other = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.decrypt(bound, key: "app", mount: "team", context: Array("order-43".utf8))
            }
            #expect(other?.status == 400, "\(String(describing: other))")
            let unbound = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.decrypt(ciphertext, key: "app", mount: "team", context: context)
            }
            #expect(unbound?.status == 400)
            for error in [without, other, unbound].compactMap({ $0 }) {
                #expect(!"\(error)".contains("hello") && !"\(error)".contains("aGVsbG8") && !error.isOutage)
            }

            // A mount the caller has no workspace at: Vault's permission denied.
            let foreign = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.encrypt(hello, key: "app", mount: "nowhere")
            }
            #expect(foreign?.status == 403 && foreign?.code == "forbidden", "\(String(describing: foreign))")
            let missingKey = await #expect(throws: CofferClientError.self) {
                _ = try await coffer.decrypt(ciphertext, key: "no-such-key", mount: "team")
            }
            #expect(missingKey?.status == 400, "\(String(describing: missingKey))")
        }
    }
}
