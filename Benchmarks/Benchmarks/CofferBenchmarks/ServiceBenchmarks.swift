import Benchmark
import CofferCore
import CofferCrypto
import CofferJSON
import CofferKeys
import CofferServer
import CofferStore
import Foundation
import Logging

/// Coffer's own share of a request, without the HTTP stack: the same service calls and JSON the server makes for
/// a list and a secret read, on a real SQLite file (durable commits, audit on) holding 10,000 secrets. The
/// difference between these and the `wrk` figures is the HTTP stack's and the load generator's.
func registerServiceBenchmarks() {
    let fixture = ServiceFixture()

    Benchmark("list 10 of 10,000 secrets: service + JSON") { benchmark in
        let (coffer, principal, workspace, _) = try await fixture.ready()
        for _ in benchmark.scaledIterations {
            let page = try await coffer.secrets.list(
                in: workspace, limit: 10, offset: 0, by: principal, origin: ServiceFixture.origin)
            var json = JSONWriter()
            page.write(to: &json)
            blackHole(json.bytes)
        }
    }

    // One caller at a time, so every read waits for its own durable audit commit (no group to share it with): the
    // figure is mostly the commit's wait for the disk, the allocation count is the read's own.
    Benchmark("audited secret read, one caller: service + JSON") { benchmark in
        let (coffer, principal, workspace, ids) = try await fixture.ready()
        for index in benchmark.scaledIterations {
            let value = try await coffer.secrets.value(
                of: ids[index % ids.count], in: workspace, by: principal, origin: ServiceFixture.origin)
            var json = JSONWriter()
            value.write(to: &json)
            blackHole(json.bytes)
        }
    }
}

/// A Coffer on a fresh data directory (one per machine, under the temporary directory, made anew by each run) with
/// one admin, one workspace and 10,000 secrets, made on first use: the harness runs only the benchmarks it is
/// asked for, and the crypto ones need none of this.
final class ServiceFixture: @unchecked Sendable {
    static let origin = RequestOrigin(ipAddress: "127.0.0.1", userAgent: "benchmark", requestID: "benchmark")
    private var made: (Coffer, Principal, String, [String])?
    private let lock = NSLock()

    func ready() async throws -> (Coffer, Principal, String, [String]) {
        if let made = lock.withLock({ made }) { return made }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-bench-service")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try await SQLiteDatabaseStore.open(
            path: directory.appendingPathComponent("coffer.db").path, logger: Logger(label: "benchmark"))
        var settings = CofferSettings()
        settings.bcryptCost = 4
        let coffer = try await Coffer.open(
            database: store, provider: LocalKeyProvider(masterKey: KeyMaterial.generate()),
            jwtKey: KeyMaterial.generate(), settings: settings)
        let user = try await coffer.accounts.register(
            Credentials(username: "bench", password: "bench-password-123"), caller: nil)
        let principal = Principal(userID: user.id)
        let workspace = try await coffer.workspaces.create(WorkspaceCreate(name: "bench"), by: principal).id
        for first in stride(from: 0, to: 10_000, by: 5_000) {
            let items = (first..<first + 5_000).map { (n: Int) -> SecretImportItem in
                let digits = String(n)
                let name = "S" + String(repeating: "0", count: 7 - digits.count) + digits
                let value = digits + String(repeating: "x", count: 100 - digits.count)
                return SecretImportItem(name: name, value: value, secretType: "api_key")
            }
            _ = try await coffer.secrets.importBatch(
                SecretBatch(items: items), in: workspace, by: principal, origin: Self.origin)
        }
        var ids: [String] = []
        for offset in stride(from: 0, to: 10_000, by: 1_000) {
            ids += try await coffer.secrets.list(
                in: workspace, limit: 1_000, offset: offset, by: principal, origin: Self.origin
            ).items.map(\.id)
        }
        let result = (coffer, principal, workspace, ids)
        lock.withLock { made = result }
        return result
    }
}
