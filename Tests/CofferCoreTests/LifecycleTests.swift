import CofferCrypto
import CofferKeys
import CofferStore
import CofferTestSupport
import Crypto
import Foundation
import SQLKit
import Testing

@testable import CofferCore

@Suite("Rotation, key rotation, retention")
struct LifecycleTests {
    func setUp(_ h: Harness) async throws -> (Principal, String) {
        let owner = try await h.user("owner")
        let ws = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner)
        return (owner, ws.id)
    }

    @Test("rotation-due honours every policy at its boundary", arguments: RotationPolicy.allCases)
    func dueBoundaries(policy: RotationPolicy) async throws {
        let h = try await Harness.make()
        let (owner, ws) = try await setUp(h)
        let s = try await h.coffer.secrets.create(
            SecretCreate(name: "S", value: "v", rotationPolicy: policy.rawValue), in: ws, by: owner, origin: origin)
        guard let days = policy.days else {
            #expect(s.rotationDueAt == nil)
            h.clock.advance(by: 400 * 86_400)
            #expect(try await h.coffer.secrets.rotationDue(in: ws, daysAhead: 0, by: owner, origin: origin).isEmpty)
            await h.close()
            return
        }
        #expect(s.rotationDueAt == s.lastRotatedAt!.addingTimeInterval(TimeInterval(days) * 86_400))
        // One second before the due time: not due with days_ahead=0, due with days_ahead=1.
        h.clock.advance(by: TimeInterval(days) * 86_400 - 1)
        #expect(try await h.coffer.secrets.rotationDue(in: ws, daysAhead: 0, by: owner, origin: origin).isEmpty)
        #expect(try await h.coffer.secrets.rotationDue(in: ws, daysAhead: 1, by: owner, origin: origin).map(\.id) == [s.id])
        // At the due time it is due; a rotation restarts the period.
        h.clock.advance(by: 1)
        #expect(try await h.coffer.secrets.rotationDue(in: ws, daysAhead: 0, by: owner, origin: origin).map(\.id) == [s.id])
        let stats = try await h.coffer.secrets.statistics(in: ws, by: owner, origin: origin)
        #expect(stats.overdue == 1)
        _ = try await h.coffer.secrets.rotate(s.id, in: ws, newValue: "v2", by: owner, origin: origin)
        #expect(try await h.coffer.secrets.rotationDue(in: ws, daysAhead: 0, by: owner, origin: origin).isEmpty)
        await h.close()
    }

    @Test("the scheduler rotates a due generated secret, audited as the system, and leaves the others alone")
    func schedulerRotatesGenerated() async throws {
        let h = try await Harness.make()
        let (owner, ws) = try await setUp(h)
        let generated = try await h.coffer.secrets.create(
            SecretCreate(name: "GEN", value: nil, generate: GeneratorSpec(length: 24), rotationPolicy: "auto_30_days"),
            in: ws, by: owner, origin: origin)
        let manualGenerated = try await h.coffer.secrets.create(
            SecretCreate(name: "GEN_MANUAL", value: nil, generate: GeneratorSpec(), rotationPolicy: "manual"),
            in: ws, by: owner, origin: origin)
        let given = try await h.coffer.secrets.create(
            SecretCreate(name: "GIVEN", value: "user-value", rotationPolicy: "auto_30_days"), in: ws, by: owner, origin: origin)
        let before = try await h.coffer.secrets.value(of: generated.id, in: ws, by: owner, origin: origin).value
        #expect(before.count == 24)

        var report = await h.coffer.scheduler.tick()
        #expect(report.rotated == 0)
        h.clock.advance(by: 30 * 86_400 + 1)
        report = await h.coffer.scheduler.tick()
        #expect(report.rotated == 1)
        #expect(report.counts.overdue == 1)  // GIVEN is overdue and must be rotated by a person
        let after = try await h.coffer.secrets.value(of: generated.id, in: ws, by: owner, origin: origin)
        #expect(after.version == 2)
        #expect(after.value != before && after.value.count == 24)
        #expect(try await h.coffer.secrets.value(of: manualGenerated.id, in: ws, by: owner, origin: origin).version == 1)
        #expect(try await h.coffer.secrets.value(of: given.id, in: ws, by: owner, origin: origin).value == "user-value")
        let trail = try await h.coffer.secrets.auditTrail(of: generated.id, in: ws, limit: 10, by: owner, origin: origin)
        let rotation = try #require(trail.first { $0.action == "rotated" })
        #expect(rotation.userID == nil)
        #expect(rotation.details == .object(["by": "rotation_scheduler", "generated": .bool(true), "version": .number(2)]))
        // Not due again until another period has passed.
        #expect(await h.coffer.scheduler.tick().rotated == 0)
        await h.close()
    }

    @Test("a DEK rotation interrupted after a few batches resumes on the next start and loses nothing")
    func reencryptionResumes() async throws {
        let h = try await Harness.make()
        let (owner, ws) = try await setUp(h)
        let other = try await h.coffer.workspaces.create(WorkspaceCreate(name: "other"), by: owner).id
        var expected: [(String, String, String)] = []
        for i in 0..<120 {
            let target = i % 2 == 0 ? ws : other
            let value = "value-\(i)-\(UUID().uuidString)"
            let s = try await h.coffer.secrets.create(SecretCreate(name: "S\(i)", value: value), in: target, by: owner, origin: origin)
            expected.append((target, s.id, value))
        }
        let job = try await h.coffer.keyRotation.rotateKey(workspaceID: nil, by: owner.userID, origin: origin)
        #expect(job.total == 120)
        #expect(job.status == .running)
        // New writes use the new key at once.
        let fresh = try await h.coffer.secrets.create(SecretCreate(name: "NEW", value: "new-value"), in: ws, by: owner, origin: origin)
        let freshDEK = try await h.database.read { db in
            try await db.raw("SELECT dek_version FROM secret_versions WHERE secret_id = \(bind: fresh.id)")
                .first(decodingColumn: "dek_version", as: Int.self)
        }
        #expect(freshDEK == 2)
        // Run two batches of the default size (1,000 > 120 would finish): use a small-batch coffer instead.
        await h.close(removing: false)
        var settings = CofferSettings()
        settings.bcryptCost = 4
        settings.reencryptionBatchSize = 25
        let store = try await TestStore.open(h.directory)
        let interrupted = try await Coffer.open(
            database: store, provider: LocalKeyProvider(masterKey: h.masterKey), jwtKey: SymmetricKey(size: .bits256),
            settings: settings)
        let running = try #require(try await store.read { try await KeyRotationRepository().running(on: $0) }.first)
        #expect(try await interrupted.keyRotation.runJob(running, maxBatches: 2) == 2)
        let midway = try await interrupted.admin.rotationStatus(by: owner, origin: origin).jobs.first!
        #expect(midway.done == 50 && midway.status == .running)
        // Reads keep working mid-job, from both key versions.
        for (target, id, value) in expected {
            #expect(try await interrupted.secrets.value(of: id, in: target, by: owner, origin: origin).value == value)
        }
        await interrupted.close()

        // "Restart": a new Coffer over the same files resumes the job to completion.
        let h2 = try await Harness.make(directory: h.directory, masterKey: h.masterKey)
        try await h2.coffer.keyRotation.runPending()
        let done = try await h2.coffer.admin.rotationStatus(by: owner, origin: origin)
        #expect(done.inProgress == false)
        #expect(done.jobs.first?.status == .completed)
        #expect(done.jobs.first?.done == 120)
        let stale = try await h2.database.read { try await KeyRotationRepository().countStale(workspaceID: nil, on: $0) }
        #expect(stale == 0)
        for (target, id, value) in expected {
            #expect(try await h2.coffer.secrets.value(of: id, in: target, by: owner, origin: origin).value == value)
        }
        let states = try await h2.database.read { db in
            try await db.raw("SELECT state FROM workspace_keys ORDER BY workspace_id, version").all(decodingColumn: "state", as: String.self)
        }
        #expect(states.sorted() == ["active", "active", "retired", "retired"])
        await h2.close()
    }

    @Test("keys left retiring by a completed job (its last step failed) are retired by the background service")
    func retiringKeysAreRetiredLater() async throws {
        let h = try await Harness.make()
        let (owner, ws) = try await setUp(h)
        _ = try await h.coffer.secrets.create(SecretCreate(name: "S", value: "v"), in: ws, by: owner, origin: origin)
        _ = try await h.coffer.keyRotation.rotateKey(workspaceID: nil, by: owner.userID, origin: origin)
        try await h.coffer.keyRotation.runPending()
        func states() async throws -> [String] {
            try await h.database.read { db in
                try await db.raw("SELECT state FROM workspace_keys ORDER BY version").all(decodingColumn: "state", as: String.self)
            }
        }
        #expect(try await states() == ["retired", "active"])
        // As if the job's final write had failed after the job was marked completed.
        try await h.tamper("UPDATE workspace_keys SET state = 'retiring' WHERE state = 'retired'")
        let service = Task { try await h.coffer.keyRotation.run() }
        let deadline = ContinuousClock.now + .seconds(20)
        while try await states() != ["retired", "active"], ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        service.cancel()
        _ = await service.result
        #expect(try await states() == ["retired", "active"])
        #expect(try await h.coffer.secrets.list(in: ws, limit: 10, offset: 0, by: owner, origin: origin).total == 1)
        await h.close()
    }

    @Test("a version that fails its integrity check is left under its old key and counted; the job re-seals the rest")
    func reencryptionSkipsDamagedVersions() async throws {
        let h = try await Harness.make()
        let (owner, ws) = try await setUp(h)
        var ids: [String] = []
        for i in 0..<30 {
            ids.append(try await h.coffer.secrets.create(SecretCreate(name: "S\(i)", value: "v\(i)"), in: ws, by: owner, origin: origin).id)
        }
        // Flip the last byte of one stored ciphertext (its tag).
        let target = ids[7]
        var damaged = try await h.database.read { db in
            try await db.raw("SELECT ciphertext FROM secret_versions WHERE secret_id = \(bind: target)")
                .first(decodingColumn: "ciphertext", as: Data.self)!
        }
        damaged[damaged.count - 1] ^= 0x01
        let bytes = damaged
        try await h.tamper("UPDATE secret_versions SET ciphertext = \(bind: bytes) WHERE secret_id = \(bind: target)")
        await #expect(throws: CofferError.self) {
            try await h.coffer.secrets.value(of: ids[7], in: ws, by: owner, origin: origin)
        }
        _ = try await h.coffer.keyRotation.rotateKey(workspaceID: nil, by: owner.userID, origin: origin)
        try await h.coffer.keyRotation.runPending()
        let job = try #require(try await h.coffer.admin.rotationStatus(by: owner, origin: origin).jobs.first)
        #expect(job.status == .completed && job.total == 30 && job.done == 30 && job.failed == 1)
        let deks = try await h.database.read { db in
            try await db.raw("SELECT secret_id, dek_version FROM secret_versions").all().map {
                (try $0.decode(column: "secret_id", as: String.self), try $0.decode(column: "dek_version", as: Int.self))
            }
        }
        for (secret, dek) in deks { #expect(dek == (secret == ids[7] ? 1 : 2), "\(secret)") }
        for (i, id) in ids.enumerated() where i != 7 {
            #expect(try await h.coffer.secrets.value(of: id, in: ws, by: owner, origin: origin).value == "v\(i)")
        }
        // The old key still seals a version, so it is not retired.
        let states = try await h.database.read { db in
            try await db.raw("SELECT state FROM workspace_keys ORDER BY version").all(decodingColumn: "state", as: String.self)
        }
        #expect(states == ["retiring", "active"])
        let trail = try await h.coffer.secrets.auditTrail(of: ids[7], in: ws, limit: 10, by: owner, origin: origin)
        let failure = try #require(trail.first { $0.action == "rotated" })
        #expect(failure.success == false)
        #expect(try await h.coffer.audit.verify().isIntact)
        await h.close()
    }

    @Test("master-key rotation rewraps data keys once; the old key alone is then refused")
    func masterKeyRotation() async throws {
        let h = try await Harness.make()
        let (owner, ws) = try await setUp(h)
        let s = try await h.coffer.secrets.create(SecretCreate(name: "K", value: "kept"), in: ws, by: owner, origin: origin)
        await h.close(removing: false)
        let newKey = KeyMaterial.generate()
        let store = try await TestStore.open(h.directory)
        let before = try await store.read { db in
            try await db.raw("SELECT ciphertext FROM secret_versions").all(decodingColumn: "ciphertext", as: Data.self)
        }
        let rotated = try await Coffer.open(
            database: store, provider: LocalKeyProvider(masterKey: newKey),
            previousProvider: LocalKeyProvider(masterKey: h.masterKey), jwtKey: SymmetricKey(size: .bits256))
        #expect(try await rotated.secrets.value(of: s.id, in: ws, by: owner, origin: origin).value == "kept")
        #expect(try await rotated.audit.verify().isIntact)
        let after = try await store.read { db in
            try await db.raw("SELECT ciphertext FROM secret_versions").all(decodingColumn: "ciphertext", as: Data.self)
        }
        #expect(before == after)  // secrets were not re-encrypted, only the data keys rewrapped
        await rotated.close()
        // The new key alone works; the old one alone is refused.
        let again = try await Harness.make(directory: h.directory, masterKey: newKey)
        #expect(try await again.coffer.secrets.value(of: s.id, in: ws, by: owner, origin: origin).value == "kept")
        await again.close(removing: false)
        await #expect {
            _ = try await Harness.make(directory: h.directory, masterKey: h.masterKey)
        } throws: { error in
            (error as? KeyError)?.code == .wrongKey
        }
        try? FileManager.default.removeItem(at: h.directory)
    }

    @Test("retention prunes old records and keeps the chain verifiable from a checkpoint")
    func retention() async throws {
        let h = try await Harness.make()
        let (owner, ws) = try await setUp(h)
        let s = try await h.coffer.secrets.create(SecretCreate(name: "K", value: "v"), in: ws, by: owner, origin: origin)
        for _ in 0..<3 { _ = try await h.coffer.secrets.value(of: s.id, in: ws, by: owner, origin: origin) }
        h.clock.advance(by: 366 * 86_400)
        for _ in 0..<2 { _ = try await h.coffer.secrets.value(of: s.id, in: ws, by: owner, origin: origin) }
        // The owner's registration, the create and three reads.
        #expect(try await h.coffer.audit.prune(olderThanDays: 365) == 5)
        let result = try await h.coffer.audit.verify()
        #expect(result.isIntact)
        #expect(result.checked == 2)
        // Tampering after a prune is still found; so is a forged checkpoint.
        try await h.tamper("UPDATE secret_audits SET success = FALSE WHERE seq = 6")
        #expect(try await h.coffer.audit.verify().firstBadSequence == 6)
        try await h.tamper("UPDATE secret_audits SET success = TRUE WHERE seq = 6")
        #expect(try await h.coffer.audit.verify().isIntact)
        try await h.tamper("UPDATE coffer_meta SET value = \(bind: Data(repeating: 1, count: 72)) WHERE key = 'audit_checkpoint'")
        #expect(try await !h.coffer.audit.verify().isIntact)
        await h.close()
    }

    @Test("the JSON-lines audit file receives every record once, in order, with no values, and resumes")
    func auditFile() async throws {
        let h = try await Harness.make()
        let (owner, ws) = try await setUp(h)
        let path = h.directory.appendingPathComponent("audit.jsonl").path
        let exporter = AuditFileExporter(path: path, database: h.database, logger: .init(label: "test"))
        let s = try await h.coffer.secrets.create(SecretCreate(name: "K", value: "jsonl-secret-value"), in: ws, by: owner, origin: origin)
        _ = try await h.coffer.secrets.value(of: s.id, in: ws, by: owner, origin: origin)
        // The owner's registration, the create and the read.
        #expect(try await exporter.exportPending() == 3)
        #expect(try await exporter.exportPending() == 0)
        _ = try await h.coffer.secrets.rotate(s.id, in: ws, newValue: "jsonl-second-value", by: owner, origin: origin)
        // A new exporter (a restart) continues after the last line.
        let restarted = AuditFileExporter(path: path, database: h.database, logger: .init(label: "test"))
        #expect(try await restarted.exportPending() == 1)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 4)
        let sequences = try lines.map { line -> Int in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            #expect((object["mac"] as? String)?.count == 64)
            return object["sequence"] as! Int
        }
        #expect(sequences == [1, 2, 3, 4])
        #expect(!text.contains("jsonl-secret-value") && !text.contains("jsonl-second-value"))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        await h.close()
    }

    @Test("with auditing disabled, operations work and nothing is recorded")
    func auditDisabled() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-noaudit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try await TestStore.open(directory)
        var settings = CofferSettings()
        settings.bcryptCost = 4
        settings.auditEnabled = false
        let coffer = try await Coffer.open(
            database: store, provider: LocalKeyProvider(masterKey: KeyMaterial.generate()),
            jwtKey: SymmetricKey(size: .bits256), settings: settings)
        let owner = Principal(userID: try await coffer.accounts.register(Credentials(username: "owner", password: "a long enough password"), caller: nil).id)
        let ws = try await coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner).id
        let s = try await coffer.secrets.create(SecretCreate(name: "K", value: "v"), in: ws, by: owner, origin: origin)
        #expect(try await coffer.secrets.value(of: s.id, in: ws, by: owner, origin: origin).value == "v")
        #expect(try await store.read { try await AuditRepository().all(on: $0) }.isEmpty)
        await coffer.close()
    }

    @Test("versions beyond the configured limit are destroyed")
    func versionLimit() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-versions-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try await TestStore.open(directory)
        var settings = CofferSettings()
        settings.bcryptCost = 4
        settings.maxVersions = 3
        let coffer = try await Coffer.open(
            database: store, provider: LocalKeyProvider(masterKey: KeyMaterial.generate()),
            jwtKey: SymmetricKey(size: .bits256), settings: settings)
        let owner = Principal(userID: try await coffer.accounts.register(Credentials(username: "owner", password: "a long enough password"), caller: nil).id)
        let ws = try await coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner).id
        let s = try await coffer.secrets.create(SecretCreate(name: "K", value: "v1"), in: ws, by: owner, origin: origin)
        for i in 2...5 { _ = try await coffer.secrets.rotate(s.id, in: ws, newValue: "v\(i)", by: owner, origin: origin) }
        let versions = try await coffer.secrets.versions(of: s.id, in: ws, by: owner, origin: origin)
        #expect(versions.map(\.version) == [5, 4, 3])
        await #expect {
            _ = try await coffer.secrets.value(of: s.id, in: ws, version: 2, by: owner, origin: origin)
        } throws: { error in
            (error as? CofferError)?.code == .secretNotFound
        }
        #expect(try await coffer.secrets.value(of: s.id, in: ws, version: 3, by: owner, origin: origin).value == "v3")
        await coffer.close()
    }
}
