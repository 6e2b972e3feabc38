import CofferStore
import CofferTestSupport
import Foundation
import SQLKit
import Testing

@testable import CofferCore

/// Guarantees that depend on how PostgreSQL stores rows (run in `scripts/test`'s PostgreSQL pass).
@Suite("PostgreSQL store", .enabled(if: TestStore.onPostgres))
struct PostgresStoreTests {
    @Test("a purge leaves the secret's ciphertext in none of the version table's files")
    func purgeLeavesNoCiphertext() async throws {
        let h = try await Harness.make()
        let owner = try await h.user("owner")
        let ws = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner).id
        let doomed = try await h.coffer.secrets.create(
            SecretCreate(name: "DOOMED", value: "purge-me-\(UUID().uuidString)"), in: ws, by: owner, origin: origin)
        _ = try await h.coffer.secrets.rotate(doomed.id, in: ws, newValue: "second-\(UUID())", by: owner, origin: origin)
        for i in 0..<20 {
            _ = try await h.coffer.secrets.create(SecretCreate(name: "KEEP\(i)", value: "kept-\(i)"), in: ws, by: owner, origin: origin)
        }
        let ciphertexts = try await h.database.read { db in
            try await db.raw("SELECT ciphertext FROM secret_versions WHERE secret_id = \(bind: doomed.id)")
                .all(decodingColumn: "ciphertext", as: Data.self)
        }
        #expect(ciphertexts.count == 2)

        /// The version table's heap and TOAST files, after a checkpoint has written every page to them.
        func tableBytes() async throws -> Data {
            try await h.database.inner.write { db in try await db.raw("CHECKPOINT").run() }
            let paths = try await h.database.read { db -> [String] in
                let directory = try await db.raw("SELECT current_setting('data_directory') AS d")
                    .first(decodingColumn: "d", as: String.self) ?? ""
                let relations = try await db.raw(
                    """
                    SELECT pg_relation_filepath(c.oid) AS heap, pg_relation_filepath(c.reltoastrelid) AS toast
                    FROM pg_class c WHERE c.relname = 'secret_versions'
                    """
                ).first()
                let heap = try relations?.decode(column: "heap", as: String?.self)
                let toast = try relations?.decode(column: "toast", as: String?.self)
                return [heap, toast].compactMap { $0 }.map { directory + "/" + $0 }
            }
            #expect(!paths.isEmpty)
            var bytes = Data()
            for path in paths {
                bytes.append(try Data(contentsOf: URL(fileURLWithPath: path)))
            }
            return bytes
        }
        let before = try await tableBytes()
        #expect(ciphertexts.allSatisfy { before.range(of: $0) != nil }, "the check must see the ciphertexts first")

        try await h.coffer.secrets.delete(doomed.id, in: ws, purge: true, by: owner, origin: origin)
        let after = try await tableBytes()
        for ciphertext in ciphertexts {
            #expect(after.range(of: ciphertext) == nil, "a purged ciphertext is still in the table's files")
        }
        // The other secrets are untouched.
        let kept = try await h.coffer.secrets.list(in: ws, limit: 100, offset: 0, by: owner, origin: origin)
        #expect(kept.total == 20)
        await h.close()
    }
}
