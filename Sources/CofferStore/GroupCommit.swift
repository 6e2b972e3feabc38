import SQLKit
import Synchronization

/// Group commit, for every store: `write` bodies that arrive while a transaction is committing wait for it and
/// then share the next one.
///
/// Guarantees:
/// - Bodies run one at a time, in arrival order, at most ``maxGroup`` to a transaction, each inside its own
///   savepoint (a lone body gets the transaction to itself). A body that throws is rolled back alone; the others
///   of its group commit.
/// - `submit` returns only after its group's transaction has ended: with the body's value once the commit
///   succeeded, with the body's own error, or with the transaction's error if the transaction failed (then none of
///   the group is applied).
/// - The store supplies how a group is committed (``commit``); ``runGroup(_:on:statement:begin:)`` is the one
///   savepoint procedure both dialects use.
final class GroupCommitQueue: Sendable {
    /// Most write bodies one transaction takes, so that a group's latency stays bounded.
    static let maxGroup = 64

    private let pending = Mutex(PendingWrites())
    private let executor: (any TaskExecutor)?

    /// - Parameter executor: where the flusher runs (the store's writer thread, if it has one).
    init(executor: (any TaskExecutor)?) {
        self.executor = executor
    }

    /// Queues `body` and returns once its group has committed.
    /// - Parameters:
    ///   - translate: maps the body's own error (driver errors to store errors).
    ///   - commit: commits one group and finishes every write of it (``runGroup(_:on:begin:translate:statement:)``).
    func submit<T: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> T, translate: @Sendable (any Error) -> any Error,
        commit: @escaping @Sendable ([GroupedWrite]) async -> Void
    ) async throws -> T {
        // The body is queued for whoever commits the group but never outlives this call: it is dropped before
        // this write is finished (``GroupedWrite/run(on:)``).
        try await withoutActuallyEscaping(body) { body in
            let outcome = WriteOutcome<T>()
            let write = GroupedWrite { db in
                do {
                    outcome.value = .success(try await body(db))
                } catch {
                    outcome.value = .failure(error)
                }
                return outcome.succeeded
            }
            let startFlusher = pending.withLock { pending -> Bool in
                pending.writes.append(write)
                if pending.flushing { return false }
                pending.flushing = true
                return true
            }
            // With no commit under way, a flusher starts and commits this write at once; writes that arrive
            // meanwhile wait for it and then go together. The caller's own task stays off the flusher: what it
            // does after its write must not delay the next commit.
            if startFlusher { Task(executorPreference: executor) { await self.flush(commit) } }
            try await write.finished()
            switch outcome.value! {
            case .success(let value): return value
            case .failure(let error): throw translate(error)
            }
        }
    }

    /// The next group: up to ``maxGroup`` writes in arrival order; when none is left, the queue is idle again.
    private func takeGroup() -> [GroupedWrite] {
        pending.withLock { pending -> [GroupedWrite] in
            let count = min(pending.writes.count, Self.maxGroup)
            let group = Array(pending.writes.prefix(count))
            pending.writes.removeFirst(count)
            if group.isEmpty { pending.flushing = false }
            return group
        }
    }

    /// Commits queued writes, a group at a time, until none is left.
    private func flush(_ commit: @Sendable ([GroupedWrite]) async -> Void) async {
        while true {
            let group = takeGroup()
            if group.isEmpty { return }
            await commit(group)
        }
    }

    /// One transaction for `group` on an open connection: `begin`, each body in its own savepoint, `COMMIT`; then
    /// finishes every write of the group. Returns whether a transaction committed (a lone body that threw rolls
    /// its transaction back). If the transaction itself failed, every write of the group fails with
    /// `translate(error)`.
    @discardableResult
    static func runGroup(
        _ group: [GroupedWrite], on db: any SQLDatabase, begin: [String],
        translate: (any Error) -> any Error, statement: (String) async throws -> Void
    ) async -> Bool {
        var failure: (any Error)?
        var committed = false
        do {
            for sql in begin { try await statement(sql) }
            if group.count == 1 {
                // Alone in its group (the usual case without contention): the transaction is the write's own, and
                // a failed body rolls all of it back, with no savepoint statements around it.
                guard await group[0].run(on: db) else { throw BodyFailed() }
            } else {
                for write in group {
                    try await statement("SAVEPOINT coffer_write")
                    if await write.run(on: db) {
                        try await statement("RELEASE SAVEPOINT coffer_write")
                    } else {
                        try await statement("ROLLBACK TO SAVEPOINT coffer_write")
                        try await statement("RELEASE SAVEPOINT coffer_write")
                    }
                }
            }
            try await statement("COMMIT")
            committed = true
        } catch is BodyFailed {
            // A lone write's body threw: roll its transaction back; the caller reads its own error.
            try? await statement("ROLLBACK")
        } catch {
            // The transaction itself failed (a savepoint, the commit, a lost connection, or an error that made the
            // database roll back on its own): nothing of the group is applied, and every write of it fails.
            failure = translate(error)
            for write in group { write.drop() }
            try? await statement("ROLLBACK")
        }
        for write in group { write.finish(failure: failure) }
        return committed
    }

    /// Fails every write still waiting for a group: the store found the database unreachable, and they would only
    /// wait for it again, each for as long.
    func failWaiting(with error: any Error) {
        let waiting = pending.withLock { pending -> [GroupedWrite] in
            defer { pending.writes.removeAll() }
            return pending.writes
        }
        Self.fail(waiting, with: error)
    }

    /// Fails every write of a group that could not start a transaction (no connection, for one).
    static func fail(_ group: [GroupedWrite], with error: any Error) {
        for write in group {
            write.drop()
            write.finish(failure: error)
        }
    }
}

