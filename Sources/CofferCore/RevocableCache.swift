import Foundation
import Synchronization

/// A small in-memory cache of authorization facts (a live session, a workspace role) that saves a database read
/// on every request and never outlives a revocation made by this process.
///
/// Guarantees:
/// - After ``invalidateAll()`` returns, no entry from before it is served, and an answer read from the database
///   before the revocation committed cannot be stored afterwards: ``store(_:for:ticket:)`` refuses any answer whose
///   ``ticket()`` predates the last invalidation. Callers invalidate after their revoking transaction commits.
/// - An entry is trusted for at most `ttl` seconds, which bounds how long a change written by another process
///   (a second server on the same database) can go unseen.
/// - Holds at most `capacity` entries; a full cache starts over rather than growing.
final class RevocableCache<Value: Sendable>: Sendable {
    private struct State {
        var entries: [String: (value: Value, storedAt: Date)] = [:]
        var epoch: UInt64 = 0
    }

    private let state = Mutex(State())
    private let ttl: TimeInterval
    private let capacity: Int
    private let clock: @Sendable () -> Date

    init(ttl: TimeInterval, capacity: Int = 10_000, clock: @escaping @Sendable () -> Date) {
        self.ttl = ttl
        self.capacity = capacity
        self.clock = clock
    }

    /// The cached value, if it was stored less than `ttl` ago.
    func value(for key: String) -> Value? {
        let now = clock()
        return state.withLock { state in
            guard let entry = state.entries[key] else { return nil }
            let age = now.timeIntervalSince(entry.storedAt)
            guard age >= 0, age < ttl else {
                state.entries[key] = nil
                return nil
            }
            return entry.value
        }
    }

    /// Taken before reading the database, and handed back to ``store(_:for:ticket:)``.
    func ticket() -> UInt64 {
        state.withLock { $0.epoch }
    }

    /// Stores an answer read from the database, unless an invalidation happened since `ticket` was taken.
    func store(_ value: Value, for key: String, ticket: UInt64) {
        let now = clock()
        state.withLock { state in
            guard state.epoch == ticket else { return }
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[key] = (value, now)
        }
    }

    /// Forgets everything; answers read before this call can no longer be stored.
    func invalidateAll() {
        state.withLock { state in
            state.epoch &+= 1
            state.entries.removeAll(keepingCapacity: true)
        }
    }
}
