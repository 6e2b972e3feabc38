import Foundation
import HTTPTypes
import Testing

@testable import CofferServer

/// The Vault-compatible surface under `/v1`, driven by the real client (hvac) and by hand.
@Suite("Vault-compatible API")
struct VaultAPITests {
    /// A workspace `team` with an owner and a reader.
    struct Team {
        let admin: (id: String, token: String)
        let reader: (id: String, token: String)
        let workspaceID: String
    }

    func team(_ api: LiveServer) async throws -> Team {
        let admin = try await api.user("admin")
        let reader = try await api.user("reader", admin: admin.token)
        let ws = try await api.workspace("team", token: admin.token)
        let added = try await api.call(
            .post, "/api/workspaces/\(ws)/members", token: admin.token,
            body: api.json(["username": "reader", "role": "reader"]))
        #expect(added.status == 201, "\(added.raw)")
        return Team(admin: admin, reader: reader, workspaceID: ws)
    }

    func vault(
        _ api: LiveServer, _ method: HTTPRequest.Method, _ path: String, token: String?, body: String? = nil
    ) async throws -> Reply {
        var headers: HTTPFields = [:]
        if let token { headers[HTTPField.Name("X-Vault-Token")!] = token }
        return try await api.call(method, path, body: body, headers: headers)
    }

    @Test("hvac's KV v2 and transit calls all work against a live server, and the audit chain still verifies")
    func hvacSuite() async throws {
        try await withLiveServer(environment: ["COFFER_RATE_LIMIT_PER_MINUTE": "0", "COFFER_RATE_LIMIT_VALUES_PER_MINUTE": "0"]) { api, _ in
            let team = try await team(api)
            let suite = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("vault/hvac_suite.py")
            var environment = cleanEnvironment()
            environment["VAULT_ADDR"] = "http://127.0.0.1:\(try #require(api.client.port))"
            environment["COFFER_ADMIN_TOKEN"] = team.admin.token
            environment["COFFER_READER_TOKEN"] = team.reader.token
            environment["COFFER_MOUNT"] = "team"
            let run = try Spawned(
                URL(fileURLWithPath: "/usr/bin/env"), ["python3", suite.path], environment: environment, stdin: nil)
            let result = try await run.wait(timeout: .seconds(180))
            #expect(result.status == 0, "\(result)")
            #expect(result.stderr.contains("OK"), "\(result)")

            let verify = try await api.call(.get, "/api/secrets/admin/audit/verify", token: team.admin.token)
            #expect(verify.status == 200 && verify["intact"] as? Bool == true, "\(verify.raw)")
            let audit = try await api.call(
                .get, "/api/secrets/workspaces/\(team.workspaceID)/audit?limit=1000", token: team.admin.token)
            let actions = Set(audit.items.compactMap { $0["action"] as? String })
            for action in ["encrypted", "decrypted", "rewrapped", "created", "accessed", "purged"] {
                #expect(actions.contains(action), "no \(action) record in \(actions.sorted())")
            }
            // The suite's plaintexts are base64 of "hello"/"item-N"; neither form is in any record.
            #expect(!audit.raw.contains("aGVsbG8") && !audit.raw.contains("hello"))
        }
    }

