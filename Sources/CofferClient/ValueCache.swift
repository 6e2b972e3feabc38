import Foundation

/// How long ``CofferClient`` keeps values it has read.
public struct ValueCachePolicy: Sendable {
    /// A value younger than this is served without asking the server.
    public var ttl: Duration
    /// After the TTL, how much longer a value may stand in when the server is unreachable or failing.
    public var staleIfError: Duration
    /// The most values kept; the oldest go first.
    public var maxEntries: Int

    public init(ttl: Duration = .seconds(60), staleIfError: Duration = .seconds(300), maxEntries: Int = 1024) {
        self.ttl = ttl
        self.staleIfError = staleIfError
        self.maxEntries = max(1, maxEntries)
    }
}

/// The values ``CofferClient`` has read, by workspace id and secret name; lives inside the client's actor.
struct ValueCache {
    struct Key: Hashable {
        let workspace: String
        let name: String
    }

    private struct Entry {
        let value: SecretValue
        let fetchedAt: Date
    }

    let policy: ValueCachePolicy?
    private var entries: [Key: Entry] = [:]
    /// Bumped by every removal, so a read that began before a write cannot store the value the write replaced;
    /// `epoch` is bumped by removing everything (a read in flight across `removeAll` stores nothing).
    private var removals: [Key: Int] = [:]
    private var epoch = 0

    init(policy: ValueCachePolicy?) { self.policy = policy }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }

    /// A value read less than the TTL ago.
    func fresh(_ key: Key, at now: Date) -> SecretValue? {
        guard let policy, let entry = entries[key] else { return nil }
        return now.timeIntervalSince(entry.fetchedAt) < Self.seconds(policy.ttl) ? entry.value : nil
    }

    /// A value read less than TTL + stale-if-error ago, for when the server cannot answer.
    func stale(_ key: Key, at now: Date) -> SecretValue? {
        guard let policy, let entry = entries[key] else { return nil }
        let limit = Self.seconds(policy.ttl) + Self.seconds(policy.staleIfError)
        return now.timeIntervalSince(entry.fetchedAt) < limit ? entry.value : nil
    }

    /// The key's generation, taken before a read that may ``store(_:for:at:ifGeneration:)``.
    func generation(_ key: Key) -> Generation { Generation(epoch: epoch, removals: removals[key] ?? 0) }

    /// Every key's generation as of now.
    func generations() -> (epoch: Int, removals: [Key: Int]) { (epoch, removals) }

    struct Generation: Equatable {
        let epoch: Int
        let removals: Int
    }

    /// Keeps a value read from the server, unless the key was removed since `generation` was taken.
    mutating func store(_ value: SecretValue, for key: Key, at now: Date, ifGeneration generation: Generation) {
        guard let policy, self.generation(key) == generation else { return }
        entries[key] = Entry(value: value, fetchedAt: now)
        if entries.count > policy.maxEntries, let oldest = entries.min(by: { $0.value.fetchedAt < $1.value.fetchedAt }) {
            entries[oldest.key] = nil
        }
    }

    mutating func remove(_ key: Key) {
        entries[key] = nil
        removals[key, default: 0] += 1
    }

    mutating func removeAll() {
        epoch += 1
        entries.removeAll()
    }
}
