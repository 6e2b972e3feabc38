import Foundation
import Testing

@testable import CofferCrypto

@Suite("Base64")
struct Base64Tests {
    static let rfc4648: [(String, String)] = [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ]

    @Test("RFC 4648 §10 vectors encode and decode, padded and unpadded")
    func rfcVectors() {
        for (plain, encoded) in Self.rfc4648 {
            let bytes = Array(plain.utf8)
            #expect(Base64.encode(bytes) == encoded)
            #expect(Base64.encode(bytes, urlSafe: true) == encoded)
            let unpadded = encoded.replacingOccurrences(of: "=", with: "")
            #expect(Base64.encode(bytes, padded: false) == unpadded)
            #expect(Base64.decode(encoded) == bytes, "\(encoded)")
            #expect(Base64.decode(unpadded) == bytes, "\(unpadded)")
            #expect(Base64.decode(Substring(encoded)) == bytes)
        }
    }

    @Test("random bytes of length 0...40 round-trip in both alphabets, padded and unpadded")
    func roundTrips() {
        for length in 0...40 {
            for _ in 0..<8 {
                let bytes = randomBytes(length)
                // Foundation's encoder as an oracle for the standard padded form.
                let reference = Data(bytes).base64EncodedString()
                let referenceURL = reference.replacingOccurrences(of: "+", with: "-")
                    .replacingOccurrences(of: "/", with: "_")
                for urlSafe in [false, true] {
                    for padded in [false, true] {
                        let text = Base64.encode(bytes, urlSafe: urlSafe, padded: padded)
                        var expected = urlSafe ? referenceURL : reference
                        if !padded { expected = expected.replacingOccurrences(of: "=", with: "") }
                        #expect(text == expected, "length \(length) urlSafe \(urlSafe) padded \(padded)")
                        #expect(Base64.decode(text) == bytes, "\(text)")
                        if padded { #expect(text.count % 4 == 0) } else { #expect(!text.contains("=")) }
                        if urlSafe {
                            #expect(!text.contains("+") && !text.contains("/"))
                        } else {
                            #expect(!text.contains("-") && !text.contains("_"))
                        }
                    }
                }
            }
        }
    }

    @Test("both alphabets decode, also mixed")
    func alphabets() {
        let bytes: [UInt8] = [0xfb, 0xff, 0xbf, 0xfe]  // uses characters 62 and 63
        #expect(Base64.encode(bytes) == "+/+//g==")
        #expect(Base64.encode(bytes, urlSafe: true) == "-_-__g==")
        #expect(Base64.decode("+/+//g==") == bytes)
        #expect(Base64.decode("-_-__g") == bytes)
        #expect(Base64.decode("+_-//g==") == bytes)
    }

    @Test(
        "rejects invalid characters",
        arguments: ["Zm9v!", "Zm 9v", "Zm9v\n", " Zm9v", "Zm9v.", "Zm9vé", "Zm=v", "Z\u{0}9v", "Zm9v\t"])
    func rejectsInvalidCharacters(text: String) {
        #expect(Base64.decode(text) == nil)
    }

    @Test(
        "rejects bad padding",
        arguments: ["=", "==", "===", "====", "Zg=", "Zg===", "Zm8==", "Zm9v=", "Zm9v==", "Zm9vYg=", "Zg==Zg==", "Z=g="])
    func rejectsBadPadding(text: String) {
        #expect(Base64.decode(text) == nil)
    }

    @Test("rejects lengths of 1 mod 4", arguments: ["Z", "Zm9vY", "Zm9vYmFyZ", "Z===", "Zm9vY==="])
    func rejectsImpossibleLength(text: String) {
        #expect(Base64.decode(text) == nil)
    }

    @Test("rejects non-zero trailing bits (non-canonical encodings)", arguments: ["Zh==", "Zm9=", "Zh", "Zm9"])
    func rejectsNonCanonical(text: String) {
        #expect(Base64.decode(text) == nil)
    }
}

@Suite("identifiers")
struct IdentifierTests {
    @Test("version-7 UUIDs, lowercase, that Foundation parses, all distinct, carrying their time in milliseconds")
    func uuids() {
        var seen = Set<String>()
        for _ in 0..<1_000 {
            let id = Identifier.uuid()
            let parsed = UUID(uuidString: id)
            #expect(parsed != nil)
            #expect(parsed?.uuidString.lowercased() == id)
            #expect(Array(id)[14] == "7")
            #expect("89ab".contains(Array(id)[19]))
            seen.insert(id)
        }
        #expect(seen.count == 1_000)
        // The first 48 bits are the Unix time in milliseconds, so identifiers sort by creation time.
        let time = Date(timeIntervalSince1970: 1_763_916_348.001)
        let id = Identifier.uuid(at: time)
        let prefix = id.replacingOccurrences(of: "-", with: "").prefix(12)
        #expect(UInt64(prefix, radix: 16) == 1_763_916_348_001)
        let times = (0..<200).map { Date(timeIntervalSince1970: 1_700_000_000 + Double($0) * 0.0137) }
        let ids = times.map { Identifier.uuid(at: $0) }
        #expect(ids == ids.sorted())
    }
}

@Suite("hex")
struct HexTests {
    @Test("lowercase hex and SHA-256 digests as Python's hashlib spells them")
    func hex() {
        #expect(Hex.encode([0x00, 0x0f, 0xa5, 0xff]) == "000fa5ff")
        #expect(Hex.encode([UInt8]()) == "")
        // hashlib.sha256(b"abc").hexdigest()
        #expect(Hex.sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
