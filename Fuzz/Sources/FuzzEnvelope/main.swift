import CofferCrypto
import Crypto

private let key = SymmetricKey(data: [UInt8](repeating: 7, count: 32))

/// Stored-value envelopes: any bytes open (only if sealed with the key) or throw; never crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: data, count: count))
    _ = try? Envelope.open(bytes, using: key, authenticating: [UInt8]("secret-id".utf8))
    _ = try? Envelope.open(bytes, using: { $0 == 1 ? key : nil }, authenticating: [UInt8]())
    return 0
}
