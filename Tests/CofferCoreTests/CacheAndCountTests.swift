import CofferCore
import CofferCrypto
import CofferStore
import Foundation
import SQLKit
import Testing

/// The speed work of issue 6 must not weaken a guarantee: cached sessions and roles never outlive a revocation
/// made through this instance, and the trigger-kept secret count always equals a real count.
@Suite("authorization caches and live counts")
struct CacheAndCountTests {
    func code(of body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch let error as CofferError {
            return error.code.rawValue
        } catch {
            return "\(error)"
        }
    }

    @Test("a removed member or a lowered role is refused at once, even right after a cached read")
    func membershipChangesApplyAtOnce() async throws {
        let h = try await Harness.make()
        let owner = try await h.user("owner")
        let member = Principal(
            userID: try await h.coffer.accounts.register(
                Credentials(username: "member", password: "a long enough password"), caller: owner
            ).id)
        let ws = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner).id
        let secret = try await h.coffer.secrets.create(SecretCreate(name: "A", value: "v"), in: ws, by: owner, origin: origin)
        _ = try await h.coffer.workspaces.addMember(MemberAdd(username: "member", role: "writer"), to: ws, by: owner, origin: origin)
        // Reads and a write as a writer put the role in the cache.
        #expect(try await h.coffer.secrets.value(of: secret.id, in: ws, by: member, origin: origin).value == "v")
        _ = try await h.coffer.secrets.create(SecretCreate(name: "B", value: "w"), in: ws, by: member, origin: origin)

