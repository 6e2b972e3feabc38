import CofferStore
import Foundation
import SQLKit

/// Versions, rollback, restore, purge, rotation-due lists and statistics.
extension SecretService {
    /// A secret's versions, newest first: who made each and when, never a value.
    public func versions(
        of secretID: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> [SecretVersionView] {
        _ = try await access.authorize(
            .read, in: workspaceID, principal: principal, action: .listed, secretID: secretID, origin: origin)
        let record = try await find(secretID, in: workspaceID)
        return try await database.read { try await self.secrets.versions(of: secretID, on: $0) }.map {
            SecretVersionView($0, current: record.currentVersion)
        }
    }

    /// Writes the value of an older version as a new version (the old bytes exactly).
    public func rollback(
        _ secretID: String, in workspaceID: String, to version: Int, by principal: Principal, origin: RequestOrigin
    ) async throws -> SecretMetadata {
        _ = try await access.authorize(
            .write, in: workspaceID, principal: principal, action: .updated, secretID: secretID, origin: origin)
        guard version >= 1 else { throw CofferError.validation("version must be 1 or more") }
        let now = clock()
        return try await database.write { db in
            var record = try await self.secret(secretID, in: workspaceID, on: db)
            guard let stored = try await self.secrets.version(version, of: secretID, on: db) else {
                throw CofferError(.secretNotFound, "That version does not exist (or is beyond the kept versions).")
            }
            guard stored.isReadable else {
                throw CofferError(.secretNotFound, "That version was deleted or destroyed through the KV API.")
            }
            let value = try await self.keyring.open(stored, workspaceID: workspaceID, on: db)
            record.currentVersion += 1
            try await self.storeVersion(
                value, of: record, version: record.currentVersion, by: principal.userID, at: now, on: db)
            let details: [String: JSONValue] = [
                "rollback_to": .number(Double(version)), "version": .number(Double(record.currentVersion)),
            ]
            try await self.save(
                &record, by: principal.userID, at: now, audit: .updated, details: details, origin: origin, on: db)
            return SecretMetadata(record)
        }
    }

    /// Brings back a deleted secret; refused (409) while a live secret holds its name.
    public func restore(
        _ secretID: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> SecretMetadata {
        _ = try await access.authorize(
            .write, in: workspaceID, principal: principal, action: .updated, secretID: secretID, origin: origin)
        let now = clock()
        return try await writeNamed { db in
            var record = try await self.secret(secretID, in: workspaceID, includingDeleted: true, on: db)
            guard record.deletedAt != nil else { return SecretMetadata(record) }
            guard try await !self.secrets.exists(name: record.name, workspaceID: workspaceID, on: db) else {
                throw CofferError(.secretNameConflict, "A live secret now has that name; rename or delete it first.")
            }
            record.deletedAt = nil
            record.isActive = true
            let details: [String: JSONValue] = ["name": .string(record.name)]
            try await self.save(
                &record, by: principal.userID, at: now, audit: .restored, details: details, origin: origin, on: db)
            return SecretMetadata(record)
        }
    }

    /// Destroys a secret and all its ciphertexts, then checkpoints the database so the destroyed pages do not
    /// linger in the write-ahead log.
    func purge(_ secretID: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin) async throws {
        try await database.write { db in
            let record = try await self.secret(secretID, in: workspaceID, includingDeleted: true, on: db)
            try await self.secrets.purge(id: secretID, on: db)
            // A KV path's settings go with the entry they belong to.
            try await KVRepository().deleteMetadata(workspaceID: workspaceID, path: record.name, on: db)
            try await self.audit.append(
                [
                    AuditEvent(
                        action: .purged, workspaceID: workspaceID, secretID: secretID, userID: principal.userID,
                        origin: origin, details: ["name": .string(record.name)], success: true)
                ], on: db)
        }
        try await database.compact()
    }

    /// Live secrets due for rotation within `daysAhead` days (overdue ones included), soonest first.
    public func rotationDue(
        in workspaceID: String, daysAhead: Int, by principal: Principal, origin: RequestOrigin
    ) async throws -> [SecretMetadata] {
        guard (0...3650).contains(daysAhead) else { throw CofferError.validation("days_ahead must be from 0 to 3650") }
        _ = try await access.authorize(.read, in: workspaceID, principal: principal, action: .listed, origin: origin)
        let horizon = clock().addingTimeInterval(TimeInterval(daysAhead) * 86_400).millis
        return try await database.read { db in
            try await self.secrets.due(workspaceID: workspaceID, before: horizon, on: db)
        }.map(SecretMetadata.init)
    }

    /// Seed 004's statistics for a workspace.
    public func statistics(
        in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> SecretStatisticsView {
        _ = try await access.authorize(.read, in: workspaceID, principal: principal, action: .listed, origin: origin)
        let now = clock()
        let soon = now.addingTimeInterval(7 * 86_400).millis
        let dayAgo = now.addingTimeInterval(-86_400).millis
        return try await database.read { db in
            let stats = try await self.secrets.statistics(workspaceID: workspaceID, now: now.millis, soon: soon, on: db)
            let accesses = try await self.auditRecords.accessCounts(workspaceID: workspaceID, since: dayAgo, on: db)
            return SecretStatisticsView(stats, accesses: accesses.succeeded, failedAccesses: accesses.failed)
        }
    }

    /// A workspace's audit records, newest first, filtered (workspace admins and owners).
    public func workspaceAudit(
        in workspaceID: String, filter: AuditFilter, limit: Int, offset: Int, by principal: Principal,
        origin: RequestOrigin
    ) async throws -> Page<AuditEntryView> {
        try filter.validate(limit: limit, offset: offset)
        _ = try await access.authorize(.administer, in: workspaceID, principal: principal, action: .listed, origin: origin)
        return try await audit.page(workspaceID: workspaceID, filter: filter, limit: limit, offset: offset)
    }
}

/// A version's metadata.
public struct SecretVersionView: Sendable {
    public let version: Int
    public let dekVersion: Int
    public let createdByUserID: String?
    public let createdAt: Date
    public let isCurrent: Bool

    init(_ info: SecretVersionInfo, current: Int) {
        version = info.version
        dekVersion = info.dekVersion
        createdByUserID = info.createdBy
        createdAt = Date(millis: info.createdAt)
        isCurrent = info.version == current
    }
}

/// `GET …/secrets/statistics`.
public struct SecretStatisticsView: Sendable {
    public let totalSecrets: Int
    public let activeSecrets: Int
    public let deletedSecrets: Int
    public let byType: [String: Int]
    public let byRotationPolicy: [String: Int]
    public let dueWithin7Days: Int
    public let overdue: Int
    public let accessesLast24h: Int
    public let failedAccessesLast24h: Int

    init(_ stats: SecretStatistics, accesses: Int, failedAccesses: Int) {
        totalSecrets = stats.total
        activeSecrets = stats.active
        deletedSecrets = stats.deleted
        byType = stats.byType
        byRotationPolicy = stats.byPolicy
        dueWithin7Days = stats.dueSoon
        overdue = stats.overdue
        accessesLast24h = accesses
        failedAccessesLast24h = failedAccesses
    }
}
