import CofferCore
import NIOCore

@testable import CofferServer

/// JSON request bodies: any bytes decode or give the API's clear error (400/422), never a crash; the
/// duplicate-key scanner never crashes on any bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: count)
    let body = ByteBuffer(bytes: bytes)
    _ = DuplicateKeys.first(in: bytes)
    _ = try? JSONCoding.decode(SecretCreate.self, body: body)
    _ = try? JSONCoding.decode(SecretBatch.self, body: body)
    _ = try? JSONCoding.decode(LoginRequest.self, body: body)
    return 0
}
