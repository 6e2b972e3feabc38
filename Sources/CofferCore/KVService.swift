import CofferCrypto
import CofferStore
import Foundation
import SQLKit

/// One version of a KV entry, as Vault's KV v2 describes it.
public struct KVVersion: Sendable, Equatable {
    public let version: Int
    public let createdAt: Date
    public let deletedAt: Date?
    public let destroyed: Bool
}

/// A KV entry read: `data` is `nil` when the version is deleted or destroyed (its metadata still says which).
public struct KVEntry: Sendable {
    public let data: [String: JSONValue]?
    public let version: KVVersion
    public let customMetadata: [String: String]
}

/// A KV path's metadata and the state of every version it still holds.
public struct KVMetadata: Sendable {
    public let path: String
    public let currentVersion: Int
    public let oldestVersion: Int
    public let maxVersions: Int
    public let casRequired: Bool
    public let deleteVersionAfter: String
    public let customMetadata: [String: String]
    public let createdAt: Date
    public let updatedAt: Date
    public let versions: [KVVersion]
}

/// Changes to a path's settings; `nil` leaves one as it is.
public struct KVSettingsChange: Sendable {
    public var maxVersions: Int?
    public var casRequired: Bool?
    public var deleteVersionAfter: String?
    public var customMetadata: [String: String]?

    public init(
        maxVersions: Int? = nil, casRequired: Bool? = nil, deleteVersionAfter: String? = nil,
        customMetadata: [String: String]? = nil
    ) {
        self.maxVersions = maxVersions
        self.casRequired = casRequired
        self.deleteVersionAfter = deleteVersionAfter
        self.customMetadata = customMetadata
    }
}

/// A workspace's KV mount settings.
public struct KVConfig: Sendable, Equatable {
    public var maxVersions: Int
    public var casRequired: Bool
    public var deleteVersionAfter: String

    public init(maxVersions: Int = 0, casRequired: Bool = false, deleteVersionAfter: String = "0s") {
        self.maxVersions = maxVersions
        self.casRequired = casRequired
        self.deleteVersionAfter = deleteVersionAfter
    }
}

/// Vault's KV v2 over Coffer secrets: a KV entry is the secret whose name is its path, and whose value is the
/// entry's JSON object. The entry keeps the secret's versions, audit trail, rotation policy and encryption; it is
/// listed, read and changed through the REST API and the CLI like any other secret.
///
/// Guarantees (beside ``SecretService``'s, which this builds on):
/// - A value is returned only after its `accessed` record is durable; a deleted or destroyed version returns no
///   value, only its metadata.
/// - Check-and-set is checked inside the writing transaction, so two writers with the same `cas` cannot both win.
/// - Destroying a version empties its ciphertext for good; deleting one only hides it until it is undeleted.
/// - A secret written through the REST API whose value is not a JSON object reads as `{"value": "<text>"}`.
public final class KVService: Sendable {
    let secrets: SecretService
    let kv = KVRepository()

    init(secrets: SecretService) { self.secrets = secrets }

    private var access: WorkspaceService { secrets.access }
    private var database: any CofferDatabase { secrets.database }

