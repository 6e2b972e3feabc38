import CofferTestSupport
import Foundation
import Testing

@testable import CofferServer

/// Rotation of values Coffer does not generate: a signed request to the secret's webhook, whose answer is the next
/// value.
@Suite("Rotation webhooks", .serialized)
struct RotationWebhookTests {
    static let key = "webhook-signing-key-0123456789abcdef"

    /// A receiver on loopback that checks the signature, logs each request's JSON, and answers `/ok` with a new
    /// value and `/broken` with 500.
    func receiver(_ log: URL) async throws -> (Spawned, Int) {
        let port = Int(try Python.run(script: """
            import socket
            s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
            """))!
        let spawned = try Spawned(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "python3", "-c",
                """
                import hmac, hashlib, json, sys, time
                from http.server import BaseHTTPRequestHandler, HTTPServer
                port, key, log = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
                count = 0
                class Handler(BaseHTTPRequestHandler):
                    def do_POST(self):
                        global count
                        body = self.rfile.read(int(self.headers["Content-Length"]))
                        fields = dict(p.split("=", 1) for p in self.headers["X-Coffer-Signature"].split(","))
                        # Each secret's own key: what POST …/rotation-webhook returned as signing_key.
                        secret = json.loads(body)["secret_id"].encode()
                        own = hmac.new(key, b"coffer-webhook:" + secret, hashlib.sha256).hexdigest().encode()
                        expected = hmac.new(own, fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
                        ok = hmac.compare_digest(expected, fields["v1"])
                        with open(log, "a") as f:
                            f.write(json.dumps({"path": self.path, "signed": ok, "body": json.loads(body)}) + "\\n")
                        if self.path == "/ok" and ok:
                            count += 1
                            answer, status = json.dumps({"value": f"rotated-by-webhook-{count}"}).encode(), 200
                        else:
                            answer, status = b"{}", 500
                        self.send_response(status); self.send_header("Content-Length", str(len(answer)))
                        self.end_headers(); self.wfile.write(answer)
                    def log_message(self, *args): pass
                HTTPServer(("127.0.0.1", port), Handler).serve_forever()
                """, String(port), Self.key, log.path,
            ], environment: cleanEnvironment(), stdin: nil)
        _ = try Python.run(script: """
            import socket, sys, time
            deadline = time.time() + 20
            while True:
                try: socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close(); break
                except OSError:
                    if time.time() > deadline: raise SystemExit("the receiver did not start")
                    time.sleep(0.05)
            """, arguments: [String(port)])
        return (spawned, port)
    }

    @Test("a due secret's webhook supplies its next value (signed request, no value in it); failures keep the value, are audited, counted and retried later")
    func webhookRotation() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-hook-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: log) }
        let (process, port) = try await receiver(log)
        defer { kill(process.pid, SIGKILL) }
        try await withLiveServer(environment: ["COFFER_WEBHOOK_SECRET": Self.key]) { api, _ in
            let coffer = try #require(api.coffer)
            var admin = try await api.user("admin")
            let ws = try await api.workspace("w", token: admin.token)
            let base = "/api/secrets/workspaces/\(ws)/secrets"
            var ids: [String: String] = [:]
            for name in ["DB_PASSWORD", "FLAKY"] {
                let made = try await api.call(
                    .post, base, token: admin.token,
                    body: api.json(["name": name, "value": "original-value", "rotation_policy": "auto_30_days"]))
                ids[name] = made.text("id")
            }
            let refused = try await api.call(
                .post, "\(base)/\(ids["FLAKY"]!)/rotation-webhook", token: admin.token,
                body: api.json(["url": "http://example.com/hook"]))
            #expect(refused.status == 422, "\(refused.raw)")
            for (name, path) in [("DB_PASSWORD", "ok"), ("FLAKY", "broken")] {
                let set = try await api.call(
                    .post, "\(base)/\(ids[name]!)/rotation-webhook", token: admin.token,
                    body: api.json(["url": "http://127.0.0.1:\(port)/\(path)"]))
                #expect(set.status == 200, "\(set.raw)")
                let own = try Python.run(
                    script: """
                        import hashlib, hmac, sys
                        print(hmac.new(sys.argv[1].encode(), b"coffer-webhook:" + sys.argv[2].encode(), hashlib.sha256).hexdigest())
                        """, arguments: [Self.key, ids[name]!])
                #expect(set.text("signing_key") == own, "\(set.raw)")
                let shown = try await api.call(.get, "\(base)/\(ids[name]!)/rotation-webhook", token: admin.token)
                #expect(shown["signing_key"] == nil, "shown once: \(shown.raw)")
            }
            // A generated secret rotates itself: no webhook for it.
            let generated = try await api.call(
                .post, base, token: admin.token, body: #"{"name": "GEN", "generate": {"length": 16}}"#)
            let fight = try await api.call(
                .post, "\(base)/\(generated.text("id"))/rotation-webhook", token: admin.token,
                body: api.json(["url": "http://127.0.0.1:\(port)/ok"]))
            #expect(fight.status == 422, "\(fight.raw)")
            // Not due yet: nothing is called.
            #expect(await coffer.scheduler.tick().webhookRotated == 0)
            api.clock.advance(by: 31 * 86_400)
            let report = await coffer.scheduler.tick()
            #expect(report.webhookRotated == 1 && report.webhookFailed == 1, "\(report)")
            // A month later the admin's token has expired: log in again.
            let login = try await api.call(
                .post, "/api/auth/login", body: api.json(["username": "admin", "password": LiveServer.password]))
            admin.token = login.text("access_token")

            let rotated = try await api.call(.get, "\(base)/\(ids["DB_PASSWORD"]!)/value", token: admin.token)
            #expect(rotated.text("value") == "rotated-by-webhook-1" && rotated["version"] as? Int == 2, "\(rotated.raw)")
            let kept = try await api.call(.get, "\(base)/\(ids["FLAKY"]!)/value", token: admin.token)
            #expect(kept.text("value") == "original-value", "\(kept.raw)")
            let state = try await api.call(.get, "\(base)/\(ids["FLAKY"]!)/rotation-webhook", token: admin.token)
            #expect(state["failures"] as? Int == 1 && (state["last_error"] as? String)?.contains("500") == true, "\(state.raw)")

            // The failed one waits for its retry; the rotated one is not due again for 30 days.
            #expect(await coffer.scheduler.tick().webhookFailed == 0)
            api.clock.advance(by: 120)
            #expect(await coffer.scheduler.tick().webhookFailed == 1)
            #expect(coffer.scheduler.webhookFailures == 2)

            let requests = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
            #expect(requests.count == 3)
            #expect(requests.allSatisfy { $0.contains(#""signed": true"#) && !$0.contains("original-value") }, "\(requests)")
            let audit = try await api.call(.get, "/api/secrets/workspaces/\(ws)/audit?action=rotated", token: admin.token)
            #expect(audit.items.contains { $0["success"] as? Bool == true && $0["user_id"] is NSNull }, "\(audit.raw)")
            #expect(audit.items.filter { $0["success"] as? Bool == false }.count == 2, "\(audit.raw)")
            let metrics = try await api.call(.get, "/metrics", token: admin.token)
            #expect(metrics.raw.contains("secret_rotation_webhook_failures 2"), "\(metrics.raw.prefix(300))")
        }
    }
}
