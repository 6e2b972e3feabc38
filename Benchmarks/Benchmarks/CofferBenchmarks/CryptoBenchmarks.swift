import Benchmark
import CofferCore
import CofferCrypto
import Crypto
import Foundation

/// The payload every crypto benchmark uses, the size of a typical API key (issue 6's 100 B row).
let payload100 = [UInt8](repeating: 0x61, count: 100)

func registerCryptoBenchmarks() {
    let key = KeyMaterial.generate()
    let aad = Array("coffer:secret:ws:secret:1".utf8)

    // With the data key prepared once, as the keyring holds it for every secret read and write.
    let prepared = try! EnvelopeKey(key)
    Benchmark("envelope seal+open 100 B") {
        benchmark in
        for _ in benchmark.scaledIterations {
            let sealed = try Envelope.seal(payload100, using: prepared, keyVersion: 1, authenticating: aad)
            blackHole(try Envelope.open(sealed, using: prepared, authenticating: aad))
        }
    }

    // swift-crypto alone, for the envelope's own share of the time.
    Benchmark("swift-crypto AES.GCM seal+open 100 B (no envelope)") { benchmark in
        for _ in benchmark.scaledIterations {
            let box = try AES.GCM.seal(payload100, using: key, authenticating: aad)
            blackHole(try AES.GCM.open(box, using: key, authenticating: aad))
        }
    }

    let fernet = try! Fernet(key: key)
    Benchmark("fernet encrypt+decrypt 100 B") {
        benchmark in
        for _ in benchmark.scaledIterations {
            let token = try fernet.encrypt(payload100)
            blackHole(try fernet.decrypt(token))
        }
    }
}

func registerTokenBenchmarks() {
    let jwt = CompactJWT(key: KeyMaterial.generate())
    let token = try! jwt.sign(
        AccessTokenClaims(
            sub: UUID().uuidString, sid: UUID().uuidString, iat: 1_800_000_000, exp: 1_800_000_900, iss: "coffer",
            jti: UUID().uuidString))
    // Done on every authenticated request.
    Benchmark("access token verify (HS256 + claims)") {
        benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try jwt.verify(token, as: AccessTokenClaims.self))
        }
    }
}
