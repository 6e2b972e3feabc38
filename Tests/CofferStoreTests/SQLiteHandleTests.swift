import Foundation
import Logging
import NIOCore
import SQLKit
import SQLiteKit
import SQLiteNIO
import Testing

@testable import CofferStore

@Suite("SQLite connections Coffer drives itself")
struct SQLiteHandleTests {
    /// A scratch table on a fresh database file.
    private func withHandle(_ body: (SQLiteHandle) throws -> Void) async throws {
        try await withTemporaryDirectory { dir in
            let handle = try SQLiteHandle(path: dir.appendingPathComponent("h.db").path)
            defer { handle.close() }
            try handle.run("CREATE TABLE t (k INTEGER PRIMARY KEY, v)", [])
            try body(handle)
        }
    }

    private func values(_ handle: SQLiteHandle, _ sql: String, _ binds: [SQLiteData] = []) throws -> [SQLiteData] {
        var found: [SQLiteData] = []
        try handle.run(sql, binds) { row in found.append(contentsOf: row.values) }
        return found
    }

    @Test("values of every type round-trip exactly: text with NUL and non-ASCII, empty blob is not NULL")
    func roundTrip() async throws {
        try await withHandle { handle in
            let blob = ByteBuffer(bytes: [0, 1, 2, 255])
            let cases: [SQLiteData] = [
                .integer(Int(Int64.min)), .integer(Int(Int64.max)), .float(-0.5), .text(""), .text("a\u{0}b é 🔑"),
                .blob(blob), .blob(ByteBuffer()), .null,
            ]
            for (key, value) in cases.enumerated() {
                try handle.run("INSERT INTO t (k, v) VALUES (?, ?)", [.integer(key), value])
            }
            #expect(try values(handle, "SELECT v FROM t ORDER BY k") == cases)
            #expect(try values(handle, "SELECT typeof(v) FROM t WHERE k = 6") == [.text("blob")])
        }
    }

    @Test("rows decode every value to every common type exactly as SQLiteKit's decoder does, errors included")
    func rowDecodingMatchesSQLiteKit() throws {
        let values: [SQLiteData] = [.text("x"), .text(""), .text("12"), .integer(0), .integer(1), .integer(-7),
            .integer(Int(Int64.max)), .float(1.5), .null, .blob(ByteBuffer(bytes: [1, 2]))]
        let columns = values.indices.map { "c\($0)" }
        let handle = try SQLiteHandle(path: ":memory:")
        defer { handle.close() }
        var row: SQLiteResultRow?
        let select = "SELECT " + values.indices.map { "? AS c\($0)" }.joined(separator: ", ")
        try handle.run(select, values) { row = $0 }
        let decoded = try #require(row)
        func same<T: Decodable & Equatable>(_ type: T.Type) {
            for (column, value) in zip(columns, values) {
                let ours = Result { try decoded.decode(column: column, as: T.self) }
                let theirs = Result { try SQLiteDataDecoder().decode(T.self, from: value) }
                switch (ours, theirs) {
                case (.success(let a), .success(let b)): #expect(a == b, "\(value) as \(T.self)")
                case (.failure, .failure): break
                default: Issue.record("\(value) as \(T.self): \(ours) vs \(theirs)")
                }
            }
        }
        same(String.self); same(String?.self); same(Int.self); same(Int?.self); same(Int64.self); same(Int64?.self)
        same(Bool.self); same(Bool?.self); same(Double.self); same(Data.self)
    }

    @Test("columns are found by name: names alike in length and ends, repeated names (the first wins), missing ones")
    func columnLookup() throws {
        let handle = try SQLiteHandle(path: ":memory:")
        defer { handle.close() }
        var row: SQLiteResultRow?
        try handle.run("SELECT 1 AS axb, 2 AS ayb, 3 AS axb, 4 AS id, 5 AS \"é\"", []) { row = $0 }
        let found = try #require(row)
        #expect(try found.decode(column: "axb", as: Int.self) == 1)
        #expect(try found.decode(column: "ayb", as: Int.self) == 2)
        #expect(try found.decode(column: "id", as: Int.self) == 4)
        #expect(try found.decode(column: "é", as: Int.self) == 5)
        // After `ayb` the next column is the second `axb`: a name asked for again is still the first of its name.
        #expect(try found.decode(column: "ayb", as: Int.self) == 2)
        #expect(try found.decode(column: "axb", as: Int.self) == 1)
        #expect(try found.decode(column: "ayb", as: Int.self) == 2)
        #expect(try found.decode(column: "axb", as: Int.self) == 1)
        #expect(!found.contains(column: "azb"))
        #expect(try found.decodeNil(column: "azb"))
        #expect(throws: DecodingError.self) { try found.decode(column: "azb", as: Int.self) }
        #expect(found.allColumns == ["axb", "ayb", "axb", "id", "é"])
    }

