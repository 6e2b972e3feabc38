import CofferCrypto
import Foundation

/// Makes random secret values for generated secrets.
///
/// Characters are drawn uniformly (rejection sampling, no modulo bias) from the system's secure generator.
enum ValueGenerator {
    static let charsets: [String: [Character]] = [
        "alphanumeric": Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
        "hex": Array("0123456789abcdef"),
        "base64url": Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        "ascii_printable": (33...126).map { Character(UnicodeScalar(UInt8($0))) },
    ]

    static func validate(_ spec: GeneratorSpec) throws {
        guard (8...4096).contains(spec.length) else {
            throw CofferError.validation("generate.length must be from 8 to 4096")
        }
        guard charsets[spec.charset] != nil else {
            throw CofferError.validation("generate.charset must be one of " + charsets.keys.sorted().joined(separator: ", "))
        }
    }

    static func generate(_ spec: GeneratorSpec) -> String {
        let alphabet = charsets[spec.charset] ?? charsets["alphanumeric"]!
        var generator = SystemRandomNumberGenerator()
        return String((0..<spec.length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}
