import CofferCrypto
import Crypto
import Foundation
import HTTPTypes
import SQLKit
import Testing

@testable import CofferServer

@Suite("Bad input and bad tokens")
struct BadInputTests {
    @Test("malformed bodies, wrong types, bad names, oversize values and unknown ids get clear 4xx and change nothing")
    func badInputChangesNothing() async throws {
        try await withLiveServer { api, _ in
            let owner = try await api.user("owner")
            let ws = try await api.workspace("w", token: owner.token)
            let base = "/api/secrets/workspaces/\(ws)/secrets"
            let id = try await api.secret("KEPT", value: "kept-value", in: ws, token: owner.token)
            let before = try await api.call(.get, "\(base)/\(id)/audit", token: owner.token).items.count

            let cases: [(HTTPRequest.Method, String, String?, Int, String)] = [
                (.post, base, "{not json", 400, "invalid_json"),
                (.post, base, "", 400, "invalid_json"),
                (.post, base, "[1,2]", 422, "validation_failed"),
                (.post, base, #"{"name": 5, "value": "x"}"#, 422, "validation_failed"),
                (.post, base, #"{"name": "OK"}"#, 422, "validation_failed"),
                (.post, base, #"{"name": "OK", "value": null}"#, 422, "validation_failed"),
                (.post, base, #"{"name": "1STARTS_WITH_DIGIT", "value": "x"}"#, 422, "validation_failed"),
                (.post, base, #"{"name": "HAS-DASH", "value": "x"}"#, 422, "validation_failed"),
                (.post, base, #"{"name": "", "value": "x"}"#, 422, "validation_failed"),
                (.post, base, #"{"name": "SP ACE", "value": "x"}"#, 422, "validation_failed"),
                (.post, base, #"{"name": "\#(String(repeating: "A", count: 129))", "value": "x"}"#, 422, "validation_failed"),
                (.post, base, #"{"name": "KEPT", "value": "x"}"#, 409, "secret_name_conflict"),
                (.post, base, #"{"name": "OK", "value": ""}"#, 422, "validation_failed"),
                (.post, base, #"{"name": "OK", "value": "\#(String(repeating: "x", count: 65_537))"}"#, 422, "validation_failed"),
                (.post, base, #"{"name": "OK", "value": "x", "secret_type": "banana"}"#, 422, "validation_failed"),
                (.post, base, #"{"name": "OK", "value": "x", "rotation_policy": "weekly"}"#, 422, "validation_failed"),
                (.post, base, #"{"name": "OK", "value": "x", "tags": "notalist"}"#, 422, "validation_failed"),
                (.post, base, #"{"name": "OK", "value": "x", "metadata": [1]}"#, 422, "validation_failed"),
                (.post, base, String(repeating: " ", count: 2 << 20), 413, "payload_too_large"),
                (.get, "\(base)?limit=1001", nil, 422, "validation_failed"),
                (.get, "\(base)?limit=0", nil, 422, "validation_failed"),
                (.get, "\(base)?limit=abc", nil, 422, "validation_failed"),
                (.get, "\(base)?offset=-1", nil, 422, "validation_failed"),
                (.get, "\(base)/\(UUID().uuidString.lowercased())/value", nil, 404, "secret_not_found"),
                (.get, "\(base)/\(id)/value?version=9", nil, 404, "secret_not_found"),
                (.get, "\(base)/\(id)/value?version=0", nil, 422, "validation_failed"),
                (.patch, "\(base)/\(id)", #"{"value": 12}"#, 422, "validation_failed"),
                (.patch, "\(base)/\(id)", #"{"rotation_policy": "sometimes"}"#, 422, "validation_failed"),
                (.post, "\(base)/\(id)/rotate", #"{"value": "wrong field"}"#, 422, "validation_failed"),
                (.post, "\(base)/\(id)/rotate", #"{"new_value": ""}"#, 422, "validation_failed"),
                (.get, "/api/secrets/workspaces/\(UUID().uuidString.lowercased())/secrets", nil, 404, "workspace_not_found"),
                (.post, "/api/workspaces", #"{"name": ""}"#, 422, "validation_failed"),
                (.get, "/api/nothing-here", nil, 404, "not_found"),
            ]
            for (method, path, body, status, code) in cases {
                let reply = try await api.call(method, path, token: owner.token, body: body)
                #expect(reply.status == status, "\(method) \(path.prefix(80)) \(body?.prefix(60) ?? ""): \(reply.raw.prefix(200))")
                #expect(reply.errorCode == code, "\(method) \(path.prefix(80)) \(body?.prefix(60) ?? "")")
                #expect(reply.errorMessage?.isEmpty == false)
                #expect(reply.headers[HTTPField.Name("X-Request-ID")!] != nil)
            }
            let after = try await api.call(.get, base, token: owner.token)
            #expect(after["total"] as? Int == 1)
            let kept = try await api.call(.get, "\(base)/\(id)/value", token: owner.token)
            #expect(kept.text("value") == "kept-value")
            #expect(kept["version"] as? Int == 1)
            // Only the read just made (and the failed version lookup) were added to the secret's trail.
            let trail = try await api.call(.get, "\(base)/\(id)/audit", token: owner.token).items
            #expect(trail.count == before + 2)
        }
    }

    @Test("missing, malformed, forged, alg-none and expired tokens get 401")
    func tokens() async throws {
        try await withLiveServer { api, _ in
            let owner = try await api.user("owner")
            let ws = try await api.workspace("w", token: owner.token)
            let path = "/api/secrets/workspaces/\(ws)/secrets"
            let missing = try await api.call(.get, path)
            #expect(missing.status == 401)
            #expect(missing.errorCode == "authentication_required")
            #expect(missing.headers[.wwwAuthenticate] == "Bearer")

            let forger = CompactJWT(key: SymmetricKey(size: .bits256))
            struct Claims: Codable { let sub: String; let iat: Int64; let exp: Int64; let iss: String; let jti: String }
            let now = Int64(Date().timeIntervalSince1970)
            let forged = try forger.sign(Claims(sub: owner.id, iat: now, exp: now + 600, iss: "coffer", jti: "x"))
            let parts = owner.token.split(separator: ".")
            let noneHeader = Base64.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8), urlSafe: true, padded: false)
            let algNone = "\(noneHeader).\(parts[1])."
            let tamperedPayload = Base64.encode(
                Array(#"{"sub":"someone-else","iat":0,"exp":99999999999,"iss":"coffer","jti":"x"}"#.utf8), urlSafe: true,
                padded: false)
            let swapped = "\(parts[0]).\(tamperedPayload).\(parts[2])"
            for bad in ["garbage", "a.b.c", forged, algNone, swapped, owner.token + "x"] {
                let reply = try await api.call(.get, path, token: bad)
                #expect(reply.status == 401, "\(bad.prefix(20))")
                #expect(reply.errorCode == "invalid_token")
            }
            let basic = try await api.call(.get, path, headers: [.authorization: "Basic b3duZXI6cGFzcw=="])
            #expect(basic.status == 401)

            api.clock.advance(by: 15 * 60 + 5)
            let expired = try await api.call(.get, path, token: owner.token)
            #expect(expired.status == 401)
            #expect(expired.errorCode == "token_expired")
        }
    }

    @Test("a tampered ciphertext gives 500 integrity_check_failed, no value, and a failed audit record")
    func tamperedCiphertext() async throws {
        try await withLiveServer { api, directory in
            let owner = try await api.user("owner")
            let ws = try await api.workspace("w", token: owner.token)
            let base = "/api/secrets/workspaces/\(ws)/secrets"
            let a = try await api.secret("A", value: "alpha-value", in: ws, token: owner.token)
            let b = try await api.secret("B", value: "bravo-value", in: ws, token: owner.token)
            // An attacker with write access to the database file copies A's ciphertext onto B.
            let store = try await CofferStoreAccess.open(directory)
            try await store.copyCiphertext(from: a, to: b)
            await store.close()
            let reply = try await api.call(.get, "\(base)/\(b)/value", token: owner.token)
            #expect(reply.status == 500)
            #expect(reply.errorCode == "integrity_check_failed")
            #expect(!reply.raw.contains("alpha-value") && !reply.raw.contains("bravo-value"))
            let trail = try await api.call(.get, "\(base)/\(b)/audit", token: owner.token).items
            #expect(trail.first?["success"] as? Bool == false)
            #expect((trail.first?["details"] as? [String: Any])?["reason"] as? String == "integrity_check_failed")
            #expect(try await api.call(.get, "\(base)/\(a)/value", token: owner.token).text("value") == "alpha-value")
        }
    }

    @Test("a key repeated in one JSON object is refused 400, at any depth; valid numbers that do not fit are 422")
    func duplicateKeysAndNumbers() async throws {
        try await withLiveServer { api, _ in
            let owner = try await api.user("owner")
            let ws = try await api.workspace("team", token: owner.token)
            let base = "/api/secrets/workspaces/\(ws)/secrets"
            for body in [
                #"{"name": "FIRST", "value": "one", "name": "SECOND"}"#,
                #"{"name": "NESTED", "value": "v", "metadata": {"owner": "a", "owner": "b"}}"#,
                #"{"name": "ESCAPED", "value": "v", "n\u0061me": "x", "name": "y"}"#,
                #"{"name": "LISTED", "value": "v", "metadata": {"list": [{"k": 1, "k": 2}]}}"#,
            ] {
                let reply = try await api.call(.post, base, token: owner.token, body: body)
                #expect(reply.status == 400 && reply.errorCode == "invalid_json", "\(body): \(reply.raw)")
            }
            // The same key in different objects is fine.
            let fine = try await api.call(
                .post, base, token: owner.token,
                body: #"{"name": "FINE", "value": "v", "metadata": {"name": {"name": "x"}, "other": {"name": "y"}}}"#)
            #expect(fine.status == 201, "\(fine.raw)")
            let list = try await api.call(.get, base, token: owner.token)
            #expect(list.items.map { $0["name"] as? String } == ["FINE"], "nothing else was created: \(list.raw)")

            for days in ["1.5", "1e30", "-0.5"] {
                let reply = try await api.call(
                    .post, "/api/workspaces/\(ws)/tokens", token: owner.token,
                    body: #"{"name": "ci", "role": "reader", "expires_in_days": \#(days)}"#)
                #expect(reply.status == 422 && reply.errorCode == "validation_failed", "\(days): \(reply.raw)")
            }
            let rollback = try await api.call(
                .post, "\(base)/\(fine.text("id"))/rollback", token: owner.token, body: #"{"version": 1.25}"#)
            #expect(rollback.status == 422 && rollback.errorCode == "validation_failed", "\(rollback.raw)")
        }
    }

    @Test("password changes are throttled like logins: after 5 wrong current passwords even the right one waits")
    func passwordChangeLockout() async throws {
        try await withLiveServer(environment: ["COFFER_RATE_LIMIT_AUTH_PER_MINUTE": "0"]) { api, _ in
            let alice = try await api.user("alice")
            for _ in 0..<5 {
                let wrong = try await api.call(
                    .post, "/api/auth/password", token: alice.token,
                    body: api.json(["current_password": "not the password at all", "new_password": "another long password"]))
                #expect(wrong.status == 401 && wrong.errorCode == "invalid_credentials", "\(wrong.raw)")
            }
            let right = try await api.call(
                .post, "/api/auth/password", token: alice.token,
                body: api.json(["current_password": LiveServer.password, "new_password": "another long password"]))
            #expect(right.status == 429 && right.headers[.retryAfter] != nil, "\(right.raw)")
            // Nothing changed: the old password still logs in (logins share the per-account count, so wait it out).
            api.clock.advance(by: 16 * 60)
            let login = try await api.call(
                .post, "/api/auth/login", body: api.json(["username": "alice", "password": LiveServer.password]))
            #expect(login.status == 200, "\(login.raw)")
        }
    }
}
