import CofferCrypto

private let keys = try! MultiFernet([
    Fernet(key: "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="), Fernet(key: "Yh5mXxYwBOdT6iCp3gr0mJXJXoQKi2G4rc3NWXrCFEw="),
])

/// Fernet token parsing (`coffer fernet`, `coffer import`, CofferFields): any text decrypts or throws.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self)
    _ = try? keys.decrypt(text)
    _ = try? keys.decrypt(text, ttl: 60, now: 1_700_000_000)
    _ = try? keys.rotate(text)
    return 0
}
