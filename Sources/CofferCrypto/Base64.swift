/// Base64 (RFC 4648) with the standard and the url-safe alphabets, on bytes.
///
/// Written on bytes because Foundation's string replacing is slow on Linux and tokens sit on the hot path.
public enum Base64 {
    private static let standard = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlSafe = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in standard.enumerated() { table[Int(c)] = UInt8(i) }
        table[Int(UInt8(ascii: "-"))] = 62
        table[Int(UInt8(ascii: "_"))] = 63
        return table
    }()

    /// Encodes bytes; `urlSafe` picks `-_` instead of `+/`, `padded` adds `=` to a multiple of four.
    public static func encode(_ bytes: some Collection<UInt8>, urlSafe: Bool = false, padded: Bool = true) -> String {
        let input = bytes as? [UInt8] ?? Array(bytes)
        let alphabet = urlSafe ? Self.urlSafe : Self.standard
        var out = [UInt8]()
        out.reserveCapacity((input.count + 2) / 3 * 4)
        alphabet.withUnsafeBufferPointer { table in
            input.withUnsafeBufferPointer { b in
                var i = 0
                while i + 3 <= b.count {
                    let chunk = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
                    out.append(table[Int(chunk >> 18)])
                    out.append(table[Int(chunk >> 12 & 0x3F)])
                    out.append(table[Int(chunk >> 6 & 0x3F)])
                    out.append(table[Int(chunk & 0x3F)])
                    i += 3
                }
                let rest = b.count - i
                guard rest > 0 else { return }
                let chunk = UInt32(b[i]) << 16 | (rest == 2 ? UInt32(b[i + 1]) << 8 : 0)
                out.append(table[Int(chunk >> 18)])
                out.append(table[Int(chunk >> 12 & 0x3F)])
                if rest == 2 { out.append(table[Int(chunk >> 6 & 0x3F)]) }
                if padded { out.append(contentsOf: repeatElement(UInt8(ascii: "="), count: 3 - rest)) }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes either alphabet (or a mix), padded or not. Returns `nil` for any other character, misplaced
    /// padding, an impossible length, or non-zero trailing bits.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var chars = Array(text.utf8)
        while chars.last == UInt8(ascii: "=") { chars.removeLast() }
        let padding = text.utf8.count - chars.count
        guard padding <= 2, chars.count % 4 != 1 else { return nil }
        if padding > 0, (chars.count + padding) % 4 != 0 { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        let valid = decodeTable.withUnsafeBufferPointer { table in
            chars.withUnsafeBufferPointer { input in
                for c in input {
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
        }
        guard valid else { return nil }
        // Canonical encodings leave the unused low bits zero.
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}
