import Foundation
import Synchronization

/// A task executor with one thread of its own, for work that must not queue behind request tasks and may block:
/// the store's commits, which wait for the disk.
///
/// Guarantees:
/// - Jobs run one at a time, in the order they were enqueued, on the executor's own thread, never on the
///   cooperative pool, so blocking that thread (an fsync) takes no thread from request tasks, and the work on it
///   is scheduled by the kernel beside them rather than waiting for its turn in their queue.
/// - The executor and its thread live as long as the process (``writer`` is the one instance): the runtime refers
///   to a preferred executor without owning it, so one that could end would leave suspended tasks nowhere to
///   resume.
final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    /// The thread every ``SQLiteDatabaseStore`` commits on (a server opens one store; tests open many, and their
    /// commits simply take turns).
    static let writer = DedicatedThreadExecutor(name: "coffer-writer")
    /// The thread of ``BlockingWork``.
    static let blocking = DedicatedThreadExecutor(name: "coffer-blocking")

    private struct Queue {
        var jobs: [UnownedJob] = []
        var head = 0
    }

    private let queue = Mutex(Queue())
    private let ready = DispatchSemaphore(value: 0)

    /// `name` shows in `top -H` and `/proc`; Linux keeps at most 15 bytes of it (a longer one is refused).
    private init(name: String) {
        let thread = Thread { [unowned self] in
            // The thread's own name entry (Linux): Foundation's `Thread.name` did not reach it here.
            try? name.write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
            self.run()
        }
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.withLock { $0.jobs.append(job) }
        ready.signal()
    }

    private func run() -> Never {
        while true {
            ready.wait()
            let job = queue.withLock { queue -> UnownedJob in
                // One signal per job: the queue holds at least this one.
                let job = queue.jobs[queue.head]
                queue.head += 1
                if queue.head == queue.jobs.count {
                    queue.jobs.removeAll(keepingCapacity: queue.jobs.count <= 1_024)
                    queue.head = 0
                }
                return job
            }
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// Work that keeps its thread busy for long (a scan of a whole table, a loop of MACs over it, file I/O with
/// `fsync`), run on a thread of its own rather than on the caller's. The server's tasks run on the event loops
/// that also carry its connections' I/O (and a SQLite read runs on its caller's thread), so such work done there
/// would stall every connection of that loop until it ended. Jobs on this thread take turns.
public enum BlockingWork {
    public static func run<T: Sendable>(_ work: @Sendable () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(DedicatedThreadExecutor.blocking, operation: work)
    }
}
