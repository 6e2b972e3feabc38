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
///   (group commit), so auditing reads does not cost one fsync per read. Their records ride in the store's own
///   write groups: one queued write appends every record waiting when it runs, so a record waits for at most the
///   group in flight and the next, as any other write does.
/// - `append(_:on:)` writes inside the caller's transaction, so a change and its record commit together.
public final class AuditLog: Sendable {
    let database: any CofferDatabase
    /// HMAC-SHA256 keyed with the chain key and nothing hashed yet: each MAC starts from a copy instead of deriving
    /// the keyed state again (two hash blocks and an allocation, on the single writer's path of every audited write).
    private let keyedHMAC: HMAC<SHA256>
    private let clock: @Sendable () -> Date
    private let pending = Mutex<Batch>(Batch())
    private let records = AuditRepository()

    private struct Batch {
        var events: [(AuditEvent, AuditWaiter)] = []
        /// A write that will append the waiting events is queued and has not run yet.
        var riderQueued = false
    }

    /// `false` when `ENABLE_SECRET_AUDIT_LOGGING=false`: nothing is recorded (the server warns loudly at start).
    public let isEnabled: Bool
    private let failedAccesses = Atomic<Int>(0)

    /// Failed or denied value accesses recorded since start (seed 004's `secret_access_failure`).
    public var accessFailures: Int { failedAccesses.load(ordering: .relaxed) }

    /// Audit records ever written: the chain's head sequence number (seed 004's `secret_audit_log_volume`).
    public func volume() async throws -> Int64 {
        try await database.read { try await self.records.head(on: $0)?.seq ?? 0 }
    }

    /// Counts failed accesses among records whose transaction has committed.
    func committed(_ events: [AuditEvent]) {
        let failures = events.filter { $0.action == .accessed && !$0.success }.count
        if failures > 0 { failedAccesses.add(failures, ordering: .relaxed) }
    }

    init(database: any CofferDatabase, macKey: SymmetricKey, enabled: Bool, clock: @escaping @Sendable () -> Date) {
        self.database = database
        self.keyedHMAC = HMAC<SHA256>(key: macKey)
        self.isEnabled = enabled
        self.clock = clock
    }

    /// Appends events inside an open write transaction.
    func append(_ events: [AuditEvent], on db: any SQLDatabase) async throws {
        guard isEnabled else { return }
        let head = try await records.head(on: db)
        var seq = head?.seq ?? 0
        var previousMAC = head?.mac ?? Data(repeating: 0, count: 32)
        let now = clock().millis
        var chained: [AuditRecord] = []
        chained.reserveCapacity(events.count)
        for event in events {
            seq += 1
            var record = AuditRecord(
                seq: seq, id: Identifier.uuid(), workspaceId: event.workspaceID, secretId: event.secretID,
                action: event.action.rawValue, userId: event.userID, ipAddress: event.origin.ipAddress,
                userAgent: event.origin.userAgent, requestId: event.origin.requestID,
                details: JSONValue.object(event.details).jsonText, success: event.success, createdAt: now, mac: Data())
            record.mac = Self.mac(of: record, previous: previousMAC, keyed: keyedHMAC)
            previousMAC = record.mac
            chained.append(record)
        }
        guard !events.isEmpty else { return }
        try await records.append(
            chained, head: headCheckpoint(seq: seq, mac: previousMAC), headKey: Self.headKey, on: db)
    }

    /// Appends one event in its own durable commit, shared with whatever other events are waiting.
    /// - Throws: `audit_unavailable` if the commit failed; the caller must then not release the value.
    func appendDurably(_ event: AuditEvent) async throws {
        guard isEnabled else { return }
        let waiter = AuditWaiter()
        let queueRider = pending.withLock { batch -> Bool in
            batch.events.append((event, waiter))
            if batch.riderQueued { return false }
            batch.riderQueued = true
            return true
        }
        // The caller that finds no write queued queues one, from its own task (a task started for it could wait
        // behind the writer's work before it even queued the write).
        if queueRider { await ride() }
        try await waiter.wait()
    }

