import CofferCrypto
import Crypto
import Foundation
import Logging
import Testing

@testable import CofferKeys

@Suite("KeyLoader: master key")
struct MasterKeyLoaderTests {
    func loader(_ environment: [String: String], _ directory: URL, logs: LogCapture = LogCapture()) -> KeyLoader {
        KeyLoader(environment: environment, dataDirectory: directory, logger: logs.logger())
    }

    func contents(of directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path)
    }

    @Test("COFFER_MASTER_KEY takes precedence over SECRET_ENCRYPTION_KEY and ENCRYPTION_KEY holding the same key")
    func precedence() throws {
        try withTemporaryDirectory { dir in
            let bytes = SecureRandom.bytes(32)
            // The same key in three different spellings.
            let environment = [
                "ENCRYPTION_KEY": Base64.encode(bytes),
                "SECRET_ENCRYPTION_KEY": Base64.encode(bytes, urlSafe: true, padded: false),
                "COFFER_MASTER_KEY": Base64.encode(bytes, urlSafe: true),
            ]
            let (key, source) = try loader(environment, dir).masterKey()
            #expect(key.bytes == bytes)
            #expect(source == .environment("COFFER_MASTER_KEY"))

            var seedsOnly = environment
            seedsOnly["COFFER_MASTER_KEY"] = nil
            #expect(try loader(seedsOnly, dir).masterKey().source == .environment("SECRET_ENCRYPTION_KEY"))
            // Blank values count as unset.
            seedsOnly["COFFER_MASTER_KEY"] = "   "
            #expect(try loader(seedsOnly, dir).masterKey().source == .environment("SECRET_ENCRYPTION_KEY"))
            #expect(try contents(of: dir).isEmpty)
        }
    }

    @Test("each variable works alone", arguments: KeyLoader.masterKeyVariables)
    func eachAlias(name: String) throws {
        try withTemporaryDirectory { dir in
            let bytes = SecureRandom.bytes(32)
            let logs = LogCapture()
            let (key, source) = try loader([name: " " + Base64.encode(bytes) + "\n"], dir, logs: logs).masterKey()
            #expect(key.bytes == bytes)
            #expect(source == .environment(name))
            #expect(source.description == "environment variable \(name)")
            #expect(try contents(of: dir).isEmpty, "nothing is written when the key comes from the environment")
            for form in textForms(of: bytes) { #expect(!logs.text.contains(form)) }
        }
    }

    @Test(
        "two variables set to different keys is invalidKey naming both",
        arguments: [
            ("COFFER_MASTER_KEY", "SECRET_ENCRYPTION_KEY"), ("COFFER_MASTER_KEY", "ENCRYPTION_KEY"),
            ("SECRET_ENCRYPTION_KEY", "ENCRYPTION_KEY"), ("COFFER_MASTER_KEY", "FOSSAWORK_MASTER_KEY"),
            ("FOSSAWORK_MASTER_KEY", "TOKEN_ENCRYPTION_KEY"),
        ])
    func conflicting(first: String, second: String) throws {
        try withTemporaryDirectory { dir in
            let a = KeyMaterial.encode(KeyMaterial.generate())
            let b = KeyMaterial.encode(KeyMaterial.generate())
            let error = try #require(throws: KeyError.self) { try loader([first: a, second: b], dir).masterKey() }
            #expect(error.code == .invalidKey)
            let message = error.publicMessage
            #expect(message.contains(first))
            #expect(message.contains(second))
            #expect(!message.contains(a) && !message.contains(b))
            #expect(!error.description.contains(a))
            #expect(try contents(of: dir).isEmpty)
        }
    }

    @Test(
        "a value that is not base64 of 32 bytes is invalidKey naming the variable, without the value",
        arguments: KeyLoader.masterKeyVariables)
    func invalidValue(name: String) throws {
        try withTemporaryDirectory { dir in
            let badValues = [
                "hunter2-is-my-master-key!!", Base64.encode(SecureRandom.bytes(31)),
                Base64.encode(SecureRandom.bytes(33)), SecureRandom.bytes(32).hex,
            ]
            for bad in badValues {
                let error = try #require(throws: KeyError.self) { try loader([name: bad], dir).masterKey() }
                #expect(error.code == .invalidKey)
                let message = error.publicMessage
                #expect(message.contains(name), "\(message)")
                #expect(!message.contains(bad))
                #expect(!message.contains(String(bad.prefix(12))))
                #expect(!error.description.contains(bad))
            }
            #expect(try contents(of: dir).isEmpty)
        }
    }

    @Test("an invalid lower-precedence variable is not ignored when a higher one is valid")
    func invalidLowerPrecedence() throws {
        try withTemporaryDirectory { dir in
            let environment = ["COFFER_MASTER_KEY": KeyMaterial.encode(KeyMaterial.generate()), "ENCRYPTION_KEY": "garbage"]
            let error = try #require(throws: KeyError.self) { try loader(environment, dir).masterKey() }
            #expect(error.code == .invalidKey)
            #expect(error.publicMessage.contains("ENCRYPTION_KEY"))
        }
    }

    @Test("without configuration a key is generated into master.key (0400), then read back from it")
    func generatesThenReuses() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("master.key").path
            let logs = LogCapture()
            let first = try loader([:], dir, logs: logs).masterKey()
            #expect(first.source == .generated(path))
            #expect(first.key.bitCount == 256)
            #expect(try posixPermissions(path) == 0o400)
            let fileText = try String(contentsOfFile: path, encoding: .utf8)
            #expect(fileText == KeyMaterial.encode(first.key) + "\n")
            #expect(try KeyMaterial.parseKey(fileText) == first.key)
            // The operator is told to back the file up; the log names the path, never the key.
            #expect(logs.text.contains("BACK THIS FILE UP"))
            #expect(logs.text.contains(path))
            for form in textForms(of: first.key.bytes) { #expect(!logs.text.contains(form)) }

            let second = try loader([:], dir).masterKey()
            #expect(second.key == first.key)
            #expect(second.source == .file(path))
            #expect(try String(contentsOfFile: path, encoding: .utf8) == fileText)
            #expect(try contents(of: dir) == ["master.key"])
        }
    }

    @Test("two data directories get different generated keys")
    func generatedKeysDiffer() throws {
        let a = try withTemporaryDirectory { try loader([:], $0).masterKey().key }
        let b = try withTemporaryDirectory { try loader([:], $0).masterKey().key }
        #expect(a != b)
    }

    @Test("an existing master.key written by an operator is used, whatever its encoding")
    func readsOperatorFile() throws {
        try withTemporaryDirectory { dir in
            let bytes = SecureRandom.bytes(32)
            let path = dir.appendingPathComponent("master.key").path
            try Data((Base64.encode(bytes) + "\n").utf8).write(to: URL(fileURLWithPath: path))
            let (key, source) = try loader([:], dir).masterKey()
            #expect(key.bytes == bytes)
            #expect(source == .file(path))
        }
    }

    @Test(
        "a corrupt master.key is invalidKey and is left alone",
        arguments: ["corrupted!", "", "\n", Base64.encode([UInt8](repeating: 7, count: 31)), "AAAA"])
    func corruptFile(text: String) throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("master.key")
            try Data(text.utf8).write(to: url)
            let error = try #require(throws: KeyError.self) { try loader([:], dir).masterKey() }
            #expect(error.code == .invalidKey)
            #expect(error.publicMessage.contains(url.path))
            #expect(try Data(contentsOf: url) == Data(text.utf8), "the corrupt file must not be replaced")
        }
    }

    @Test("an unwritable data directory is keyFileError", .enabled(if: getuid() != 0, "root ignores permissions"))
    func unwritableDirectory() throws {
        try withTemporaryDirectory { dir in
            try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: dir.path)
            defer { try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: dir.path) }
            let error = try #require(throws: KeyError.self) { try loader([:], dir).masterKey() }
            #expect(error.code == .keyFileError)
        }
    }

    @Test("a missing data directory is keyFileError")
    func missingDirectory() throws {
        try withTemporaryDirectory { dir in
            let missing = dir.appendingPathComponent("does-not-exist")
            let error = try #require(throws: KeyError.self) { try loader([:], missing).masterKey() }
            #expect(error.code == .keyFileError)
        }
    }

    @Test(
        "production without a key is missingKey naming COFFER_MASTER_KEY, and writes nothing",
        arguments: [
            ["ENVIRONMENT": "production"], ["ENVIRONMENT": "prod"], ["ENVIRONMENT": "PRODUCTION"],
            ["COFFER_ENV": "production"], ["ENVIRONMENT": "production", "COFFER_MASTER_KEY": "  "],
        ])
    func productionRequiresKey(environment: [String: String]) throws {
        try withTemporaryDirectory { dir in
            let loader = self.loader(environment, dir)
            #expect(loader.isProduction)
            let error = try #require(throws: KeyError.self) { try loader.masterKey() }
            #expect(error.code == .missingKey)
            #expect(error.publicMessage.contains("COFFER_MASTER_KEY"))
            #expect(try contents(of: dir).isEmpty)
        }
    }

    @Test("production with a configured key works")
    func productionWithKey() throws {
        try withTemporaryDirectory { dir in
            let bytes = SecureRandom.bytes(32)
            let environment = ["ENVIRONMENT": "production", "COFFER_MASTER_KEY": Base64.encode(bytes)]
            let (key, source) = try loader(environment, dir).masterKey()
            #expect(key.bytes == bytes)
            #expect(source == .environment("COFFER_MASTER_KEY"))
            #expect(try contents(of: dir).isEmpty)
        }
    }

    @Test("isProduction reads ENVIRONMENT and COFFER_ENV")
    func isProduction() throws {
        let dir = FileManager.default.temporaryDirectory
        #expect(!loader([:], dir).isProduction)
        #expect(!loader(["ENVIRONMENT": "development"], dir).isProduction)
        #expect(!loader(["ENVIRONMENT": "staging"], dir).isProduction)
        #expect(loader(["ENVIRONMENT": "Prod"], dir).isProduction)
        #expect(loader(["COFFER_ENV": "prod", "ENVIRONMENT": "development"], dir).isProduction)
    }
}

