import Foundation

/// Record and request identifiers.
public enum Identifier {
    /// A time-ordered (version 7, RFC 9562) UUID in lowercase: 48 bits of Unix time in milliseconds, then 74 random
    /// bits from ``SecureRandom``.
    ///
    /// Guarantees: identifiers are unique (74 random bits a millisecond) and cannot be guessed from one another;
    /// they reveal their creation time to the millisecond (which the API returns beside them anyway) and nothing
    /// else. Identifiers made later sort after earlier ones (across milliseconds), so a new record's keys land at
    /// the right edge of every index keyed by them instead of on a random page: a random (version 4) identifier
    /// dirtied a random page of each such index for every create (issue 6).
    ///
    /// Foundation's `UUID()` on Linux opens and reads `/dev/urandom` for every identifier: three system calls a
    /// record, on every request (issue 6's profile).
    public static func uuid(at time: Date = Date()) -> String {
        var bytes = SecureRandom.bytes(16)
        let millis = UInt64(max(0, time.timeIntervalSince1970 * 1_000))
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: millis >> (40 - 8 * index)) }
        bytes[6] = bytes[6] & 0x0f | 0x70  // version 7
        bytes[8] = bytes[8] & 0x3f | 0x80  // RFC 9562 variant
        // 8-4-4-4-12 hex digits.
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (index, digit) in Hex.encode(bytes).utf8.enumerated() {
            if index == 8 || index == 12 || index == 16 || index == 20 { text.append(UInt8(ascii: "-")) }
            text.append(digit)
        }
        return String(decoding: text, as: UTF8.self)
    }
}
