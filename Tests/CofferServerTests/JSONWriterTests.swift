import CofferJSON
import CofferStore
import Foundation
import Testing

@testable import CofferCore
@testable import CofferServer

/// The hot responses skip `JSONEncoder`; these tests hold them to its exact bytes.
@Suite("JSON writer")
struct JSONWriterTests {
    private func expectSameBytes<T: JSONWritable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var json = JSONWriter()
        value.write(to: &json)
        let encoded = try JSONCoding.encoder.encode(value)
        #expect(
            String(decoding: json.bytes, as: UTF8.self) == String(decoding: encoded, as: UTF8.self),
            sourceLocation: sourceLocation)
    }

    /// Every control character, quotes, backslashes, slashes, DEL, non-ASCII, U+2028 and an emoji.
    private static let awkward = String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self)
        + "\"\\/\u{7F}é\u{2028}🔑 plain"

    private func record(_ change: (inout SecretRecord) -> Void = { _ in }) -> SecretRecord {
        var record = SecretRecord(
            id: "0b6f6c1e-8f61-4f0e-9d1c-3a1f3f4f5a6b", workspaceId: "ws", name: "DATABASE_URL", secretType: "api_key",
            usage: nil, rotationPolicy: "manual", lastRotatedAt: nil, rotationDueAt: nil, tags: "[]", metadata: "{}",
            isActive: true, currentVersion: 1, createdByUserId: nil, updatedByUserId: nil, createdAt: 0,
            updatedAt: 999, deletedAt: nil, generator: nil)
        change(&record)
        return record
    }

    @Test("secret metadata, with nothing optional and with everything, awkward text and times")
    func metadata() throws {
        try expectSameBytes(SecretMetadata(record()))
        try expectSameBytes(SecretMetadata(record {
            $0.name = Self.awkward
            $0.usage = Self.awkward
            $0.lastRotatedAt = 1_763_916_348_999
            $0.rotationDueAt = 4_102_444_800_000
            $0.createdAt = -1_500
            $0.updatedAt = 1_763_916_348_001
            $0.createdByUserId = "u1"
            $0.updatedByUserId = Self.awkward
            $0.isActive = false
            $0.currentVersion = 123_456
            $0.tags = #"["prod","a\"b","é/x"]"#
            $0.metadata = #"{"z":1,"a":[true,false,null,0.1,-2.5,1e-05,1e300,12345678901234567890,-0.0],"#
                + #""A":{"b_":"\u0001","bA":"","_":{}},"ü":"x","10":1,"2":2}"#
        }))
    }

    @Test("the eight-bytes-at-a-time scan stops exactly where the byte-wise rule does, at every offset and length")
    func cleanPrefix() {
        // Every byte that must be escaped, and neighbours that must not be (0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F,
        // 0x80, 0xFF), each placed at every offset of clean runs of every length up to three words.
        let special: [UInt8] = Array(0..<0x20) + [0x22, 0x5C]
        let harmless: [UInt8] = [0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, 0x80, 0xC3, 0xFF, 0x61]
        for length in 0...24 {
            for filler in harmless {
                let clean = [UInt8](repeating: filler, count: length)
                clean.withUnsafeBytes { #expect(JSONWriter.cleanPrefixCount($0) == length) }
                for offset in 0..<max(length, 1) where length > 0 {
                    for byte in special {
                        var text = clean
                        text[offset] = byte
                        text.withUnsafeBytes { #expect(JSONWriter.cleanPrefixCount($0) == offset) }
                    }
                }
            }
        }
    }

    @Test("stored JSON text (tags, metadata, audit details) is the encoder's, sorted keys and unescaped slashes")
    func storedText() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let values: [JSONValue] = [
            [:], [], .null, JSONValue(jsonText: #"{"b":[1,2.5,"x/y"],"a":{"z":null,"_":false},"é":"\#(Self.awkward)"}"#),
            .object(["reason": .string(Self.awkward), "version": .number(3), "ratio": .number(0.25)]),
        ]
        for value in values {
            #expect(value.jsonText == String(decoding: try encoder.encode(value), as: UTF8.self))
        }
    }

    @Test("parsing stored JSON text gives what the decoder gives, empty forms included")
    func parsing() throws {
        for text in ["{}", "[]", " {} ", "[ ]", "null", #"{"a":[1,{}]}"#, "[[]]", "not json"] {
            let decoded = (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .null
            #expect(JSONValue(jsonText: text) == decoded, "\(text)")
        }
    }

    /// A date and an integer, through the writer's own paths.
    private struct Stamp: JSONWritable {
        let at: Date
        let count: Int64

        func write(to json: inout JSONWriter) {
            json.object { stamp in
                stamp.member("at") { $0.date(at) }
                stamp.member("count") { $0.integer(count) }
            }
        }
    }

    @Test("dates across four centuries (leap days, year ends, before 1970) and integers at their limits")
    func datesAndIntegers() throws {
        var seconds: [Int64] = [0, -1, 951_782_400, 951_868_799, 4_107_542_400, -2_208_988_801, 253_402_300_799]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 { seconds.append(Int64.random(in: -2_208_988_800...13_569_465_600, using: &generator)) }
        let counts: [Int64] = [0, 7, -7, 10, 99, 100, Int64.max, Int64.min, -1_000_000_000_000]
        for (index, second) in seconds.enumerated() {
            let fraction = Double(index % 1_000) / 1_000
            try expectSameBytes(Stamp(at: Date(timeIntervalSince1970: Double(second) + fraction), count: counts[index % counts.count]))
        }
    }

    @Test("pages of metadata (empty and full) and secret values")
    func pagesAndValues() throws {
        try expectSameBytes(Page<SecretMetadata>(items: [], total: 0, limit: 10, offset: 0))
        try expectSameBytes(Page(
            items: (0..<3).map { n in SecretMetadata(record { $0.name = "S\(n)"; $0.tags = #"["t\#(n)"]"# }) },
            total: 1_000_000, limit: 3, offset: 999_997))
        try expectSameBytes(SecretValue(id: "id", name: "n", value: Self.awkward, version: 7))
        try expectSameBytes(SecretValue(id: "id", name: "n", value: "", version: 1))
    }
}

/// The transit answers skip `JSONEncoder` and their requests `JSONDecoder`; these tests hold both to them.
@Suite("Vault transit JSON")
struct VaultTransitJSONTests {
    private typealias Output = VaultTransitController.Output
    private typealias Body = VaultTransitController.CryptoBody

    private func expectSameBytes<T: JSONWritable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var json = JSONWriter()
        value.write(to: &json)
        #expect(
            String(decoding: json.bytes, as: UTF8.self)
                == String(decoding: try JSONCoding.encoder.encode(value), as: UTF8.self),
            sourceLocation: sourceLocation)
    }

    @Test("results and Vault's envelope are the encoder's bytes, every optional field present or absent")
    func answers() throws {
        let awkward = "a\"b\\c/d\u{1}é🔑"
        let outputs = [
            Output(), Output(ciphertext: "vault:v1:abc/+=", keyVersion: 1),
            Output(plaintext: awkward, reference: awkward), Output(keyVersion: -3, error: awkward, reference: ""),
            Output(ciphertext: "c", plaintext: "p", keyVersion: Int.max, error: "e", reference: "r"),
        ]
        for output in outputs {
            try expectSameBytes(output)
            try expectSameBytes(VaultEnvelope(requestID: "req-1", data: output))
        }
        try expectSameBytes(VaultTransitController.BatchResults(batchResults: outputs))
        try expectSameBytes(VaultTransitController.BatchResults(batchResults: []))
        try expectSameBytes(VaultEnvelope(requestID: awkward, data: VaultTransitController.BatchResults(batchResults: outputs)))
        try expectSameBytes(VaultEnvelope<Output>(requestID: "r", data: nil, mountType: "transit"))
        try expectSameBytes(VaultEnvelope(requestID: "r", data: Output(ciphertext: "x"), mountType: awkward))
    }

    /// What the reader makes of `text`, and what `JSONDecoder` does.
    private func both(_ text: [UInt8]) -> (read: Body?, decoded: Body?) {
        var json = JSONReader(text)
        return (Body(reading: &json), try? JSONDecoder().decode(Body.self, from: Data(text)))
    }

    /// Whatever the reader takes, the decoder decodes to the same body.
    private func expectAgreement(_ text: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        let (read, decoded) = both(text)
        if let read {
            #expect(decoded.map { Self.same(read, $0) } == true, "\(String(decoding: text, as: UTF8.self))",
                sourceLocation: sourceLocation)
        }
    }

    private static func same(_ a: Body, _ b: Body) -> Bool {
        func same(_ x: Body.Item, _ y: Body.Item) -> Bool {
            x.plaintext == y.plaintext && x.ciphertext == y.ciphertext && x.associatedData == y.associatedData
                && x.keyVersion == y.keyVersion && x.context == y.context && x.reference == y.reference
        }
        guard same(a.single, b.single), a.partialFailureResponseCode == b.partialFailureResponseCode,
            (a.batchInput == nil) == (b.batchInput == nil), a.batchInput?.count == b.batchInput?.count
        else { return false }
        return zip(a.batchInput ?? [], b.batchInput ?? []).allSatisfy { same($0, $1) }
    }

    @Test("the bodies clients send are read without the decoder, and read as the decoder reads them")
    func commonBodies() {
        let taken = [
            #"{"plaintext":"Y29mZmVy"}"#, #"{"ciphertext":"vault:v1:abc/+=="}"#,
            #"{"batch_input":[{"plaintext":"YQ==","reference":"r1"},{"plaintext":"Yg==","key_version":2}]}"#,
            #" { "batch_input" : [ { "ciphertext" : "vault:v2:x" , "associated_data" : "YWQ=" } ] , "partial_failure_response_code" : 400 } "#,
            "{\n\t\"plaintext\": \"eA==\",\r\n\"context\": null, \"key_version\": null}",
            #"{"plaintext":"é🔑","reference":""}"#, #"{"batch_input":[]}"#, #"{"batch_input":null}"#, "{}",
            #"{"key_version":0}"#, #"{"key_version":-0}"#, #"{"key_version":-9223372036854775808}"#,
            #"{"plaintext":"a","batch_input":[{}],"ciphertext":"b"}"#,
        ]
        for text in taken {
            let (read, decoded) = both(Array(text.utf8))
            #expect(read != nil, "taken: \(text)")
            #expect(decoded != nil, "decodable: \(text)")
            expectAgreement(Array(text.utf8))
        }
    }

    @Test("what the reader declines is left to the decoder: escapes, fractions, unknown or repeated keys, bad text")
    func declined() {
        let declined = [
            #"{"plaintext":"a\/b"}"#, #"{"plaintext":"\u0041"}"#, #"{"key_version":1.0}"#, #"{"key_version":1e2}"#,
            #"{"key_version":01}"#, #"{"key_version":9223372036854775808}"#, #"{"key_version":"1"}"#,
            #"{"plaintext":1}"#, #"{"plaintext":"a","plaintext":"b"}"#, #"{"unknown":"x"}"#, #"{"batch_input":{}}"#,
            #"{"batch_input":[1]}"#, #"{"batch_input":[{"extra":true}]}"#, #"[{"plaintext":"a"}]"#, #"{"plaintext":"a"}x"#,
            #"{"plaintext":"a""#, #"{"plaintext":"a",}"#, "{\"plaintext\":\"a\u{1}\"}", "", "nul", #"{"plaintext":true}"#,
        ]
        for text in declined {
            #expect(both(Array(text.utf8)).read == nil, "declined: \(text)")
        }
        #expect(both([0x7B, 0x22, 0x70, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]).read == nil, "invalid UTF-8")
    }

    @Test("every one-byte change, cut and insertion of a batch body: the reader agrees with the decoder or declines")
    func mutations() {
        let body = Array(
            #"{"batch_input":[{"plaintext":"YQ==","key_version":12,"reference":"r"},{"ciphertext":"vault:v1:eA=="}],"partial_failure_response_code":207}"#
                .utf8)
        let alphabet = Array(#"{}[]":,\ 0123456789-.eEnulltrueaA/"#.utf8) + [0x00, 0x1F, 0x80, 0xFF]
        for position in body.indices {
            var cut = body
            cut.remove(at: position)
            expectAgreement(cut)
            expectAgreement(Array(body[..<position]))
            for byte in alphabet {
                var changed = body
                changed[position] = byte
                expectAgreement(changed)
                var inserted = body
                inserted.insert(byte, at: position)
                expectAgreement(inserted)
            }
        }
    }
}
