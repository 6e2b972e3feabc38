import Foundation
import SQLKit
import Testing

@testable import CofferStore

@Suite("Store copy")
struct StoreCopyTests {
    /// `storage migrate`, `backup` to another store and `restore` copy the tables StoreCopy lists: a table or column
    /// a migration adds and the list forgets would be lost silently. The list must be the migrated schema, exactly.
    @Test("StoreCopy lists every table and column of the current schema")
    func coversTheSchema() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await openStore(directory)
            let schema = try await store.read { db -> [String: Set<String>] in
                let tables = try await db.raw(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                ).all(decodingColumn: "name", as: String.self)
                var schema: [String: Set<String>] = [:]
                for table in tables {
                    schema[table] = Set(
                        try await db.raw("SELECT name FROM pragma_table_info(\(bind: table))")
                            .all(decodingColumn: "name", as: String.self))
                }
                return schema
            }
            await store.close()
            // Rebuilt by the target's triggers, and the target's own migration record.
            let notCopied: Set = ["workspace_secret_counts", "schema_migrations"]
            let listed = Dictionary(uniqueKeysWithValues: StoreCopy.tables.map { ($0.name, Set($0.columns.map(\.name))) })
            #expect(Set(listed.keys) == Set(schema.keys).subtracting(notCopied))
            for (table, columns) in schema where !notCopied.contains(table) {
                #expect(listed[table] == columns, "\(table)")
            }
        }
    }
}
