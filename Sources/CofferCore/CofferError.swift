/// The domain's error: a stable `code` for the API, a `publicMessage` that is safe to show a client, and a
/// `description` that names the code only, so logging an error can never leak a value, key or password.
///
/// Only CofferServer maps codes to HTTP statuses.
public struct CofferError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The request is well-formed JSON but a field is missing, of the wrong type, or out of range.
        public static let validationFailed = Code("validation_failed")
        /// The request body is not JSON.
        public static let invalidJSON = Code("invalid_json")
        /// No bearer token was sent where one is required.
        public static let authenticationRequired = Code("authentication_required")
        /// The bearer token is malformed, forged, or signed with another key.
        public static let invalidToken = Code("invalid_token")
        /// The bearer token has expired.
        public static let tokenExpired = Code("token_expired")
        /// Username or password is wrong (the message does not say which).
        public static let invalidCredentials = Code("invalid_credentials")
        /// The caller is authenticated but lacks the permission.
        public static let forbidden = Code("forbidden")
        /// The workspace does not exist or the caller is not a member.
        public static let workspaceNotFound = Code("workspace_not_found")
        /// The secret (or the requested version of it) does not exist in the workspace.
        public static let secretNotFound = Code("secret_not_found")
        /// No such user.
        public static let userNotFound = Code("user_not_found")
        /// No such member in the workspace.
        public static let memberNotFound = Code("member_not_found")
        /// No such service token in the workspace.
        public static let tokenNotFound = Code("token_not_found")
        /// Too many requests (or failed logins) from this client or for this account; retry later.
        public static let rateLimited = Code("rate_limited")
        /// The username is taken.
        public static let usernameTaken = Code("username_taken")
        /// A live secret with that name exists in the workspace.
        public static let secretNameConflict = Code("secret_name_conflict")
        /// The change would leave a workspace without an owner.
        public static let lastOwner = Code("last_owner")
        /// A stored ciphertext or wrapped key failed authentication: tampered with or moved. No value is returned.
        public static let integrityCheckFailed = Code("integrity_check_failed")
        /// The audit record could not be made durable, so the operation was refused (fail-closed).
        public static let auditUnavailable = Code("audit_unavailable")
        /// The database is unreachable or did not answer in time; retrying later may succeed.
        public static let storeUnavailable = Code("store_unavailable")
        /// The store's disk is full: nothing was written; the request may be retried once space is freed.
        public static let insufficientStorage = Code("insufficient_storage")
        /// The secret is deactivated (`is_active: false`): its value is not served until it is reactivated.
        public static let secretInactive = Code("secret_inactive")
        /// A record with the same identity already exists (a uniqueness rule of the store).
        public static let conflict = Code("conflict")
        /// No transit key of that name in the workspace.
        public static let transitKeyNotFound = Code("transit_key_not_found")
        /// A transit ciphertext is malformed, was made by another key, or fails authentication.
        public static let invalidCiphertext = Code("invalid_ciphertext")
        /// A check-and-set write named a version other than the current one (or none where one is required).
        public static let casMismatch = Code("cas_mismatch")
        /// A key backend failed.
        public static let keyProviderUnavailable = Code("key_provider_unavailable")
        /// Anything unexpected; details go to the server log, never to the client.
        public static let internalError = Code("internal_error")
    }

    public let code: Code
    public let publicMessage: String

    public init(_ code: Code, _ publicMessage: String) {
        self.code = code
        self.publicMessage = publicMessage
    }

    public var description: String { "CofferError(\(code.rawValue))" }

    static func validation(_ message: String) -> CofferError { CofferError(.validationFailed, message) }
}
