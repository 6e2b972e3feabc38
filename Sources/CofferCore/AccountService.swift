import CofferCrypto
import CofferStore
import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix
import Synchronization

/// Registration, login and access tokens (seed 001).
///
/// Guarantees:
/// - Passwords are stored only as bcrypt hashes (cost 12 by default); hashing runs on a dedicated thread pool,
///   never on the event loop.
/// - A wrong username and a wrong password give the same error, after the same bcrypt work.
/// - Access tokens are HS256 JWTs that expire after `JWT_EXPIRE_MINUTES`; a token signed with another key, of
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

    init(
        database: any CofferDatabase, jwtKey: SymmetricKey, settings: CofferSettings,
        clock: @escaping @Sendable () -> Date, hashingPool: NIOThreadPool
    ) {
        self.database = database
        self.tokens = CompactJWT(key: jwtKey)
        self.settings = settings
        self.clock = clock
        self.hashingPool = hashingPool
    }

    struct Claims: Codable {
        let sub: String
        let iat: Int64
        let exp: Int64
        let iss: String
        let jti: String
    }

    /// Creates an account. The first account becomes the instance admin; later ones need an admin caller unless
    /// sign-up is open (`COFFER_ALLOW_SIGNUP=true`).
    public func register(_ credentials: Credentials, caller: Principal?) async throws -> UserView {
        let username = credentials.username.trimmingCharacters(in: .whitespaces)
        guard (3...64).contains(username.count),
            username.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._@-".contains($0)) })
        else {
            throw CofferError.validation(
                "username must be 3 to 64 characters of letters, digits and . _ @ -")
        }
        guard credentials.password.count >= 12 else {
            throw CofferError.validation("password must be at least 12 characters")
        }
        guard credentials.password.utf8.count <= 72 else {
            throw CofferError.validation("password must be at most 72 bytes (bcrypt's limit)")
        }
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
                throw CofferError(.usernameTaken, "That username is taken.")
            }
            let record = UserRecord(
                id: UUID().uuidString.lowercased(), username: username, passwordHash: hash, isAdmin: first,
                createdAt: now)
            try await self.users.insert(record, on: db)
            return record
        }
        return UserView(record)
    }

    /// Checks a username and password and issues an access token.
    public func login(_ credentials: Credentials) async throws -> TokenGrant {
        let username = credentials.username.trimmingCharacters(in: .whitespaces)
        let user = try await database.read { try await self.users.find(username: username, on: $0) }
        let password = credentials.password
        let stored = user?.passwordHash ?? decoyHash.withLock { $0 }
        let cost = settings.bcryptCost
        let matches = try await hashingPool.runIfActive { () -> Bool in
            if let stored { return Bcrypt.verify(password, hash: stored) }
            // Unknown user and no decoy yet: hashing costs what verifying would.
            let decoy = Bcrypt.hash(Base64.encode(KeyMaterial.randomBytes(16)), cost: cost)
            self.decoyHash.withLock { $0 = $0 ?? decoy }
            return false
        }
        guard let user, matches else {
            throw CofferError(.invalidCredentials, "Invalid username or password.")
        }
        return try issueToken(for: user)
    }

    func issueToken(for user: UserRecord) throws -> TokenGrant {
        let now = Int64(clock().timeIntervalSince1970)
        let lifetime = Int64(settings.jwtExpireMinutes) * 60
        let claims = Claims(
            sub: user.id, iat: now, exp: now + lifetime, iss: "coffer", jti: UUID().uuidString.lowercased())
        return TokenGrant(accessToken: try tokens.sign(claims), expiresIn: Int(lifetime))
    }

    /// The caller a bearer token speaks for.
    /// - Throws: `invalid_token` (malformed, forged, other key or algorithm) or `token_expired`.
    public func authenticate(bearer token: String) throws -> Principal {
        let claims: Claims
        do {
            claims = try tokens.verify(token, as: Claims.self)
        } catch {
            throw CofferError(.invalidToken, "The access token is not valid.")
        }
        guard claims.iss == "coffer" else { throw CofferError(.invalidToken, "The access token is not valid.") }
        guard Int64(clock().timeIntervalSince1970) < claims.exp else {
            throw CofferError(.tokenExpired, "The access token has expired; log in again.")
        }
        return Principal(userID: claims.sub)
    }

    /// The account behind a principal.
    public func user(_ principal: Principal) async throws -> UserView {
        guard let record = try await database.read({ try await self.users.find(id: principal.userID, on: $0) }) else {
            throw CofferError(.invalidToken, "The access token is not valid.")
        }
        return UserView(record)
    }
}
