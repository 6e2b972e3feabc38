import CofferCrypto
import Crypto
import Foundation
import Testing

@testable import CofferKeys

@Suite("LocalKeyProvider")
struct LocalKeyProviderTests {
    let masterKey = KeyMaterial.generate()

    @Test("wrap then unwrap returns the data key, directly and through the protocol")
    func roundTrip() async throws {
        let provider = LocalKeyProvider(masterKey: masterKey)
        #expect(provider.name == "fernet")
        for _ in 0..<4 {
            let dataKey = KeyMaterial.generate()
            let wrapped = try provider.wrap(dataKey, context: "workspace:1")
            #expect(wrapped.count == 32 + Envelope.overhead)
            #expect(try provider.unwrap(wrapped, context: "workspace:1") == dataKey)
            // The raw key never appears in the wrapped form.
            #expect(!wrapped.hex.contains(dataKey.bytes.hex))

            let generic: any KeyProvider = provider
            let wrappedAgain = try await generic.wrap(dataKey, context: "workspace:1")
            #expect(wrappedAgain != wrapped, "a fresh nonce per wrap")
            #expect(try await generic.unwrap(wrappedAgain, context: "workspace:1") == dataKey)
        }
    }

    @Test("keys of other sizes round-trip too")
    func otherSizes() throws {
        let provider = LocalKeyProvider(masterKey: masterKey)
        for size in [SymmetricKeySize.bits128, .bits192] {
            let dataKey = SymmetricKey(size: size)
            #expect(try provider.unwrap(provider.wrap(dataKey, context: "c"), context: "c") == dataKey)
        }
    }

    @Test("unwrap with another context is unwrapFailed")
    func otherContext() throws {
        let provider = LocalKeyProvider(masterKey: masterKey)
        let wrapped = try provider.wrap(KeyMaterial.generate(), context: "workspace:1")
        for other in ["workspace:2", "", "workspace:1 ", "Workspace:1", "workspace:10"] {
            let error = try #require(throws: KeyError.self) { try provider.unwrap(wrapped, context: other) }
            #expect(error.code == .unwrapFailed, "context \(other.debugDescription)")
        }
    }

    @Test("a provider with another master key cannot unwrap; one with the same master key can")
    func otherMasterKey() throws {
        let dataKey = KeyMaterial.generate()
        let wrapped = try LocalKeyProvider(masterKey: masterKey).wrap(dataKey, context: "c")
        let error = try #require(throws: KeyError.self) {
            try LocalKeyProvider(masterKey: KeyMaterial.generate()).unwrap(wrapped, context: "c")
        }
        #expect(error.code == .unwrapFailed)
        let sameMaster = LocalKeyProvider(masterKey: SymmetricKey(data: masterKey.bytes))
        #expect(try sameMaster.unwrap(wrapped, context: "c") == dataKey)
    }

    @Test("the master key itself does not encrypt: wrapped keys are sealed with the HKDF-derived KEK")
    func usesDerivedKEK() throws {
        let dataKey = KeyMaterial.generate()
        let wrapped = try LocalKeyProvider(masterKey: masterKey).wrap(dataKey, context: "ctx")
        #expect(throws: CryptoError(.integrityCheckFailed)) {
            try Envelope.open(wrapped, using: masterKey, authenticating: Array("ctx".utf8))
        }
        let kek = KeyDerivation.hkdf(masterKey, purpose: "coffer:kek:v1")
        #expect(try Envelope.open(wrapped, using: kek, authenticating: Array("ctx".utf8)) == dataKey.bytes)
    }

    @Test("changing any byte of the wrapped data, or truncating it, is unwrapFailed")
    func tampering() throws {
        let provider = LocalKeyProvider(masterKey: masterKey)
        let wrapped = try provider.wrap(KeyMaterial.generate(), context: "c")
        for index in wrapped.indices {
            for mask: UInt8 in [0x01, 0x80] {
                var tampered = wrapped
                tampered[index] ^= mask
                do {
                    _ = try provider.unwrap(tampered, context: "c")
                    Issue.record("byte \(index) altered, yet unwrap returned a key")
                } catch let error as KeyError {
                    #expect(error.code == .unwrapFailed)
                } catch {
                    Issue.record("unexpected error \(error)")
                }
            }
        }
        for length in [0, 1, 16, Envelope.overhead - 1, Envelope.overhead, wrapped.count - 1] {
            let error = try #require(throws: KeyError.self) { try provider.unwrap(wrapped.prefix(length), context: "c") }
            #expect(error.code == .unwrapFailed, "length \(length)")
        }
        let error = try #require(throws: KeyError.self) { try provider.unwrap(wrapped + Data([0]), context: "c") }
        #expect(error.code == .unwrapFailed)
    }

    @Test("errors do not carry key material")
    func errorsAreClean() throws {
        let provider = LocalKeyProvider(masterKey: masterKey)
        let dataKey = KeyMaterial.generate()
        let wrapped = try provider.wrap(dataKey, context: "a")
        let error = try #require(throws: KeyError.self) { try provider.unwrap(wrapped, context: "b") }
        let text = error.description + error.publicMessage
        for form in textForms(of: masterKey.bytes) + textForms(of: dataKey.bytes) { #expect(!text.contains(form)) }
    }

    @Test("keyID is stable, differs between master keys, and does not reveal the key")
    func keyID() {
        let provider = LocalKeyProvider(masterKey: masterKey)
        #expect(provider.keyID == LocalKeyProvider(masterKey: SymmetricKey(data: masterKey.bytes)).keyID)
        #expect(provider.keyID == "local:" + KeyMaterial.fingerprint(masterKey))
        #expect(provider.keyID.hasPrefix("local:"))
        #expect(provider.keyID.count == "local:".count + 16)
        #expect(provider.keyID != LocalKeyProvider(masterKey: KeyMaterial.generate()).keyID)
        for form in textForms(of: masterKey.bytes) {
            #expect(!provider.keyID.contains(form))
            #expect(!form.contains(provider.keyID.dropFirst("local:".count)))
        }
        #expect(!String(describing: provider).contains(Base64.encode(masterKey.bytes)))
    }

    @Test("checkHealth is true")
    func health() async {
        let provider = LocalKeyProvider(masterKey: masterKey)
        #expect(provider.checkHealth())
        let generic: any KeyProvider = provider
        #expect(await generic.checkHealth())
    }
}

