import CofferCore

/// The .env parser (`coffer import`): any bytes give entries or a parse error, never a crash or a hang; what it
/// parses renders and parses back to the same entries.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self)
    guard let entries = try? Dotenv.parse(text) else { return 0 }
    let names = entries.map(\.name)
    let values = entries.map(\.value)
    // render keeps the last of a repeated name, as a shell would: compare against that.
    var last: [String: String] = [:]
    for (name, value) in zip(names, values) { last[name] = value }
    guard entries.allSatisfy({ Dotenv.isVariableName($0.name) }) else { return 0 }
    let rendered = Dotenv.render(entries)
    guard let again = try? Dotenv.parse(rendered) else { fatalError("rendered .env does not parse: \(rendered.debugDescription)") }
    for (name, value) in again where last[name] != value {
        fatalError("\(name) changed in the round trip: \(value.debugDescription) vs \(String(describing: last[name]).debugDescription)")
    }
    return 0
}
