import CofferCrypto
import Crypto

private let key = try! EnvelopeKey(SymmetricKey(data: [UInt8](repeating: 9, count: 32)))

/// Vault transit ciphertexts (`vault:vN:…`): any text parses and opens, or throws.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self)
    guard let (_, sealed) = try? TransitCiphertext.parse(text) else { return 0 }
    _ = try? TransitCiphertext.open(sealed, using: key, authenticating: [])
    return 0
}
