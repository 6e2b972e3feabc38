import CofferTestSupport
import Foundation
import Logging
import SQLKit
import Testing

@testable import CofferStore

/// The PostgreSQL store's own guarantees about connections that close under it. These run in `scripts/test`'s
/// PostgreSQL pass (`COFFER_TEST_DATABASE_URL`).
@Suite("PostgreSQL store: closed connections", .serialized, .enabled(if: TestStore.onPostgres))
struct PostgresStoreTests {
    func openStore(_ directory: URL) async throws -> PostgresDatabaseStore {
        guard case .postgres(let url, _, _) = try await TestStore.location(for: directory) else {
            throw StoreError(.unavailable, "not on PostgreSQL")
        }
        return try await PostgresDatabaseStore.open(
            url: url, poolSize: 2, timeout: .seconds(5), logger: Logger(label: "test"))
    }

    @Test(
        "a connection the server ends inside a write fails that write at once with store_unavailable, applies none of it, and the next write succeeds",
        .timeLimit(.minutes(1)))
    func connectionEndedMidWrite() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await openStore(dir)
            let started = ContinuousClock.now
            let error = await #expect(throws: StoreError.self) {
                try await store.write { db in
                    try await db.exec("INSERT INTO coffer_meta (key, value) VALUES ('a', \(bind: Data([1])))")
                    try await db.exec("SELECT pg_terminate_backend(pg_backend_pid())")
                    try await db.exec("INSERT INTO coffer_meta (key, value) VALUES ('b', \(bind: Data([2])))")
                }
            }
            #expect(error?.code == .unavailable, "\(String(describing: error))")
            #expect(ContinuousClock.now - started < .seconds(5))
            try await store.write { db in
                try await db.exec("INSERT INTO coffer_meta (key, value) VALUES ('c', \(bind: Data([3])))")
            }
            let keys = try await store.read { db in
                try await db.raw("SELECT key FROM coffer_meta WHERE key IN ('a', 'b', 'c') ORDER BY key")
                    .all(decodingColumn: "key", as: String.self)
            }
            #expect(keys == ["c"])
            await store.close()
        }
    }

    @Test("statements leave nothing behind: one close watch per open connection, none in flight afterwards")
    func watchesStayBounded() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await openStore(dir)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        for _ in 0..<50 {
                            _ = try await store.read { db in
                                try await db.raw("SELECT 1 AS one").first(decodingColumn: "one", as: Int.self)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let (connections, inFlight) = store.watches.counts
            #expect(connections <= 2, "a pool of 2 has at most 2 connections to watch")
            #expect(inFlight == 0)
            await store.close()
        }
    }
}
