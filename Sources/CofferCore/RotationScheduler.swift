import CofferStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The periodic housekeeper: rotates generated secrets whose `auto_*` policy makes them due, rotates data keys older
/// than `COFFER_KEY_ROTATION_DAYS`, keeps the due counts current for metrics, and prunes audit records past
/// retention.
///
/// Key rotation is judged by each workspace's active key's age in the store, under the scheduler's exclusive
/// lock: a key rotated once is new, so several instances rotate it once a period, and a clock set back rotates
/// nothing.
///
/// Time is injected twice: `now` (the domain clock) decides what is due, `clock` paces the loop, so tests drive
/// it with ``tick()`` and a hand-moved clock.
public final class RotationScheduler: Service, Sendable {
    private let database: any CofferDatabase
    private let secrets: SecretService
    private let audit: AuditLog
    private let settings: CofferSettings
    private let now: @Sendable () -> Date
    private let interval: Duration
    private let clock: any Clock<Duration>
    private let logger: Logger
    private let counts = Mutex(DueCounts(due: 0, overdue: 0))
    private let keyRotation: KeyRotationService
    private let webhookTransport: (any RotationWebhookTransport)?
    private let keysRotated = Mutex(0)
    private let webhookFailuresSoFar = Mutex(0)
    /// The user id the scheduler's key rotations are recorded under (audit records, `rotation-status`).
    public static let actor = "rotation-scheduler"

    /// Live secrets due within seven days, and those already overdue, instance-wide (as of the last tick).
    public struct DueCounts: Sendable, Equatable {
        public var due: Int
        public var overdue: Int
    }

    /// What one tick did.
    public struct Report: Sendable, Equatable {
        public var rotated: Int
        public var failed: Int
        public var pruned: Int
        public var counts: DueCounts
        /// Workspaces whose data key this tick rotated.
        public var keysRotated = 0
        /// Secrets whose webhook supplied a new value, and webhook calls that failed.
        public var webhookRotated = 0
        public var webhookFailed = 0
    }

    /// Data keys this process's scheduler has rotated since it started.
    public var scheduledKeyRotations: Int { keysRotated.withLock { $0 } }

    /// Rotation webhook calls that failed since this process started.
    public var webhookFailures: Int { webhookFailuresSoFar.withLock { $0 } }

    init(
        database: any CofferDatabase, secrets: SecretService, audit: AuditLog, keyRotation: KeyRotationService,
        webhookTransport: (any RotationWebhookTransport)?, settings: CofferSettings, now: @escaping @Sendable () -> Date, interval: Duration, clock: any Clock<Duration>,
        logger: Logger
    ) {
        self.database = database
        self.keyRotation = keyRotation
        self.webhookTransport = webhookTransport
        self.secrets = secrets
        self.audit = audit
        self.settings = settings
        self.now = now
        self.interval = interval
        self.clock = clock
        self.logger = logger
    }

    public var dueCounts: DueCounts { counts.withLock { $0 } }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                _ = await self.tick()
                try? await self.clock.sleep(for: self.interval)
            }
        }
    }

    /// One round: rotate due generated secrets, refresh due counts, prune old audit records.
    @discardableResult
    public func tick() async -> Report {
        var report = Report(rotated: 0, failed: 0, pruned: 0, counts: dueCounts)
        let origin = RequestOrigin(userAgent: "coffer-rotation-scheduler")
        do {
            // Rotation and pruning run on one instance at a time; every instance refreshes its own due counts.
            let done = try await database.exclusively(.rotationScheduler) { () -> (Int, Int, Int, Int, (Int, Int)) in
                let (rotated, failed, pruned) = try await self.rotateDueAndPrune(origin: origin)
                // Each phase on its own: a failing one is logged and the others still run.
                var keys = 0
                do { keys = try await self.rotateOldKeys(origin: origin) } catch {
                    self.logger.error("scheduled key rotation failed", metadata: ["error": "\(error)"])
                }
                var hooks = (0, 0)
                if let transport = self.webhookTransport {
                    do { hooks = try await self.secrets.rotateDueWebhooks(transport: transport, origin: origin) } catch {
                        self.logger.error("rotation webhooks failed", metadata: ["error": "\(error)"])
                    }
                }
                return (rotated, failed, pruned, keys, hooks)
            }
            if let (rotated, failed, pruned, keys, hooks) = done {
                report.rotated = rotated
                report.failed = failed
                report.pruned = pruned
                report.keysRotated = keys
                report.webhookRotated = hooks.0
                report.webhookFailed = hooks.1
                keysRotated.withLock { $0 += keys }
                webhookFailuresSoFar.withLock { $0 += hooks.1 }
            }
            let current = now()
            let soon = current.addingTimeInterval(7 * 86_400).millis
            let (due7, overdue) = try await database.read { db in
                try await SecretRepository().dueCounts(now: current.millis, soon: soon, on: db)
            }
            report.counts = DueCounts(due: due7, overdue: overdue)
            counts.withLock { $0 = report.counts }
        } catch {
            logger.error("rotation scheduler tick failed", metadata: ["error": "\(error)"])
        }
        return report
    }

    /// Starts a re-encryption job for each workspace whose active data key is older than `keyRotationDays`;
    /// returns how many.
    private func rotateOldKeys(origin: RequestOrigin) async throws -> Int {
        guard let days = settings.keyRotationDays else { return 0 }
        let cutoff = now().addingTimeInterval(-TimeInterval(days) * 86_400).millis
        let stale = try await database.read { db in
            try await KeyRepository().activeMadeBefore(cutoff, limit: 100, on: db)
        }
        var rotated = 0
        for workspaceID in stale {
            // One workspace that cannot be rotated now (its key provider is down) does not hold up the others.
            do {
                let job = try await keyRotation.rotateKey(workspaceID: workspaceID, by: Self.actor, origin: origin)
                rotated += 1
                logger.notice(
                    "data key rotated on schedule",
                    metadata: ["workspace_id": "\(workspaceID)", "job_id": "\(job.id)", "days": "\(days)"])
            } catch {
                logger.error(
                    "scheduled data key rotation failed; retried next tick",
                    metadata: ["workspace_id": "\(workspaceID)", "error": "\(error)"])
            }
        }
        return rotated
    }

    /// Rotates the generated secrets that are due and prunes audit records past retention: (rotated, failed,
    /// pruned).
    private func rotateDueAndPrune(origin: RequestOrigin) async throws -> (Int, Int, Int) {
        var rotated = 0
        var failed = 0
        let due = try await database.read { db in
            try await SecretRepository().dueGenerated(before: self.now().millis, limit: 1000, on: db)
        }
        for candidate in due {
            do {
                try await database.write { db in
                    // Re-read inside the transaction: a user may have rotated or deleted it meanwhile.
                    guard let fresh = try await SecretRepository().find(id: candidate.id, workspaceID: candidate.workspaceId, on: db),
                        let dueAt = fresh.rotationDueAt, dueAt <= self.now().millis
                    else { return }
                    _ = try await self.secrets.rotate(fresh, to: nil, by: nil, origin: origin, on: db)
                }
                rotated += 1
            } catch {
                failed += 1
                logger.error("automatic rotation failed", metadata: ["secret_id": "\(candidate.id)", "error": "\(error)"])
            }
        }
        let pruned = audit.isEnabled ? try await audit.prune(olderThanDays: settings.auditRetentionDays) : 0
        return (rotated, failed, pruned)
    }
}