        _ = try await h.coffer.workspaces.addMember(MemberAdd(username: "member", role: "reader"), to: ws, by: owner, origin: origin)
        #expect(
            await code { _ = try await h.coffer.secrets.create(SecretCreate(name: "C", value: "x"), in: ws, by: member, origin: origin) }
                == "forbidden")
        #expect(try await h.coffer.secrets.value(of: secret.id, in: ws, by: member, origin: origin).value == "v")

        let members = try await h.coffer.workspaces.members(of: ws, by: owner, origin: origin)
        let memberID = try #require(members.first { $0.username == "member" }?.userID)
        try await h.coffer.workspaces.removeMember(memberID, from: ws, by: owner, origin: origin)
        #expect(
            await code { _ = try await h.coffer.secrets.value(of: secret.id, in: ws, by: member, origin: origin) }
                == "workspace_not_found")
        await h.close()
    }

    @Test("a role removed behind the server's back (another process) is seen once the cache time has passed")
    func externalChangesAreSeenAfterTheTTL() async throws {
        let h = try await Harness.make()
        let owner = try await h.user("owner")
        let ws = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner).id
        let secret = try await h.coffer.secrets.create(SecretCreate(name: "A", value: "v"), in: ws, by: owner, origin: origin)
        #expect(try await h.coffer.secrets.value(of: secret.id, in: ws, by: owner, origin: origin).value == "v")
        try await h.tamper("DELETE FROM memberships WHERE workspace_id = \(bind: ws)")
        h.clock.advance(by: CofferSettings().authorizationCacheSeconds + 0.5)
        #expect(
            await code { _ = try await h.coffer.secrets.value(of: secret.id, in: ws, by: owner, origin: origin) }
                == "workspace_not_found")
        await h.close()
    }

    @Test("logout and a password change end cached sessions at once; a session revoked elsewhere ends after the TTL")
    func sessionsEndAtOnce() async throws {
        let h = try await Harness.make()
        _ = try await h.user("owner")
        let credentials = Credentials(username: "owner", password: "a long enough password")

        let first = try await h.coffer.accounts.login(credentials)
        let principal = try await h.coffer.accounts.authenticate(bearer: first.accessToken)
        _ = try await h.coffer.accounts.authenticate(bearer: first.accessToken)
        try await h.coffer.accounts.logout(principal)
        #expect(await code { _ = try await h.coffer.accounts.authenticate(bearer: first.accessToken) } == "invalid_token")

        let second = try await h.coffer.accounts.login(credentials)
        let third = try await h.coffer.accounts.login(credentials)
        let caller = try await h.coffer.accounts.authenticate(bearer: second.accessToken)
        _ = try await h.coffer.accounts.authenticate(bearer: third.accessToken)
        try await h.coffer.accounts.changePassword(
            PasswordChange(currentPassword: "a long enough password", newPassword: "another long password"), for: caller)
        #expect(await code { _ = try await h.coffer.accounts.authenticate(bearer: second.accessToken) } == "invalid_token")
        #expect(await code { _ = try await h.coffer.accounts.authenticate(bearer: third.accessToken) } == "invalid_token")

        let fourth = try await h.coffer.accounts.login(
            Credentials(username: "owner", password: "another long password"))
        _ = try await h.coffer.accounts.authenticate(bearer: fourth.accessToken)
        try await h.tamper("UPDATE sessions SET revoked_at = 1, revoked_reason = 'external'")
        h.clock.advance(by: CofferSettings().authorizationCacheSeconds + 0.5)
        #expect(await code { _ = try await h.coffer.accounts.authenticate(bearer: fourth.accessToken) } == "invalid_token")
        await h.close()
    }

    @Test("an unfiltered list's total is the real number of live secrets through create, import, delete, restore and purge")
    func liveCountsStayExact() async throws {
        let h = try await Harness.make()
        let owner = try await h.user("owner")
        let ws = try await h.coffer.workspaces.create(WorkspaceCreate(name: "w"), by: owner).id
        let other = try await h.coffer.workspaces.create(WorkspaceCreate(name: "o"), by: owner).id

        func check(_ workspace: String) async throws {
            let listed = try await h.coffer.secrets.list(in: workspace, limit: 1, offset: 0, by: owner, origin: origin).total
            let counted = try await h.database.read { db in
                try await db.raw(
                    "SELECT COUNT(*) AS n FROM secrets WHERE workspace_id = \(bind: workspace) AND deleted_at IS NULL"
                ).first(decodingColumn: "n", as: Int.self)
            }
            #expect(listed == counted)
        }

        try await check(ws)
        var ids: [String] = []
        for i in 0..<5 {
            ids.append(try await h.coffer.secrets.create(SecretCreate(name: "S\(i)", value: "v\(i)"), in: ws, by: owner, origin: origin).id)
        }
        _ = try await h.coffer.secrets.create(SecretCreate(name: "X", value: "x"), in: other, by: owner, origin: origin)
        try await check(ws)
        try await check(other)
        _ = try await h.coffer.secrets.importBatch(
            SecretBatch(items: (0..<7).map { SecretImportItem(name: "I\($0)", value: "i") }), in: ws, by: owner, origin: origin)
        // Overwrites and skips change nothing.
        _ = try await h.coffer.secrets.importBatch(
            SecretBatch(items: [SecretImportItem(name: "I0", value: "new"), SecretImportItem(name: "J", value: "j")], overwrite: true),
            in: ws, by: owner, origin: origin)
        try await check(ws)
        #expect(try await h.coffer.secrets.list(in: ws, limit: 1, offset: 0, by: owner, origin: origin).total == 13)

        try await h.coffer.secrets.delete(ids[0], in: ws, by: owner, origin: origin)
        try await h.coffer.secrets.delete(ids[1], in: ws, purge: true, by: owner, origin: origin)
        try await check(ws)
        _ = try await h.coffer.secrets.restore(ids[0], in: ws, by: owner, origin: origin)
        try await check(ws)
        try await h.coffer.secrets.delete(ids[0], in: ws, by: owner, origin: origin)
        try await h.coffer.secrets.delete(ids[0], in: ws, purge: true, by: owner, origin: origin)
        try await check(ws)
        #expect(try await h.coffer.secrets.list(in: ws, limit: 1, offset: 0, by: owner, origin: origin).total == 11)
        // A page past the end has no row to carry the count, and still reports it.
        let beyond = try await h.coffer.secrets.list(in: ws, limit: 5, offset: 11, by: owner, origin: origin)
        #expect(beyond.items.isEmpty && beyond.total == 11)
        #expect(try await h.coffer.secrets.list(in: ws, limit: 5, offset: 10, by: owner, origin: origin).items.count == 1)
        try await check(other)
        await h.close()
    }
}
