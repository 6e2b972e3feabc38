import Foundation

/// A value that can write itself as JSON without `JSONEncoder`.
///
/// Guarantee: `write(to:)` gives byte for byte what `JSONEncoder` with sorted keys, ISO 8601 dates in whole seconds
/// and unescaped slashes gives for the same value; the tests compare the two for every conforming type. It exists
/// for the hot responses (a secret's value, its metadata, a page of them), where `JSONEncoder` was a third of a
/// list's CPU, and for the canonical text of stored JSON (audit details, metadata).
public protocol JSONWritable: Encodable, Sendable {
    func write(to json: inout JSONWriter)
}

/// Compact JSON, written straight into bytes.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 512) {
        bytes.reserveCapacity(capacity)
    }

    /// `{"k1":v1,"k2":v2}`: `body` writes the members with ``member(_:_:)``, keys in sorted order.
    public mutating func object(_ body: (inout Members) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        var members = Members(writer: self)
        bytes = []
        body(&members)
        self = members.writer
        bytes.append(UInt8(ascii: "}"))
    }

    public struct Members {
        fileprivate var writer: JSONWriter
        private var first = true

        fileprivate init(writer: JSONWriter) { self.writer = writer }

        /// One member; `key` must need no escaping.
        public mutating func member(_ key: StaticString, _ value: (inout JSONWriter) -> Void) {
            writer.raw(first ? "\"" : ",\"")
            first = false
            writer.raw(key)
            writer.raw("\":")
            value(&writer)
        }

        public mutating func member(_ key: String, _ value: (inout JSONWriter) -> Void) {
            if !first { writer.bytes.append(UInt8(ascii: ",")) }
            first = false
            writer.string(key)
            writer.bytes.append(UInt8(ascii: ":"))
            value(&writer)
        }
    }

    public mutating func array<C: Collection>(_ items: C, _ element: (inout JSONWriter, C.Element) -> Void) {
        bytes.append(UInt8(ascii: "["))
        var first = true
        for item in items {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            element(&self, item)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// Makes room for `count` more bytes.
    public mutating func reserve(_ count: Int) { bytes.reserveCapacity(bytes.count + count) }

    /// Appends `text` as it is: JSON punctuation and literals.
    private mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func null() { raw("null") }

    public mutating func bool(_ value: Bool) { value ? raw("true") : raw("false") }

    public mutating func integer(_ value: some BinaryInteger) {
        guard let small = Int64(exactly: value) else { return bytes.append(contentsOf: String(value).utf8) }
        if small < 0 { bytes.append(UInt8(ascii: "-")) }
        digits(small.magnitude, width: 1)
    }

    /// `value` in decimal, zero-padded to at least `width` digits.
    private mutating func digits(_ value: UInt64, width: Int) {
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: 20 digits at most
        withUnsafeMutableBytes(of: &buffer) { scratch in
            var position = scratch.count
            var rest = value
            repeat {
                position -= 1
                scratch[position] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0 || scratch.count - position < width
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[position...]))
        }
    }

    /// A non-integral or huge number, as `JSONEncoder` writes a `Double`.
    public mutating func double(_ value: Double) {
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }

    public mutating func string(_ value: String?) {
        guard var value else { return null() }
        bytes.append(UInt8(ascii: "\""))
        value.makeContiguousUTF8()
        value.utf8.withContiguousStorageIfAvailable { utf8 in
            // Most text needs no escaping: copy it whole, else up to the first byte that does.
            let clean = Self.cleanPrefixCount(UnsafeRawBufferPointer(utf8))
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[..<clean]))
            for byte in utf8[clean...] {
                guard Self.needsEscape(byte) else {
                    bytes.append(byte)
                    continue
                }
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                default:
                    raw("u00")
                    bytes.append(Self.hex[Int(byte >> 4)])
                    bytes.append(Self.hex[Int(byte & 0xF)])
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// How many leading bytes of `text` need no escaping, tested eight at a time: a word is clean when none of
    /// its bytes is below 0x20, a quote or a backslash (the exact word-wise tests of "Bit Twiddling Hacks",
    /// `hasless` and `haszero`; bytes of 0x80 and above never match, so UTF-8 sequences pass as they are).
    public static func cleanPrefixCount(_ text: UnsafeRawBufferPointer) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highBits: UInt64 = 0x8080_8080_8080_8080
        var index = 0
        while index + 8 <= text.count {
            let word = text.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            let control = (word &- ones &* 0x20) & ~word
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            let marked = (control | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)) & highBits
            if marked != 0 { break }
            index += 8
        }
        while index < text.count, !needsEscape(text[index]) { index += 1 }
        return index
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// `JSONEncoder`'s `.iso8601`: UTC, whole seconds (truncated), `Z`. Computed with integer arithmetic
    /// (proleptic Gregorian calendar, days to civil date after Howard Hinnant's `civil_from_days`): glibc's
    /// `gmtime_r` takes the time-zone lock on every call.
    public mutating func date(_ value: Date?) {
        guard let value else { return null() }
        let seconds = Int64(value.timeIntervalSince1970.rounded(.down))
        let (days, secondOfDay) = Self.floorDivide(seconds, 86_400)
        let (era, dayOfEra) = Self.floorDivide(days + 719_468, 146_097)
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153  // March is 0
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        bytes.append(UInt8(ascii: "\""))
        if (1_000...9_999).contains(year) { digits(UInt64(year), width: 4) } else { bytes.append(contentsOf: String(year).utf8) }
        // The rest, `-mm-ddThh:mm:ssZ"`, is 17 bytes of fixed width: composed on the stack and appended once.
        var tail: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &tail) { tail in
            // A separator, then a two-digit field (every field here is below 100).
            func put(_ separator: Unicode.Scalar, _ value: Int64, at offset: Int) {
                tail[offset] = UInt8(ascii: separator)
                tail[offset + 1] = UInt8(ascii: "0") + UInt8(value / 10)
                tail[offset + 2] = UInt8(ascii: "0") + UInt8(value % 10)
            }
            put("-", month, at: 0)
            put("-", day, at: 3)
            put("T", secondOfDay / 3_600, at: 6)
            put(":", secondOfDay / 60 % 60, at: 9)
            put(":", secondOfDay % 60, at: 12)
            tail[15] = UInt8(ascii: "Z")
            tail[16] = UInt8(ascii: "\"")
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: tail[..<17]))
        }
    }

    /// Quotient rounded down and the non-negative remainder.
    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let remainder = value % divisor
        return remainder < 0 ? (value / divisor - 1, remainder + divisor) : (value / divisor, remainder)
    }

    public mutating func value(_ value: some JSONWritable) { value.write(to: &self) }
}
