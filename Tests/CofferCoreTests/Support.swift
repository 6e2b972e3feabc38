import CofferCrypto
import CofferTestSupport
import CofferKeys
import CofferStore
import Crypto
import Foundation
import Logging
import SQLKit
import Synchronization

@testable import CofferCore

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// The real store, with a switch that makes writes fail and a counter of write transactions.
final class InstrumentedDatabase: CofferDatabase {
    let inner: any CofferDatabase
    let failWrites = Atomic<Bool>(false)
    let writeCount = Atomic<Int>(0)
    var dialect: SQLDialectKind { inner.dialect }

    init(_ inner: any CofferDatabase) { self.inner = inner }

    func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await inner.read(body)
    }

    func write<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        writeCount.add(1, ordering: .relaxed)
        if failWrites.load(ordering: .relaxed) { throw StoreError(.queryFailed, "injected failure") }
        return try await inner.write(body)
    }

    func compact() async throws { try await inner.compact() }
    func exclusively<T: Sendable>(_ task: BackgroundTask, _ body: @Sendable () async throws -> T) async throws -> T? {
        try await inner.exclusively(task, body)
    }
    var writeExecutor: (any TaskExecutor)? { inner.writeExecutor }

    func close() async { await inner.close() }
}

/// A Coffer over a fresh data directory, with a known master key and fast bcrypt.
struct Harness {
    let directory: URL
    let database: InstrumentedDatabase
    let coffer: Coffer
    let clock: TestClock
    let masterKey: SymmetricKey

    static func make(
        directory: URL? = nil, masterKey: SymmetricKey = KeyMaterial.generate(), clock: TestClock = TestClock(),
        configure: (inout CofferSettings) -> Void = { _ in }
    ) async throws -> Harness {
        let directory =
            directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("coffer-core-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let database = InstrumentedDatabase(try await TestStore.open(directory))
        var settings = CofferSettings()
        settings.bcryptCost = 4
        configure(&settings)
        let coffer = try await Coffer.open(
            database: database, provider: LocalKeyProvider(masterKey: masterKey),
            jwtKey: SymmetricKey(data: Array("a-test-jwt-secret-of-32-characters!!".utf8)), settings: settings,
            clock: { clock.now })
        return Harness(directory: directory, database: database, coffer: coffer, clock: clock, masterKey: masterKey)
    }

    func close(removing: Bool = true) async {
        await coffer.close()
        if removing { try? FileManager.default.removeItem(at: directory) }
    }

    /// Registers a user (the first becomes admin) and returns its principal.
    func user(_ name: String) async throws -> Principal {
        let view = try await coffer.accounts.register(
            Credentials(username: name, password: "a long enough password"), caller: nil)
        return Principal(userID: view.id)
    }

    /// Runs raw SQL against the store, as an attacker with database access would.
    func tamper(_ query: SQLQueryString) async throws {
        try await database.inner.write { db in try await db.raw(query).run() }
    }
}

let origin = RequestOrigin(ipAddress: "127.0.0.1", userAgent: "tests", requestID: "req-1")

/// Every byte of every file in a folder (database, WAL, key files).
func allBytes(in directory: URL) throws -> [UInt8] {
    var bytes: [UInt8] = []
    for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
        bytes += Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }
    return bytes
}

extension Array where Element == UInt8 {
    /// Substring search in native code (a byte loop in a debug build would starve the other tests).
    func contains(subsequence needle: [UInt8]) -> Bool {
        !needle.isEmpty && Data(self).range(of: Data(needle)) != nil
    }
}
