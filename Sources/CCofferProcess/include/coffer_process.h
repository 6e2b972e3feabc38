#ifndef COFFER_PROCESS_H
#define COFFER_PROCESS_H

/// Marks the process not dumpable (prctl(PR_SET_DUMPABLE, 0): no core file, no ptrace by other users, /proc/PID
/// files owned by root). Returns 0, or -1 with errno set. prctl is variadic, which Swift cannot call.
int coffer_set_not_dumpable(void);

#endif
