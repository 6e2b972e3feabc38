import CofferCrypto
import CofferFields
import CofferTestSupport
import Foundation
import SQLKit
import SQLiteKit
import SQLiteNIO
import Testing

/// Encrypted model fields in an application: SQLKit over SQLite, Python `cryptography` as the Fernet oracle.
@Suite("Encrypted fields")
struct EncryptedFieldTests {
    struct Account: Codable, Sendable {
        var id: String
        var provider: String
        var oauthToken: Encrypted<String>
        var scopes: Encrypted<[String]>

        enum CodingKeys: String, CodingKey { case id, provider, oauthToken = "oauth_token", scopes }
    }

    @Test("a model with encrypted fields is stored through SQLKit/SQLite, read back, and rotated to a new key; the file holds no plaintext")
    func storeReadRotate() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-fields-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("app.db").path
        let connection = try await SQLiteConnection.open(storage: .file(path: path)).get()
        let db = connection.sql()
        try await db.raw("CREATE TABLE accounts (id TEXT PRIMARY KEY, provider TEXT, oauth_token TEXT, scopes TEXT)").run()

        let old = Fernet.generateKey()
        let keys = try FieldKeys(keys: [old])
        let accounts = (1...3).map {
            Account(
                id: "a\($0)", provider: "github", oauthToken: Encrypted("gho_plaintext_token_\($0)"),
                scopes: Encrypted(["repo", "read:org-\($0)"]))
        }
        try await FieldKeys.$current.withValue(keys) {
            for account in accounts { try await db.insert(into: "accounts").model(account).run() }
            let read = try await db.select().columns("*").from("accounts").orderBy("id").all(decoding: Account.self)
            #expect(read.map(\.oauthToken.value) == accounts.map(\.oauthToken.value))
            #expect(read.map(\.scopes.value) == accounts.map(\.scopes.value))
        }
        #expect("\(accounts[0])".contains("<redacted>") && !"\(accounts[0])".contains("gho_plaintext"))

        // Rotation without downtime: the new key first, the old one still decrypting; then a batch re-encrypts.
        let new = Fernet.generateKey()
        let rotating = try FieldKeys(keys: [new, old])
        let stored = try await db.raw("SELECT id, oauth_token, scopes FROM accounts").all()
        for row in stored {
            let id = try row.decode(column: "id", as: String.self)
            let rotated = try rotating.rotate([
                try row.decode(column: "oauth_token", as: String.self), try row.decode(column: "scopes", as: String.self),
            ])
            try await db.update("accounts").set("oauth_token", to: rotated[0]).set("scopes", to: rotated[1])
                .where("id", .equal, id).run()
        }
        try await FieldKeys.$current.withValue(try FieldKeys(keys: [new])) {
            let read = try await db.select().columns("*").from("accounts").orderBy("id").all(decoding: Account.self)
            #expect(read.map(\.oauthToken.value) == accounts.map(\.oauthToken.value))
        }
        await #expect(throws: (any Error).self) {
            try await FieldKeys.$current.withValue(try FieldKeys(keys: [old])) {
                _ = try await db.select().columns("*").from("accounts").all(decoding: Account.self)
            }
        }
        try await connection.close()
        let file = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(file.range(of: Data("gho_plaintext_token".utf8)) == nil && file.range(of: Data("read:org".utf8)) == nil)
    }

    @Test("byte-compatible with Python's Fernet both ways, per-user PBKDF2 keys included")
    func pythonInterop() throws {
        let key = Fernet.generateKey()
        let keys = try FieldKeys(keys: [key])
        let encoder = JSONEncoder()
        encoder.userInfo[.cofferFieldKeys] = keys
        let token = try JSONDecoder().decode(String.self, from: encoder.encode(Encrypted("seed-003-oauth-token")))
        let reply = try Python.run(
            script: """
                import sys, base64
                from cryptography.fernet import Fernet
                from cryptography.hazmat.primitives import hashes
                from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
                f = Fernet(sys.argv[1].encode())
                assert f.decrypt(sys.argv[2].encode()) == b"seed-003-oauth-token"
                kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=b"user-1:twin-2", iterations=100000)
                derived = Fernet(base64.urlsafe_b64encode(kdf.derive(b"master-key-text")))
                print(f.encrypt(b"from-python").decode(), derived.encrypt(b"per-user-secret").decode())
                """, arguments: [key, token])
        let tokens = reply.split(separator: " ").map(String.init)
        let decoder = JSONDecoder()
        decoder.userInfo[.cofferFieldKeys] = keys
        #expect(try decoder.decode(Encrypted<String>.self, from: JSONEncoder().encode(tokens[0])).value == "from-python")
        let perUser = try FieldKeys.derived(masterKey: "master-key-text", salt: "user-1:twin-2")
        #expect(try perUser.open(tokens[1]) == Array("per-user-secret".utf8))
        #expect(throws: FieldKeyError.self) { try keys.open(tokens[1]) }
    }

    @Test("TOKEN_ENCRYPTION_KEY: required and valid in production, several keys for rotation, never printed")
    func environment() throws {
        let key = Fernet.generateKey()
        #expect(throws: FieldKeyError.self) { try FieldKeys.fromEnvironment(["ENVIRONMENT": "production"]) }
        #expect {
            try FieldKeys.fromEnvironment(["TOKEN_ENCRYPTION_KEY": "not-a-key", "ENVIRONMENT": "production"])
        } throws: { error in
            "\(error)".contains("TOKEN_ENCRYPTION_KEY") && !"\(error)".contains("not-a-key")
        }
        _ = try FieldKeys.fromEnvironment([:])  // development: a key for this process only
        let two = try FieldKeys.fromEnvironment(["TOKEN_ENCRYPTION_KEY": "\(Fernet.generateKey()),\(key)", "ENVIRONMENT": "production"])
        #expect("\(two)" == "FieldKeys(2 key(s))" && !"\(two)".contains(key))
        let old = try FieldKeys(keys: [key])
        #expect(try two.open(try old.seal(Array("x".utf8))) == Array("x".utf8))
    }
}
