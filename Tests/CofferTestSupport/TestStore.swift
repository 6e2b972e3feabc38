import CofferStore
import Foundation
import Logging

/// The store the tests run on: a fresh SQLite file in the test's folder, or, when `COFFER_TEST_DATABASE_URL` names a
/// PostgreSQL server (`scripts/test` starts one), a fresh database on it. The folder remembers which, so a test
/// that reopens its folder reopens the same store.
public enum TestStore {
    public static let serverURL: PostgresURL? = ProcessInfo.processInfo.environment["COFFER_TEST_DATABASE_URL"]
        .flatMap { $0.isEmpty ? nil : try? PostgresURL($0) }
    public static var onPostgres: Bool { serverURL != nil }

    /// The store of `directory`, created on first use.
    public static func location(for directory: URL) async throws -> StoreLocation {
        guard let server = serverURL else {
            return .sqlite(path: directory.appendingPathComponent("coffer.db").path)
        }
        let marker = directory.appendingPathComponent("postgres-database")
        let name: String
        if let existing = try? String(contentsOf: marker, encoding: .utf8) {
            name = existing
        } else {
            name = "coffer_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            try await PostgresDatabaseStore.createDatabase(named: name, on: server, logger: Logger(label: "test"))
            try name.write(to: marker, atomically: true, encoding: .utf8)
        }
        return .postgres(server.with(database: name), poolSize: 10, timeout: .seconds(10))
    }

    public static func open(_ directory: URL) async throws -> any CofferDatabase {
        try await location(for: directory).open(logger: Logger(label: "test"))
    }
}

