import CofferCore
import CofferKeys
import Foundation
import Hummingbird
import NIOCore

/// The one place that maps errors to HTTP statuses and the API's error body:
/// `{"error": {"code": "<stable_code>", "message": "<safe text>"}}`.
///
/// Messages come from the errors' public messages, which never contain values, keys or passwords; anything
/// unexpected becomes `internal_error` with a generic message (its details go to the server log only).
extension HTTPResponse.Status {
    /// 507 (RFC 4918): the server's storage is full.
    static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")
}

struct APIError: Error {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    /// Seconds for a `Retry-After` header (429 and 503 answers).
    var retryAfter: Int?

    init(status: HTTPResponse.Status, code: String, message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    /// Classifies any error; `expected` is false for errors worth a log line at error level.
    static func from(_ error: any Error) -> (error: APIError, expected: Bool) {
        switch error {
        case let error as APIError:
            return (error, true)
        case let error as CofferError:
            let status = status(of: error.code)
            // A 503 is worth retrying shortly; say when.
            let retryAfter = status == .serviceUnavailable ? 1 : nil
            return (
                APIError(status: status, code: error.code.rawValue, message: error.publicMessage, retryAfter: retryAfter),
                status.code < 500
            )
        case is NIOTooManyBytesError:
            return (APIError(status: .contentTooLarge, code: "payload_too_large", message: "The request body is too large."), true)
        case let error as any HTTPResponseError:
            return (APIError(status: error.status, code: code(of: error.status), message: message(of: error.status)), error.status.code < 500)
        default:
            return (APIError(status: .internalServerError, code: "internal_error", message: "An internal error occurred."), false)
        }
    }

    static func status(of code: CofferError.Code) -> HTTPResponse.Status {
        switch code {
        case .validationFailed: .unprocessableContent
        case .invalidJSON: .badRequest
        case .authenticationRequired, .invalidToken, .tokenExpired, .invalidCredentials: .unauthorized
        case .forbidden: .forbidden
        case .workspaceNotFound, .secretNotFound, .userNotFound, .memberNotFound, .tokenNotFound: .notFound
        case .rateLimited: .tooManyRequests
        case .usernameTaken, .secretNameConflict, .lastOwner, .conflict, .secretInactive: .conflict
        case .auditUnavailable, .keyProviderUnavailable, .storeUnavailable: .serviceUnavailable
        case .insufficientStorage: .insufficientStorage
        default: .internalServerError
        }
    }

    static func code(of status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: "bad_request"
        case 401: "authentication_required"
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 413: "payload_too_large"
        case 415: "unsupported_media_type"
        default: status.code >= 500 ? "internal_error" : "request_error"
        }
    }

    static func message(of status: HTTPResponse.Status) -> String {
        switch status.code {
        case 404: "No such endpoint."
        case 405: "Method not allowed on this endpoint."
        case 413: "The request body is too large."
        default: status.code >= 500 ? "An internal error occurred." : status.reasonPhrase
        }
    }

    func response() -> Response {
        struct Body: Encodable {
            struct Detail: Encodable { let code: String; let message: String }
            let error: Detail
        }
        let data = (try? JSONCoding.encoder.encode(Body(error: .init(code: code, message: message)))) ?? Data()
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// An encodable value as a JSON response with a status.
struct JSONResponse<Value: Encodable & Sendable>: ResponseGenerator {
    let value: Value
    var status: HTTPResponse.Status = .ok

    init(_ value: Value, status: HTTPResponse.Status = .ok) {
        self.value = value
        self.status = status
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONCoding.body(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }
}
