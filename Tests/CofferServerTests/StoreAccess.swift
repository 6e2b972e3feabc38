import CofferStore
import Foundation
import Logging
import SQLKit

/// Direct access to a server's database file, as an attacker with file access would have.
struct CofferStoreAccess {
    let store: SQLiteDatabaseStore

    static func open(_ directory: URL) async throws -> CofferStoreAccess {
        CofferStoreAccess(
            store: try await SQLiteDatabaseStore.open(
                path: directory.appendingPathComponent("coffer.db").path, readerCount: 1, logger: Logger(label: "attacker")))
    }

    func copyCiphertext(from source: String, to target: String) async throws {
        try await store.write { db in
            try await db.raw(
                """
                UPDATE secret_versions SET ciphertext = (SELECT ciphertext FROM secret_versions WHERE secret_id = \(bind: source))
                WHERE secret_id = \(bind: target)
                """
            ).run()
        }
    }

    func close() async { await store.close() }
}
