import CofferCrypto
import Crypto
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A secret that prints as `<REDACTED>` wherever it is interpolated, logged or dumped.
public struct Redacted<Value: Sendable>: Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public let value: Value
    public init(_ value: Value) { self.value = value }
    public var description: String { "<REDACTED>" }
    public var debugDescription: String { "<REDACTED>" }
    public var customMirror: Mirror { Mirror(self, children: []) }
}

/// Where a key came from: an environment variable (named), a file (path), or freshly generated into a file.
public enum KeySource: Sendable, Equatable, CustomStringConvertible {
    case environment(String)
    case file(String)
    case generated(String)

    public var description: String {
        switch self {
        case .environment(let name): "environment variable \(name)"
        case .file(let path): "file \(path)"
        case .generated(let path): "new file \(path)"
        }
    }
}

/// Loads the master key and the JWT signing secret (seeds 000, 001, 003).
///
/// Order: an environment variable (`COFFER_MASTER_KEY`, or one of the seeds' names in ``masterKeyVariables``), or
/// the file its `_FILE` twin names (`COFFER_MASTER_KEY_FILE=/run/secrets/coffer_master_key`, the container-secrets
/// convention, which keeps the key out of `/proc/PID/environ`);
/// otherwise `<data>/master.key`; otherwise, outside production, a new random key written to that file with
/// mode 0400. In production (`ENVIRONMENT=production`) a key must be configured explicitly. Every refusal says
/// what to set; no message contains key material.
public struct KeyLoader: Sendable {
    /// Environment variables that may hold the master key, in order of precedence.
    /// The seeds' names: `SECRET_ENCRYPTION_KEY` (004), `ENCRYPTION_KEY` (000), `FOSSAWORK_MASTER_KEY` (002),
    /// `TOKEN_ENCRYPTION_KEY` (003, a Fernet key). Two of them set to different keys is an error.
    public static let masterKeyVariables = [
        "COFFER_MASTER_KEY", "SECRET_ENCRYPTION_KEY", "ENCRYPTION_KEY", "FOSSAWORK_MASTER_KEY", "TOKEN_ENCRYPTION_KEY",
    ]
    public static let jwtSecretVariable = "JWT_SECRET_KEY"
    public static let masterKeyFile = "master.key"
    public static let jwtSecretFile = "jwt.secret"

    let environment: [String: String]
    let dataDirectory: URL
    let logger: Logger

    public init(environment: [String: String], dataDirectory: URL, logger: Logger) {
        self.environment = environment
        self.dataDirectory = dataDirectory
        self.logger = logger
    }

    /// `true` when `ENVIRONMENT` or `COFFER_ENV` says `production` (or `prod`). Either one is enough: when they
    /// disagree, the stricter reading wins.
    public var isProduction: Bool {
        ["ENVIRONMENT", "COFFER_ENV"].contains { name in
            let value = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            return value == "production" || value == "prod"
        }
    }

    /// The settings that may be given as a file (`<name>_FILE`): Coffer's own names only, so that a seed's generic
    /// `ENCRYPTION_KEY_FILE` meant for another program is never taken for a key.
    static let fileVariables: Set<String> = ["COFFER_MASTER_KEY", "COFFER_PREVIOUS_MASTER_KEY", "JWT_SECRET_KEY"]

    /// The text of setting `name`: the variable itself, or the file `<name>_FILE` names (surrounding blanks
    /// dropped). Both set, or a file that cannot be read, is an error naming them; `nil` when neither is set.
    func setting(_ name: String) throws(KeyError) -> (text: String, source: KeySource)? {
        let direct = environment[name].flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
        guard Self.fileVariables.contains(name), let path = environment[name + "_FILE"], !path.isEmpty else {
            return direct.map { ($0, .environment(name)) }
        }
        guard direct == nil else { throw KeyError(.invalidKey, "\(name) and \(name)_FILE are both set: set only one.") }
        guard var data = FileManager.default.contents(atPath: path) else {
            throw KeyError(.missingKey, "\(name)_FILE names \(path), which cannot be read.")
        }
        defer { KeyMaterial.wipe(&data) }
        guard let text = String(data: data, encoding: .utf8) else {
            throw KeyError(.invalidKey, "\(name)_FILE names \(path), which is not UTF-8 text.")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw KeyError(.invalidKey, "\(name)_FILE names \(path), which is empty.") }
        return (trimmed, .file(path))
    }

    /// How a refusal names setting `name` given from `source`: the variable, or its `_FILE` twin and the path.
    static func named(_ name: String, from source: KeySource) -> String {
        if case .file(let path) = source { "\(name)_FILE (\(path))" } else { name }
    }

