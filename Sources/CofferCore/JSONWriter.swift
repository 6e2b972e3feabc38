import Foundation

/// A value the API can write as JSON without `JSONEncoder`.
///
/// Guarantee: `write(to:)` gives byte for byte what the API's `JSONEncoder` (sorted keys, ISO 8601 dates in whole
/// seconds, slashes unescaped) gives for the same value; the tests compare the two for every conforming type.
/// It exists for the hot responses (a secret's value, its metadata, a page of them), where `JSONEncoder` was a
/// third of a list's CPU (issue 6).
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
    mutating func object(_ body: (inout Members) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        var members = Members(writer: self)
        bytes = []
        body(&members)
        self = members.writer
        bytes.append(UInt8(ascii: "}"))
    }

    struct Members {
        fileprivate var writer: JSONWriter
        private var first = true

        fileprivate init(writer: JSONWriter) { self.writer = writer }

        /// One member; `key` must need no escaping.
        mutating func member(_ key: StaticString, _ value: (inout JSONWriter) -> Void) {
            if !first { writer.bytes.append(UInt8(ascii: ",")) }
            first = false
            writer.bytes.append(UInt8(ascii: "\""))
            key.withUTF8Buffer { writer.bytes.append(contentsOf: $0) }
            writer.bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
            value(&writer)
        }

        mutating func member(_ key: String, _ value: (inout JSONWriter) -> Void) {
            if !first { writer.bytes.append(UInt8(ascii: ",")) }
            first = false
            writer.string(key)
            writer.bytes.append(UInt8(ascii: ":"))
            value(&writer)
        }
    }

    mutating func array<C: Collection>(_ items: C, _ element: (inout JSONWriter, C.Element) -> Void) {
        bytes.append(UInt8(ascii: "["))
        var first = true
        for item in items {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            element(&self, item)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    mutating func null() { bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C]) }

    mutating func bool(_ value: Bool) {
        if value { bytes.append(contentsOf: [0x74, 0x72, 0x75, 0x65]) } else { bytes.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65]) }
    }

    mutating func integer(_ value: some BinaryInteger) { bytes.append(contentsOf: String(value).utf8) }

    /// A non-integral or huge number, as `JSONEncoder` writes a `Double`.
    mutating func double(_ value: Double) {
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }

    mutating func string(_ value: String?) {
        guard let value else { return null() }
        bytes.append(UInt8(ascii: "\""))
        // Most text needs no escaping: copy it whole.
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            bytes.append(contentsOf: value.utf8)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x08: bytes.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// `JSONEncoder`'s `.iso8601`: UTC, whole seconds (truncated), `Z`.
    mutating func date(_ value: Date?) {
        guard let value else { return null() }
        var seconds = time_t(value.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> [UInt8] { [UInt8(48 + n / 10 % 10), UInt8(48 + n % 10)] }
        let year = Int(parts.tm_year) + 1900
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: String(year).utf8)
        bytes.append(UInt8(ascii: "-"))
        bytes.append(contentsOf: two(parts.tm_mon + 1))
        bytes.append(UInt8(ascii: "-"))
        bytes.append(contentsOf: two(parts.tm_mday))
        bytes.append(UInt8(ascii: "T"))
        bytes.append(contentsOf: two(parts.tm_hour))
        bytes.append(UInt8(ascii: ":"))
        bytes.append(contentsOf: two(parts.tm_min))
        bytes.append(UInt8(ascii: ":"))
        bytes.append(contentsOf: two(parts.tm_sec))
        bytes.append(contentsOf: [UInt8(ascii: "Z"), UInt8(ascii: "\"")])
    }

    mutating func value(_ value: some JSONWritable) { value.write(to: &self) }
}

extension JSONValue: JSONWritable {
    public func write(to json: inout JSONWriter) {
        switch self {
        case .null: json.null()
        case .bool(let value): json.bool(value)
        case .number(let value):
            // As `encode(to:)`: whole numbers below 10^15 as integers.
            if value.rounded() == value, abs(value) < 1e15 { json.integer(Int64(value)) } else { json.double(value) }
        case .string(let value): json.string(value)
        case .array(let values): json.array(values) { $0.value($1) }
        case .object(let members):
            json.object { object in
                for key in members.keys.sorted() {
                    object.member(key) { $0.value(members[key]!) }
                }
            }
        }
    }
}

extension Page: JSONWritable where Item: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { page in
            page.member("items") { $0.array(items) { $0.value($1) } }
            page.member("limit") { $0.integer(limit) }
            page.member("offset") { $0.integer(offset) }
            page.member("total") { $0.integer(total) }
        }
    }
}

extension SecretValue: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { secret in
            secret.member("id") { $0.string(id) }
            secret.member("name") { $0.string(name) }
            secret.member("value") { $0.string(value) }
            secret.member("version") { $0.integer(version) }
        }
    }
}

extension SecretMetadata: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { secret in
            secret.member("created_at") { $0.date(createdAt) }
            secret.member("created_by_user_id") { $0.string(createdByUserID) }
            secret.member("id") { $0.string(id) }
            secret.member("is_active") { $0.bool(isActive) }
            secret.member("last_rotated_at") { $0.date(lastRotatedAt) }
            secret.member("metadata") { $0.value(metadata) }
            secret.member("name") { $0.string(name) }
            secret.member("rotation_due_at") { $0.date(rotationDueAt) }
            secret.member("rotation_policy") { $0.string(rotationPolicy) }
            secret.member("secret_type") { $0.string(secretType) }
            secret.member("tags") { $0.array(tags) { $0.string($1) } }
            secret.member("updated_at") { $0.date(updatedAt) }
            secret.member("updated_by_user_id") { $0.string(updatedByUserID) }
            secret.member("usage") { $0.string(usage) }
            secret.member("version") { $0.integer(version) }
            secret.member("workspace_id") { $0.string(workspaceID) }
        }
    }
}
