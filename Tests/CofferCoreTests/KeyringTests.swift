import SQLKit
import Synchronization
import CofferCrypto
import CofferKeys
import CofferStore
import Crypto
import Foundation
import SQLKit
import Testing

@testable import CofferCore

@Suite("Keyring and integrity")
struct KeyringTests {
    func setUp() async throws -> (Harness, Principal, WorkspaceView) {
        let h = try await Harness.make()
        let owner = try await h.user("owner")
        let ws = try await h.coffer.workspaces.create(WorkspaceCreate(name: "prod"), by: owner)
        return (h, owner, ws)
    }

    func ciphertext(_ h: Harness, _ secretID: String, version: Int = 1) async throws -> Data {
        try await h.database.read { db in
            try await db.raw(
                "SELECT ciphertext FROM secret_versions WHERE secret_id = \(bind: secretID) AND version = \(bind: version)"
            ).first(decodingColumn: "ciphertext", as: Data.self)!
        }
    }

    func expectIntegrityFailure(_ h: Harness, _ ws: String, _ id: String, _ who: Principal) async {
        await #expect {
            _ = try await h.coffer.secrets.value(of: id, in: ws, by: who, origin: origin)
        } throws: { error in
            (error as? CofferError)?.code == .integrityCheckFailed
        }
    }

    @Test("flipping any byte of a stored ciphertext is detected and audited as a failed access")
    func everyByteFlipIsDetected() async throws {
        let (h, owner, ws) = try await setUp()
        let secret = try await h.coffer.secrets.create(
            SecretCreate(name: "API_KEY", value: "sk_live_0123456789"), in: ws.id, by: owner, origin: origin)
        let original = try await ciphertext(h, secret.id)
        for index in original.indices {
            var tampered = original
            tampered[index] ^= 0x01
            let bytes = tampered
            try await h.tamper("UPDATE secret_versions SET ciphertext = \(bind: bytes) WHERE secret_id = \(bind: secret.id)")
            await expectIntegrityFailure(h, ws.id, secret.id, owner)
        }
        try await h.tamper("UPDATE secret_versions SET ciphertext = \(bind: original) WHERE secret_id = \(bind: secret.id)")
        #expect(try await h.coffer.secrets.value(of: secret.id, in: ws.id, by: owner, origin: origin).value == "sk_live_0123456789")
        let trail = try await h.coffer.secrets.auditTrail(of: secret.id, in: ws.id, limit: 1000, by: owner, origin: origin)
        let failures = trail.filter { $0.action == "accessed" && !$0.success }
        #expect(failures.count == original.count)
        #expect(failures.allSatisfy { $0.details == .object(["reason": "integrity_check_failed", "version": .number(1)]) })
        await h.close()
    }

    @Test("a ciphertext moved onto another secret, version or workspace does not decrypt")
    func movedCiphertextIsDetected() async throws {
        let (h, owner, ws) = try await setUp()
        let other = try await h.coffer.workspaces.create(WorkspaceCreate(name: "other"), by: owner)
        let a = try await h.coffer.secrets.create(SecretCreate(name: "A", value: "value-a"), in: ws.id, by: owner, origin: origin)
        let b = try await h.coffer.secrets.create(SecretCreate(name: "B", value: "value-b"), in: ws.id, by: owner, origin: origin)
        let c = try await h.coffer.secrets.create(SecretCreate(name: "C", value: "value-c"), in: other.id, by: owner, origin: origin)
        _ = try await h.coffer.secrets.rotate(a.id, in: ws.id, newValue: "value-a2", by: owner, origin: origin)

        // Same workspace, other secret.
        let fromA = try await ciphertext(h, a.id)
        try await h.tamper("UPDATE secret_versions SET ciphertext = \(bind: fromA) WHERE secret_id = \(bind: b.id)")
        await expectIntegrityFailure(h, ws.id, b.id, owner)
        // Same secret, other version.
        try await h.tamper("UPDATE secret_versions SET ciphertext = \(bind: fromA) WHERE secret_id = \(bind: a.id) AND version = 2")
        await expectIntegrityFailure(h, ws.id, a.id, owner)
        // Other workspace (other DEK and other AAD).
        try await h.tamper("UPDATE secret_versions SET ciphertext = \(bind: fromA) WHERE secret_id = \(bind: c.id)")
        await expectIntegrityFailure(h, other.id, c.id, owner)
        // A wrapped DEK swapped between workspaces does not unwrap.
        await h.coffer.close()
        await h.close(removing: false)
        let h2 = try await Harness.make(directory: h.directory, masterKey: h.masterKey)
        let dekA = try await h2.database.read { db in
            try await db.raw("SELECT wrapped_key FROM workspace_keys WHERE workspace_id = \(bind: ws.id)")
                .first(decodingColumn: "wrapped_key", as: Data.self)!
        }
        try await h2.tamper("UPDATE workspace_keys SET wrapped_key = \(bind: dekA) WHERE workspace_id = \(bind: other.id)")
        try await h2.tamper("UPDATE secret_versions SET ciphertext = \(bind: try await ciphertext(h2, a.id)) WHERE secret_id = \(bind: c.id)")
        await expectIntegrityFailure(h2, other.id, c.id, owner)
        await h2.close()
    }

    @Test("no value, password or data key appears in the data directory")
    func nothingInPlaintextOnDisk() async throws {
        let (h, owner, ws) = try await setUp()
        let values = (0..<20).map { "plaintext-marker-\($0)-\(UUID().uuidString)" }
        for (i, value) in values.enumerated() {
            let s = try await h.coffer.secrets.create(SecretCreate(name: "S\(i)", value: value), in: ws.id, by: owner, origin: origin)
            #expect(try await h.coffer.secrets.value(of: s.id, in: ws.id, by: owner, origin: origin).value == value)
        }
        let disk = try allBytes(in: h.directory)
        for marker in values + ["a long enough password"] {
            #expect(!disk.contains(subsequence: Array(marker.utf8)), "\(marker) found on disk")
        }
        await h.close()
    }

    @Test("opening with another master key is refused at start-up")
    func wrongMasterKeyRefused() async throws {
        let (h, _, _) = try await setUp()
        await h.close(removing: false)
        await #expect {
            _ = try await Harness.make(directory: h.directory, masterKey: KeyMaterial.generate())
        } throws: { error in
            guard let error = error as? KeyError else { return false }
            return error.code == .wrongKey && error.publicMessage.contains("COFFER_MASTER_KEY")
        }
        let again = try await Harness.make(directory: h.directory, masterKey: h.masterKey)
        await again.close()
    }
}
