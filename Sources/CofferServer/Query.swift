import CofferCore
import Hummingbird

/// A request's query parameters, with the typed reads both API surfaces use.
struct Query {
    private let parameters: Parameters

    /// Parses the request's query string once (each `uri.queryParameters` parses it anew).
    init(_ request: Request) { parameters = request.uri.queryParameters }

    func string(_ name: String) -> String? { parameters.get(name) }

    /// A boolean query parameter (`true`/`false`/`1`/`0`); anything else is a 422.
    func boolean(_ name: String) throws -> Bool? {
        guard let text = parameters.get(name) else { return nil }
        switch text.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw CofferError(.validationFailed, "\(name) must be true or false")
        }
    }

    /// An integer query parameter; present but not an integer is a 422.
    func integer(_ name: String) throws -> Int? {
        guard let text = parameters.get(name) else { return nil }
        guard let value = Int(text) else { throw CofferError(.validationFailed, "\(name) must be an integer") }
        return value
    }
}