    /// One write that appends every event waiting when its body runs, then settles their waiters.
    private func ride() async {
        let taken = TakenEvents()
        do {
            try await database.write { db in
                let events = self.takeWaiting()
                taken.events = events
                try await self.append(events.map(\.0), on: db)
            }
            let events = taken.events ?? []
            committed(events.map(\.0))
            for (_, waiter) in events { waiter.settle(nil) }
        } catch {
            let failure = Self.unwritten(error, "the request was refused")
            // A write that failed before its body ran took nothing: every waiting event was counting on it.
            for (_, waiter) in taken.events ?? takeWaiting() { waiter.settle(failure) }
        }
    }

    /// Every event waiting, removed from the batch; the next event to arrive queues a new write.
    private func takeWaiting() -> [(AuditEvent, AuditWaiter)] {
        pending.withLock { batch in
            batch.riderQueued = false
            defer { batch.events.removeAll(keepingCapacity: true) }
            return batch.events
        }
    }

    /// The refusal when audit records could not be made durable: `audit_unavailable`, saying why when the cause is
    /// one a client or operator can act on (a full disk, an unreachable database).
    static func unwritten(_ error: any Error, _ consequence: String) -> CofferError {
        let cause =
            switch (error as? CofferError)?.code {
            case .insufficientStorage?: " because the server's storage is full"
            case .storeUnavailable?: " because the database is unavailable"
            default: ""
            }
        return CofferError(.auditUnavailable, "The audit record could not be written\(cause); \(consequence).")
    }

    static let headKey = "audit_head"
    static let checkpointKey = "audit_checkpoint"

    /// Where verification starts after a retention prune: the last pruned record's sequence number and MAC,
    /// authenticated, so pruning keeps the rest of the chain verifiable and a forged checkpoint is detected.
    func checkpoint(seq: Int64, mac: Data) -> Data {
        var bytes = Data((0..<8).map { UInt8(truncatingIfNeeded: seq >> (56 - 8 * $0)) })
        bytes.append(mac)
        var hmac = keyedHMAC
        hmac.update(data: Array("coffer:audit-checkpoint".utf8))
        hmac.update(data: bytes)
        bytes.append(contentsOf: hmac.finalize())
        return bytes
    }

    /// Deletes the oldest records, up to the first created within the last `days` days, leaving a checkpoint;
    /// returns how many were deleted. A record that is within retention is never deleted, even when a clock set
    /// back stamped later records with older times.
    public func prune(olderThanDays days: Int) async throws -> Int {
        let cutoff = clock().addingTimeInterval(-TimeInterval(days) * 86_400).millis
        return try await database.write { db in
            guard let last = try await self.records.lastOfOldestRun(before: cutoff, on: db) else { return 0 }
            let deleted = try await self.records.delete(through: last.seq, on: db)
            try await MetaRepository().set(Self.checkpointKey, self.checkpoint(seq: last.seq, mac: last.mac), on: db)
            return deleted
        }
    }

    /// The chain head, kept beside the records: the last sequence number and a MAC over it and the last record's
    /// MAC. Deleting the newest records (truncation) leaves a head that no longer matches.
    func headCheckpoint(seq: Int64, mac: Data) -> Data {
        var bytes = Data((0..<8).map { UInt8(truncatingIfNeeded: seq >> (56 - 8 * $0)) })
        var hmac = keyedHMAC
        hmac.update(data: Array("coffer:audit-head".utf8))
        hmac.update(data: bytes)
        hmac.update(data: mac)
        bytes.append(contentsOf: hmac.finalize())
        return bytes
    }

    /// The chain MAC of a record: HMAC-SHA256(key, previous MAC ‖ length-prefixed fields), from `keyed`, an HMAC
    /// keyed with the chain key and still empty (it is copied, never changed). The message is laid out in one
    /// buffer and authenticated in one call: a dozen small updates, each through `DataProtocol`'s regions, cost
    /// more than the hash (issue 6: the MACs are on the single writer's path of every audited read).
    static func mac(of record: AuditRecord, previous: Data, keyed: HMAC<SHA256>) -> Data {
        var message: [UInt8] = []
        message.reserveCapacity(previous.count + 256)
        message.append(contentsOf: previous)
        func field(_ text: String?) {
            guard let text else {
                message.append(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF])
                return
            }
            let n = UInt32(text.utf8.count)
            message.append(UInt8(n >> 24))
            message.append(UInt8(n >> 16 & 0xFF))
            message.append(UInt8(n >> 8 & 0xFF))
            message.append(UInt8(n & 0xFF))
            message.append(contentsOf: text.utf8)
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
        var hmac = keyed
        hmac.update(data: message)
        return Data(hmac.finalize())
    }
}

