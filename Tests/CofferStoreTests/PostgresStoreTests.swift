import CofferTestSupport
import Foundation
import Logging
import SQLKit
import Synchronization
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
            // Each round ends a connection; the next write may be handed it before its close is seen.
            for round in 0..<5 {
                try await endConnectionMidWrite(store, round: round)
            }
            await store.close()
        }
    }

    /// One write whose connection the server ends in its middle: it fails at once and applies nothing, and the
    /// next write succeeds.
    func endConnectionMidWrite(_ store: PostgresDatabaseStore, round: Int) async throws {
        let (a, b, c) = ("a\(round)", "b\(round)", "c\(round)")
        let started = ContinuousClock.now
        let error = await #expect(throws: StoreError.self) {
            try await store.write { db in
                try await db.exec("INSERT INTO coffer_meta (key, value) VALUES (\(bind: a), \(bind: Data([1])))")
                try await db.exec("SELECT pg_terminate_backend(pg_backend_pid())")
                try await db.exec("INSERT INTO coffer_meta (key, value) VALUES (\(bind: b), \(bind: Data([2])))")
            }
        }
        #expect(error?.code == .unavailable, "\(String(describing: error))")
        #expect(ContinuousClock.now - started < .seconds(5))
        try await store.write { db in
            try await db.exec("INSERT INTO coffer_meta (key, value) VALUES (\(bind: c), \(bind: Data([3])))")
        }
        let keys = try await store.read { db in
            try await db.raw(
                "SELECT key FROM coffer_meta WHERE key IN (\(bind: a), \(bind: b), \(bind: c)) ORDER BY key"
            ).all(decodingColumn: "key", as: String.self)
        }
        #expect(keys == [c], "round \(round)")
    }

    @Test(
        "a connection found dead before it answered anything is replaced by another lease; a dead one each time gives up",
        .timeLimit(.minutes(1)))
    func deadConnectionIsReplaced() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await openStore(dir)
            let attempts = Mutex(0)
            // The body's own connection dies on the first attempt, before its statement is answered.
            let one = try await store.read { db in
                let attempt = attempts.withLock { count in
                    count += 1
                    return count
                }
                if attempt == 1, let guarded = db as? GuardedPostgresDatabase { try await guarded.connection.close() }
                return try await db.raw("SELECT 1 AS one").first(decodingColumn: "one", as: Int.self)
            }
            #expect(one == 1)
            #expect(attempts.withLock { $0 } == 2)

            attempts.withLock { $0 = 0 }
            let error = await #expect(throws: StoreError.self) {
                try await store.read { db in
                    attempts.withLock { $0 += 1 }
                    if let guarded = db as? GuardedPostgresDatabase { try await guarded.connection.close() }
                    return try await db.raw("SELECT 1 AS one").first(decodingColumn: "one", as: Int.self)
                }
            }
            #expect(error?.code == .unavailable)
            #expect(attempts.withLock { $0 } == PostgresDatabaseStore.leaseAttempts)

            // Work that got an answer before its connection died is not run again. (A connection closed above may
            // still be handed out once, and found dead at the first statement: that attempt is not counted.)
            attempts.withLock { $0 = 0 }
            await #expect(throws: StoreError.self) {
                try await store.read { db in
                    _ = try await db.raw("SELECT 1 AS one").first(decodingColumn: "one", as: Int.self)
                    attempts.withLock { $0 += 1 }
                    if let guarded = db as? GuardedPostgresDatabase { try await guarded.connection.close() }
                    return try await db.raw("SELECT 2 AS two").first(decodingColumn: "two", as: Int.self)
                }
            }
            #expect(attempts.withLock { $0 } == 1)
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
