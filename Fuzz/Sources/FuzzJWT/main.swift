import CofferCrypto
import Crypto

private let jwt = CompactJWT(key: SymmetricKey(data: [UInt8]("a-fuzzing-jwt-secret-of-32-characters".utf8)))

private struct Claims: Decodable {
    let sub: String
    let exp: Int64
    let sid: String?
}

/// Access-token parsing: any text verifies (only if signed with the key) or throws.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self)
    _ = try? jwt.verify(text, as: Claims.self)
    return 0
}