    @Test("bound values of every common type convert exactly as SQLiteKit's encoder converts them")
    func bindEncodingMatchesSQLiteKit() throws {
        let values: [any Encodable & Sendable] = [
            "x", "", "a\u{0}é", String?.some("y"), String?.none, 0, -7, Int.max, Int?.some(3), Int?.none,
            Int64.min, Int64?.some(9), Int64?.none, true, false, Data(), Data([0, 1, 255]), Data?.some(Data([7])),
            Data?.none, 1.5, Double?.some(2.5), Double?.none, Bool?.some(true), Bool?.none, ["a"], [1, 2],
        ]
        for value in values {
            let ours = try SQLiteHandleDatabase.sqliteData(value)
            let theirs = try SQLiteDataEncoder().encode(value)
            #expect(ours == theirs, "\(value): \(ours) vs \(theirs)")
        }
    }

    @Test("a kept statement runs again with new values and keeps none of the old ones")
    func keptStatementsAreReset() async throws {
        try await withHandle { handle in
            for key in 0..<100 {
                try handle.run("INSERT INTO t (k, v) VALUES (?, ?)", [.integer(key), .text("v\(key)")])
            }
            for key in [3, 97, 3] {
                #expect(try values(handle, "SELECT v FROM t WHERE k = ?", [.integer(key)]) == [.text("v\(key)")])
            }
            // A statement left after its first row (its row handler threw) is reset, not resumed, on its next use.
            #expect(throws: Boom.self) { try handle.run("SELECT k FROM t ORDER BY k", []) { _ in throw Boom() } }
            #expect(try values(handle, "SELECT k FROM t ORDER BY k") == (0..<100).map { .integer($0) })
            #expect(try values(handle, "SELECT count(*) FROM t").first == .integer(100))
        }
    }

    @Test("kept statements are not recompiled when new values are bound (a join under a partial index, a LIMIT)")
    func noRecompilation() async throws {
        try await withTemporaryDirectory { dir in
            try await openStore(dir).close()
            let handle = try SQLiteHandle(path: dir.appendingPathComponent("coffer.db").path)
            defer { handle.close() }
            // The shapes of the secret read and the list; without the planner's stability guarantee SQLite
            // recompiled both on every use.
            let statements = [
                """
                SELECT s.*, v.ciphertext FROM secrets s JOIN secret_versions v ON v.secret_id = s.id
                AND v.version = s.current_version WHERE s.id = ? AND s.workspace_id = ? AND s.deleted_at IS NULL
                """,
                "SELECT * FROM secrets WHERE workspace_id = ? AND deleted_at IS NULL ORDER BY name, id LIMIT ? OFFSET ?",
            ]
            for sql in statements {
                let count = sql.filter { $0 == "?" }.count
                for round in 0..<5 {
                    try handle.run(sql, (0..<count).map { _ in .integer(round) })
                }
                #expect(handle.recompilations(of: sql) == 0)
            }
        }
    }

    @Test("more distinct statements than the cache holds, and bulk statements too large to keep, still run right")
    func cacheLimitAndBulk() async throws {
        try await withHandle { handle in
            for key in 0..<(SQLiteHandle.cacheLimit + 50) {
                try handle.run("INSERT INTO t (k, v) VALUES (\(key), ?)", [.text("x")])
            }
            let count = SQLiteHandle.maxKeptParameters + 10
            let placeholders = Array(repeating: "(?, 'bulk')", count: count).joined(separator: ", ")
            let keys = (1_000..<(1_000 + count)).map { SQLiteData.integer($0) }
            try handle.run("INSERT INTO t (k, v) VALUES \(placeholders)", keys)
            try handle.run("INSERT INTO t (k, v) VALUES \(placeholders)", keys.map { .integer($0.integer! + 10_000) })
            #expect(try values(handle, "SELECT count(*) FROM t").first == .integer(SQLiteHandle.cacheLimit + 50 + 2 * count))
        }
    }

