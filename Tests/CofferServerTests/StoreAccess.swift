import CofferStore
import CofferTestSupport
import Foundation
import Logging
import SQLKit

/// Direct access to a server's database, as an attacker with access to it would have.
struct CofferStoreAccess {
    let store: any CofferDatabase

    static func open(_ directory: URL) async throws -> CofferStoreAccess {
        CofferStoreAccess(store: try await TestStore.open(directory))
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
