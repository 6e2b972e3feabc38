import CofferCrypto
import CofferStore
import Foundation
import Logging
import SQLKit
import ServiceLifecycle

/// Data-key rotation (seed 004's `rotate-key`) and the background job that re-encrypts older versions.
///
/// Guarantees:
/// - `rotateKey` adds a new data-key version per workspace in one transaction; every write after it returns uses
///   the new key at once.
/// - The job re-seals older versions in batches, one transaction each, so reads and writes keep working, and a
///   crash loses at most the batch in flight: on the next start the job resumes where the database says it is.
/// - Every ciphertext keeps naming the key that sealed it, and no key is deleted, so no secret is ever
///   undecryptable, mid-job or after.
public final class KeyRotationService: Service, Sendable {
    private let database: any CofferDatabase
    private let keyring: Keyring
    private let audit: AuditLog
    private let clock: @Sendable () -> Date
    private let batchSize: Int
    private let logger: Logger
    private let jobs = KeyRotationRepository()
    private let keys = KeyRepository()
    private let wake: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation

    init(
        database: any CofferDatabase, keyring: Keyring, audit: AuditLog, clock: @escaping @Sendable () -> Date,
        batchSize: Int, logger: Logger
    ) {
        self.database = database
        self.keyring = keyring
        self.audit = audit
        self.clock = clock
        self.batchSize = max(1, batchSize)
        self.logger = logger
        (wake, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Adds a new data-key version to one workspace, or to every workspace, and starts the re-encryption job.
    func rotateKey(workspaceID: String?, by userID: String, origin: RequestOrigin) async throws -> KeyRotationJobView {
        let now = clock()
        let job = try await database.write { db -> KeyRotationJobRecord in
            let targets: [String]
            if let workspaceID {
                guard try await WorkspaceRepository().find(id: workspaceID, on: db) != nil else {
                    throw CofferError(.workspaceNotFound, "Workspace not found.")
                }
                targets = [workspaceID]
            } else {
                targets = try await self.keys.workspaceIDs(on: db)
            }
            var events: [AuditEvent] = []
            for target in targets {
                let next = try await self.keys.latestVersion(workspaceID: target, on: db) + 1
                try await self.keyring.createWorkspaceKey(workspaceID: target, version: next, at: now, on: db)
                try await self.keys.setState(.retiring, workspaceID: target, below: next, on: db)
                events.append(
                    AuditEvent(
                        action: .rotated, workspaceID: target, secretID: nil, userID: userID, origin: origin,
                        details: ["event": "data_key_rotated", "dek_version": .number(Double(next))], success: true))
            }
            // A newer job covers everything an older running one would still do.
            for var running in try await self.jobs.running(on: db)
            where workspaceID == nil || running.workspaceId == workspaceID {
                running.status = .superseded
                running.finishedAt = now.millis
                try await self.jobs.update(running, on: db)
            }
            let total = try await self.jobs.countStale(workspaceID: workspaceID, on: db)
            let job = KeyRotationJobRecord(
                id: Identifier.uuid(), workspaceId: workspaceID, status: total == 0 ? .completed : .running,
                total: Int64(total), done: 0, requestedBy: userID, startedAt: now.millis,
                finishedAt: total == 0 ? now.millis : nil)
            try await self.jobs.insert(job, on: db)
            try await self.audit.append(events, on: db)
            return job
        }
        wakeContinuation.yield()
        return KeyRotationJobView(job)
    }

    /// Recent jobs, newest first.
    func status(limit: Int = 20) async throws -> [KeyRotationJobView] {
        try await database.read { try await self.jobs.recent(limit: limit, on: $0) }.map(KeyRotationJobView.init)
    }

    /// How often the service looks for jobs it was not woken for: started by another instance on the same
    /// database, or left unfinished by one that died.
    static let pollInterval: Duration = .seconds(10)

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            let poller = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.pollInterval)
                    self.wakeContinuation.yield()
                }
            }
            defer { poller.cancel() }
            var wakeups = self.wake.makeAsyncIterator()
            while !Task.isCancelled {
                do {
                    // A job whose final step failed (retiring the keys no version uses any more) is completed all
                    // the same and will not run again: that step is retried here, in the background, on every start
                    // and wake-up that found no job to run (a job that ran has just taken that step itself). With
                    // no key retiring it is one query on the small table of data keys.
                    if try await self.runPending() == 0 { try await self.retireUnusedKeys() }
                } catch {
                    if Task.isCancelled { return }
                    self.logger.error("key re-encryption paused; will retry", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(5))
                    continue
                }
                guard await wakeups.next() != nil else { return }
            }
        }
    }

    /// Runs every unfinished job to completion (used at start-up to resume, and by the background loop); returns
    /// how many there were. Jobs run on one instance at a time: when another instance on the same database is
    /// running them, this returns 0 at once.
    @discardableResult
    public func runPending() async throws -> Int {
        try await database.exclusively(.keyReencryption) {
            let pending = try await self.database.read { try await self.jobs.running(on: $0) }
            for job in pending {
                try await self.runJob(job)
            }
            return pending.count
        } ?? 0
    }

    /// One batch in one transaction, until nothing in the job's scope is stale. Returns batches run.
    ///
    /// Batches are pipelined: while the writer stores one batch, the next is read from a read snapshot and
    /// re-sealed on another thread, so the single writer does only the updates (issue 6). That is safe because
    /// each update applies only where the version is still sealed under the key it was read with: a version
    /// deleted meanwhile is skipped, and a version written since the read (a new row, even one that reuses a
    /// deleted row's rowid) is under the newer key already and never matches.
    @discardableResult
    func runJob(_ job: KeyRotationJobRecord, maxBatches: Int = .max) async throws -> Int {
        var batches = 0
        var resealed = 0
        var unsealable = 0
        // In-memory only: a resumed job starts from the beginning, which the stale filter makes correct.
        var cursor: VersionCursor?
        let started = ContinuousClock.now
        var next = prepareBatch(of: job, after: nil)
        // The batch being prepared when the loop ends (after `maxBatches`, a superseded job or an error) is
        // waited for, so that nothing uses the store after this returns.
        func settle() async {
            next.cancel()
            _ = await next.result
        }
        do {
            while batches < maxBatches {
                let (stale, batch, failed) = try await next.value
                let last = stale.last.map { VersionCursor(position: $0.position) } ?? cursor
                let isLast = stale.count < batchSize
                if !isLast { next = prepareBatch(of: job, after: last) }
                let finished = try await database.write { db -> Bool in
                    guard var current = try await self.jobs.running(on: db).first(where: { $0.id == job.id }) else {
                        return true
                    }
                    try await self.jobs.reseal(batch, on: db)
                    current.done += Int64(stale.count)
                    current.failed += Int64(failed.count)
                    if !failed.isEmpty {
                        try await self.audit.append(failed.map { self.integrityFailure($0, job: job) }, on: db)
                    }
                    if isLast {
                        current.status = .completed
                        current.finishedAt = self.clock().millis
                        current.total = max(current.total, current.done)
                    }
                    try await self.jobs.update(current, on: db)
                    return current.status != .running
                }
                for version in failed {
                    logger.error(
                        "a secret version failed its integrity check during re-encryption; it stays under its old key",
                        metadata: [
                            "job_id": "\(job.id)", "workspace_id": "\(version.workspaceId)",
                            "secret_id": "\(version.secretId)", "version": "\(version.version)",
                            "dek_version": "\(version.dekVersion)",
                        ])
                }
                cursor = last
                resealed += stale.count - failed.count
                unsealable += failed.count
                batches += 1
                if finished {
                    if isLast { try await retireUnusedKeys() }
                    let elapsed = ContinuousClock.now - started
                    logger.notice(
                        "key re-encryption job ended",
                        metadata: [
                            "job_id": "\(job.id)", "versions": "\(resealed)", "failed": "\(unsealable)",
                            "batches": "\(batches)",
                            "duration_ms": "\(elapsed.milliseconds)",
                        ])
                    break
                }
            }
        } catch {
            await settle()
            throw error
        }
        await settle()
        return batches
    }

    /// Marks retiring keys retired once no version uses them. The versions are read once from a read snapshot,
    /// not inside a write transaction (a pass over every version would hold up every write); a key only ever
    /// loses versions while it is retiring (new versions and re-sealed ones go under the active key), so one found
    /// unused stays unused.
    private func retireUnusedKeys() async throws {
        let unused = try await database.read { db -> [DataKeyVersion] in
            let retiring = try await self.keys.retiring(on: db)
            guard !retiring.isEmpty else { return [] }
            let used = try await self.keys.inUse(on: db)
            return retiring.filter { !used.contains($0) }
        }
        guard !unused.isEmpty else { return }
        try await database.write { db in try await self.keys.retire(unused, on: db) }
    }

    /// Reads the next batch of stale versions after `cursor` and re-seals them, outside any write transaction:
    /// the batch, its re-sealed versions, and those that failed their integrity check.
    private func prepareBatch(
        of job: KeyRotationJobRecord, after cursor: VersionCursor?
    ) -> Task<([StaleVersion], [ResealedVersion], [StaleVersion]), any Error> {
        Task {
            try await database.read { db in
                let stale = try await self.jobs.stale(
                    workspaceID: job.workspaceId, after: cursor, limit: self.batchSize, on: db)
                let (resealed, failed) = try await self.keyring.reseal(stale, on: db)
                return (stale, resealed, failed)
            }
        }
    }

    /// The audit record of a version the job could not re-seal: like a failed read of it, it names the secret
    /// and version, never a value.
    private func integrityFailure(_ version: StaleVersion, job: KeyRotationJobRecord) -> AuditEvent {
        AuditEvent(
            action: .rotated, workspaceID: version.workspaceId, secretID: version.secretId, userID: job.requestedBy,
            origin: RequestOrigin(userAgent: "coffer-reencryption-job"),
            details: [
                "event": "reencryption_integrity_failure", "job_id": .string(job.id),
                "version": .number(Double(version.version)), "dek_version": .number(Double(version.dekVersion)),
            ],
            success: false)
    }
}

/// A re-encryption job's progress, for `rotation-status`.
public struct KeyRotationJobView: Sendable {
    public let id: String
    public let workspaceID: String?
    public let status: KeyRotationJobStatus
    /// The status as the API spells it (`running`, `completed`, …).
    public var statusName: String { status.rawValue }
    public let total: Int64
    public let done: Int64
    /// Versions among `done` that failed their integrity check and were left under their old key.
    public let failed: Int64
    public let startedAt: Date
    public let finishedAt: Date?

    init(_ record: KeyRotationJobRecord) {
        id = record.id
        workspaceID = record.workspaceId
        status = record.status
        total = record.total
        done = record.done
        failed = record.failed
        startedAt = Date(millis: record.startedAt)
        finishedAt = record.finishedAt.map(Date.init(millis:))
    }
}

extension Duration {
    /// Whole milliseconds, for log fields.
    public var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
