import Foundation
import SQLKit

/// Audit records, append-only from the domain's side.
public struct AuditRepository: Sendable {
    public init() {}

    /// The newest record's sequence number and MAC: the head the next record chains onto.
    public func head(on db: any SQLDatabase) async throws -> (seq: Int64, mac: Data)? {
        // Read column by column, like the other rows on hot paths: every audit commit reads the head.
        try await db.raw("SELECT seq, mac FROM secret_audits ORDER BY seq DESC LIMIT 1").first().map {
            (try $0.decode(column: "seq", as: Int64.self), try $0.decode(column: "mac", as: Data.self))
        }
    }

    public func insert(_ record: AuditRecord, on db: any SQLDatabase) async throws {
        try await insert([record], on: db)
    }

    /// Inserts records in as few statements as the parameter limits allow (a group commit writes one).
    public func insert(_ records: [AuditRecord], on db: any SQLDatabase) async throws {
        try await db.execRows(records, rowsPerStatement: Self.rowsPerStatement, row: Self.row, statement: Self.insert)
    }

    /// Inserts records and sets the chain head (the `coffer_meta` value `headKey`) in the caller's transaction.
    /// On PostgreSQL a batch and the head go in one statement: one round trip less for every audit commit.
    public func append(
        _ records: [AuditRecord], head: Data, headKey: String, on db: any SQLDatabase
    ) async throws {
        guard db.isPostgres, records.count <= Self.rowsPerStatement else {
            try await insert(records, on: db)
            try await MetaRepository().set(headKey, head, on: db)
            return
        }
        // A data-modifying WITH runs to completion whether or not the statement reads its output.
        try await db.exec(
            """
            WITH appended AS (\(Self.insert(records.map(Self.row).joined(separator: ", "))))
            \(MetaRepository.upsert(headKey, head))
            """)
    }

    /// Thirteen parameters a row.
    private static let rowsPerStatement = 2_000

    private static func row(_ record: AuditRecord) -> SQLQueryString {
        """
        (\(bind: record.seq), \(bind: record.id), \(bind: record.workspaceId), \(bind: record.secretId),
        \(bind: record.action), \(bind: record.userId), \(bind: record.ipAddress), \(bind: record.userAgent),
        \(bind: record.requestId), \(bind: record.details), \(bind: record.success), \(bind: record.createdAt),
        \(bind: record.mac))
        """
    }

    private static func insert(_ rows: SQLQueryString) -> SQLQueryString {
        """
        INSERT INTO secret_audits (seq, id, workspace_id, secret_id, action, user_id, ip_address, user_agent,
            request_id, details, success, created_at, mac)
        VALUES \(rows)
        """
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

    /// A page of a workspace's records, newest first, and how many match: of `action`, with `success`, created
    /// at or after `since` (milliseconds since the epoch), each filter only when given.
    /// With `workspaceID` nil: every record of the instance (account events, which belong to no workspace,
    /// included), optionally only `userID`'s.
    public func list(
        workspaceID: String?, userID: String? = nil, action: String? = nil, success: Bool? = nil, since: Int64? = nil,
        limit: Int, offset: Int, on db: any SQLDatabase
    ) async throws -> (items: [AuditRecord], total: Int) {
        var conditions: [SQLQueryString] = ["1 = 1"]
        if let workspaceID { conditions.append("workspace_id = \(bind: workspaceID)") }
        if let userID { conditions.append("user_id = \(bind: userID)") }
        if let action { conditions.append("action = \(bind: action)") }
        if let success { conditions.append("success = \(bind: success)") }
        if let since { conditions.append("created_at >= \(bind: since)") }
        let whereClause = conditions.joined(separator: " AND ")
        let total =
            try await db.raw("SELECT COUNT(*) AS n FROM secret_audits WHERE \(whereClause)")
            .first(decodingColumn: "n", as: Int.self) ?? 0
        let items = try await db.raw(
            "SELECT * FROM secret_audits WHERE \(whereClause) ORDER BY seq DESC LIMIT \(bind: limit) OFFSET \(bind: offset)"
        ).all(decoding: AuditRecord.self, with: rowDecoder)
        return (items, total)
    }

    /// Successful and failed `accessed` records of a workspace since a time.
    public func accessCounts(workspaceID: String, since: Int64, on db: any SQLDatabase) async throws -> (succeeded: Int, failed: Int) {
        struct Row: Decodable { let ok: Int?; let failed: Int? }
        let row = try await db.raw(
            """
            SELECT SUM(CASE WHEN success THEN 1 ELSE 0 END) AS ok, SUM(CASE WHEN success THEN 0 ELSE 1 END) AS failed
            FROM secret_audits WHERE workspace_id = \(bind: workspaceID) AND action = 'accessed'
            AND created_at >= \(bind: since)
            """
        ).first(decoding: Row.self)
        return (row?.ok ?? 0, row?.failed ?? 0)
    }

    /// The last record of the chain's oldest run created before `time`: where a retention prune may cut. Records
    /// are cut in sequence order only, so a record stamped in the past by a clock set back (and corrected later)
    /// never takes newer records with it; it waits until everything before it is old enough.
    ///
    /// The first record not older than `time` is found by walking the sequence from its start (`+created_at`
    /// keeps the time index out): the walk covers the records being pruned and stops at the first kept one.
    public func lastOfOldestRun(before time: Int64, on db: any SQLDatabase) async throws -> AuditRecord? {
        try await db.raw(
            """
            SELECT * FROM secret_audits WHERE seq < COALESCE(
                (SELECT seq FROM secret_audits WHERE +created_at >= \(bind: time) ORDER BY seq LIMIT 1),
                9223372036854775807)
            ORDER BY seq DESC LIMIT 1
            """
        ).first(decoding: AuditRecord.self, with: rowDecoder)
    }

    /// Deletes every record up to and including `seq`; returns how many.
    public func delete(through seq: Int64, on db: any SQLDatabase) async throws -> Int {
        let n = try await db.raw("SELECT COUNT(*) AS n FROM secret_audits WHERE seq <= \(bind: seq)")
            .first(decodingColumn: "n", as: Int.self) ?? 0
        try await db.exec("DELETE FROM secret_audits WHERE seq <= \(bind: seq)")
        return n
    }

    /// Records after `seq`, in order, at most `limit`.
    public func after(_ seq: Int64, limit: Int, on db: any SQLDatabase) async throws -> [AuditRecord] {
        try await db.raw(
            "SELECT * FROM secret_audits WHERE seq > \(bind: seq) ORDER BY seq LIMIT \(bind: limit)"
        ).all(decoding: AuditRecord.self, with: rowDecoder)
    }

    /// Every record in chain order, for verification.
    public func all(on db: any SQLDatabase) async throws -> [AuditRecord] {
        try await db.raw("SELECT * FROM secret_audits ORDER BY seq").all(decoding: AuditRecord.self, with: rowDecoder)
    }
}
