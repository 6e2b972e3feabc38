import CofferJSON
import Foundation

/// Any JSON value, for user-supplied metadata and audit details.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if value.rounded() == value, abs(value) < 1e15 {
                try container.encode(Int64(value))
            } else {
                try container.encode(value)
            }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Compact JSON text with sorted keys (stable for storage and hashing): what `JSONEncoder` with sorted keys
    /// and unescaped slashes gives, written by ``JSONWriter`` (every audit record's details go through here).
    public var jsonText: String {
        var json = JSONWriter(capacity: 64)
        write(to: &json)
        return String(decoding: json.bytes, as: UTF8.self)
    }

    /// Parses stored JSON text; malformed text reads as `null`. The empty object and array (most secrets'
    /// metadata, many audit records' details) skip the decoder.
    public init(jsonText: String) {
        switch jsonText {
        case "{}": self = .object([:])
        case "[]": self = .array([])
        default: self = (try? JSONDecoder().decode(JSONValue.self, from: Data(jsonText.utf8))) ?? .null
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension JSONValue: ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByIntegerLiteral
{
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }

    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
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
