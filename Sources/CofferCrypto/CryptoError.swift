/// Errors from CofferCrypto.
///
/// `description` names the code only: an error can be logged without leaking key material, plaintext or
/// ciphertext.
public struct CryptoError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A key is not of the size the algorithm needs, or its text form is not base64 of the right length.
        public static let invalidKey = Code("invalid_key")
        /// The ciphertext is shorter than its header, or names a format version this build does not know.
        public static let malformedCiphertext = Code("malformed_ciphertext")
        /// Authentication failed: the ciphertext, its header or its associated data was altered, or the key is
        /// not the one that sealed it.
        public static let integrityCheckFailed = Code("integrity_check_failed")
        /// A ciphertext names a key version for which no key was supplied.
        public static let unknownKeyVersion = Code("unknown_key_version")
        /// A token (JWT, Fernet) is not well formed.
        public static let malformedToken = Code("malformed_token")
        /// A token's signature does not verify.
        public static let invalidSignature = Code("invalid_signature")
        /// A parameter is outside what the primitive accepts (e.g. zero PBKDF2 rounds).
        public static let invalidParameter = Code("invalid_parameter")
    }

    public let code: Code

    public init(_ code: Code) { self.code = code }

    public var description: String { "CryptoError(\(code.rawValue))" }
}
