import CofferKeys
import CofferTestSupport
import Crypto
import Foundation
import Testing

@testable import CofferKeysAWS

/// The `aws_kms` provider against moto_server with every request's signature checked.
@Suite("AWS KMS provider against moto")
struct KMSProviderTests {
    func provider(_ moto: MotoServer, secret: String? = nil, keyID: String? = nil) throws -> KMSKeyProvider {
        var environment = moto.environment
        if let secret { environment["AWS_SECRET_ACCESS_KEY"] = secret }
        if let keyID { environment["AWS_KMS_KEY_ID"] = keyID }
        var configuration = try KMSConfiguration.from(environment: environment)
        configuration.timeout = .seconds(2)
        configuration.attempts = 2
        return KMSKeyProvider(configuration)
    }

    @Test("wraps and unwraps under its context; another context, a wrong secret key or a stopped KMS are refused")
    func roundTripAndRefusals() async throws {
        let moto = try await MotoServer.start()
        defer { moto.stop() }
        let kms = try provider(moto)
        #expect(await kms.checkHealth())
        let key = SymmetricKey(size: .bits256)
        let wrapped = try await kms.wrap(key, context: "coffer:dek:ws1:1")
        #expect(try await kms.unwrap(wrapped, context: "coffer:dek:ws1:1") == key)
        await #expect {
            try await kms.unwrap(wrapped, context: "coffer:dek:ws2:1")
        } throws: { ($0 as? KeyError)?.code == .unwrapFailed }

        // A wrong secret key: moto checks the signature and refuses (403), and the provider says so.
        let forged = try provider(moto, secret: "not-the-secret")
        await #expect {
            try await forged.wrap(key, context: "coffer:dek:ws1:1")
        } throws: { error in
            guard let error = error as? KeyError, error.code == .providerUnavailable else { return false }
            return error.publicMessage.contains("credentials") && !error.publicMessage.contains("not-the-secret")
        }
        #expect(await !forged.checkHealth())
        let missing = try provider(moto, keyID: "alias/does-not-exist")
        await #expect(throws: KeyError.self) { try await missing.wrap(key, context: "x") }

        // KMS gone: bounded retries, then providerUnavailable.
        moto.stop()
        let started = ContinuousClock.now
        await #expect {
            try await kms.unwrap(wrapped, context: "coffer:dek:ws1:1")
        } throws: { ($0 as? KeyError)?.code == .providerUnavailable }
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(await !kms.checkHealth())
    }
}
