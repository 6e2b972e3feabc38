import Foundation

/// Record and request identifiers.
public enum Identifier {
    /// A random (version 4) UUID in lowercase, from ``SecureRandom``.
    ///
    /// Foundation's `UUID()` on Linux opens and reads `/dev/urandom` for every identifier: three system calls a
    /// record, on every request (issue 6's profile).
    public static func uuid() -> String {
        var bytes = SecureRandom.bytes(16)
        bytes[6] = bytes[6] & 0x0f | 0x40  // version 4
        bytes[8] = bytes[8] & 0x3f | 0x80  // RFC 4122 variant
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