@Suite("Redacted and KeySource")
struct RedactedTests {
    struct Config {
        let name: String
        let secret: Redacted<String>
    }

    @Test("Redacted prints <REDACTED> everywhere")
    func redacted() {
        let secret = "sk_live_do_not_print_me"
        let redacted = Redacted(secret)
        #expect(redacted.value == secret)
        #expect(redacted.description == "<REDACTED>")
        #expect(redacted.debugDescription == "<REDACTED>")
        #expect(String(describing: redacted) == "<REDACTED>")
        #expect(String(reflecting: redacted) == "<REDACTED>")
        #expect("\(redacted)" == "<REDACTED>")
        #expect(Mirror(reflecting: redacted).children.isEmpty)

        var dumped = ""
        dump(redacted, to: &dumped)
        #expect(dumped.contains("<REDACTED>"))
        #expect(!dumped.contains(secret))

        let config = Config(name: "api", secret: redacted)
        var dumpedConfig = ""
        dump(config, to: &dumpedConfig)
        #expect(dumpedConfig.contains("<REDACTED>"))
        #expect(dumpedConfig.contains("api"))
        #expect(!dumpedConfig.contains(secret))
        #expect(!String(describing: config).contains(secret))
        #expect(!String(reflecting: config).contains(secret))
        #expect(!"\([redacted])".contains(secret))

        let key = Redacted(KeyMaterial.generate())
        var dumpedKey = ""
        dump(key, to: &dumpedKey)
        #expect(dumpedKey.contains("<REDACTED>"))
        #expect(!dumpedKey.contains("SymmetricKey"))
    }

    @Test("KeySource describes where a key came from")
    func keySource() {
        #expect(KeySource.environment("COFFER_MASTER_KEY").description == "environment variable COFFER_MASTER_KEY")
        #expect(KeySource.file("/data/master.key").description == "file /data/master.key")
        #expect(KeySource.generated("/data/master.key").description == "new file /data/master.key")
        #expect(KeySource.file("/a") != KeySource.generated("/a"))
    }

    @Test("KeyError describes its code and message")
    func keyError() {
        let error = KeyError(.missingKey, "set COFFER_MASTER_KEY")
        #expect(error.description == "KeyError(missing_key): set COFFER_MASTER_KEY")
        #expect(KeyError.Code.unwrapFailed.description == "unwrap_failed")
    }
}
