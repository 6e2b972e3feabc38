import SQLKit
import Synchronization
import CofferStore
import Crypto
import Foundation
import SQLKit
import Testing

@testable import CofferCore

@Suite("Audit log")
struct AuditTests {
    @Test("a value is not returned when its audit record cannot be written")
    func failClosed() async throws {
        let h = try await Harness.make()
        let owner = try await h.user("owner")
        let ws = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner)
        let s = try await h.coffer.secrets.create(SecretCreate(name: "K", value: "v1"), in: ws.id, by: owner, origin: origin)
        h.database.failWrites.store(true, ordering: .relaxed)
        await #expect {
            _ = try await h.coffer.secrets.value(of: s.id, in: ws.id, by: owner, origin: origin)
        } throws: { error in
            (error as? CofferError)?.code == .auditUnavailable
        }
        h.database.failWrites.store(false, ordering: .relaxed)
        #expect(try await h.coffer.secrets.value(of: s.id, in: ws.id, by: owner, origin: origin).value == "v1")
        await h.close()
    }

    @Test("concurrent reads share audit commits (group commit), and every read is recorded")
    func groupCommit() async throws {
        let h = try await Harness.make()
        let owner = try await h.user("owner")
        let ws = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner)
        let s = try await h.coffer.secrets.create(SecretCreate(name: "K", value: "v1"), in: ws.id, by: owner, origin: origin)
        let before = h.database.writeCount.load(ordering: .relaxed)
        let reads = 200
        try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<reads {
                group.addTask { try await h.coffer.secrets.value(of: s.id, in: ws.id, by: owner, origin: origin).value }
            }
            for try await value in group { #expect(value == "v1") }
        }
        let commits = h.database.writeCount.load(ordering: .relaxed) - before
        #expect(commits < reads)
        let trail = try await h.coffer.secrets.auditTrail(of: s.id, in: ws.id, limit: 1000, by: owner, origin: origin)
        #expect(trail.filter { $0.action == "accessed" && $0.success }.count == reads)
        await h.close()
    }

    @Test("the chain MAC's message layout is fixed: records written by earlier builds still verify")
    func macLayout() throws {
        let key = SymmetricKey(data: Array(0..<32) as [UInt8])
        let previous = Data(repeating: 0xAB, count: 32)
        let record = AuditRecord(
            seq: 42, id: "id-1", workspaceId: "ws", secretId: nil, action: "accessed", userId: "u", ipAddress: "::1",
            userAgent: nil, requestId: "r", details: #"{"é":1}"#, success: true, createdAt: 1_763_916_348_001, mac: Data())
        // Written out by hand: the previous MAC, then each field as a 4-byte big-endian length and its UTF-8 bytes,
        // or FF FF FF FF for none.
        var expected = HMAC<SHA256>(key: key)
        expected.update(data: previous)
        for field in ["42", "id-1", "ws", nil, "accessed", "u", "::1", nil, "r", #"{"é":1}"#, "1", "1763916348001"] {
            guard let field else {
                expected.update(data: [0xFF, 0xFF, 0xFF, 0xFF])
                continue
            }
            let bytes = Array(field.utf8)
            expected.update(data: withUnsafeBytes(of: UInt32(bytes.count).bigEndian, Array.init))
            expected.update(data: bytes)
        }
        #expect(AuditLog.mac(of: record, previous: previous, keyed: HMAC<SHA256>(key: key)) == Data(expected.finalize()))
        // The log starts every MAC from one keyed HMAC it keeps: using it never changes it.
        let keyed = HMAC<SHA256>(key: key)
        for _ in 0..<3 {
            #expect(AuditLog.mac(of: record, previous: previous, keyed: keyed) == Data(expected.finalize()))
        }
    }

    @Test("every single-record edit, deletion or swap breaks the chain")
    func chainDetectsTampering() async throws {
        let h = try await Harness.make()
        let owner = try await h.user("owner")
        let ws = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner)
        let s = try await h.coffer.secrets.create(SecretCreate(name: "K", value: "v1"), in: ws.id, by: owner, origin: origin)
        for _ in 0..<5 { _ = try await h.coffer.secrets.value(of: s.id, in: ws.id, by: owner, origin: origin) }
        let intact = try await h.coffer.audit.verify()
        #expect(intact.isIntact)
        #expect(intact.checked == 7)  // the owner's registration, the create, five reads

        let records = try await h.database.read { try await AuditRepository().all(on: $0) }
        func restore() async throws {
            try await h.tamper("DELETE FROM secret_audits")
            for record in records { try await h.database.inner.write { try await AuditRepository().insert(record, on: $0) } }
            #expect(try await h.coffer.audit.verify().isIntact)
        }
        for record in records {
            try await h.tamper("UPDATE secret_audits SET success = \(bind: !record.success) WHERE seq = \(bind: record.seq)")
            #expect(try await h.coffer.audit.verify().firstBadSequence == record.seq)
            try await restore()
            try await h.tamper("UPDATE secret_audits SET user_agent = 'forged' WHERE seq = \(bind: record.seq)")
            #expect(try await h.coffer.audit.verify().firstBadSequence == record.seq)
            try await restore()
            try await h.tamper("DELETE FROM secret_audits WHERE seq = \(bind: record.seq)")
            #expect(try await !h.coffer.audit.verify().isIntact)
            try await restore()
        }
        // Swap two neighbouring records' contents (keeping their sequence numbers).
        for (a, b) in zip(records, records.dropFirst()) {
            try await h.tamper("DELETE FROM secret_audits WHERE seq IN (\(bind: a.seq), \(bind: b.seq))")
            var x = b
            x.seq = a.seq
            var y = a
            y.seq = b.seq
            let (first, second) = (x, y)
            try await h.database.inner.write { db in
                try await AuditRepository().insert(first, on: db)
                try await AuditRepository().insert(second, on: db)
            }
            #expect(try await !h.coffer.audit.verify().isIntact)
            try await restore()
        }
        await h.close()
    }

    @Test("audit records never contain the value")
    func noValuesInAudit() async throws {
        let h = try await Harness.make()
        let owner = try await h.user("owner")
        let ws = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner)
        let s = try await h.coffer.secrets.create(SecretCreate(name: "K", value: "first-secret-value"), in: ws.id, by: owner, origin: origin)
        _ = try await h.coffer.secrets.update(s.id, in: ws.id, with: SecretPatch(value: "second-secret-value"), by: owner, origin: origin)
        _ = try await h.coffer.secrets.rotate(s.id, in: ws.id, newValue: "third-secret-value", by: owner, origin: origin)
        _ = try await h.coffer.secrets.value(of: s.id, in: ws.id, by: owner, origin: origin)
        try await h.coffer.secrets.delete(s.id, in: ws.id, by: owner, origin: origin)
        let records = try await h.database.read { try await AuditRepository().all(on: $0) }
        #expect(records.map(\.action) == ["registered", "created", "updated", "rotated", "accessed", "deleted"])
        for record in records {
            #expect(!record.details.contains("secret-value"))
        }
        await h.close()
    }
}
