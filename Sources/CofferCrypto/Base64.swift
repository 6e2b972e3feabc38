/// Base64 (RFC 4648) with the standard and the url-safe alphabets, on bytes.
///
/// Written on bytes because Foundation's string replacing is slow on Linux and tokens sit on the hot path.
public enum Base64 {
    private static let standard = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlSafe = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let decodeTable = table(for: standard + Array("-_".utf8))
    private static let urlSafeDecodeTable = table(for: urlSafe)

    /// Value of each byte in `alphabet` (the 64 characters, then any aliases for 62 and 63); `0xFF` elsewhere.
    private static func table(for alphabet: [UInt8]) -> [UInt8] {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i < 64 ? i : 62 + (i - 64)) }
        return table
    }

    /// Encodes bytes; `urlSafe` picks `-_` instead of `+/`, `padded` adds `=` to a multiple of four.
    public static func encode(_ bytes: some Collection<UInt8>, urlSafe: Bool = false, padded: Bool = true) -> String {
        let input = bytes as? [UInt8] ?? Array(bytes)
        let rest = input.count % 3
        let count = input.count / 3 * 4 + (rest == 0 ? 0 : padded ? 4 : rest + 1)
        let alphabet = urlSafe ? Self.urlSafe : Self.standard
        return String(unsafeUninitializedCapacity: count) { out in
            alphabet.withUnsafeBufferPointer { table in
                input.withUnsafeBufferPointer { b in
                    var i = 0
                    var o = 0
                    while i + 3 <= b.count {
                        let chunk = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
                        out[o] = table[Int(chunk >> 18)]
                        out[o + 1] = table[Int(chunk >> 12 & 0x3F)]
                        out[o + 2] = table[Int(chunk >> 6 & 0x3F)]
                        out[o + 3] = table[Int(chunk & 0x3F)]
                        i += 3
                        o += 4
                    }
                    guard rest > 0 else { return }
                    let chunk = UInt32(b[i]) << 16 | (rest == 2 ? UInt32(b[i + 1]) << 8 : 0)
                    out[o] = table[Int(chunk >> 18)]
                    out[o + 1] = table[Int(chunk >> 12 & 0x3F)]
                    o += 2
                    if rest == 2 {
                        out[o] = table[Int(chunk >> 6 & 0x3F)]
                        o += 1
                    }
                    while o < count {
                        out[o] = UInt8(ascii: "=")
                        o += 1
                    }
                }
            }
            return count
        }
    }

    /// Decodes either alphabet (or a mix; with `urlSafeOnly`, only `-_` for 62 and 63), padded or not. Returns
    /// `nil` for any other character, misplaced padding, an impossible length, or non-zero trailing bits.
    public static func decode(_ text: some StringProtocol, urlSafeOnly: Bool = false) -> [UInt8]? {
        var text = String(text)
        return text.withUTF8 { decode($0, table: urlSafeOnly ? urlSafeDecodeTable : decodeTable) }
    }

    private static func decode(_ input: UnsafeBufferPointer<UInt8>, table: [UInt8]) -> [UInt8]? {
        var end = input.count
        while end > 0, input[end - 1] == UInt8(ascii: "=") { end -= 1 }
        let padding = input.count - end
        guard padding <= 2, end % 4 != 1 else { return nil }
        if padding > 0, input.count % 4 != 0 { return nil }
        var out = [UInt8]()
        out.reserveCapacity(end * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        let valid = table.withUnsafeBufferPointer { table in
            for c in input[0..<end] {
                let value = table[Int(c)]
                guard value != 0xFF else { return false }
                accumulator = accumulator << 6 | UInt32(value)
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                }
            }
            return true
        }
        guard valid else { return nil }
        // Canonical encodings leave the unused low bits zero.
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}
