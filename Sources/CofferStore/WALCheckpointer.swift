import Foundation
import Logging
import NIOPosix
import Synchronization

/// Copies the write-ahead log back into the database file on a connection of its own, off the writer thread.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold: that commit, and every write
/// queued behind it, waited while thousands of pages were written and the database file synced (the tail of
/// the create and read latencies, issue 6). Here the writer only reports the log's size after each commit; past
/// ``threshold`` frames one PASSIVE checkpoint runs on the blocking-I/O pool, concurrently with later commits,
/// as SQLite's WAL design allows (it never blocks the writer or readers).
///
/// Guarantees: at most one checkpoint runs at a time; durability is unchanged (a commit is durable once its log
/// frames are synced, which the commit itself does with `synchronous=FULL`); ``close()`` waits for a running
/// checkpoint before it closes the connection.
final class WALCheckpointer: Sendable {
    /// Frames in the log that start a checkpoint: 4,000 (16 MiB of 4 KiB pages), four times SQLite's default.
    /// The pages each commit of audit records dirties (the log's last pages, its indexes' last pages, the chain's
    /// head) are mostly the same from one commit to the next, and a checkpoint copies each page once, however
    /// many commits changed it.
    static let threshold = 4_000
    private let handle: SQLiteHandle
    private let logger: Logger
    private struct State {
        var running: Task<Void, Never>?
        var closed = false
    }
    private let state = Mutex(State())
    /// Checkpoints run (for the tests).
    let completed = Atomic<Int>(0)

    /// `connection`: one of its own, on the store's database, used by nothing else.
    init(connection: SQLiteHandle, logger: Logger) {
        handle = connection
        self.logger = logger
    }

    /// The writer committed; the log now holds `frames` frames.
    func logGrew(to frames: Int) {
        guard frames >= Self.threshold else { return }
        state.withLock { state in
            guard state.running == nil, !state.closed else { return }
            state.running = Task { await self.checkpoint() }
        }
    }

    private func checkpoint() async {
        do {
            try await NIOThreadPool.singleton.runIfActive { [handle] in
                try handle.run("PRAGMA wal_checkpoint(PASSIVE)", [])
            }
            completed.add(1, ordering: .relaxed)
        } catch {
            // The next commit past the threshold tries again; the log only grows meanwhile.
            logger.warning("WAL checkpoint failed; it will be retried", metadata: ["error": "\(error)"])
        }
        state.withLock { $0.running = nil }
    }

    func close() async {
        let running = state.withLock { state -> Task<Void, Never>? in
            state.closed = true
            return state.running
        }
        await running?.value
        handle.close()
    }
}