    @Test("A KV entry is a secret: the REST API lists it by name with its versions; a REST secret reads as {value}")
    func kvEntriesAreSecrets() async throws {
        try await withLiveServer { api, _ in
            let team = try await team(api)
            let token = team.admin.token
            var write = try await vault(
                api, .post, "/v1/team/data/app/db", token: token, body: api.json(["data": ["user": "app", "port": 5432]]))
            #expect(write.status == 200, "\(write.raw)")
            write = try await vault(
                api, .post, "/v1/team/data/app/db", token: token, body: api.json(["data": ["user": "app2"]]))
            #expect((write["data"] as? [String: Any])?["version"] as? Int == 2, "\(write.raw)")

            let byName = try await api.call(
                .get, "/api/secrets/workspaces/\(team.workspaceID)/secrets/by-name/app/db", token: token)
            #expect(byName.status == 200 && byName.text("name") == "app/db" && byName["version"] as? Int == 2, "\(byName.raw)")
            let id = byName.text("id")
            let versions = try await api.call(.get, "/api/secrets/workspaces/\(team.workspaceID)/secrets/\(id)/versions", token: token)
            #expect(versions.items.count == 2, "\(versions.raw)")
            let value = try await api.call(.get, "/api/secrets/workspaces/\(team.workspaceID)/secrets/\(id)/value", token: token)
            #expect(value.text("value") == #"{"user":"app2"}"#, "\(value.raw)")

            // Deleting the current version through KV hides the value from the REST API too, until undeleted.
            #expect(try await vault(api, .delete, "/v1/team/data/app/db", token: token).status == 204)
            let hidden = try await api.call(.get, "/api/secrets/workspaces/\(team.workspaceID)/secrets/\(id)/value", token: token)
            #expect(hidden.status == 404, "\(hidden.raw)")
            let old = try await api.call(
                .get, "/api/secrets/workspaces/\(team.workspaceID)/secrets/\(id)/value?version=1", token: token)
            #expect(old.status == 200 && old.text("value").contains("5432"), "\(old.raw)")
            _ = try await vault(api, .post, "/v1/team/undelete/app/db", token: token, body: #"{"versions":[2]}"#)
            let back = try await api.call(.get, "/api/secrets/workspaces/\(team.workspaceID)/secrets/\(id)/value", token: token)
            #expect(back.status == 200, "\(back.raw)")

            _ = try await api.secret("DATABASE_URL", value: "postgres://db/app", in: team.workspaceID, token: token)
            let plain = try await vault(api, .get, "/v1/team/data/DATABASE_URL", token: token)
            let data = (plain["data"] as? [String: Any])?["data"] as? [String: Any]
            #expect(data?["value"] as? String == "postgres://db/app", "\(plain.raw)")
            #expect(plain.headers[.contentType] == "application/json")

            let missing = try await api.call(
                .get, "/api/secrets/workspaces/\(team.workspaceID)/secrets/by-name/no/such", token: token)
            #expect(missing.status == 404 && missing.errorCode == "secret_not_found", "\(missing.raw)")
        }
    }

    @Test("/v1 answers in Vault's shapes and codes; /api keeps its own")
    func errorShapes() async throws {
        try await withLiveServer { api, _ in
            let team = try await team(api)
            let noToken = try await vault(api, .get, "/v1/team/data/x", token: nil)
            #expect(noToken.status == 403 && noToken.raw == #"{"errors":["permission denied"]}"#, "\(noToken.raw)")
            let forged = try await vault(api, .get, "/v1/team/data/x", token: "not-a-token")
            #expect(forged.status == 403 && forged.raw == #"{"errors":["permission denied"]}"#, "\(forged.raw)")
            // Another user's workspace is not even found: the same 403.
            let other = try await api.user("other", admin: team.admin.token)
            let foreign = try await vault(api, .get, "/v1/team/data/x", token: other.token)
            #expect(foreign.status == 403, "\(foreign.raw)")
            let bearer = try await api.call(.get, "/v1/team/data/never", token: team.admin.token)
            #expect(bearer.status == 404 && bearer.raw == #"{"errors":[]}"#, "\(bearer.raw)")
            let unknown = try await vault(api, .get, "/v1/team/nonsense/route", token: team.admin.token)
            #expect(unknown.status == 404 && unknown["errors"] != nil, "\(unknown.raw)")
            let malformed = try await vault(api, .post, "/v1/team/data/x", token: team.admin.token, body: "{not json")
            #expect(malformed.status == 400 && (malformed["errors"] as? [String])?.isEmpty == false, "\(malformed.raw)")
            let wrongType = try await vault(api, .post, "/v1/team/data/x", token: team.admin.token, body: #"{"data":[1,2]}"#)
            #expect(wrongType.status == 400, "\(wrongType.raw)")
            let badPath = try await vault(
                api, .post, "/v1/team/data/a/../b", token: team.admin.token, body: #"{"data":{"k":"v"}}"#)
            #expect(badPath.status == 400 || badPath.status == 404, "\(badPath.raw)")
            let tooLarge = try await vault(
                api, .post, "/v1/team/data/big", token: team.admin.token,
                body: api.json(["data": ["k": String(repeating: "x", count: 2 << 20)]]))
            #expect(tooLarge.status == 413 && tooLarge["errors"] != nil, "\(tooLarge.raw)")
            let rest = try await api.call(.get, "/api/workspaces")
            #expect(rest.status == 401 && rest.errorCode == "authentication_required", "\(rest.raw)")
            let put = try await api.call(.put, "/api/workspaces", token: team.admin.token, body: "{}")
            #expect(put.status == 405, "\(put.raw)")
            let health = try await vault(api, .get, "/v1/sys/health", token: nil)
            #expect(health.status == 200 && health["sealed"] as? Bool == false && health["initialized"] as? Bool == true)
        }
    }

    @Test("A reader service token reads and encrypts through /v1 and is refused writes with permission denied")
    func serviceTokens() async throws {
        try await withLiveServer { api, _ in
            let team = try await team(api)
            let created = try await api.call(
                .post, "/api/workspaces/\(team.workspaceID)/tokens", token: team.admin.token,
                body: api.json(["name": "ci", "role": "reader"]))
            let token = created.text("token")
            #expect(created.status == 201 && !token.isEmpty, "\(created.raw)")
            _ = try await vault(api, .post, "/v1/team/data/ci/config", token: team.admin.token, body: #"{"data":{"a":"b"}}"#)
            _ = try await vault(api, .post, "/v1/team/transit/keys/app", token: team.admin.token)
            let read = try await vault(api, .get, "/v1/team/data/ci/config", token: token)
            #expect(read.status == 200, "\(read.raw)")
            let byID = try await vault(api, .get, "/v1/\(team.workspaceID)/data/ci/config", token: token)
            #expect(byID.status == 200, "\(byID.raw)")
            let encrypted = try await vault(
                api, .post, "/v1/team/transit/encrypt/app", token: token, body: #"{"plaintext":"aGVsbG8="}"#)
            #expect(encrypted.status == 200, "\(encrypted.raw)")
            let denied = try await vault(api, .post, "/v1/team/data/ci/config", token: token, body: #"{"data":{"a":"c"}}"#)
            #expect(denied.status == 403 && denied.raw == #"{"errors":["permission denied"]}"#, "\(denied.raw)")
            let rotate = try await vault(api, .post, "/v1/team/transit/keys/app/rotate", token: token)
            #expect(rotate.status == 403, "\(rotate.raw)")
            let lookup = try await vault(api, .get, "/v1/auth/token/lookup-self", token: token)
            #expect(lookup.status == 200 && !lookup.raw.contains(token), "\(lookup.raw)")
            let mounts = try await vault(api, .get, "/v1/sys/mounts", token: token)
            #expect((mounts["data"] as? [String: Any])?["team/"] != nil, "\(mounts.raw)")
        }
    }

    @Test("Vault CLI forms, version bounds, what a writer may not do, and names that are not variables")
    func edges() async throws {
        try await withLiveServer { api, _ in
            let team = try await team(api)
            let token = team.admin.token
            for n in 1...3 {
                _ = try await vault(api, .post, "/v1/team/data/cli/x", token: token, body: #"{"data":{"n":"\#(n)"}}"#)
            }
            // The vault CLI sends versions as strings.
            #expect(try await vault(api, .post, "/v1/team/delete/cli/x", token: token, body: #"{"versions":["1"]}"#).status == 204)
            #expect(try await vault(api, .post, "/v1/team/delete/cli/x", token: token, body: #"{"versions":"2,3"}"#).status == 204)
            let bad = try await vault(api, .post, "/v1/team/delete/cli/x", token: token, body: #"{"versions":["one"]}"#)
            #expect(bad.status == 400, "\(bad.raw)")
            let meta = try await vault(api, .get, "/v1/team/metadata/cli/x", token: token)
            let versions = (meta["data"] as? [String: Any])?["versions"] as? [String: [String: Any]] ?? [:]
            #expect(versions.values.allSatisfy { ($0["deletion_time"] as? String)?.isEmpty == false }, "\(meta.raw)")
            // delete_version_after: zero in any spelling, anything else refused rather than ignored.
            for zero in ["0s", "0", "0h0m0s"] {
                let ok = try await vault(
                    api, .post, "/v1/team/metadata/cli/x", token: token, body: #"{"delete_version_after":"\#(zero)"}"#)
                #expect(ok.status == 204, "\(zero): \(ok.raw)")
            }
            let timed = try await vault(api, .post, "/v1/team/metadata/cli/x", token: token, body: #"{"delete_version_after":"768h0m0s"}"#)
            #expect(timed.status == 400, "\(timed.raw)")
            // A KV path cannot smuggle an environment assignment.
            let assignment = try await vault(
                api, .post, "/v1/team/data/LD_PRELOAD=/tmp/p.so", token: token, body: #"{"data":{"k":"v"}}"#)
            #expect(assignment.status == 400, "\(assignment.raw)")
            // A writer may write, but not lower max_versions (which destroys versions at the next write).
            let writer = try await api.user("writer", admin: token)
            _ = try await api.call(
                .post, "/api/workspaces/\(team.workspaceID)/members", token: token,
                body: api.json(["username": "writer", "role": "writer"]))
            #expect(try await vault(api, .post, "/v1/team/data/w", token: writer.token, body: #"{"data":{"a":"b"}}"#).status == 200)
            let lowered = try await vault(api, .post, "/v1/team/metadata/w", token: writer.token, body: #"{"max_versions":1}"#)
            #expect(lowered.status == 403, "\(lowered.raw)")
            // min_decryption_version 0 means 1, and never reaches below trimmed versions.
            _ = try await vault(api, .post, "/v1/team/transit/keys/k", token: token)
            _ = try await vault(api, .post, "/v1/team/transit/keys/k/rotate", token: token)
            _ = try await vault(api, .post, "/v1/team/transit/keys/k/rotate", token: token)
            _ = try await vault(
                api, .post, "/v1/team/transit/keys/k/config", token: token,
                body: #"{"min_decryption_version":3,"min_encryption_version":3}"#)
            #expect(try await vault(api, .post, "/v1/team/transit/keys/k/trim", token: token, body: #"{"min_available_version":3}"#).status == 204)
            let below = try await vault(api, .post, "/v1/team/transit/keys/k/config", token: token, body: #"{"min_decryption_version":0}"#)
            #expect(below.status == 400, "\(below.raw)")
            // A batch item without its input fails alone.
            let mixed = try await vault(
                api, .post, "/v1/team/transit/encrypt/k", token: token,
                body: #"{"batch_input":[{"plaintext":"aGk="},{"associated_data":"eA=="}]}"#)
            let results = (mixed["data"] as? [String: Any])?["batch_results"] as? [[String: Any]] ?? []
            #expect(mixed.status == 200 && results.count == 2, "\(mixed.raw)")
            #expect(results.first?["ciphertext"] != nil && results.last?["error"] != nil, "\(mixed.raw)")
            // The mount is echoed as the client named it (the vault CLI strips it from paths).
            let byID = try await vault(api, .get, "/v1/sys/internal/ui/mounts/\(team.workspaceID)/x", token: token)
            #expect((byID["data"] as? [String: Any])?["path"] as? String == team.workspaceID + "/", "\(byID.raw)")
            // A mount the caller has no workspace at is denied, and the denial is audited.
            let outsider = try await api.user("outsider", admin: token)
            #expect(try await vault(api, .get, "/v1/\(team.workspaceID)/data/w", token: outsider.token).status == 403)
            let audit = try await api.call(
                .get, "/api/secrets/workspaces/\(team.workspaceID)/audit?success=false&limit=100", token: token)
            #expect(audit.items.contains { $0["user_id"] as? String == outsider.id }, "\(audit.raw)")
            let nul = try await api.call(.get, "/api/secrets/workspaces/\(team.workspaceID)/secrets/by-name/a%00b", token: token)
            #expect(nul.status == 404, "\(nul.raw)")
        }
    }

    @Test("LIST arrives however the request line is split across packets, and the connection stays usable")
    func listVerbOnTheWire() async throws {
        try await withLiveServer { api, _ in
            let team = try await team(api)
            _ = try await vault(api, .post, "/v1/team/data/dir/a", token: team.admin.token, body: #"{"data":{"k":"v"}}"#)
            let port = try #require(api.client.port)
            let result = try await python(
                """
                import socket, sys, time, json
                port, token = int(sys.argv[1]), sys.argv[2]
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                def request(parts):
                    for part in parts:
                        s.sendall(part.encode()); time.sleep(0.05)
                    data = b""
                    while b"\\r\\n\\r\\n" not in data:
                        data += s.recv(65536)
                    head, _, body = data.partition(b"\\r\\n\\r\\n")
                    length = int([l.split(b":")[1] for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length")][0])
                    while len(body) < length:
                        body += s.recv(65536)
                    return head.split(b"\\r\\n")[0].decode(), json.loads(body)
                line = f"LIST /v1/team/metadata/dir HTTP/1.1\\r\\nHost: x\\r\\nX-Vault-Token: {token}\\r\\n\\r\\n"
                print(request(["L", "IS", line[3:20], line[20:]]))
                print(request([f"GET /v1/team/data/dir/a HTTP/1.1\\r\\nHost: x\\r\\nX-Vault-Token: {token}\\r\\n\\r\\n"]))
                print(request([line.replace("metadata/dir", "metadata/dir?foo=1")]))
                # A body the server answers before reading it (a bad token) is never taken for a request line, even
                # when a segment of it starts like one: the next answer is the next real request's.
                body = f"LIST /v1/team/metadata/dir HTTP/1.1\\r\\nHost: x\\r\\nX-Vault-Token: {token}\\r\\n\\r\\n"
                head = (f"POST /v1/team/data/dir/a HTTP/1.1\\r\\nHost: x\\r\\nX-Vault-Token: forged\\r\\n"
                        f"Content-Type: application/json\\r\\nContent-Length: {len(body) + 4}\\r\\n\\r\\nabcd")
                print(request([head]))
                s.sendall(body.encode()); time.sleep(0.1)
                print(request([f"GET /v1/team/data/dir/a HTTP/1.1\\r\\nHost: x\\r\\nX-Vault-Token: {token}\\r\\n\\r\\n"]))
                """, [String(port), team.admin.token])
            #expect(result.status == 0, "\(result)")
            let lines = result.stdout.split(separator: "\n")
            #expect(lines.count == 5, "\(result)")
            #expect(lines.count == 5 && lines[3].contains("403") && lines[4].contains("'k': 'v'"), "\(result)")
            let listed = lines.prefix(3)
            #expect(listed.allSatisfy { $0.contains("200 OK") }, "\(result)")
            #expect(lines.first?.contains("'keys': ['a']") == true, "\(result)")
        }
    }
}
