import CofferCrypto
import CofferStore
import Foundation
import SQLKit

/// Seed 004's secret management: create, list, read, update, rotate, delete, audit.
///
/// Guarantees:
/// - A value is stored only as an envelope sealed by the ``Keyring``; it never appears in metadata, errors,
///   audit records or logs.
/// - Every change commits together with its audit record. A value is returned only after its `accessed` record
///   is durable (fail-closed); if that write fails, the caller gets `audit_unavailable` and no value.
/// - A value that fails its integrity check is never returned; the failure is audited.
public final class SecretService: Sendable {
    let database: any CofferDatabase
    let keyring: Keyring
    let audit: AuditLog
    let access: WorkspaceService
    let settings: CofferSettings
    let clock: @Sendable () -> Date
    let secrets = SecretRepository()
    let auditRecords = AuditRepository()

    init(
        database: any CofferDatabase, keyring: Keyring, audit: AuditLog, access: WorkspaceService,
        settings: CofferSettings, clock: @escaping @Sendable () -> Date
    ) {
        self.database = database
        self.keyring = keyring
        self.audit = audit
        self.access = access
        self.settings = settings
        self.clock = clock
    }

    // MARK: Validation

    static func validateName(_ name: String) throws {
        guard Dotenv.isVariableName(name) else {
            throw CofferError.validation(
                "name must match [A-Za-z_][A-Za-z0-9_]* and be at most 128 characters (an environment variable name)")
        }
    }

    func validateValue(_ value: String, field: String) throws {
        guard !value.isEmpty else { throw CofferError.validation("\(field) must not be empty") }
        guard value.utf8.count <= settings.maxSecretBytes else {
            throw CofferError.validation("\(field) must be at most \(settings.maxSecretBytes) bytes")
        }
    }

    static func parseType(_ text: String?) throws -> SecretType? {
        guard let text else { return nil }
        guard let type = SecretType(parsing: text) else {
            throw CofferError.validation(
                "secret_type must be one of " + SecretType.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return type
    }

    static func parsePolicy(_ text: String?) throws -> RotationPolicy? {
        guard let text else { return nil }
        guard let policy = RotationPolicy(rawValue: text) else {
            throw CofferError.validation(
                "rotation_policy must be one of " + RotationPolicy.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return policy
    }

    static func encodeTags(_ tags: [String]) throws -> String {
        guard tags.count <= 50 else { throw CofferError.validation("at most 50 tags") }
        for tag in tags where !isValidTag(tag) {
            throw CofferError.validation("each tag must be 1 to 64 of the characters A-Z a-z 0-9 _ . : / @ + -")
        }
        return JSONValue.array(tags.map(JSONValue.string)).jsonText
    }

    static func isValidTag(_ tag: String) -> Bool {
        (1...64).contains(tag.utf8.count) && isPlain(tag, also: "_.:/@+-")
    }

    /// Whether every byte of `text` is an ASCII letter or digit, or one of `extra`: the character rules of tags,
    /// KV paths and transit key names.
    static func isPlain(_ text: String, also extra: StaticString) -> Bool {
        text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default: extra.withUTF8Buffer { $0.contains(byte) }
            }
        }
    }

    static func encodeMetadata(_ metadata: JSONValue) throws -> String {
        guard case .object = metadata else { throw CofferError.validation("metadata must be a JSON object") }
        let text = metadata.jsonText
        guard text.utf8.count <= 16_384 else { throw CofferError.validation("metadata must be at most 16 KiB") }
        return text
    }

    static func validateUsage(_ usage: String?) throws {
        if let usage, usage.count > 1_000 { throw CofferError.validation("usage must be at most 1000 characters") }
    }

    // MARK: Operations

    /// Creates a secret (version 1). Returns metadata, never the value.
    public func create(
        _ input: SecretCreate, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> SecretMetadata {
        _ = try await access.authorize(.write, in: workspaceID, principal: principal, action: .created, origin: origin)
        try Self.validateName(input.name)
        let value: String
        switch (input.value, input.generate) {
        case (let given?, nil):
            try validateValue(given, field: "value")
            value = given
        case (nil, let spec?):
            try ValueGenerator.validate(spec)
            value = ValueGenerator.generate(spec)
        case (nil, nil):
            throw CofferError.validation("field `value` is required (or `generate`, to let Coffer make the value)")
        case (_?, _?):
            throw CofferError.validation("give either `value` or `generate`, not both")
        }
        try Self.validateUsage(input.usage)
        let type = try Self.parseType(input.secretType) ?? .generic
        let policy = try Self.parsePolicy(input.rotationPolicy) ?? settings.defaultRotationPolicy
        let tags = try Self.encodeTags(input.tags ?? [])
        let metadata = try Self.encodeMetadata(input.metadata ?? .object([:]))
        let now = clock()
        let record = SecretRecord(
            id: Identifier.uuid(), workspaceId: workspaceID, name: input.name, secretType: type.rawValue,
            usage: input.usage, rotationPolicy: policy.rawValue, lastRotatedAt: now.millis,
            rotationDueAt: policy.dueDate(after: now)?.millis, tags: tags, metadata: metadata, isActive: true,
            currentVersion: 1, createdByUserId: principal.userID, updatedByUserId: principal.userID,
            createdAt: now.millis, updatedAt: now.millis,
            generator: try input.generate.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) })
        try await writeNamed { db in
            guard try await !self.secrets.exists(name: record.name, workspaceID: workspaceID, on: db) else {
                throw CofferError(.secretNameConflict, "A secret with that name already exists in this workspace.")
            }
            try await self.secrets.insert(record, on: db)
            try await self.storeVersion(value, of: record, version: 1, by: principal.userID, at: now, on: db)
            try await self.audit.append(
                [
                    AuditEvent(
                        action: .created, workspaceID: workspaceID, secretID: record.id, userID: principal.userID,
                        origin: origin, details: ["name": .string(record.name), "version": .number(1)], success: true)
                ], on: db)
        }
        return SecretMetadata(record)
    }

    /// A write that stores a secret under a name: a uniqueness violation from the store can only be another live
    /// secret holding that name, so it is `secret_name_conflict` (the name checks inside the transaction make it
    /// unreachable while writes are serialized; this keeps the answer right if they ever are not).
    func writeNamed<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        do {
            return try await database.write(body)
        } catch let error as CofferError where error.code == .conflict {
            throw CofferError(.secretNameConflict, "A secret with that name already exists in this workspace.")
        }
    }

