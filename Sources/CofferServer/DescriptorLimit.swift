#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit, which bounds how many connections the server can hold.
public enum DescriptorLimit {
    /// Descriptors kept back from connections: database files and connections, the key provider's and webhooks'
    /// HTTP connections, logs, and the listening socket.
    static let reserve = 256

    /// Raises the soft limit to the hard one (the default soft limit, 1,024, is far below what a server needs);
    /// returns the soft limit now in force.
    @discardableResult
    public static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return Int(clamping: raised.rlim_cur) }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// How many connections fit under the current soft limit with ``reserve`` left over (at least 16).
    static func connectionBudget() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 512 }
        return max(16, Int(clamping: limit.rlim_cur) - reserve)
    }
}
