import Foundation
import HTTPTypes
import Testing

@testable import CofferServer

@Suite("Rate limits")
struct RateLimitTests {
    func login(_ api: LiveServer, _ user: String, _ password: String) async throws -> Reply {
        try await api.call(.post, "/api/auth/login", body: api.json(["username": user, "password": password]))
    }

    @Test("failed logins are throttled per username, the same for unknown users, and recover after the window")
    func loginThrottling() async throws {
        try await withLiveServer { api, _ in
            _ = try await api.user("alice")
            for _ in 0..<5 {
                #expect(try await login(api, "alice", "wrong password 123").status == 401)
                #expect(try await login(api, "ghost", "wrong password 123").status == 401)
            }
            let locked = try await login(api, "alice", LiveServer.password)  // even the right password waits
            let ghost = try await login(api, "ghost", LiveServer.password)
            #expect(locked.status == 429)
            #expect(locked.errorCode == "rate_limited")
            let retry = Int(locked.headers[.retryAfter] ?? "") ?? 0
            #expect(retry > 0 && retry <= 900)
            #expect(ghost.status == 429)
            #expect(ghost.raw == locked.raw)  // nothing tells an existing account from a missing one
            #expect(try await login(api, "bob", "wrong password 123").status == 401)  // other names unaffected
            api.clock.advance(by: 901)
            #expect(try await login(api, "alice", LiveServer.password).status == 200)
        }
    }

    @Test("failed logins are throttled per client address across usernames")
    func clientThrottling() async throws {
        try await withLiveServer { api, _ in
            for i in 0..<20 {
                #expect(try await login(api, "user\(i)", "wrong password 123").status == 401)
            }
            let blocked = try await login(api, "someone-new", "wrong password 123")
            #expect(blocked.status == 429)
            #expect(blocked.headers[.retryAfter] != nil)
        }
    }

    @Test("per-client request limits: value endpoints and credential endpoints have their own, stricter buckets")
    func requestLimits() async throws {
        try await withLiveServer(environment: ["COFFER_RATE_LIMIT_VALUES_PER_MINUTE": "3", "COFFER_RATE_LIMIT_AUTH_PER_MINUTE": "4"]) { api, _ in
            let owner = try await api.user("owner")  // register + login: 2 credential requests
            let ws = try await api.workspace("w", token: owner.token)
            let id = try await api.secret("K", value: "v", in: ws, token: owner.token)
            let path = "/api/secrets/workspaces/\(ws)/secrets/\(id)/value"
            for _ in 0..<3 { #expect(try await api.call(.get, path, token: owner.token).status == 200) }
            let limited = try await api.call(.get, path, token: owner.token)
            #expect(limited.status == 429)
            #expect(limited.headers[.retryAfter] != nil)
            // General endpoints are not in the value bucket.
            #expect(try await api.call(.get, "/api/secrets/workspaces/\(ws)/secrets", token: owner.token).status == 200)
            #expect(try await login(api, "owner", LiveServer.password).status == 200)
            #expect(try await login(api, "owner", LiveServer.password).status == 200)
            #expect(try await login(api, "owner", LiveServer.password).status == 429)
            api.clock.advance(by: 60)
            #expect(try await api.call(.get, path, token: owner.token).status == 200)
            #expect(try await login(api, "owner", LiveServer.password).status == 200)
        }
    }
}

@Suite("Rate limiter tables")
struct RateLimiterTableTests {
    final class Clock: @unchecked Sendable {
        var time = Date(timeIntervalSince1970: 1_800_000_000)
    }

    @Test("pruning drops only buckets that have refilled, judging each by its own class's limit")
    func pruningKeepsLiveBuckets() {
        let clock = Clock()
        var limits = RateLimiter.Limits()
        limits.generalPerMinute = 1200
        limits.credentialsPerMinute = 30
        let limiter = RateLimiter(limits: limits, now: { clock.time })
        // A client part-way through its general bucket.
        for _ in 0..<10 { #expect(limiter.take(.general, client: "victim") == nil) }
        // Enough other clients to make the table prune, each with a credential bucket just drawn from.
        for i in 0...RateLimiter.minimumPruneThreshold { _ = limiter.take(.credentials, client: "c\(i)") }
        // The victim's bucket survived: 1,190 requests left, not a fresh 1,200.
        for _ in 0..<1190 { #expect(limiter.take(.general, client: "victim") == nil) }
        #expect(limiter.take(.general, client: "victim") != nil)
        #expect(limiter.tableSizes.buckets > RateLimiter.minimumPruneThreshold)

        // A minute later every one of those buckets has refilled. The threshold doubled when the first pruning
        // found them all live, so the next pruning comes after about 100,000 entries, and drops exactly them.
        clock.time.addTimeInterval(61)
        for i in 0..<60_000 { _ = limiter.take(.general, client: "d\(i)") }
        #expect(limiter.tableSizes.buckets == 60_000)
    }
}
