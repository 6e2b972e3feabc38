import CofferCrypto
import CofferStore
import Crypto
import Foundation
import HummingbirdBcrypt
import SQLKit
import NIOPosix
import Synchronization

/// Registration, login and access tokens (seed 001).
///
/// Guarantees:
/// - Passwords are stored only as bcrypt hashes (cost 12 by default); hashing runs on a dedicated thread pool,
///   never on the event loop.
/// - A wrong username and a wrong password give the same error, after the same bcrypt work.
/// - Access tokens are HS256 JWTs that expire after `JWT_ACCESS_TOKEN_EXPIRES` seconds (or `JWT_EXPIRE_MINUTES`); a token signed with another key, of
///   another algorithm, or expired is refused.
public final class AccountService: Sendable {
    private let database: any CofferDatabase
    private let users = UserRepository()
    private let tokens: CompactJWT
    private let settings: CofferSettings
    private let clock: @Sendable () -> Date
    private let hashingPool: NIOThreadPool
    /// A hash to verify against when the username is unknown, so timing does not reveal which part was wrong.
    /// Made on first need (off the start-up path), at the configured cost.
    private let decoyHash = Mutex<String?>(nil)
    /// Access tokens recently verified by `authenticate` whose session was live, keyed by the whole token (so a
    /// hit is the very string whose signature was checked), so a request neither decodes its token nor reads its
    /// session row. Expiry is still checked on every use; every revocation here evicts them all before it returns.
    private let liveSessions: RevocableCache<VerifiedAccess>

    private struct VerifiedAccess: Sendable {
        let userID: String
        let sessionID: String
        let expires: Int64
    }

    private let audit: AuditLog
    /// Derived from the JWT secret for CSRF tokens only, so every instance sharing the secret agrees on them.
    private let csrfKey: SymmetricKey

