import Crypto

/// Lowercase hexadecimal, the spelling of stored token hashes, key fingerprints and audit MACs.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Two lowercase hex digits a byte (`String(format: "%02x")` goes through Foundation's formatter per byte).
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var text = [UInt8]()
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The SHA-256 of a text's UTF-8 bytes, in hex: how refresh and service tokens are stored and looked up.
    public static func sha256(_ text: String) -> String {
        SHA256.hash(data: Array(text.utf8)).withUnsafeBytes { encode($0) }
    }
}
