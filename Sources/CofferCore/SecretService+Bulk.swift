import CofferCrypto
import CofferStore
import Foundation
import SQLKit

/// Bulk reads (`coffer run`, `coffer export`) and all-or-nothing imports.
extension SecretService {
    /// Every live secret's current value in a workspace (or only `names`), in one request: one `accessed`
    /// record per secret, all committed durably in one transaction before any value is returned. Deactivated
    /// secrets are left out and named in `inactive`, each audited as a refused access.
    public func values(
        in workspaceID: String, names: Set<String>? = nil, by principal: Principal, origin: RequestOrigin
    ) async throws -> SecretValueList {
        _ = try await access.authorize(.read, in: workspaceID, principal: principal, action: .accessed, origin: origin)
        let rows = try await database.read { db in
            try await self.secrets.allWithCurrentVersion(workspaceID: workspaceID, on: db)
        }.filter { (names?.contains($0.0.name) ?? true) && $0.1.isReadable }
        var values: [SecretValue] = []
        var inactive: [String] = []
        var events: [AuditEvent] = []
        var failure: CofferError?
        for (secret, stored) in rows {
            guard secret.isActive else {
                inactive.append(secret.name)
                events.append(
                    AuditEvent(
                        action: .accessed, workspaceID: workspaceID, secretID: secret.id, userID: principal.userID,
                        origin: origin, details: ["reason": "inactive", "bulk": .bool(true)], success: false))
                continue
            }
            do {
                // Once the key provider has failed to answer, the rest fail the same way without asking it again:
                // each call may take the provider's whole timeout.
                if let failure, failure.code == .keyProviderUnavailable { throw failure }
                let value = try await keyring.open(stored, workspaceID: workspaceID, reading: database)
                values.append(SecretValue(id: secret.id, name: secret.name, value: value, version: stored.version))
                events.append(
                    AuditEvent(
                        action: .accessed, workspaceID: workspaceID, secretID: secret.id, userID: principal.userID,
                        origin: origin, details: ["version": .number(Double(stored.version)), "bulk": .bool(true)],
                        success: true))
            } catch let error as CofferError {
                failure = failure ?? error
                events.append(
                    AuditEvent(
                        action: .accessed, workspaceID: workspaceID, secretID: secret.id, userID: principal.userID,
                        origin: origin, details: ["reason": .string(error.code.rawValue), "bulk": .bool(true)],
                        success: false))
            }
        }
        let batch = events
        do {
            try await database.write { db in try await self.audit.append(batch, on: db) }
            audit.committed(batch)
        } catch {
            throw AuditLog.unwritten(error, "no value was returned")
        }
        if let failure { throw failure }
        return SecretValueList(items: values, inactive: inactive)
    }

    /// Imports many secrets in one transaction: all are created (or, with `overwrite`, updated) or none are.
    /// Names that exist are skipped unless `overwrite`. With `dryRun`, reports the plan and changes nothing.
    public func importBatch(
        _ batch: SecretBatch, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> ImportResult {
        _ = try await access.authorize(.write, in: workspaceID, principal: principal, action: .created, origin: origin)
        guard !batch.items.isEmpty, batch.items.count <= 10_000 else {
            throw CofferError.validation("items must hold 1 to 10000 secrets")
        }
        var seen = Set<String>()
        for (index, item) in batch.items.enumerated() {
            do {
                try Self.validateName(item.name)
                try validateValue(item.value, field: "value")
                _ = try Self.parseType(item.secretType)
            } catch let error as CofferError {
                throw CofferError(.validationFailed, "items[\(index)] (\(item.name.prefix(128))): \(error.publicMessage)")
            }
            guard seen.insert(item.name).inserted else {
                throw CofferError.validation("items[\(index)]: \(item.name) appears more than once")
            }
        }
        let overwrite = batch.overwrite ?? false
        let dryRun = batch.dryRun ?? false
        let now = clock()
        let policy = settings.defaultRotationPolicy
        return try await writeNamed { db in
            var result = ImportResult(created: [], updated: [], skipped: [])
            var events: [AuditEvent] = []
            for item in batch.items {
                let type = try Self.parseType(item.secretType) ?? .generic
                if var existing = try await self.secrets.find(name: item.name, workspaceID: workspaceID, on: db) {
                    guard overwrite else {
                        result.skipped.append(item.name)
                        continue
                    }
                    result.updated.append(item.name)
                    if dryRun { continue }
                    existing.currentVersion += 1
                    try await self.storeVersion(
                        item.value, of: existing, version: existing.currentVersion, by: principal.userID, at: now, on: db)
                    if item.secretType != nil { existing.secretType = type.rawValue }
                    existing.updatedByUserId = principal.userID
                    existing.updatedAt = now.millis
                    try await self.secrets.update(existing, on: db)
                    events.append(
                        AuditEvent(
                            action: .updated, workspaceID: workspaceID, secretID: existing.id, userID: principal.userID,
                            origin: origin,
                            details: ["import": .bool(true), "version": .number(Double(existing.currentVersion))],
                            success: true))
                } else {
                    result.created.append(item.name)
                    if dryRun { continue }
                    let record = SecretRecord(
                        id: Identifier.uuid(), workspaceId: workspaceID, name: item.name,
                        secretType: type.rawValue, usage: nil, rotationPolicy: policy.rawValue, lastRotatedAt: now.millis,
                        rotationDueAt: policy.dueDate(after: now)?.millis, tags: "[]", metadata: "{}", isActive: true,
                        currentVersion: 1, createdByUserId: principal.userID, updatedByUserId: principal.userID,
                        createdAt: now.millis, updatedAt: now.millis)
                    try await self.secrets.insert(record, on: db)
                    try await self.storeVersion(item.value, of: record, version: 1, by: principal.userID, at: now, on: db)
                    events.append(
                        AuditEvent(
                            action: .created, workspaceID: workspaceID, secretID: record.id, userID: principal.userID,
                            origin: origin, details: ["import": .bool(true), "name": .string(item.name)], success: true))
                }
            }
            try await self.audit.append(events, on: db)
            return result
        }
    }
}

/// What an import did (or, for a dry run, would do), by name.
public struct ImportResult: Sendable, Equatable {
    public var created: [String]
    public var updated: [String]
    public var skipped: [String]

    public init(created: [String] = [], updated: [String] = [], skipped: [String] = []) {
        self.created = created
        self.updated = updated
        self.skipped = skipped
    }
}

/// A list of values (`GET …/secrets/values`), and the names of deactivated secrets left out of it.
public struct SecretValueList: Sendable {
    public let items: [SecretValue]
    public let inactive: [String]

    public init(items: [SecretValue], inactive: [String] = []) {
        self.items = items
        self.inactive = inactive
    }
}