    init(
        database: any CofferDatabase, audit: AuditLog, jwtKey: SymmetricKey, settings: CofferSettings,
        clock: @escaping @Sendable () -> Date, hashingPool: NIOThreadPool
    ) {
        self.database = database
        self.audit = audit
        self.tokens = CompactJWT(key: jwtKey)
        self.csrfKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: jwtKey, info: Data("coffer-csrf-v1".utf8), outputByteCount: 32)
        self.settings = settings
        self.clock = clock
        self.hashingPool = hashingPool
        self.liveSessions = RevocableCache(ttl: settings.authorizationCacheSeconds, clock: clock)
    }

    private let sessions = SessionRepository()

    /// An account event: no workspace, the account's own id (or the acting admin's) as the user.
    private func event(
        _ action: AuditAction, user: String?, origin: RequestOrigin, success: Bool = true,
        _ details: [String: JSONValue] = [:]
    ) -> AuditEvent {
        AuditEvent(
            action: action, workspaceID: nil, secretID: nil, userID: user, origin: origin, details: details,
            success: success)
    }

    /// Creates an account. The first account becomes the instance admin; later ones need an admin caller unless
    /// sign-up is open (`COFFER_ALLOW_SIGNUP=true`).
    public func register(
        _ credentials: Credentials, caller: Principal?, origin: RequestOrigin = RequestOrigin()
    ) async throws -> UserView {
        let username = credentials.username.trimmingCharacters(in: .whitespaces)
        guard (3...64).contains(username.count),
            username.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._@-".contains($0)) })
        else {
            throw CofferError.validation(
                "username must be 3 to 64 characters of letters, digits and . _ @ -")
        }
        try Self.validatePassword(credentials.password, field: "password")
        let callerIsAdmin: Bool
        if let caller {
            callerIsAdmin = try await database.read { try await self.users.find(id: caller.userID, on: $0) }?.isAdmin ?? false
        } else {
            callerIsAdmin = false
        }
        let password = credentials.password
        let cost = settings.bcryptCost
        let hash = try await hashingPool.runIfActive { Bcrypt.hash(password, cost: cost) }
        let now = clock().millis
        let allowSignup = settings.allowSignup
        let record = try await database.write { db -> UserRecord in
            let first = try await self.users.count(on: db) == 0
            guard first || callerIsAdmin || allowSignup else {
                throw CofferError(.forbidden, "Registration is closed: an instance admin must create new accounts.")
            }
            guard try await self.users.find(username: username, on: db) == nil else {
                throw CofferError(.usernameTaken, "That username is taken (usernames are compared without regard to case).")
            }
            let record = UserRecord(
                id: Identifier.uuid(), username: username, passwordHash: hash, isAdmin: first,
                createdAt: now)
            try await self.users.insert(record, on: db)
            try await self.audit.append(
                [
                    self.event(
                        .registered, user: caller?.userID ?? record.id, origin: origin,
                        ["username": .string(username), "account_id": .string(record.id), "is_admin": .bool(first)])
                ], on: db)
            return record
        }
        return UserView(record)
    }

    /// Checks a username and password and issues an access token.
    public func login(_ credentials: Credentials, origin: RequestOrigin = RequestOrigin()) async throws -> TokenGrant {
        let username = credentials.username.trimmingCharacters(in: .whitespaces)
        let user = try await database.read { try await self.users.find(username: username, on: $0) }
        let password = credentials.password
        let stored = user?.passwordHash ?? decoyHash.withLock { $0 }
        let cost = settings.bcryptCost
        let matches = try await hashingPool.runIfActive { () -> Bool in
            if let stored { return Bcrypt.verify(password, hash: stored) }
            // Unknown user and no decoy yet: hashing costs what verifying would.
            let decoy = Bcrypt.hash(Base64.encode(SecureRandom.bytes(16)), cost: cost)
            self.decoyHash.withLock { $0 = $0 ?? decoy }
            return false
        }
        guard let user, matches else {
            // The attempted username (never the password), cut to a username's length.
            try await audit.appendDurably(
                event(.login, user: user?.id, origin: origin, success: false, ["username": .string(String(username.prefix(64)))]))
            throw CofferError(.invalidCredentials, "Invalid username or password.")
        }
        let now = clock()
        let session = SessionRecord(
            id: Identifier.uuid(), userId: user.id, createdAt: now.millis,
            expiresAt: now.addingTimeInterval(TimeInterval(settings.sessionDays) * 86_400).millis)
        return try await database.write { db in
            try await self.sessions.insert(session, on: db)
            try await self.audit.append(
                [self.event(.login, user: user.id, origin: origin, ["username": .string(user.username)])], on: db)
            return try await self.issue(for: user.id, session: session.id, on: db)
        }
    }

    /// A new access token and refresh token for a session, inside the caller's transaction.
    private func issue(for userID: String, session: String, on db: any SQLDatabase) async throws -> TokenGrant {
        let now = clock()
        let seconds = Int64(now.timeIntervalSince1970)
        let lifetime = Int64(settings.accessTokenSeconds)
        let claims = AccessTokenClaims(
            sub: userID, sid: session, iat: seconds, exp: seconds + lifetime, iss: "coffer",
            jti: Identifier.uuid())
        let refresh = "cfr_" + Base64.encode(SecureRandom.bytes(32), urlSafe: true, padded: false)
        try await sessions.insertToken(
            RefreshTokenRecord(tokenHash: Hex.sha256(refresh), sessionId: session, createdAt: now.millis), on: db)
        return TokenGrant(
            accessToken: try tokens.sign(claims), expiresIn: Int(lifetime), refreshToken: refresh, sessionID: session)
    }

    /// Exchanges a refresh token for a new pair. Each refresh token works once: presenting a used one again
    /// (a stolen copy, or a replay) revokes the whole session, and both holders must log in again.
    public func refresh(_ request: RefreshRequest, origin: RequestOrigin = RequestOrigin()) async throws -> TokenGrant {
        let hash = Hex.sha256(request.refreshToken)
        let invalid = CofferError(.invalidToken, "The refresh token is not valid; log in again.")
        let now = clock().millis
        let (outcome, revoked) = try await database.write { db -> (Result<TokenGrant, CofferError>, Bool) in
            guard let token = try await self.sessions.findToken(hash: hash, on: db),
                let session = try await self.sessions.find(id: token.sessionId, on: db),
                session.revokedAt == nil, session.expiresAt > now
            else { return (.failure(invalid), false) }
            guard token.usedAt == nil, try await self.sessions.markUsed(hash: hash, at: now, on: db) else {
                // Reuse: commit the revocation, then refuse.
                try await self.sessions.revoke(id: session.id, reason: "refresh_token_reused", at: now, on: db)
                try await self.audit.append(
                    [
                        self.event(
                            .refreshTokenReused, user: session.userId, origin: origin, success: false,
                            ["session_id": .string(session.id), "session_revoked": true])
                    ], on: db)
                return (
                    .failure(
                        CofferError(.invalidToken, "This refresh token was already used; the session has been revoked.")),
                    true
                )
            }
            return (.success(try await self.issue(for: session.userId, session: session.id, on: db)), false)
        }
        // Only a revocation clears the cache: an invalid token changes nothing, and must not let anyone flush it.
        if revoked { liveSessions.invalidateAll() }
        return try outcome.get()
    }

    /// Ends the caller's session: its refresh tokens stop working and its access tokens are refused.
    public func logout(_ principal: Principal, origin: RequestOrigin = RequestOrigin()) async throws {
        try principal.requireUser()
        guard let sessionID = principal.sessionID else { return }
        let now = clock().millis
        try await database.write { db in
            try await self.sessions.revoke(id: sessionID, reason: "logout", at: now, on: db)
            try await self.audit.append(
                [self.event(.logout, user: principal.userID, origin: origin, ["session_id": .string(sessionID)])], on: db)
        }
        liveSessions.invalidateAll()
    }

    /// The CSRF token of a login session, for the double-submit check of cookie sessions: an HMAC of the session id
    /// under a key derived from the JWT secret. It is the same for the session's whole life (refreshes included),
    /// differs between sessions, and cannot be made without the secret.
    public func csrfToken(session: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(session.utf8), using: csrfKey)
        return Base64.encode(Data(mac), urlSafe: true, padded: false)
    }

    /// The session a refresh token was issued for, used or not; `nil` for a token Coffer never issued.
    public func session(ofRefreshToken token: String) async throws -> String? {
        let hash = Hex.sha256(token)
        return try await database.read { try await self.sessions.findToken(hash: hash, on: $0) }?.sessionId
    }

    /// Changes the caller's password (the current one is required) and revokes all of the user's sessions.
    public func changePassword(
        _ change: PasswordChange, for principal: Principal, origin: RequestOrigin = RequestOrigin()
    ) async throws {
        try principal.requireUser()
        try Self.validatePassword(change.newPassword, field: "new_password")
        guard let user = try await database.read({ try await self.users.find(id: principal.userID, on: $0) }) else {
            throw CofferError(.invalidToken, "The access token is not valid.")
        }
        let current = change.currentPassword
        let stored = user.passwordHash
        let new = change.newPassword
        let cost = settings.bcryptCost
        let (matches, hash) = try await hashingPool.runIfActive { () -> (Bool, String?) in
            guard Bcrypt.verify(current, hash: stored) else { return (false, nil) }
            return (true, Bcrypt.hash(new, cost: cost))
        }
        guard matches, let hash else {
            try await audit.appendDurably(
                event(.passwordChanged, user: user.id, origin: origin, success: false, ["reason": "wrong_current_password"]))
            throw CofferError(.invalidCredentials, "The current password is wrong.")
        }
        let now = clock().millis
        try await database.write { db in
            try await self.users.setPassword(userID: user.id, hash: hash, at: now, on: db)
            try await self.sessions.revokeAll(userID: user.id, reason: "password_changed", at: now, on: db)
            try await self.audit.append(
                [self.event(.passwordChanged, user: user.id, origin: origin, ["sessions_revoked": true])], on: db)
        }
        liveSessions.invalidateAll()
    }

    static func validatePassword(_ password: String, field: String) throws {
        guard password.count >= 12 else {
            throw CofferError.validation("\(field) must be at least 12 characters")
        }
        guard password.utf8.count <= 72 else {
            throw CofferError.validation("\(field) must be at most 72 bytes (bcrypt's limit)")
        }
    }

    /// The caller a bearer token speaks for.
    /// - Throws: `invalid_token` (malformed, forged, other key or algorithm) or `token_expired`.
    /// - Throws: `invalid_token` (malformed, forged, other key or algorithm, or its session revoked) or
    ///   `token_expired`.
    public func authenticate(bearer token: String) async throws -> Principal {
        let now = Int64(clock().timeIntervalSince1970)
        let expired = CofferError(.tokenExpired, "The access token has expired; refresh it or log in again.")
        if let verified = liveSessions.value(for: token) {
            guard now < verified.expires else { throw expired }
            return Principal(userID: verified.userID, sessionID: verified.sessionID)
        }
        let invalid = CofferError(.invalidToken, "The access token is not valid.")
        guard let claims = try? tokens.verify(token, as: AccessTokenClaims.self), claims.iss == "coffer",
            let sessionID = claims.sid
        else { throw invalid }
        guard now < claims.exp else { throw expired }
        let ticket = liveSessions.ticket()
        let session = try await database.read { try await self.sessions.find(id: sessionID, on: $0) }
        guard let session, session.userId == claims.sub, session.revokedAt == nil else {
            throw CofferError(.invalidToken, "The session has ended; log in again.")
        }
        liveSessions.store(
            VerifiedAccess(userID: claims.sub, sessionID: sessionID, expires: claims.exp), for: token, ticket: ticket)
        return Principal(userID: claims.sub, sessionID: sessionID)
    }

    /// The account behind a principal.
    public func user(_ principal: Principal) async throws -> UserView {
        try principal.requireUser()
        guard let record = try await database.read({ try await self.users.find(id: principal.userID, on: $0) }) else {
            throw CofferError(.invalidToken, "The access token is not valid.")
        }
        return UserView(record)
    }
}

/// What a Coffer access token says, signed with HS256: the user (`sub`), the session whose revocation ends it
/// (`sid`), issue and expiry times in Unix seconds, issuer `coffer` and a unique id. It carries no role and no
/// secret: authorization is decided per request from the database.
public struct AccessTokenClaims: Codable, Sendable {
    public let sub: String
    public let sid: String?
    public let iat: Int64
    public let exp: Int64
    public let iss: String
    public let jti: String

    public init(sub: String, sid: String?, iat: Int64, exp: Int64, iss: String, jti: String) {
        self.sub = sub
        self.sid = sid
        self.iat = iat
        self.exp = exp
        self.iss = iss
        self.jti = jti
    }
}
