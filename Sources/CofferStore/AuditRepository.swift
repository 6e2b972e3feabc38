import Foundation
import SQLKit

/// Audit records, append-only from the domain's side.
public struct AuditRepository: Sendable {
    public init() {}

    /// The newest record's sequence number and MAC: the head the next record chains onto.
    public func head(on db: any SQLDatabase) async throws -> (seq: Int64, mac: Data)? {
        struct Head: Decodable { let seq: Int64; let mac: Data }
        return try await db.raw("SELECT seq, mac FROM secret_audits ORDER BY seq DESC LIMIT 1")
            .first(decoding: Head.self).map { ($0.seq, $0.mac) }
    }

    public func insert(_ record: AuditRecord, on db: any SQLDatabase) async throws {
        try await db.exec(
            """
            INSERT INTO secret_audits (seq, id, workspace_id, secret_id, action, user_id, ip_address, user_agent,
                request_id, details, success, created_at, mac)
            VALUES (\(bind: record.seq), \(bind: record.id), \(bind: record.workspaceId), \(bind: record.secretId),
                \(bind: record.action), \(bind: record.userId), \(bind: record.ipAddress), \(bind: record.userAgent),
                \(bind: record.requestId), \(bind: record.details), \(bind: record.success), \(bind: record.createdAt),
                \(bind: record.mac))
            """)
    }

    /// A secret's records, newest first.
    public func forSecret(
        _ secretID: String, workspaceID: String, limit: Int, on db: any SQLDatabase
    ) async throws -> [AuditRecord] {
        try await db.raw(
            """
            SELECT * FROM secret_audits WHERE secret_id = \(bind: secretID) AND workspace_id = \(bind: workspaceID)
            ORDER BY seq DESC LIMIT \(bind: limit)
            """
        ).all(decoding: AuditRecord.self, with: rowDecoder)
    }

    /// Every record in chain order, for verification.
    public func all(on db: any SQLDatabase) async throws -> [AuditRecord] {
        try await db.raw("SELECT * FROM secret_audits ORDER BY seq").all(decoding: AuditRecord.self, with: rowDecoder)
    }
}
