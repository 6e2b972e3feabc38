/// Errors from the persistence layer.
///
/// Messages never contain bound values (which may be ciphertexts or password hashes); `description` names the
/// code only.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The database could not be opened or prepared (path, permissions, corrupt file).
        public static let unavailable = Code("store_unavailable")
        /// A unique constraint was violated (a name or username already taken).
        public static let conflict = Code("conflict")
        /// The schema in the database is newer than this build knows.
        public static let schemaTooNew = Code("schema_too_new")
        /// The disk under the database is full: nothing of the transaction was written; retrying after space
        /// is freed succeeds.
        public static let storageFull = Code("storage_full")
        /// A statement failed.
        public static let queryFailed = Code("query_failed")
    }

    public let code: Code
    public let publicMessage: String

    public init(_ code: Code, _ publicMessage: String) {
        self.code = code
        self.publicMessage = publicMessage
    }

    public var description: String { "StoreError(\(code.rawValue)): \(publicMessage)" }
}
