import Foundation

/// Record and request identifiers.
public enum Identifier {
    /// A random (version 4) UUID in lowercase, from ``KeyMaterial/randomBytes(_:)``.
    ///
    /// Foundation's `UUID()` on Linux opens and reads `/dev/urandom` for every identifier: three system calls a
    /// record, on every request (issue 6's profile).
    public static func uuid() -> String {
        var bytes = KeyMaterial.randomBytes(16)
        bytes[6] = bytes[6] & 0x0f | 0x40  // version 4
        bytes[8] = bytes[8] & 0x3f | 0x80  // RFC 4122 variant
        let hex = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append(UInt8(ascii: "-")) }
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
