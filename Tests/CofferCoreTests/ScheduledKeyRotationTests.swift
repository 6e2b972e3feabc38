import CofferStore
import Foundation
import Testing

@testable import CofferCore

@Suite("Scheduled data-key rotation")
struct ScheduledKeyRotationTests {
    let origin = RequestOrigin(ipAddress: "127.0.0.1", userAgent: "tests", requestID: "r")

    @Test("COFFER_KEY_ROTATION_DAYS: a key older than the period is rotated once by the scheduler, audited; a clock set back rotates nothing")
    func rotatesOncePerPeriod() async throws {
        let h = try await Harness.make { $0.keyRotationDays = 90 }
        let owner = try await h.user("owner")
        let ws = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner)
        let secret = try await h.coffer.secrets.create(SecretCreate(name: "K", value: "kept-value"), in: ws.id, by: owner, origin: origin)

        #expect(await h.coffer.scheduler.tick().keysRotated == 0)
        h.clock.advance(by: 89 * 86_400)
        #expect(await h.coffer.scheduler.tick().keysRotated == 0)
        h.clock.advance(by: 2 * 86_400)
        #expect(await h.coffer.scheduler.tick().keysRotated == 1)
        // The new key is new: the next ticks of this period rotate nothing.
        #expect(await h.coffer.scheduler.tick().keysRotated == 0)
        h.clock.advance(by: -200 * 86_400)
        #expect(await h.coffer.scheduler.tick().keysRotated == 0)
        h.clock.advance(by: 200 * 86_400)
        #expect(h.coffer.scheduler.scheduledKeyRotations == 1)

        let status = try await h.coffer.keyRotation.status()
        #expect(status.contains { $0.workspaceID == ws.id })
        let records = try await h.database.read { try await AuditRepository().all(on: $0) }
        let rotations = records.filter { $0.action == "rotated" && $0.userId == RotationScheduler.actor }
        #expect(rotations.count == 1 && rotations.first?.workspaceId == ws.id)
        try await h.coffer.keyRotation.runPending()
        #expect(try await h.coffer.secrets.value(of: secret.id, in: ws.id, by: owner, origin: origin).value == "kept-value")
        await h.close()
    }

    @Test("without the setting the scheduler never rotates keys")
    func offByDefault() async throws {
        let h = try await Harness.make()
        let owner = try await h.user("owner")
        _ = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner)
        h.clock.advance(by: 1_000 * 86_400)
        #expect(await h.coffer.scheduler.tick().keysRotated == 0)
        await h.close()
    }
}
