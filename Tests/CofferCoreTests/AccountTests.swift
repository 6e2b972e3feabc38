import CofferStore
import SQLKit
import Synchronization
import CofferCrypto
import Crypto
import Foundation
import Testing

@testable import CofferCore

@Suite("Accounts and tokens")
struct AccountTests {
    @Test("tokens expire after JWT_EXPIRE_MINUTES")
    func expiry() async throws {
        let h = try await Harness.make()
        _ = try await h.user("alice")
        let grant = try await h.coffer.accounts.login(Credentials(username: "alice", password: "a long enough password"))
        #expect(grant.expiresIn == 15 * 60)
        _ = try await h.coffer.accounts.authenticate(bearer: grant.accessToken)
        h.clock.advance(by: 15 * 60 + 1)
        await #expect {
            _ = try await h.coffer.accounts.authenticate(bearer: grant.accessToken)
        } throws: { error in
            (error as? CofferError)?.code == .tokenExpired
        }
        await h.close()
    }

    @Test("a token signed with another key is refused")
    func forged() async throws {
        let h = try await Harness.make()
        let forger = CompactJWT(key: SymmetricKey(size: .bits256))
        struct Claims: Codable { let sub: String; let iat: Int64; let exp: Int64; let iss: String; let jti: String }
        let now = Int64(h.clock.now.timeIntervalSince1970)
        let token = try forger.sign(Claims(sub: "x", iat: now, exp: now + 60, iss: "coffer", jti: "j"))
        await #expect {
            _ = try await h.coffer.accounts.authenticate(bearer: token)
        } throws: { error in
            (error as? CofferError)?.code == .invalidToken
        }
        await h.close()
    }

    @Test("bcrypt hashes only: the password is not stored")
    func passwordHashed() async throws {
        let h = try await Harness.make()
        _ = try await h.user("alice")
        let hash = try await h.database.read { db in
            try await db.raw("SELECT password_hash FROM users").first(decodingColumn: "password_hash", as: String.self)
        }
        #expect(hash?.hasPrefix("$2") == true)
        #expect(hash?.contains("a long enough password") == false)
        await h.close()
    }

    @Test("usernames are unique without regard to case; accounts that already clash are reported and sign in by exact spelling")
    func caseInsensitiveUsernames() async throws {
        let h = try await Harness.make()
        let alice = try await h.user("alice")
        for other in ["Alice", "ALICE", " alice "] {
            await #expect {
                _ = try await h.coffer.accounts.register(Credentials(username: other, password: "a long enough password"), caller: alice)
            } throws: { ($0 as? CofferError)?.code == .usernameTaken }
        }
        let grant = try await h.coffer.accounts.login(Credentials(username: "ALICE", password: "a long enough password"))
        #expect(try await h.coffer.accounts.authenticate(bearer: grant.accessToken).userID == alice.userID)

        // Two accounts made before the rule (written straight into the store).
        for (id, name) in [("u-bob-upper", "Bob"), ("u-bob-lower", "bob")] {
            try await h.tamper(
                """
                INSERT INTO users (id, username, password_hash, is_admin, created_at, password_changed_at)
                SELECT \(bind: id), \(bind: name), password_hash, \(bind: false), created_at, password_changed_at
                FROM users WHERE username = 'alice'
                """)
        }
        let clashes = try await h.database.read { try await UserRepository().caseClashes(on: $0) }
        #expect(clashes.map(\.username) == ["bob"] && clashes.first?.accounts == 2)
        for (name, id) in [("Bob", "u-bob-upper"), ("bob", "u-bob-lower")] {
            let login = try await h.coffer.accounts.login(Credentials(username: name, password: "a long enough password"))
            #expect(try await h.coffer.accounts.authenticate(bearer: login.accessToken).userID == id, "\(name)")
        }
        await h.close()
    }
}