    @Test("errors carry SQLite's code and message; uniqueness is told apart; the connection stays usable")
    func errors() async throws {
        try await withHandle { handle in
            try handle.run("INSERT INTO t (k, v) VALUES (1, 'a')", [])
            #expect {
                try handle.run("INSERT INTO t (k, v) VALUES (?, 'b')", [.integer(1)])
            } throws: { ($0 as? SQLiteStatusError)?.isUniquenessConflict == true }
            #expect {
                try handle.run("SELEC nonsense", [])
            } throws: { error in
                guard let error = error as? SQLiteStatusError else { return false }
                return !error.isUniquenessConflict && error.message.contains("syntax error")
            }
            #expect(try values(handle, "SELECT v FROM t WHERE k = ?", [.integer(1)]) == [.text("a")])
            handle.close()
            #expect(throws: SQLiteStatusError.self) { try handle.run("SELECT 1", []) }
        }
    }

    @Test("store reads never hold a snapshot between uses: a read after a commit sees it, and the WAL truncates")
    func readsSeeCommits() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await openStore(dir)
            func read() async throws -> Data? {
                try await store.read { db in
                    try await db.raw("SELECT value FROM coffer_meta WHERE key = 'k'").first(decodingColumn: "value", as: Data.self)
                }
            }
            #expect(try await read() == nil)
            for byte in UInt8(1)...3 {
                try await store.write { db in
                    try await db.exec(
                        "INSERT INTO coffer_meta (key, value) VALUES ('k', \(bind: Data([byte]))) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                }
                #expect(try await read() == Data([byte]))
            }
            try await store.compact()
            let wal = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("coffer.db-wal").path)
            #expect(wal[.size] as? Int == 0)
            await store.close()
        }
    }

    @Test("the log is checkpointed off the writer once it passes the threshold, and nothing is lost")
    func backgroundCheckpoint() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await openStore(dir)
            let blob = Data((0..<4_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            // About 1,000 pages in each commit, until the log is past the threshold.
            let commits = WALCheckpointer.threshold / 1_000 + 2
            for n in 0..<commits {
                try await store.write { db in
                    try await db.exec("INSERT INTO coffer_meta (key, value) VALUES (\(bind: "big\(n)"), \(bind: blob))")
                }
            }
            let deadline = ContinuousClock.now + .seconds(20)
            while store.checkpoints == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(store.checkpoints >= 1)
            let file = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("coffer.db").path)
            #expect((file[.size] as? Int ?? 0) > 4_000_000, "the checkpoint copied the log into the file")
            await store.close()
            let reopened = try await openStore(dir)
            for n in 0..<commits {
                let value = try await reopened.read { db in
                    try await db.raw("SELECT value FROM coffer_meta WHERE key = \(bind: "big\(n)")")
                        .first(decodingColumn: "value", as: Data.self)
                }
                #expect(value == blob)
            }
            await reopened.close()
        }
    }

    @Test("overlapping and nested reads each get their own connection and never wait for one another")
    func overlappingReads() async throws {
        try await withTemporaryDirectory { dir in
            let store = try await openStore(dir)
            try await withThrowingTaskGroup(of: Int.self) { group in
                for n in 0..<64 {
                    group.addTask {
                        try await store.read { outer in
                            // A read inside a read: with a fixed pool that waited, 64 of these would deadlock.
                            let inner = try await store.read { db in
                                try await db.raw("SELECT \(bind: n) AS n").first(decodingColumn: "n", as: Int.self)
                            }
                            await Task.yield()
                            let again = try await outer.raw("SELECT \(bind: n) + 1 AS n").first(decodingColumn: "n", as: Int.self)
                            return (inner ?? -1) + (again ?? -1)
                        }
                    }
                }
                var sums: [Int] = []
                for try await sum in group { sums.append(sum) }
                #expect(sums.sorted() == (0..<64).map { 2 * $0 + 1 })
            }
            await store.close()
            await #expect(throws: StoreError.self) { try await store.read { _ in 1 } }
        }
    }
}
