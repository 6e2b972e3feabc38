import CofferCore
import CofferJSON
import Foundation
import Hummingbird
import NIOCore

/// JSON in and out, with the API's conventions (ISO 8601 dates, no escaped slashes).
enum JSONCoding {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    /// `value` as a response body: written by ``JSONWriter`` when it is ``JSONWritable`` (the hot responses: the
    /// same bytes as the encoder, without its intermediate tree), else by the encoder.
    static func body(_ value: some Encodable) throws -> ByteBuffer {
        if let writable = value as? any JSONWritable {
            var json = JSONWriter()
            writable.write(to: &json)
            return ByteBuffer(bytes: json.bytes)
        }
        return ByteBuffer(bytes: try encoder.encode(value))
    }

    /// Reads and decodes a JSON request body, mapping every failure to a clear client error:
    /// not JSON → 400 `invalid_json`; missing, null or mistyped field → 422 `validation_failed` naming the field;
    /// larger than the body limit → 413.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: CofferRequestContext) async throws -> T {
        var request = request
        return try decode(type, body: try await request.collectBody(upTo: context.maxBodyBytes))
    }

    /// Decodes a body already read, with the same errors as ``decode(_:from:context:)``; a key repeated in one
    /// object is refused (400 `invalid_json`) rather than one of its values silently kept.
    static func decode<T: Decodable>(_ type: T.Type, body buffer: ByteBuffer) throws -> T {
        guard buffer.readableBytes > 0 else {
            throw CofferError(.invalidJSON, "A JSON request body is required.")
        }
        let data = Data(buffer.readableBytesView)
        if let key = data.withUnsafeBytes({ DuplicateKeys.first(in: $0) }) {
            throw CofferError(.invalidJSON, "The key `\(key.prefix(64))` appears twice in one JSON object.")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            let described = describe(error)
            // Valid JSON that does not fit (a number out of range, a fraction where an integer belongs) is the
            // request's content, not its syntax.
            if described.code == .invalidJSON, (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) != nil {
                throw CofferError(.validationFailed, "a value is out of range or not of the expected kind (an integer where a whole number is expected)")
            }
            throw described
        }
    }

    static func describe(_ error: DecodingError) -> CofferError {
        func path(_ context: DecodingError.Context, _ key: (any CodingKey)? = nil) -> String {
            let keys = context.codingPath + (key.map { [$0] } ?? [])
            return keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return CofferError(.invalidJSON, "The request body is not valid JSON.")
        case .dataCorrupted(let context):
            return .init(.validationFailed, "field `\(path(context))` has an invalid value")
        case .keyNotFound(let key, let context):
            return .init(.validationFailed, "field `\(path(context, key))` is required")
        case .valueNotFound(_, let context):
            return .init(.validationFailed, "field `\(path(context))` must not be null")
        case .typeMismatch(let type, let context):
            if context.codingPath.isEmpty { return .init(.validationFailed, "the request body must be a JSON object") }
            return .init(.validationFailed, "field `\(path(context))` must be \(describe(type))")
        @unknown default:
            return .init(.validationFailed, "the request body does not match the expected shape")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Double.Type: "a number"
        case is [String].Type, is [Any].Type: "an array"
        default: "of another type"
        }
    }
}

/// Finds a key that appears twice in one JSON object. Keys are compared after unescaping. Safe on any bytes:
/// malformed JSON is left to the decoder.
enum DuplicateKeys {
    private struct Container {
        let isObject: Bool
        var keys: Set<String> = []
        var expectingKey: Bool
    }

    static func first(in bytes: UnsafeRawBufferPointer) -> String? {
        var stack: [Container] = []
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""):
                let start = index
                index += 1
                var escaped = false
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    if bytes[index] == UInt8(ascii: "\\") {
                        escaped = true
                        index += 1
                    }
                    index += 1
                }
                guard index < bytes.count else { return nil }
                if let last = stack.indices.last, stack[last].isObject, stack[last].expectingKey {
                    let token = bytes[start...index]
                    let key =
                        escaped
                        ? (try? JSONSerialization.jsonObject(with: Data(token), options: [.fragmentsAllowed])) as? String
                        : String(decoding: token.dropFirst().dropLast(), as: UTF8.self)
                    guard let key else { return nil }
                    if !stack[last].keys.insert(key).inserted { return key }
                    stack[last].expectingKey = false
                }
            case UInt8(ascii: "{"): stack.append(Container(isObject: true, expectingKey: true))
            case UInt8(ascii: "["): stack.append(Container(isObject: false, expectingKey: false))
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if !stack.isEmpty { stack.removeLast() }
            case UInt8(ascii: ","):
                if let last = stack.indices.last, stack[last].isObject { stack[last].expectingKey = true }
            default: break
            }
            index += 1
        }
        return nil
    }
}