    /// A KV path: 1 to 512 characters in segments of `A-Z a-z 0-9 _ . - @ + :` separated by single slashes.
    static func validatePath(_ path: String) throws {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...512).contains(path.utf8.count),
            segments.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }),
            SecretService.isPlain(path, also: "_.-@+:/")
        else {
            throw CofferError.validation(
                "path must be 1 to 512 characters of A-Z a-z 0-9 _ . - @ + : in segments separated by single slashes")
        }
    }

    static func version(_ info: SecretVersionInfo) -> KVVersion {
        KVVersion(
            version: info.version, createdAt: Date(millis: info.createdAt), deletedAt: info.deletedAt.map(Date.init(millis:)),
            destroyed: info.destroyedAt != nil)
    }

    static func decodeCustomMetadata(_ text: String?) -> [String: String] {
        guard let text, case .object(let members) = JSONValue(jsonText: text) else { return [:] }
        return members.compactMapValues { if case .string(let s) = $0 { s } else { nil } }
    }

    /// The object a stored value reads as.
    static func object(from plaintext: String) -> [String: JSONValue] {
        if plaintext.utf8.first == UInt8(ascii: "{"), case .object(let members) = JSONValue(jsonText: plaintext) {
            return members
        }
        return ["value": .string(plaintext)]
    }

    // MARK: Data

    /// Reads the current version of `path`, or `version`.
    /// - Throws: `secret_not_found` when the path or version does not exist.
    public func read(
        _ path: String, version: Int?, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> KVEntry {
        _ = try await access.authorize(.read, in: workspaceID, principal: principal, action: .accessed, origin: origin)
        try Self.validatePath(path)
        let found = try await database.read { db -> (SecretRecord, SecretVersionRecord, KVMetadataRecord?)? in
            guard let secret = try await self.secrets.secrets.find(name: path, workspaceID: workspaceID, on: db),
                let pair = try await self.secrets.secrets.findWithVersion(
                    id: secret.id, workspaceID: workspaceID, version: version, on: db)
            else { return nil }
            return (pair.0, pair.1, try await self.kv.metadata(workspaceID: workspaceID, path: path, on: db))
        }
        func event(_ secretID: String?, _ success: Bool, _ details: [String: JSONValue]) -> AuditEvent {
            var details = details
            details["path"] = .string(path)
            return AuditEvent(
                action: .accessed, workspaceID: workspaceID, secretID: secretID, userID: principal.userID,
                origin: origin, details: details, success: success)
        }
        guard let (secret, stored, metadata) = found else {
            try await secrets.audit.appendDurably(event(nil, false, ["reason": "not_found"]))
            throw CofferError(.secretNotFound, "No value at this path.")
        }
        let info = KVVersion(
            version: stored.version, createdAt: Date(millis: stored.createdAt),
            deletedAt: stored.deletedAt.map(Date.init(millis:)), destroyed: stored.destroyedAt != nil)
        let custom = Self.decodeCustomMetadata(metadata?.customMetadata)
        guard secret.isActive else {
            try await secrets.audit.appendDurably(
                event(secret.id, false, ["reason": "inactive", "version": .number(Double(stored.version))]))
            throw SecretService.inactive
        }
        guard stored.isReadable else {
            let reason: JSONValue = stored.destroyedAt != nil ? "destroyed" : "deleted"
            try await secrets.audit.appendDurably(
                event(secret.id, false, ["reason": reason, "version": .number(Double(stored.version))]))
            return KVEntry(data: nil, version: info, customMetadata: custom)
        }
        let plaintext: String
        do {
            plaintext = try await secrets.keyring.open(stored, workspaceID: workspaceID, reading: database)
        } catch let error as CofferError {
            try await secrets.audit.appendDurably(
                event(secret.id, false, ["reason": .string(error.code.rawValue), "version": .number(Double(stored.version))]))
            throw error
        }
        try await secrets.audit.appendDurably(event(secret.id, true, ["version": .number(Double(stored.version))]))
        return KVEntry(data: Self.object(from: plaintext), version: info, customMetadata: custom)
    }

    /// Writes a new version of `path` (creating the entry at version 1).
    ///
    /// `cas`: 0 writes only if the path holds no entry; N only if N is the current version. Required when the
    /// path's or the mount's `cas_required` is set.
    public func write(
        _ path: String, data: [String: JSONValue], cas: Int?, in workspaceID: String, by principal: Principal,
        origin: RequestOrigin
    ) async throws -> KVVersion {
        _ = try await access.authorize(.write, in: workspaceID, principal: principal, action: .updated, origin: origin)
        try Self.validatePath(path)
        let text = JSONValue.object(data).jsonText
        try secrets.validateValue(text, field: "data")
        return try await secrets.writeNamed { db in
            let existing = try await self.secrets.secrets.find(name: path, workspaceID: workspaceID, on: db)
            return try await self.store(
                text, at: path, over: existing, cas: cas, in: workspaceID, by: principal, origin: origin, on: db)
        }
    }

    /// Merges `patch` into the current version (JSON merge patch: `null` removes a key) as a new version.
    /// - Throws: `secret_not_found` when the path holds no readable current version.
    public func patch(
        _ path: String, with patch: [String: JSONValue], cas: Int?, in workspaceID: String, by principal: Principal,
        origin: RequestOrigin
    ) async throws -> KVVersion {
        _ = try await access.authorize(.write, in: workspaceID, principal: principal, action: .updated, origin: origin)
        try Self.validatePath(path)
        return try await secrets.writeNamed { db in
            guard let secret = try await self.secrets.secrets.find(name: path, workspaceID: workspaceID, on: db),
                let (_, stored) = try await self.secrets.secrets.findWithVersion(
                    id: secret.id, workspaceID: workspaceID, version: nil, on: db),
                stored.isReadable
            else { throw CofferError(.secretNotFound, "No value at this path to patch.") }
            let current = try await self.secrets.keyring.open(stored, workspaceID: workspaceID, on: db)
            let merged = Self.merge(.object(Self.object(from: current)), patch: .object(patch))
            let text = merged.jsonText
            try self.secrets.validateValue(text, field: "data")
            return try await self.store(
                text, at: path, over: secret, cas: cas, in: workspaceID, by: principal, origin: origin, on: db)
        }
    }

    /// RFC 7386 merge patch.
    static func merge(_ target: JSONValue, patch: JSONValue) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        var result: [String: JSONValue]
        if case .object(let members) = target { result = members } else { result = [:] }
        for (key, change) in changes {
            if change == .null {
                result[key] = nil
            } else {
                result[key] = merge(result[key] ?? .null, patch: change)
            }
        }
        return .object(result)
    }

    /// Stores `text` as the next version of the entry at `path` (or creates it), after the check-and-set rule.
    private func store(
        _ text: String, at path: String, over existing: SecretRecord?, cas: Int?, in workspaceID: String,
        by principal: Principal, origin: RequestOrigin, on db: any SQLDatabase
    ) async throws -> KVVersion {
        let settings = try await effectiveSettings(path, in: workspaceID, on: db)
        if settings.casRequired, cas == nil {
            throw CofferError(
                .casMismatch, "check-and-set parameter required for this call")
        }
        if let cas, cas != (existing?.currentVersion ?? 0) {
            throw CofferError(.casMismatch, "check-and-set parameter did not match the current version")
        }
        let now = secrets.clock()
        let keep = min(settings.maxVersions > 0 ? settings.maxVersions : secrets.settings.maxVersions, secrets.settings.maxVersions)
        guard var record = existing else {
            let policy = secrets.settings.defaultRotationPolicy
            let record = SecretRecord(
                id: Identifier.uuid(), workspaceId: workspaceID, name: path, secretType: SecretType.generic.rawValue,
                usage: nil, rotationPolicy: policy.rawValue, lastRotatedAt: now.millis,
                rotationDueAt: policy.dueDate(after: now)?.millis, tags: "[]", metadata: "{}", isActive: true,
                currentVersion: 1, createdByUserId: principal.userID, updatedByUserId: principal.userID,
                createdAt: now.millis, updatedAt: now.millis, generator: nil)
            try await secrets.secrets.insert(record, on: db)
            try await secrets.storeVersion(text, of: record, version: 1, by: principal.userID, at: now, keep: keep, on: db)
            try await secrets.audit.append(
                [
                    AuditEvent(
                        action: .created, workspaceID: workspaceID, secretID: record.id, userID: principal.userID,
                        origin: origin, details: ["name": .string(path), "version": 1, "kv": true], success: true)
                ], on: db)
            return KVVersion(version: 1, createdAt: now, deletedAt: nil, destroyed: false)
        }
        record.currentVersion += 1
        try await secrets.storeVersion(
            text, of: record, version: record.currentVersion, by: principal.userID, at: now, keep: keep, on: db)
        try await secrets.save(
            &record, by: principal.userID, at: now, audit: .updated,
            details: ["fields": ["value"], "version": .number(Double(record.currentVersion)), "kv": true],
            origin: origin, on: db)
        return KVVersion(version: record.currentVersion, createdAt: now, deletedAt: nil, destroyed: false)
    }

    /// The path's settings over the mount's.
    private func effectiveSettings(
        _ path: String, in workspaceID: String, on db: any SQLDatabase
    ) async throws -> (maxVersions: Int, casRequired: Bool) {
        let metadata = try await kv.metadata(workspaceID: workspaceID, path: path, on: db)
        let config = try await kv.config(workspaceID: workspaceID, on: db)
        let maxVersions = (metadata?.maxVersions ?? 0) > 0 ? metadata!.maxVersions : (config?.maxVersions ?? 0)
        return (maxVersions, (metadata?.casRequired ?? false) || (config?.casRequired ?? false))
    }

    // MARK: Version states

    /// What a version-state change does, and who may do it.
    public enum VersionChange: Sendable {
        case delete, undelete, destroy

        var permission: Permission { self == .destroy ? .administer : .write }
        var action: AuditAction {
            switch self {
            case .delete: .deleted
            case .undelete: .restored
            case .destroy: .purged
            }
        }
    }

    /// Deletes, undeletes or destroys `versions` of `path` (`nil`: the current version). Versions the path does
    /// not hold are ignored, as Vault does; a path with no entry changes nothing.
    public func change(
        _ change: VersionChange, versions: [Int]?, of path: String, in workspaceID: String, by principal: Principal,
        origin: RequestOrigin
    ) async throws {
        _ = try await access.authorize(
            change.permission, in: workspaceID, principal: principal, action: change.action, origin: origin)
        try Self.validatePath(path)
        if let versions {
            guard !versions.isEmpty, versions.count <= 1000, versions.allSatisfy({ $0 >= 1 }) else {
                throw CofferError.validation("versions must be a list of 1 to 1000 version numbers of 1 or more")
            }
        }
        let now = secrets.clock()
        try await database.write { db in
            guard let secret = try await self.secrets.secrets.find(name: path, workspaceID: workspaceID, on: db) else {
                return
            }
            let chosen = versions ?? [secret.currentVersion]
            switch change {
            case .delete: try await self.secrets.secrets.setDeleted(chosen, of: secret.id, at: now.millis, on: db)
            case .undelete: try await self.secrets.secrets.setDeleted(chosen, of: secret.id, at: nil, on: db)
            case .destroy: try await self.secrets.secrets.destroy(chosen, of: secret.id, at: now.millis, on: db)
            }
            try await self.secrets.audit.append(
                [
                    AuditEvent(
                        action: change.action, workspaceID: workspaceID, secretID: secret.id, userID: principal.userID,
                        origin: origin,
                        details: [
                            "name": .string(path), "versions": .array(chosen.map { .number(Double($0)) }), "kv": true,
                        ],
                        success: true)
                ], on: db)
        }
        // Destroyed ciphertexts leave the store's files too, as a purge's do.
        if change == .destroy { try await database.compact() }
    }

    // MARK: Metadata

    /// A path's metadata and versions.
    /// - Throws: `secret_not_found` when neither an entry nor settings exist at `path`.
    public func metadata(
        of path: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> KVMetadata {
        _ = try await access.authorize(.read, in: workspaceID, principal: principal, action: .accessed, origin: origin)
        try Self.validatePath(path)
        return try await database.read { db in
            let secret = try await self.secrets.secrets.find(name: path, workspaceID: workspaceID, on: db)
            let settings = try await self.kv.metadata(workspaceID: workspaceID, path: path, on: db)
            guard secret != nil || settings != nil else {
                throw CofferError(.secretNotFound, "No entry at this path.")
            }
            var versions: [SecretVersionInfo] = []
            if let secret { versions = try await self.secrets.secrets.versions(of: secret.id, on: db) }
            let created = secret?.createdAt ?? settings!.createdAt
            let updated = max(secret?.updatedAt ?? 0, settings?.updatedAt ?? 0)
            return KVMetadata(
                path: path, currentVersion: secret?.currentVersion ?? 0,
                oldestVersion: versions.map(\.version).min() ?? 0, maxVersions: settings?.maxVersions ?? 0,
                casRequired: settings?.casRequired ?? false, deleteVersionAfter: settings?.deleteVersionAfter ?? "0s",
                customMetadata: Self.decodeCustomMetadata(settings?.customMetadata), createdAt: Date(millis: created),
                updatedAt: Date(millis: updated), versions: versions.reversed().map(Self.version))
        }
    }

    /// Changes a path's settings (made if the path has none yet).
    public func updateMetadata(
        of path: String, with change: KVSettingsChange, in workspaceID: String, by principal: Principal,
        origin: RequestOrigin
    ) async throws {
        // Lowering max_versions destroys older versions at the next write: as destroying them, it needs admin.
        _ = try await access.authorize(
            change.maxVersions == nil ? .write : .administer, in: workspaceID, principal: principal, action: .updated,
            origin: origin)
        try Self.validatePath(path)
        if let max = change.maxVersions, !(0...secrets.settings.maxVersions).contains(max) {
            throw CofferError.validation("max_versions must be from 0 to \(secrets.settings.maxVersions)")
        }
        if let custom = change.customMetadata {
            guard custom.count <= 64, custom.allSatisfy({ (1...128).contains($0.key.utf8.count) && $0.value.utf8.count <= 512 })
            else {
                throw CofferError.validation(
                    "custom_metadata holds at most 64 keys of 1 to 128 bytes with values of at most 512 bytes")
            }
        }
        try Self.validateDuration(change.deleteVersionAfter)
        let now = secrets.clock().millis
        try await database.write { db in
            var record =
                try await self.kv.metadata(workspaceID: workspaceID, path: path, on: db)
                ?? KVMetadataRecord(
                    workspaceId: workspaceID, path: path, maxVersions: 0, casRequired: false, deleteVersionAfter: "0s",
                    customMetadata: "{}", createdAt: now, updatedAt: now)
            var fields: [JSONValue] = []
            if let max = change.maxVersions { record.maxVersions = max; fields.append("max_versions") }
            if let cas = change.casRequired { record.casRequired = cas; fields.append("cas_required") }
            if let after = change.deleteVersionAfter { record.deleteVersionAfter = after; fields.append("delete_version_after") }
            if let custom = change.customMetadata {
                record.customMetadata = JSONValue.object(custom.mapValues(JSONValue.string)).jsonText
                fields.append("custom_metadata")
            }
            record.updatedAt = now
            try await self.kv.saveMetadata(record, on: db)
            let secret = try await self.secrets.secrets.find(name: path, workspaceID: workspaceID, on: db)
            try await self.secrets.audit.append(
                [
                    AuditEvent(
                        action: .updated, workspaceID: workspaceID, secretID: secret?.id, userID: principal.userID,
                        origin: origin, details: ["name": .string(path), "fields": .array(fields), "kv": true],
                        success: true)
                ], on: db)
        }
    }

    /// `delete_version_after`: Coffer does not delete versions on a timer, so only a zero duration (`0`, `0s`,
    /// Go's `0h0m0s`) is accepted; anything else is refused rather than stored and silently not enforced.
    static func validateDuration(_ text: String?) throws {
        guard let text else { return }
        let units = Set("hms.")
        guard !text.isEmpty, text.count <= 32, text.allSatisfy({ $0.isASCII && ($0.isNumber || units.contains($0)) }),
            text.first!.isNumber
        else { throw CofferError.validation("delete_version_after must be a duration such as 0s or 768h0m0s") }
        guard text.allSatisfy({ $0 == "0" || units.contains($0) }) else {
            throw CofferError.validation(
                "delete_version_after is not supported: Coffer keeps versions until they are deleted or destroyed")
        }
    }

    /// Destroys the entry at `path` with every version and its settings, for good.
    public func deleteMetadata(
        of path: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws {
        _ = try await access.authorize(.administer, in: workspaceID, principal: principal, action: .purged, origin: origin)
        try Self.validatePath(path)
        let purged = try await database.write { db -> Bool in
            try await self.kv.deleteMetadata(workspaceID: workspaceID, path: path, on: db)
            guard let secret = try await self.secrets.secrets.find(name: path, workspaceID: workspaceID, on: db) else {
                return false
            }
            try await self.secrets.secrets.purge(id: secret.id, on: db)
            try await self.secrets.audit.append(
                [
                    AuditEvent(
                        action: .purged, workspaceID: workspaceID, secretID: secret.id, userID: principal.userID,
                        origin: origin, details: ["name": .string(path), "kv": true], success: true)
                ], on: db)
            return true
        }
        if purged { try await database.compact() }
    }

    /// The keys under a folder (`""` for the top), in Vault's folder form: `["app/", "top"]`.
    /// - Throws: `secret_not_found` when nothing is under the folder.
    public func list(
        folder: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> [String] {
        _ = try await access.authorize(.read, in: workspaceID, principal: principal, action: .listed, origin: origin)
        var folder = folder
        if folder.hasSuffix("/") { folder.removeLast() }
        if !folder.isEmpty { try Self.validatePath(folder) }
        let prefix = folder.isEmpty ? "" : folder + "/"
        let names = try await database.read { db in
            try await self.secrets.secrets.names(workspaceID: workspaceID, prefix: prefix, on: db)
        }
        // A set, then sorted here: the store's collation need not keep a folder's names together.
        var keys = Set<String>()
        for name in names {
            let rest = name.dropFirst(prefix.count)
            keys.insert(rest.firstIndex(of: "/").map { String(rest[...$0]) } ?? String(rest))
        }
        guard !keys.isEmpty else { throw CofferError(.secretNotFound, "Nothing under this path.") }
        return keys.sorted()
    }

    // MARK: Mount configuration

    public func config(in workspaceID: String, by principal: Principal, origin: RequestOrigin) async throws -> KVConfig {
        _ = try await access.authorize(.read, in: workspaceID, principal: principal, action: .accessed, origin: origin)
        let record = try await database.read { db in try await self.kv.config(workspaceID: workspaceID, on: db) }
        return record.map {
            KVConfig(maxVersions: $0.maxVersions, casRequired: $0.casRequired, deleteVersionAfter: $0.deleteVersionAfter)
        } ?? KVConfig()
    }

    public func configure(
        _ change: KVSettingsChange, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws {
        _ = try await access.authorize(.administer, in: workspaceID, principal: principal, action: .updated, origin: origin)
        if let max = change.maxVersions, !(0...secrets.settings.maxVersions).contains(max) {
            throw CofferError.validation("max_versions must be from 0 to \(secrets.settings.maxVersions)")
        }
        try Self.validateDuration(change.deleteVersionAfter)
        try await database.write { db in
            var record =
                try await self.kv.config(workspaceID: workspaceID, on: db)
                ?? KVConfigRecord(workspaceId: workspaceID, maxVersions: 0, casRequired: false, deleteVersionAfter: "0s")
            if let max = change.maxVersions { record.maxVersions = max }
            if let cas = change.casRequired { record.casRequired = cas }
            if let after = change.deleteVersionAfter { record.deleteVersionAfter = after }
            try await self.kv.saveConfig(record, on: db)
            try await self.secrets.audit.append(
                [
                    AuditEvent(
                        action: .updated, workspaceID: workspaceID, secretID: nil, userID: principal.userID,
                        origin: origin, details: ["kv_config": true], success: true)
                ], on: db)
        }
    }
}
