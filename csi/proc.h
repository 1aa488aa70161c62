/* Running the system tools the node service drives (nbd-client, nbdfuse, losetup, mkfs, mount).
 *
 * Why external tools and not syscalls everywhere: mkfs and the filesystem resizers have no
 * library API, and nbd-client/nbdfuse/losetup are what an operator would run by hand, so the
 * log's command lines can be replayed when something goes wrong.
 *
 * Contract: proc_run() blocks until the command exits or timeout_ms passes (then it is killed
 * and -1 returned). Its combined stdout+stderr is captured (truncated) into out. Returns the
 * exit status, or -1 with the reason in out. Thread-safe; the child gets no inherited fds
 * beyond 0-2 (all ours are O_CLOEXEC). Arguments are logged, so never pass a secret. */
#ifndef TANDEM_CSI_PROC_H
#define TANDEM_CSI_PROC_H

#include <stddef.h>
#include <sys/types.h>

int proc_run(const char *const argv[], int timeout_ms, char *out, size_t outlen);
/* As proc_run, with extra "NAME=VALUE" environment entries (NULL-terminated; may hold
 * credentials: they are not logged, only their names). */
int proc_run_env(const char *const argv[], const char *const env[], int timeout_ms, char *out,
                 size_t outlen);
/* Starts argv in its own session with stdout/stderr appended to logpath; returns its pid or -1.
 * The caller reaps it with proc_reap() or leaves it running (nbdfuse lives as long as the
 * attachment). */
pid_t proc_spawn(const char *const argv[], const char *logpath);
/* Waits up to timeout_ms for pid to exit (reaping it if it is our child); kills it after that.
 * Returns 0 if it exited by itself. */
int proc_reap(pid_t pid, int timeout_ms);

#endif