    /// The master key and where it came from. With `generate: false` (offline tools), a missing key is an error
    /// instead of a new file.
    public func masterKey(generate: Bool = true) throws(KeyError) -> (key: SymmetricKey, source: KeySource) {
        var found: (name: String, key: SymmetricKey, source: KeySource)?
        for name in Self.masterKeyVariables {
            guard let (text, source) = try setting(name) else { continue }
            let key: SymmetricKey
            do {
                key = try KeyMaterial.parseKey(text)
            } catch {
                throw KeyError(
                    .invalidKey,
                    "\(Self.named(name, from: source)) is not a valid master key: it must be base64 (or url-safe base64) of exactly 32 bytes. "
                        + "Generate one with `coffer keygen` or `openssl rand -base64 32`.")
            }
            if let found, found.key != key {
                throw KeyError(.invalidKey, "\(found.name) and \(name) are both set and differ: set only one.")
            }
            if found == nil { found = (name, key, source) }
        }
        if let found { return (found.key, found.source) }
        let path = dataDirectory.appendingPathComponent(Self.masterKeyFile).path
        if let text = try readKeyFile(path) {
            do {
                return (try KeyMaterial.parseKey(text), .file(path))
            } catch {
                throw KeyError(.invalidKey, "\(path) does not hold a valid master key (base64 of exactly 32 bytes).")
            }
        }
        guard generate else {
            throw KeyError(.missingKey, "No master key: set COFFER_MASTER_KEY or keep \(path) in the data directory.")
        }
        guard !isProduction else {
            throw KeyError(
                .missingKey,
                "ENVIRONMENT=production requires an explicit master key: set COFFER_MASTER_KEY to base64 of 32 random "
                    + "bytes (e.g. `openssl rand -base64 32`) and keep a backup of it outside this machine.")
        }
        let key = KeyMaterial.generate()
        try writeKeyFile(path, contents: KeyMaterial.encode(key))
        logger.warning(
            "Generated a new master key. BACK THIS FILE UP: without it every stored secret is unrecoverable.",
            metadata: ["path": "\(path)"])
        return (key, .generated(path))
    }

    /// The previous master key (`COFFER_PREVIOUS_MASTER_KEY`) for an n-1 → n rotation at start-up, if set.
    public func previousMasterKey() throws(KeyError) -> SymmetricKey? {
        guard let (text, _) = try setting("COFFER_PREVIOUS_MASTER_KEY") else { return nil }
        do {
            return try KeyMaterial.parseKey(text)
        } catch {
            throw KeyError(.invalidKey, "COFFER_PREVIOUS_MASTER_KEY is not a valid key (base64 of exactly 32 bytes).")
        }
    }

    /// The HMAC key for access tokens: `JWT_SECRET_KEY` (at least 32 characters), else `<data>/jwt.secret`,
    /// else (outside production) 32 random bytes written there as hex with mode 0400.
    public func jwtSecret() throws(KeyError) -> (key: SymmetricKey, source: KeySource) {
        if let (text, source) = try setting(Self.jwtSecretVariable) {
            guard text.utf8.count >= 32 else {
                throw KeyError(
                    .invalidKey,
                    "\(Self.named(Self.jwtSecretVariable, from: source)) must hold at least 32 characters "
                        + "(e.g. `openssl rand -hex 32`).")
            }
            return (SymmetricKey(data: Array(text.utf8)), source)
        }
        let path = dataDirectory.appendingPathComponent(Self.jwtSecretFile).path
        if let text = try readKeyFile(path) {
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard trimmed.utf8.count >= 32 else {
                throw KeyError(.invalidKey, "\(path) holds a JWT secret shorter than 32 characters.")
            }
            return (SymmetricKey(data: Array(trimmed.utf8)), .file(path))
        }
        guard !isProduction else {
            throw KeyError(
                .missingKey,
                "ENVIRONMENT=production requires JWT_SECRET_KEY: set it to at least 32 random characters "
                    + "(e.g. `openssl rand -hex 32`).")
        }
        let secret = Hex.encode(SecureRandom.bytes(32))
        try writeKeyFile(path, contents: secret)
        logger.notice("Generated a new JWT signing secret.", metadata: ["path": "\(path)"])
        return (SymmetricKey(data: Array(secret.utf8)), .generated(path))
    }

    private func readKeyFile(_ path: String) throws(KeyError) -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard var data = FileManager.default.contents(atPath: path) else {
            throw KeyError(.keyFileError, "\(path) exists but cannot be read by this user.")
        }
        defer { KeyMaterial.wipe(&data) }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0
        {
            logger.warning(
                "Key file is readable by group or others; restrict it with chmod 400.",
                metadata: ["path": "\(path)", "mode": "\(String(mode, radix: 8))"])
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes a new key file: created exclusively (never overwrites), mode 0400, flushed to disk with its folder.
    private func writeKeyFile(_ path: String, contents: String) throws(KeyError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o400)
        guard fd >= 0 else { throw KeyError(.keyFileError, "Cannot create \(path): \(String(cString: strerror(errno))).") }
        let bytes = Array((contents + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced else {
            unlink(path)
            throw KeyError(.keyFileError, "Cannot write \(path).")
        }
        let dir = open(dataDirectory.path, O_RDONLY | O_DIRECTORY)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }
}
