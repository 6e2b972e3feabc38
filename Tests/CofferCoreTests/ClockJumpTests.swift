import CofferStore
import Foundation
import Testing

@testable import CofferCore

/// The wall clock jumps forward and back (a bad NTP step, a VM restored from a snapshot, an operator's `date -s`):
/// tokens, rotation due dates, the scheduler and audit retention follow it without mass rotation or lost records.
@Suite("Clock jumps")
struct ClockJumpTests {
    @Test("an access token survives a backward jump and expires on a forward one; a refresh then works until the session's end")
    func tokens() async throws {
        let h = try await Harness.make()
        _ = try await h.user("alice")
        let credentials = Credentials(username: "alice", password: "a long enough password")
        let grant = try await h.coffer.accounts.login(credentials, origin: origin)
        _ = try await h.coffer.accounts.authenticate(bearer: grant.accessToken)

        // Back an hour: the token was issued "in the future" and still works.
        h.clock.advance(by: -3_600)
        _ = try await h.coffer.accounts.authenticate(bearer: grant.accessToken)
        // Forward past its lifetime: expired, from the cache and from a fresh verification alike.
        h.clock.advance(by: 3_600 + TimeInterval(grant.expiresIn) + 1)
        await #expect(throws: CofferError.self) { try await h.coffer.accounts.authenticate(bearer: grant.accessToken) }
        do {
            _ = try await h.coffer.accounts.authenticate(bearer: grant.accessToken)
        } catch let error as CofferError {
            #expect(error.code == .tokenExpired)
        }
        // The session (30 days) outlives the access token: a refresh gives a working pair.
        let renewed = try await h.coffer.accounts.refresh(RefreshRequest(refreshToken: grant.refreshToken), origin: origin)
        _ = try await h.coffer.accounts.authenticate(bearer: renewed.accessToken)
        // A jump past the session's end: the refresh token is refused.
        h.clock.advance(by: 31 * 86_400)
        await #expect(throws: CofferError.self) {
            _ = try await h.coffer.accounts.refresh(RefreshRequest(refreshToken: renewed.refreshToken), origin: origin)
        }
        #expect(try await h.coffer.audit.verify().isIntact)
        await h.close()
    }

    @Test("a backward jump rotates nothing; a forward one rotates each due secret once; setting the clock right again rotates nothing more")
    func rotationAcrossJumps() async throws {
        let h = try await Harness.make()
        let owner = try await h.user("owner")
        let ws = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner).id
        var ids: [String] = []
        for i in 0..<12 {
            let secret = try await h.coffer.secrets.create(
                SecretCreate(name: "GEN_\(i)", value: nil, generate: GeneratorSpec(length: 24), rotationPolicy: "auto_30_days"),
                in: ws, by: owner, origin: origin)
            ids.append(secret.id)
        }
        func versions() async throws -> [Int] {
            var out: [Int] = []
            for id in ids { out.append(try await h.coffer.secrets.value(of: id, in: ws, by: owner, origin: origin).version) }
            return out
        }

        // A year back, and back to now: nothing is due either way.
        h.clock.advance(by: -365 * 86_400)
        #expect(await h.coffer.scheduler.tick().rotated == 0)
        #expect(try await h.coffer.secrets.rotationDue(in: ws, daysAhead: 0, by: owner, origin: origin).isEmpty)
        h.clock.advance(by: 365 * 86_400)
        #expect(await h.coffer.scheduler.tick().rotated == 0)
        #expect(try await versions() == Array(repeating: 1, count: ids.count))

        // A jump 40 days ahead: each secret is due and rotated once, and only once however often the scheduler runs.
        h.clock.advance(by: 40 * 86_400)
        #expect(await h.coffer.scheduler.tick().rotated == ids.count)
        #expect(await h.coffer.scheduler.tick().rotated == 0)
        #expect(try await versions() == Array(repeating: 2, count: ids.count))

        // The clock is set right (40 days back), then reaches that day again: the rotations stand, none repeats.
        h.clock.advance(by: -40 * 86_400)
        #expect(await h.coffer.scheduler.tick().rotated == 0)
        #expect(try await h.coffer.secrets.rotationDue(in: ws, daysAhead: 0, by: owner, origin: origin).isEmpty)
        h.clock.advance(by: 40 * 86_400)
        #expect(await h.coffer.scheduler.tick().rotated == 0)
        #expect(try await versions() == Array(repeating: 2, count: ids.count))
        #expect(try await h.coffer.audit.verify().isIntact)
        await h.close()
    }

    @Test("records stamped by a clock set back are pruned in sequence only: no record within retention is lost when the clock is corrected")
    func retentionAcrossJumps() async throws {
        let h = try await Harness.make { $0.auditRetentionDays = 30 }
        let owner = try await h.user("owner")
        let ws = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner).id
        let first = try await h.coffer.secrets.create(SecretCreate(name: "A", value: "a"), in: ws, by: owner, origin: origin)

        // The clock falls back 100 days for a while; records written then carry old times.
        h.clock.advance(by: -100 * 86_400)
        #expect(await h.coffer.scheduler.tick().pruned == 0)
        _ = try await h.coffer.secrets.create(SecretCreate(name: "B", value: "b"), in: ws, by: owner, origin: origin)
        // Corrected: the records before the jump are minutes old and stay, and so do the ones after them.
        h.clock.advance(by: 100 * 86_400)
        let before = try await h.database.read { try await AuditRepository().all(on: $0) }.count
        #expect(await h.coffer.scheduler.tick().pruned == 0)
        let after = try await h.database.read { try await AuditRepository().all(on: $0) }
        #expect(after.count == before)
        #expect(after.contains { $0.secretId == first.id && $0.action == "created" })
        #expect(try await h.coffer.audit.verify().isIntact)

        // Once retention has passed for all of them, they go together and the chain still verifies.
        h.clock.advance(by: 31 * 86_400)
        #expect(await h.coffer.scheduler.tick().pruned == before)
        #expect(try await h.coffer.audit.verify().isIntact)
        await h.close()
    }
}
