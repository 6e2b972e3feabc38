/// Errors from key providers and key loading.
///
/// `publicMessage` is written for an operator: it says what to set or fix and never contains key material.
/// `description` names the code only.
public struct KeyError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// No master key is configured where one is required (production).
        public static let missingKey = Code("missing_key")
        /// A configured key is not base64 of the right length, or two settings disagree.
        public static let invalidKey = Code("invalid_key")
        /// The key is valid but is not the one the stored data was written with.
        public static let wrongKey = Code("wrong_key")
        /// A wrapped key failed authentication: tampered, or wrapped for another context.
        public static let unwrapFailed = Code("unwrap_failed")
        /// A key file could not be read or written.
        public static let keyFileError = Code("key_file_error")
        /// The key backend could not be reached or refused the request.
        public static let providerUnavailable = Code("provider_unavailable")
    }

    public let code: Code
    public let publicMessage: String

    public init(_ code: Code, _ publicMessage: String) {
        self.code = code
        self.publicMessage = publicMessage
    }

    public var description: String { "KeyError(\(code.rawValue)): \(publicMessage)" }
}