    /// A page of the workspace's secrets in name order (`limit` 1…1000).
    public func list(
        in workspaceID: String, filter: SecretFilter = SecretFilter(), limit: Int, offset: Int, by principal: Principal,
        origin: RequestOrigin
    ) async throws -> Page<SecretMetadata> {
        try Page<SecretMetadata>.validate(limit: limit, offset: offset)
        var filter = filter
        filter.secretType = try Self.parseType(filter.secretType)?.rawValue
        _ = try await access.authorize(.read, in: workspaceID, principal: principal, action: .listed, origin: origin)
        let query = filter
        let (items, total) = try await database.read { db in
            try await self.secrets.list(
                workspaceID: workspaceID, tag: query.tag, secretType: query.secretType, namePrefix: query.namePrefix,
                includeDeleted: query.includeDeleted, limit: limit, offset: offset, on: db)
        }
        return Page(items: items.map(SecretMetadata.init), total: total, limit: limit, offset: offset)
    }

    /// One secret's metadata.
    public func metadata(
        of secretID: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> SecretMetadata {
        _ = try await access.authorize(
            .read, in: workspaceID, principal: principal, action: .accessed, secretID: secretID, origin: origin)
        return SecretMetadata(try await find(secretID, in: workspaceID))
    }

    /// Seed 004's `is_active: false`: the value is withheld, metadata, versions and audit stay readable.
    static let inactive = CofferError(
        .secretInactive, "This secret is deactivated (is_active is false); reactivate it to read its value.")

    /// The metadata of the live secret named `name` in a workspace.
    /// - Throws: `secret_not_found`.
    public func metadata(
        named name: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> SecretMetadata {
        _ = try await access.authorize(.read, in: workspaceID, principal: principal, action: .accessed, origin: origin)
        // Only a name a secret can have is looked up (no NUL or other bytes a store might refuse).
        guard Dotenv.isVariableName(name) || (try? KVService.validatePath(name)) != nil else {
            throw CofferError(.secretNotFound, "No secret with that name in this workspace.")
        }
        let record = try await database.read { db in
            try await self.secrets.find(name: name, workspaceID: workspaceID, on: db)
        }
        guard let record else { throw CofferError(.secretNotFound, "No secret with that name in this workspace.") }
        return SecretMetadata(record)
    }

    /// A secret's value (the current version, or `version`), released only after the access is durably audited.
    public func value(
        of secretID: String, in workspaceID: String, version: Int? = nil, by principal: Principal,
        origin: RequestOrigin
    ) async throws -> SecretValue {
        _ = try await access.authorize(
            .read, in: workspaceID, principal: principal, action: .accessed, secretID: secretID, origin: origin)
        func event(_ success: Bool, _ details: [String: JSONValue]) -> AuditEvent {
            AuditEvent(
                action: .accessed, workspaceID: workspaceID, secretID: secretID, userID: principal.userID,
                origin: origin, details: details, success: success)
        }
        let found = try await database.read { db in
            try await self.secrets.findWithVersion(id: secretID, workspaceID: workspaceID, version: version, on: db)
        }
        guard let (secret, stored) = found else {
            try await audit.appendDurably(event(false, ["reason": .string("not_found")]))
            throw CofferError(.secretNotFound, version == nil ? "Secret not found." : "Secret or version not found.")
        }
        guard secret.isActive else {
            try await audit.appendDurably(event(false, ["reason": "inactive", "version": .number(Double(stored.version))]))
            throw Self.inactive
        }
        guard stored.isReadable else {
            let reason = stored.destroyedAt != nil ? "version_destroyed" : "version_deleted"
            try await audit.appendDurably(
                event(false, ["reason": .string(reason), "version": .number(Double(stored.version))]))
            throw CofferError(.secretNotFound, "That version was deleted or destroyed through the KV API.")
        }
        let plaintext: String
        do {
            plaintext = try await keyring.open(stored, workspaceID: workspaceID, reading: database)
        } catch let error as CofferError {
            try await audit.appendDurably(
                event(false, ["reason": .string(error.code.rawValue), "version": .number(Double(stored.version))]))
            throw error
        }
        try await audit.appendDurably(event(true, ["version": .number(Double(stored.version))]))
        return SecretValue(id: secret.id, name: secret.name, value: plaintext, version: stored.version)
    }

    /// Updates metadata and, if `value` is given, stores it as a new version.
    public func update(
        _ secretID: String, in workspaceID: String, with patch: SecretPatch, by principal: Principal,
        origin: RequestOrigin
    ) async throws -> SecretMetadata {
        _ = try await access.authorize(
            .write, in: workspaceID, principal: principal, action: .updated, secretID: secretID, origin: origin)
        if let value = patch.value { try validateValue(value, field: "value") }
        try Self.validateUsage(patch.usage)
        let type = try Self.parseType(patch.secretType)
        let policy = try Self.parsePolicy(patch.rotationPolicy)
        let tags = try patch.tags.map(Self.encodeTags)
        let metadata = try patch.metadata.map(Self.encodeMetadata)
        let now = clock()
        return try await database.write { db in
            var record = try await self.secret(secretID, in: workspaceID, on: db)
            var changed: [JSONValue] = []
            if let type { record.secretType = type.rawValue; changed.append("secret_type") }
            if let usage = patch.usage { record.usage = usage; changed.append("usage") }
            if let tags { record.tags = tags; changed.append("tags") }
            if let metadata { record.metadata = metadata; changed.append("metadata") }
            if let active = patch.isActive { record.isActive = active; changed.append("is_active") }
            if let policy {
                record.rotationPolicy = policy.rawValue
                record.rotationDueAt = policy.dueDate(after: Date(millis: record.lastRotatedAt ?? record.createdAt))?.millis
                changed.append("rotation_policy")
            }
            if let value = patch.value {
                record.currentVersion += 1
                try await self.storeVersion(value, of: record, version: record.currentVersion, by: principal.userID, at: now, on: db)
                changed.append("value")
            }
            let details: [String: JSONValue] = [
                "fields": .array(changed), "version": .number(Double(record.currentVersion)),
            ]
            try await self.save(
                &record, by: principal.userID, at: now, audit: .updated, details: details, origin: origin, on: db)
            return SecretMetadata(record)
        }
    }

    /// Stores a new value as a new version and restarts the rotation period.
    public func rotate(
        _ secretID: String, in workspaceID: String, newValue: String?, by principal: Principal, origin: RequestOrigin
    ) async throws -> SecretMetadata {
        _ = try await access.authorize(
            .write, in: workspaceID, principal: principal, action: .rotated, secretID: secretID, origin: origin)
        if let newValue { try validateValue(newValue, field: "new_value") }
        return try await database.write { db in
            let record = try await self.secret(secretID, in: workspaceID, on: db)
            return try await self.rotate(record, to: newValue, by: principal.userID, origin: origin, on: db)
        }
    }

    /// Rotates inside an open transaction: a given value, or a freshly generated one for a generated secret.
    func rotate(
        _ secret: SecretRecord, to newValue: String?, by userID: String?, origin: RequestOrigin, on db: any SQLDatabase
    ) async throws -> SecretMetadata {
        let now = clock()
        var record = secret
        let value: String
        if let newValue {
            value = newValue
        } else if let spec = record.generator.flatMap({ try? JSONDecoder().decode(GeneratorSpec.self, from: Data($0.utf8)) }) {
            value = ValueGenerator.generate(spec)
        } else {
            throw CofferError.validation("field `new_value` is required (this secret is not generated by Coffer)")
        }
        record.currentVersion += 1
        try await self.storeVersion(value, of: record, version: record.currentVersion, by: userID, at: now, on: db)
        record.lastRotatedAt = now.millis
        record.rotationDueAt = RotationPolicy(rawValue: record.rotationPolicy)?.dueDate(after: now)?.millis
        var details: [String: JSONValue] = ["version": .number(Double(record.currentVersion))]
        if userID == nil { details["by"] = "rotation_scheduler" }
        if newValue == nil { details["generated"] = .bool(true) }
        try await save(&record, by: userID, at: now, audit: .rotated, details: details, origin: origin, on: db)
        return SecretMetadata(record)
    }

    /// Deletes a secret: it disappears from lists and its value can no longer be read, until it is restored.
    /// With `purge`, every version's ciphertext and the secret itself are destroyed for good (deleted or not).
    public func delete(
        _ secretID: String, in workspaceID: String, purge: Bool = false, by principal: Principal, origin: RequestOrigin
    ) async throws {
        _ = try await access.authorize(
            .write, in: workspaceID, principal: principal, action: .deleted, secretID: secretID, origin: origin)
        if purge { return try await self.purge(secretID, in: workspaceID, by: principal, origin: origin) }
        let now = clock()
        try await database.write { db in
            var record = try await self.secret(secretID, in: workspaceID, on: db)
            record.deletedAt = now.millis
            record.isActive = false
            let details: [String: JSONValue] = ["name": .string(record.name)]
            try await self.save(
                &record, by: principal.userID, at: now, audit: .deleted, details: details, origin: origin, on: db)
        }
    }

    /// A secret's audit records, newest first (workspace admins and owners).
    public func auditTrail(
        of secretID: String, in workspaceID: String, limit: Int, by principal: Principal, origin: RequestOrigin
    ) async throws -> [AuditEntryView] {
        try Page<AuditEntryView>.validate(limit: limit)
        _ = try await access.authorize(
            .administer, in: workspaceID, principal: principal, action: .listed, secretID: secretID, origin: origin)
        return try await database.read { db in
            try await self.auditRecords.forSecret(secretID, workspaceID: workspaceID, limit: limit, on: db)
        }.map(AuditEntryView.init)
    }

    /// A live secret of the workspace, read outside any transaction.
    /// - Throws: `secret_not_found`.
    func find(_ secretID: String, in workspaceID: String) async throws -> SecretRecord {
        try await database.read { try await self.secret(secretID, in: workspaceID, on: $0) }
    }

    /// A secret of the workspace inside an open transaction: a live one, or with `includingDeleted` a deleted one
    /// too.
    /// - Throws: `secret_not_found`, also for another workspace's secret.
    func secret(
        _ secretID: String, in workspaceID: String, includingDeleted: Bool = false, on db: any SQLDatabase
    ) async throws -> SecretRecord {
        let record =
            includingDeleted
            ? try await secrets.findAny(id: secretID, workspaceID: workspaceID, on: db)
            : try await secrets.find(id: secretID, workspaceID: workspaceID, on: db)
        guard let record else { throw CofferError(.secretNotFound, "Secret not found.") }
        return record
    }

    /// Saves a changed secret as changed by `userID` (`nil`: Coffer itself) at `time`, and its successful audit
    /// record `action` with `details`, in the caller's transaction: the change and its record commit together.
    func save(
        _ record: inout SecretRecord, by userID: String?, at time: Date, audit action: AuditAction,
        details: [String: JSONValue], origin: RequestOrigin, on db: any SQLDatabase
    ) async throws {
        record.updatedByUserId = userID
        record.updatedAt = time.millis
        try await secrets.update(record, on: db)
        try await audit.append(
            [
                AuditEvent(
                    action: action, workspaceID: record.workspaceId, secretID: record.id, userID: userID,
                    origin: origin, details: details, success: true)
            ], on: db)
    }

    /// Seals and stores a new version, then destroys versions beyond `keep` (default: the configured limit).
    func storeVersion(
        _ value: String, of record: SecretRecord, version: Int, by userID: String?, at time: Date, keep: Int? = nil,
        on db: any SQLDatabase
    ) async throws {
        let keep = keep ?? settings.maxVersions
        let (ciphertext, dekVersion) = try await keyring.seal(
            value, workspaceID: record.workspaceId, secretID: record.id, version: version, on: db)
        try await secrets.insertVersion(
            SecretVersionRecord(
                secretId: record.id, version: version, ciphertext: ciphertext, dekVersion: dekVersion,
                createdBy: userID, createdAt: time.millis),
            workspaceID: record.workspaceId, on: db)
        if version > keep {
            try await secrets.pruneVersions(of: record.id, keep: keep, on: db)
        }
    }
}