/// A lone write's body threw (its error is in its outcome).
private struct BodyFailed: Error {}

/// Writes waiting for the next group commit.
private struct PendingWrites {
    var writes: [GroupedWrite] = []
    var flushing = false
}

/// The result of one write body, read by its caller once the group has committed.
private final class WriteOutcome<T: Sendable>: @unchecked Sendable {
    /// Set by the flusher before it resumes the caller, read by the caller after: never at the same time.
    var value: Result<T, any Error>?

    var succeeded: Bool {
        if case .success = value { return true }
        return false
    }
}

/// One queued `write`: its body (until it has run), and whether its group has committed.
final class GroupedWrite: @unchecked Sendable {
    /// Only the committing task touches `body`, one group at a time.
    private var body: ((any SQLDatabase) async -> Bool)?
    private struct Completion {
        var result: Result<Void, any Error>?
        var waiter: CheckedContinuation<Void, any Error>?
    }
    private let completion = Mutex(Completion())

    init(body: @escaping (any SQLDatabase) async -> Bool) {
        self.body = body
    }

    /// Runs the body (once); `false` if it threw. The body is released right after, before its caller can resume.
    func run(on db: any SQLDatabase) async -> Bool {
        guard let body else { return false }
        self.body = nil
        return await body(db)
    }

    /// Releases a body that will not run.
    func drop() { body = nil }

    /// Ends the write: with the group's failure if the transaction failed, else for the caller to read its own
    /// outcome.
    func finish(failure: (any Error)?) {
        body = nil
        let result: Result<Void, any Error> = failure.map { .failure($0) } ?? .success(())
        let waiter = completion.withLock { completion -> CheckedContinuation<Void, any Error>? in
            completion.result = result
            defer { completion.waiter = nil }
            return completion.waiter
        }
        waiter?.resume(with: result)
    }

    /// Returns once ``finish(failure:)`` has run (at once if it already has).
    func finished() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let result = completion.withLock { completion -> Result<Void, any Error>? in
                if completion.result == nil { completion.waiter = continuation }
                return completion.result
            }
            if let result { continuation.resume(with: result) }
        }
    }
}
