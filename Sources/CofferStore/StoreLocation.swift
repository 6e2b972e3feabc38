import Foundation
import Logging

/// Where Coffer keeps its data, decided in this one place for the server, the CLI and the tests.
///
/// `COFFER_DATABASE_URL` (or `DATABASE_URL`) set to a `postgres://` URL selects PostgreSQL, pooled to
/// `COFFER_DATABASE_POOL_SIZE` connections (default 10) and bounded by `COFFER_DATABASE_TIMEOUT_SECONDS` (default 5);
/// otherwise the embedded SQLite file `coffer.db` in the data directory. `description` never shows a password.
public enum StoreLocation: Sendable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresURL, poolSize: Int, timeout: Duration)

    /// Reads the store from the environment; `dataDirectory` holds the SQLite file when no URL is set.
    /// - Throws: ``StoreError`` `.unavailable` for a malformed URL or setting (never quoting a password).
    public static func from(environment: [String: String], dataDirectory: String) throws -> StoreLocation {
        let url = [environment["COFFER_DATABASE_URL"], environment["DATABASE_URL"]].compactMap { $0 }
            .first { !$0.isEmpty }
        guard let url else {
            return .sqlite(path: URL(fileURLWithPath: dataDirectory).appendingPathComponent("coffer.db").path)
        }
        // The seeds' default `sqlite:///./data/app.db` means "the embedded store": Coffer's own file.
        if url.lowercased().hasPrefix("sqlite:") {
            return .sqlite(path: URL(fileURLWithPath: dataDirectory).appendingPathComponent("coffer.db").path)
        }
        func number(_ name: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
            guard let text = environment[name], !text.isEmpty else { return value }
            guard let n = Int(text), range.contains(n) else {
                throw StoreError(.unavailable, "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound).")
            }
            return n
        }
        return .postgres(
            try PostgresURL(url),
            poolSize: try number("COFFER_DATABASE_POOL_SIZE", default: 10, in: 2...1000),
            timeout: .seconds(try number("COFFER_DATABASE_TIMEOUT_SECONDS", default: 5, in: 1...600)))
    }

    /// Opens the store (creating and migrating it as needed).
    public func open(logger: Logger, readerCount: Int = 4) async throws -> any CofferDatabase {
        switch self {
        case .sqlite(let path):
            return try await SQLiteDatabaseStore.open(path: path, readerCount: readerCount, logger: logger)
        case .postgres(let url, let poolSize, let timeout):
            return try await PostgresDatabaseStore.open(url: url, poolSize: poolSize, timeout: timeout, logger: logger)
        }
    }

    /// Whether the data lives in the data directory (so the directory must exist and hold it).
    public var isEmbedded: Bool {
        if case .sqlite = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .sqlite(let path): "SQLite at \(path)"
        case .postgres(let url, _, _): "PostgreSQL at \(url)"
        }
    }
}
