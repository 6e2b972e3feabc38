import CofferCrypto
import CofferStore
import Crypto
import Foundation
import SQLKit
import Synchronization

/// One event for the audit trail (seed 004's fields). Never carries a secret value.
public struct AuditEvent: Sendable {
    public var action: AuditAction
    public var workspaceID: String?
    public var secretID: String?
    public var userID: String?
    public var origin: RequestOrigin
    public var details: [String: JSONValue]
    public var success: Bool

    public init(
        action: AuditAction, workspaceID: String?, secretID: String?, userID: String?, origin: RequestOrigin,
        details: [String: JSONValue] = [:], success: Bool
    ) {
        self.action = action
        self.workspaceID = workspaceID
        self.secretID = secretID
        self.userID = userID
        self.origin = origin
        self.details = details
        self.success = success
    }
}

/// The tamper-evident, fail-closed audit trail.
///
/// Guarantees:
/// - Records form a keyed hash chain: record n's MAC is HMAC-SHA256 over record n-1's MAC and record n's fields,
///   under a key derived from the instance key (itself wrapped by the master key). Editing, deleting or reordering
///   records breaks the chain, and someone who can write the database but does not hold the master key cannot
///   re-forge it.
/// - `appendDurably` returns only after the record is committed durably; concurrent callers share one commit
///   (group commit), so auditing reads does not cost one fsync per read.
/// - `append(_:on:)` writes inside the caller's transaction, so a change and its record commit together.
public final class AuditLog: Sendable {
    private let database: any CofferDatabase
    private let macKey: SymmetricKey
    private let clock: @Sendable () -> Date
    private let pending = Mutex<Batch>(Batch())
    private let records = AuditRepository()

    private struct Batch {
        var events: [(AuditEvent, CheckedContinuation<Void, any Error>)] = []
        var flushing = false
    }

    init(database: any CofferDatabase, macKey: SymmetricKey, clock: @escaping @Sendable () -> Date) {
        self.database = database
        self.macKey = macKey
        self.clock = clock
    }

    /// Appends events inside an open write transaction.
    func append(_ events: [AuditEvent], on db: any SQLDatabase) async throws {
        let head = try await records.head(on: db)
        var seq = head?.seq ?? 0
        var previousMAC = head?.mac ?? Data(repeating: 0, count: 32)
        let now = clock().millis
        for event in events {
            seq += 1
            var record = AuditRecord(
                seq: seq, id: UUID().uuidString.lowercased(), workspaceId: event.workspaceID, secretId: event.secretID,
                action: event.action.rawValue, userId: event.userID, ipAddress: event.origin.ipAddress,
                userAgent: event.origin.userAgent, requestId: event.origin.requestID,
                details: JSONValue.object(event.details).jsonText, success: event.success, createdAt: now, mac: Data())
            record.mac = Self.mac(of: record, previous: previousMAC, key: macKey)
            previousMAC = record.mac
            try await records.insert(record, on: db)
        }
    }

    /// Appends one event in its own durable commit, shared with whatever other events are waiting.
    /// - Throws: `audit_unavailable` if the commit failed; the caller must then not release the value.
    func appendDurably(_ event: AuditEvent) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let startFlusher = pending.withLock { batch -> Bool in
                batch.events.append((event, continuation))
                if batch.flushing { return false }
                batch.flushing = true
                return true
            }
            if startFlusher {
                Task { await self.flush() }
            }
        }
    }

    private func flush() async {
        while true {
            let batch = pending.withLock { batch -> [(AuditEvent, CheckedContinuation<Void, any Error>)] in
                let events = batch.events
                batch.events.removeAll(keepingCapacity: true)
                if events.isEmpty { batch.flushing = false }
                return events
            }
            if batch.isEmpty { return }
            do {
                let events = batch.map(\.0)
                try await database.write { db in try await self.append(events, on: db) }
                for (_, continuation) in batch { continuation.resume() }
            } catch {
                let failure = CofferError(.auditUnavailable, "The audit record could not be written; the request was refused.")
                for (_, continuation) in batch { continuation.resume(throwing: failure) }
            }
        }
    }

    /// The chain MAC of a record: HMAC-SHA256(key, previous MAC ‖ length-prefixed fields).
    static func mac(of record: AuditRecord, previous: Data, key: SymmetricKey) -> Data {
        var hmac = HMAC<SHA256>(key: key)
        hmac.update(data: previous)
        func field(_ text: String?) {
            guard let text else {
                hmac.update(data: [0xFF, 0xFF, 0xFF, 0xFF])
                return
            }
            let bytes = Array(text.utf8)
            let n = UInt32(bytes.count)
            hmac.update(data: [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)])
            hmac.update(data: bytes)
        }
        field(String(record.seq))
        field(record.id)
        field(record.workspaceId)
        field(record.secretId)
        field(record.action)
        field(record.userId)
        field(record.ipAddress)
        field(record.userAgent)
        field(record.requestId)
        field(record.details)
        field(record.success ? "1" : "0")
        field(String(record.createdAt))
        return Data(hmac.finalize())
    }
}
