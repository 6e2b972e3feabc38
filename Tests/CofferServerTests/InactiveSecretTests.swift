import Foundation
import HTTPTypes
import Testing

@testable import CofferServer

/// Seed 004's `is_active: false`: a deactivated secret's value is withheld everywhere it could leave.
@Suite("Inactive secrets", .serialized)
struct InactiveSecretTests {
    @Test("is_active=false: /value, bulk values, /v1, coffer run and export withhold the value (audited); metadata stays; reactivating restores")
    func inactive() async throws {
        try await withLiveServer { api, _ in
            _ = try await api.user("alice")
            let cli = try CLISandbox(port: try #require(api.client.port))
            defer { cli.remove() }
            let login = try await cli(["login", "--username", "alice", "--password-stdin"], stdin: LiveServer.password + "\n")
            #expect(login.status == 0, "\(login)")
            let token = try #require(cli.credentials()["access_token"] as? String)
            let ws = try await api.workspace("prod", token: token)
            let base = "/api/secrets/workspaces/\(ws)/secrets"
            let id = try await api.secret("OLD_KEY", value: "retired-value", in: ws, token: token)
            _ = try await api.secret("LIVE_KEY", value: "live-value", in: ws, token: token)

            let off = try await api.call(.patch, "\(base)/\(id)", token: token, body: #"{"is_active": false}"#)
            #expect(off.status == 200 && off["is_active"] as? Bool == false, "\(off.raw)")
            let value = try await api.call(.get, "\(base)/\(id)/value", token: token)
            #expect(value.status == 409 && value.errorCode == "secret_inactive", "\(value.raw)")
            #expect(!value.raw.contains("retired-value"))
            #expect(try await api.call(.get, "\(base)/\(id)", token: token).status == 200)
            #expect(try await api.call(.get, "\(base)/\(id)/versions", token: token).status == 200)

            let bulk = try await api.call(.get, "\(base)/values", token: token)
            #expect(bulk.items.map { $0["name"] as? String } == ["LIVE_KEY"], "\(bulk.raw)")
            #expect(bulk["inactive"] as? [String] == ["OLD_KEY"] && !bulk.raw.contains("retired-value"), "\(bulk.raw)")

            var headers: HTTPFields = [:]
            headers[HTTPField.Name("X-Vault-Token")!] = token
            let kv = try await api.call(.get, "/v1/prod/data/OLD_KEY", headers: headers)
            #expect(kv.status == 409 && !kv.raw.contains("retired-value"), "\(kv.raw)")

            let run = try await cli(["run", "-w", "prod", "--", "/usr/bin/env"])
            #expect(run.status == 0 && run.stdout.contains("LIVE_KEY=live-value") && !run.stdout.contains("OLD_KEY"), "\(run)")
            #expect(run.stderr.contains("deactivated") && run.stderr.contains("OLD_KEY"), "\(run)")
            let only = try await cli(["run", "-w", "prod", "--only", "OLD_KEY", "--", "/usr/bin/env"])
            #expect(only.status == 1 && only.stderr.contains("secret_inactive"), "\(only)")
            let export = try await cli(["export", "-w", "prod"])
            #expect(export.status == 0 && !export.stdout.contains("retired-value") && export.stderr.contains("OLD_KEY"), "\(export)")

            let audit = try await api.call(.get, "/api/secrets/workspaces/\(ws)/audit?success=false&limit=100", token: token)
            let refused = audit.items.filter { ($0["details"] as? [String: Any])?["reason"] as? String == "inactive" }
            #expect(refused.count >= 4, "\(audit.raw)")

            _ = try await api.call(.patch, "\(base)/\(id)", token: token, body: #"{"is_active": true}"#)
            let back = try await api.call(.get, "\(base)/\(id)/value", token: token)
            #expect(back.status == 200 && back.text("value") == "retired-value", "\(back.raw)")
        }
    }
}