/// The outcome of checking the audit chain.
public struct AuditVerification: Sendable {
    /// Records checked.
    public let checked: Int
    /// Sequence number of the first record whose MAC or position does not verify, if any.
    public let firstBadSequence: Int64?

    public var isIntact: Bool { firstBadSequence == nil }

}

extension AuditLog {
    /// Recomputes the chain from the first record: an edited, deleted, inserted or reordered record is reported
    /// as the first bad sequence number. It reads and authenticates every record, on a thread of its own
    /// (``BlockingWork``).
    public func verify() async throws -> AuditVerification {
        try await BlockingWork.run { try await self.verifyHere() }
    }

    private func verifyHere() async throws -> AuditVerification {
        // The head first, then the records: records appended meanwhile (by a live server, or another instance)
        // come after the head read here. They are checked as links of the chain, and the head must match the
        // record it names, whether or not the statements share one snapshot.
        let (head, checkpoint, records) = try await database.read { db in
            (
                try await MetaRepository().get(Self.headKey, on: db),
                try await MetaRepository().get(Self.checkpointKey, on: db), try await AuditRepository().all(on: db)
            )
        }
        let headSeq = head.map { $0.prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) } }
        var previous = Data(repeating: 0, count: 32)
        var expectedSeq: Int64 = 1
        if let checkpoint {
            let seq = checkpoint.prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) }
            let mac = Data(checkpoint.dropFirst(8).prefix(32))
            guard checkpoint.count == 72, ConstantTime.equals(checkpoint, self.checkpoint(seq: seq, mac: mac)) else {
                return AuditVerification(checked: 0, firstBadSequence: records.first?.seq ?? 1)
            }
            previous = mac
            expectedSeq = seq + 1
        }
        // The chain MAC as of the head's record (the checkpoint's, if every record up to it was pruned).
        var macAtHead: Data? = headSeq == expectedSeq - 1 ? previous : nil
        for (index, record) in records.enumerated() {
            let mac = Self.mac(of: record, previous: previous, keyed: keyedHMAC)
            guard record.seq == expectedSeq, ConstantTime.equals(mac, record.mac) else {
                return AuditVerification(checked: index + 1, firstBadSequence: record.seq)
            }
            previous = record.mac
            if record.seq == headSeq { macAtHead = record.mac }
            expectedSeq += 1
        }
        let lastSeq = expectedSeq - 1
        switch (head, headSeq) {
        case (nil, _) where records.isEmpty && checkpoint == nil:
            break
        case (let head?, let headSeq?):
            guard headSeq <= lastSeq, let macAtHead, ConstantTime.equals(head, headCheckpoint(seq: headSeq, mac: macAtHead))
            else {
                // Records up to the head were removed, or the head was forged.
                return AuditVerification(checked: records.count, firstBadSequence: min(lastSeq + 1, max(headSeq, 1)))
            }
        default:
            return AuditVerification(checked: records.count, firstBadSequence: lastSeq)
        }
        return AuditVerification(checked: records.count, firstBadSequence: nil)
    }
}

/// The events one rider's body took, `nil` until (unless) the body ran. Written by the body on the writer, read by
/// the rider after its write has returned: never at the same time.
private final class TakenEvents: @unchecked Sendable {
    var events: [(AuditEvent, AuditWaiter)]?
}

/// Where one `appendDurably` caller waits for its record's commit: settled once, waited on once.
private final class AuditWaiter: Sendable {
    private struct State {
        var failure: CofferError??
        var continuation: CheckedContinuation<Void, any Error>?
    }
    private let state = Mutex(State())

    func settle(_ failure: CofferError?) {
        let continuation = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            state.failure = .some(failure)
            defer { state.continuation = nil }
            return state.continuation
        }
        if let continuation { resume(continuation, failure) }
    }

    func wait() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let settled = state.withLock { state -> CofferError?? in
                if state.failure == nil { state.continuation = continuation }
                return state.failure
            }
            if let settled { resume(continuation, settled) }
        }
    }

    private func resume(_ continuation: CheckedContinuation<Void, any Error>, _ failure: CofferError?) {
        if let failure { continuation.resume(throwing: failure) } else { continuation.resume() }
    }
}
