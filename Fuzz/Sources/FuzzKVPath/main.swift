@testable import CofferCore

/// KV v2 paths (`/v1/<mount>/data/<path>`): any text is accepted or refused, never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self)
    try? KVService.validatePath(text)
    try? KVService.validateDuration(text)
    return 0
}