@Suite("KeyLoader: JWT secret")
struct JWTSecretLoaderTests {
    func loader(_ environment: [String: String], _ directory: URL, logs: LogCapture = LogCapture()) -> KeyLoader {
        KeyLoader(environment: environment, dataDirectory: directory, logger: logs.logger())
    }

    @Test("JWT_SECRET_KEY shorter than 32 characters is invalidKey, without the value in the message")
    func tooShort() throws {
        try withTemporaryDirectory { dir in
            let short = "s3cr3t-but-only-31-characters!!"
            #expect(short.utf8.count == 31)
            let error = try #require(throws: KeyError.self) { try loader(["JWT_SECRET_KEY": short], dir).jwtSecret() }
            #expect(error.code == .invalidKey)
            #expect(error.publicMessage.contains("JWT_SECRET_KEY"))
            #expect(!error.publicMessage.contains(short))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        }
    }

    @Test("JWT_SECRET_KEY of 32 or more characters is used as the HMAC key bytes")
    func fromEnvironment() throws {
        try withTemporaryDirectory { dir in
            for secret in [String(repeating: "k", count: 32), SecureRandom.bytes(32).hex] {
                let (key, source) = try loader(["JWT_SECRET_KEY": secret, "ENVIRONMENT": "production"], dir).jwtSecret()
                #expect(key.bytes == Array(secret.utf8))
                #expect(source == .environment("JWT_SECRET_KEY"))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        }
    }

    @Test("without configuration a secret is generated into jwt.secret (0400), then reused")
    func generatesThenReuses() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("jwt.secret").path
            let logs = LogCapture()
            let first = try loader([:], dir, logs: logs).jwtSecret()
            #expect(first.source == .generated(path))
            #expect(try posixPermissions(path) == 0o400)
            let fileText = try String(contentsOfFile: path, encoding: .utf8)
            let secret = fileText.trimmingCharacters(in: .newlines)
            #expect(secret.count == 64)
            #expect(secret.allSatisfy { "0123456789abcdef".contains($0) })
            #expect(first.key.bytes == Array(secret.utf8))
            #expect(!logs.text.contains(secret))

            let second = try loader([:], dir).jwtSecret()
            #expect(second.key == first.key)
            #expect(second.source == .file(path))
            #expect(try String(contentsOfFile: path, encoding: .utf8) == fileText)

            // A token signed with the first load verifies with the second.
            let token = try CompactJWT(key: first.key).sign(["sub": "u"])
            #expect(try CompactJWT(key: second.key).verify(token, as: [String: String].self) == ["sub": "u"])
        }
    }

    @Test("a jwt.secret shorter than 32 characters is invalidKey")
    func shortFile() throws {
        try withTemporaryDirectory { dir in
            try Data("short\n".utf8).write(to: dir.appendingPathComponent("jwt.secret"))
            let error = try #require(throws: KeyError.self) { try loader([:], dir).jwtSecret() }
            #expect(error.code == .invalidKey)
        }
    }

    @Test("production without JWT_SECRET_KEY is missingKey and writes nothing")
    func productionRequiresSecret() throws {
        try withTemporaryDirectory { dir in
            let environment = ["ENVIRONMENT": "production", "COFFER_MASTER_KEY": KeyMaterial.encode(KeyMaterial.generate())]
            let error = try #require(throws: KeyError.self) { try loader(environment, dir).jwtSecret() }
            #expect(error.code == .missingKey)
            #expect(error.publicMessage.contains("JWT_SECRET_KEY"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        }
    }

    @Test("the JWT secret and the master key are independent files")
    func independentFiles() throws {
        try withTemporaryDirectory { dir in
            let master = try loader([:], dir).masterKey()
            let jwt = try loader([:], dir).jwtSecret()
            #expect(master.key != jwt.key)
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == ["master.key", "jwt.secret"])
        }
    }
}
