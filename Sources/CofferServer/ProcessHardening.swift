import CCofferProcess
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// What `coffer server` does to its own process before it loads a key: memory holding keys and plaintexts must not
/// end up in a core file or in swap.
public enum ProcessHardening {
    /// Turns core dumps off (`RLIMIT_CORE` 0, hard and soft, and `PR_SET_DUMPABLE` 0) and, with `lockMemory`
    /// (`COFFER_MLOCK=true`), locks all present and future memory (`mlockall`).
    /// - Throws: a ``ConfigurationError`` when memory locking was asked for and refused, saying what to raise.
    public static func apply(lockMemory: Bool, logger: Logger) throws(ConfigurationError) {
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        if setrlimit(Int32(RLIMIT_CORE.rawValue), &none) != 0 {
            logger.warning("cannot turn core dumps off (RLIMIT_CORE)", metadata: ["errno": "\(errno)"])
        }
        if coffer_set_not_dumpable() != 0 {
            logger.warning("cannot mark the process not dumpable (PR_SET_DUMPABLE)", metadata: ["errno": "\(errno)"])
        }
        guard lockMemory else { return }
        guard mlockall(MCL_CURRENT | MCL_FUTURE) == 0 else {
            let reason = String(cString: strerror(errno))
            throw ConfigurationError(
                "COFFER_MLOCK=true, but locking memory failed (\(reason)): raise the memlock limit (`ulimit -l unlimited`, "
                    + "LimitMEMLOCK=infinity in the systemd unit) or grant CAP_IPC_LOCK, or set COFFER_MLOCK=false.")
        }
        logger.info("memory locked (COFFER_MLOCK=true): nothing this process holds is swapped out")
    }
}
