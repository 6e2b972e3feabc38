import CofferStore
import Foundation
import SQLKit
import Testing

@testable import CofferCore

/// What crosses from the store into the domain: store errors arrive as domain errors.
@Suite("Store boundary")
struct StoreBoundaryTests {
    @Test("a uniqueness violation while storing a secret is secret_name_conflict")
    func uniqueRaceIsNameConflict() async throws {
        let h = try await Harness.make()
        let owner = try await h.user("owner")
        let ws = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner).id
        let existing = try await h.coffer.secrets.create(SecretCreate(name: "TAKEN", value: "v"), in: ws, by: owner, origin: origin)
        // A second live row with the name, as a racing writer that skipped the check would insert it.
        await #expect {
            try await h.coffer.secrets.writeNamed { db in
                var twin = try #require(try await SecretRepository().find(id: existing.id, workspaceID: ws, on: db))
                twin.id = UUID().uuidString
                try await SecretRepository().insert(twin, on: db)
            }
        } throws: { error in
            (error as? CofferError)?.code == .secretNameConflict
        }
        // Nothing of the failed write remains.
        let page = try await h.coffer.secrets.list(in: ws, limit: 10, offset: 0, by: owner, origin: origin)
        #expect(page.total == 1)
        await h.close()
    }

    @Test("a store that cannot be used is store_unavailable, not a store error")
    func unavailableStore() async throws {
        let h = try await Harness.make()
        let owner = try await h.user("owner")
        await h.database.inner.close()
        await #expect {
            _ = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner)
        } throws: { error in
            (error as? CofferError)?.code == .storeUnavailable
        }
        #expect(await !h.coffer.isHealthy())
        await h.close()
    }
}
