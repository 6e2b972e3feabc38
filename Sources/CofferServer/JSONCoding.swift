import CofferCore
import Foundation
import Hummingbird

/// JSON in and out, with the API's conventions (ISO 8601 dates, no escaped slashes).
enum JSONCoding {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    /// Reads and decodes a JSON request body, mapping every failure to a clear client error:
    /// not JSON → 400 `invalid_json`; missing, null or mistyped field → 422 `validation_failed` naming the field;
    /// larger than the body limit → 413.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: CofferRequestContext) async throws -> T {
        var request = request
        return try decode(type, body: try await request.collectBody(upTo: context.maxBodyBytes))
    }

    /// Decodes a body already read, with the same errors as ``decode(_:from:context:)``.
    static func decode<T: Decodable>(_ type: T.Type, body buffer: ByteBuffer) throws -> T {
        guard buffer.readableBytes > 0 else {
            throw CofferError(.invalidJSON, "A JSON request body is required.")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw describe(error)
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
