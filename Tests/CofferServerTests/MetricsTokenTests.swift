import Foundation
import Testing

@testable import CofferServer

@Suite("Metrics without a person's token")
struct MetricsTokenTests {
    static let token = "prometheus-scrape-token-0123456789abcdef"

    @Test("COFFER_METRICS_TOKEN opens /metrics and nothing else")
    func scrapeToken() async throws {
        try await withLiveServer(environment: ["COFFER_METRICS_TOKEN": Self.token]) { api, _ in
            let admin = try await api.user("admin")
            let scraped = try await api.call(.get, "/metrics", token: Self.token)
            #expect(scraped.status == 200 && scraped.raw.contains("http_requests_total"), "\(scraped.raw.prefix(200))")
            #expect(try await api.call(.get, "/metrics", token: admin.token).status == 200)
            #expect(try await api.call(.get, "/metrics", token: Self.token + "x").status == 401)
            #expect(try await api.call(.get, "/metrics").status == 401)
            let elsewhere = try await api.call(.get, "/api/workspaces", token: Self.token)
            #expect(elsewhere.status == 401 && elsewhere.errorCode == "invalid_token", "\(elsewhere.raw)")
        }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration(environment: ["COFFER_METRICS_TOKEN": "short"]) }
    }
}
