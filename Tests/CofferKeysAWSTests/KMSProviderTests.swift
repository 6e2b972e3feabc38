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

    @Test(
        "a KMS that refuses connections or never answers costs one timeout in all, however many attempts are allowed",
        .timeLimit(.minutes(1)))
    func oneDeadlinePerCall() async throws {
        // A listener that never accepts: connections complete in the kernel's backlog and are never answered.
        let silent = try LoopbackListener()
        defer { silent.close() }
        // A port nothing listens on: connections are refused.
        let refusedPort = try LoopbackListener().closedPort()
        for (what, port) in [("silent", silent.port), ("refused", refusedPort)] {
            var configuration = try KMSConfiguration.from(environment: [
                "AWS_KMS_KEY_ID": "alias/coffer", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                "AWS_SECRET_ACCESS_KEY": "not-a-real-secret", "AWS_ENDPOINT_URL_KMS": "http://127.0.0.1:\(port)",
            ])
            configuration.timeout = .seconds(1)
            configuration.attempts = 10
            let kms = KMSKeyProvider(configuration)
            let started = ContinuousClock.now
            await #expect {
                try await kms.wrap(SymmetricKey(size: .bits256), context: "coffer:dek:ws1:1")
            } throws: { ($0 as? KeyError)?.code == .providerUnavailable }
            let took = ContinuousClock.now - started
            // Ten attempts of a second each, with their pauses, took over ten seconds before; the margin is for a
            // loaded test process.
            #expect(took < .seconds(6), "\(what): \(took)")
        }
    }
}
