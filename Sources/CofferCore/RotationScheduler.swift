import CofferStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The periodic housekeeper: rotates generated secrets whose `auto_*` policy makes them due, keeps the due
/// counts current for metrics, and prunes audit records past retention.
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
    }

    init(
        database: any CofferDatabase, secrets: SecretService, audit: AuditLog, settings: CofferSettings,
        now: @escaping @Sendable () -> Date, interval: Duration, clock: any Clock<Duration>, logger: Logger
    ) {
        self.database = database
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
            let done = try await database.exclusively(.rotationScheduler) { () -> (Int, Int, Int) in
                try await self.rotateDueAndPrune(origin: origin)
            }
            if let (rotated, failed, pruned) = done {
                report.rotated = rotated
                report.failed = failed
                report.pruned = pruned
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
