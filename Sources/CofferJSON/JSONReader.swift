/// Reads the common shapes of JSON request bodies on hot paths without `JSONDecoder`, and declines the rest.
///
/// Guarantee: a value it reads is the value `JSONDecoder` decodes from the same bytes. It takes objects, arrays,
/// strings without escapes, integers and `null`; on anything else (an escape, a control character or invalid UTF-8
/// in a string, a fraction or an exponent, an integer out of range, a boolean, malformed text) the call returns
/// `nil` or `false`, and the caller decodes the body with `JSONDecoder`, which then decides and words any error.
/// So a body means the same, and fails the same, whichever path read it.
public struct JSONReader {
    private let bytes: [UInt8]
    private var index = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Whether only whitespace is left.
    public mutating func atEnd() -> Bool {
        skipWhitespace()
        return index == bytes.count
    }

    /// An object: `member` reads each member's value after its key, and returns `false` to decline.
    public mutating func object(_ member: (inout JSONReader, String) -> Bool) -> Bool {
        guard take(UInt8(ascii: "{")) else { return false }
        if take(UInt8(ascii: "}")) { return true }
        while true {
            guard let key = string(), take(UInt8(ascii: ":")), member(&self, key) else { return false }
            if take(UInt8(ascii: ",")) { continue }
            return take(UInt8(ascii: "}"))
        }
    }

    /// An array: `element` reads each element, and returns `false` to decline.
    public mutating func array(_ element: (inout JSONReader) -> Bool) -> Bool {
        guard take(UInt8(ascii: "[")) else { return false }
        if take(UInt8(ascii: "]")) { return true }
        while true {
            guard element(&self) else { return false }
            if take(UInt8(ascii: ",")) { continue }
            return take(UInt8(ascii: "]"))
        }
    }

    /// `null`, consumed; `false` (nothing consumed) if the next value is something else.
    public mutating func null() -> Bool {
        skipWhitespace()
        guard bytes.count - index >= 4, bytes[index] == UInt8(ascii: "n"), bytes[index + 1] == UInt8(ascii: "u"),
            bytes[index + 2] == UInt8(ascii: "l"), bytes[index + 3] == UInt8(ascii: "l")
        else { return false }
        index += 4
        return true
    }

    /// A string without escapes or control characters, in valid UTF-8.
    public mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                defer { index += 1 }
                return bytes.withUnsafeBufferPointer {
                    String(validating: UnsafeBufferPointer(rebasing: $0[start..<index]), as: UTF8.self)
                }
            }
            guard byte >= 0x20, byte != UInt8(ascii: "\\") else { return nil }
            index += 1
        }
        return nil
    }

    /// An integer in `Int`'s range, written without a fraction or an exponent.
    public mutating func integer() -> Int? {
        skipWhitespace()
        let negative = take(UInt8(ascii: "-"), skippingWhitespace: false)
        let start = index
        var magnitude: UInt64 = 0
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
            let (times10, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
            guard !overflow, !carry else { return nil }
            magnitude = sum
            index += 1
        }
        let count = index - start
        // A leading zero is JSON only alone; a fraction or an exponent is left to the decoder.
        guard count > 0, count == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
        if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
            return nil
        }
        if negative { return magnitude <= UInt64(Int.max) + 1 ? Int(truncatingIfNeeded: 0 &- magnitude) : nil }
        return magnitude <= UInt64(Int.max) ? Int(magnitude) : nil
    }

    /// `null` as nil, or a string as ``string()`` reads it; `false` when the value is neither (or declined).
    public mutating func optionalString(into value: inout String?) -> Bool {
        optional(into: &value) { $0.string() }
    }

    /// `null` as nil, or an integer as ``integer()`` reads it; `false` when the value is neither (or declined).
    public mutating func optionalInteger(into value: inout Int?) -> Bool {
        optional(into: &value) { $0.integer() }
    }

    private mutating func optional<Value>(into value: inout Value?, _ read: (inout JSONReader) -> Value?) -> Bool {
        if null() {
            value = nil
            return true
        }
        guard let read = read(&self) else { return false }
        value = read
        return true
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
            default: return
            }
        }
    }

    /// Consumes `byte` (after whitespace) if it is next.
    private mutating func take(_ byte: UInt8, skippingWhitespace: Bool = true) -> Bool {
        if skippingWhitespace { skipWhitespace() }
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }
}
