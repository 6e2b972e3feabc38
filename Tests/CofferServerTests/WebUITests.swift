import Foundation
import Testing

@testable import CofferServer

/// The web UI in a real browser: headless Chromium, driven by Selenium (`Tests/ui/ui_suite.py`), against a live
/// server. Screenshots of every page land in `.build/ui-screenshots/` (or `COFFER_UI_SCREENSHOTS`).
@Suite("Web UI in headless Chromium")
struct WebUITests {
    @Test("sign in, create a workspace and a secret, reveal, copy, rotate, audit, CSRF refused, sign out")
    func mainPaths() async throws {
        let environment = ["COFFER_RATE_LIMIT_PER_MINUTE": "0", "COFFER_RATE_LIMIT_VALUES_PER_MINUTE": "0"]
        try await withLiveServer(environment: environment) { api, _ in
            _ = try await api.user("admin")
            let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            let screenshots =
                ProcessInfo.processInfo.environment["COFFER_UI_SCREENSHOTS"]
                ?? tests.deletingLastPathComponent().appendingPathComponent(".build/ui-screenshots").path
            try FileManager.default.createDirectory(atPath: screenshots, withIntermediateDirectories: true)
            var environment = cleanEnvironment()
            environment["COFFER_URL"] = "http://127.0.0.1:\(try #require(api.client.port))"
            environment["COFFER_USERNAME"] = "admin"
            environment["COFFER_PASSWORD"] = LiveServer.password
            environment["COFFER_SCREENSHOTS"] = screenshots
            let run = try Spawned(
                URL(fileURLWithPath: "/usr/bin/env"), ["python3", tests.appendingPathComponent("ui/ui_suite.py").path],
                environment: environment, stdin: nil)
            let result = try await run.wait(timeout: .seconds(240))
            #expect(result.status == 0, "\(result)")
            #expect(result.stderr.contains("OK"), "\(result)")
        }
    }
}
