import Foundation
import HTTPTypes
import Logging
import Synchronization
import Testing

@testable import CofferServer

@Suite("Metrics and logs")
struct ObservabilityTests {
    /// Parses Prometheus text with the official Python parser; returns samples as "name{labels}" → value.
    func parse(_ text: String) throws -> [String: Double] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-prom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("metrics.txt")
        let output = directory.appendingPathComponent("parsed.json")
        try text.write(to: input, atomically: true, encoding: .utf8)
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = [
            "python3", "-c",
            """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = {}
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                for s in family.samples:
                    labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                    out[f"{s.name}{{{labels}}}"] = s.value
            json.dump(out, open(sys.argv[2], "w"))
            """, input.path, output.path,
        ]
        try python.run()
        python.waitUntilExit()
        guard python.terminationStatus == 0 else { throw CLIFailure(message: "prometheus_client could not parse /metrics") }
        return try JSONDecoder().decode([String: Double].self, from: Data(contentsOf: output))
    }

    struct CLIFailure: Error { let message: String }

    @Test("/metrics: admin only by default, Prometheus text that parses, counters move with reads and denials")
    func metrics() async throws {
        try await withLiveServer { api, _ in
            let admin = try await api.user("admin")
            let bob = try await api.user("bob", admin: admin.token)
            #expect(try await api.call(.get, "/metrics").status == 401)
            #expect(try await api.call(.get, "/metrics", token: bob.token).status == 403)
            let ws = try await api.workspace("w", token: admin.token)
            let id = try await api.secret("K", value: "metric-secret-value", in: ws, token: admin.token)
            let path = "/api/secrets/workspaces/\(ws)/secrets/\(id)/value"
            _ = try await api.call(.get, path, token: admin.token)
            let first = try await api.call(.get, "/metrics", token: admin.token)
            #expect(first.status == 200)
            #expect(first.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(!first.raw.contains("metric-secret-value") && !first.raw.contains(admin.token))
            let before = try parse(first.raw)
            for name in ["secret_rotation_due_count{}", "secret_access_failure_total{}", "encryption_backend_health{backend=\"fernet\"}"] {
                #expect(before[name] != nil, "missing \(name) in \(before.keys.sorted())")
            }
            #expect(before["encryption_backend_health{backend=\"fernet\"}"] == 1)
            let route = "/api/secrets/workspaces/{workspace_id}/secrets/{secret_id}/value"
            let okKey = "http_requests_total{method=\"GET\",route=\"\(route)\",status=\"200\"}"
            #expect(before[okKey] == 1)
            #expect(before["http_request_duration_seconds_count{method=\"GET\",route=\"\(route)\"}"] == 1)

            _ = try await api.call(.get, path, token: admin.token)
            _ = try await api.call(.get, path, token: bob.token)  // not a member: 404, audited as a failure
            _ = try await api.call(.get, path + "?version=7", token: admin.token)  // missing version: failure
            let after = try parse(try await api.call(.get, "/metrics", token: admin.token).raw)
            #expect(after[okKey] == 2)
            #expect((after["secret_access_failure_total{}"] ?? 0) - (before["secret_access_failure_total{}"] ?? 0) == 2)
            #expect((after["secret_audit_log_volume_total{}"] ?? 0) > (before["secret_audit_log_volume_total{}"] ?? 0))
            // No label carries an id.
            #expect(!after.keys.contains { $0.contains(id) || $0.contains(ws) })
        }
        try await withLiveServer(environment: ["COFFER_METRICS_PUBLIC": "true"]) { api, _ in
            let open = try await api.call(.get, "/metrics")
            #expect(open.status == 200)
        }
    }

    @Test("JSON log lines are objects with time, level, label, message and metadata")
    func jsonLogs() throws {
        let lines = Mutex<[String]>([])
        var handler = JSONLogHandler(label: "coffer") { line in lines.withLock { $0.append(line) } }
        handler.logLevel = .info
        handler.metadata["request_id"] = "abc"
        let logger = Logger(label: "coffer", factory: { _ in handler })
        logger.info("request", metadata: ["status": "200", "path": "/health"])
        logger.debug("hidden")
        let captured = lines.withLock { $0 }
        #expect(captured.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(captured[0].utf8)) as? [String: Any])
        #expect(object["message"] as? String == "request")
        #expect(object["level"] as? String == "info")
        #expect(object["status"] as? String == "200")
        #expect(object["request_id"] as? String == "abc")
        #expect(object["time"] is String)
        #expect(captured[0].hasSuffix("\n"))
    }
}
