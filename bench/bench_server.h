/*
 * bench_server: the shoutd that the e2e benchmarks measure, started by the
 * benchmark binary itself: fork and exec of the shoutd built with it
 * (--port 0 --no-stats, --cpu N when pinned), the port read from the first
 * line of its standard output, and SIGTERM to that PID at the end (SIGKILL
 * if it has not exited within a few seconds). The child also gets SIGTERM
 * if shout-bench dies first (PR_SET_PDEATHSIG), so no server is left behind.
 *
 * Memory: one server per process, held in static storage; nothing to free.
 * Not thread-safe.
 */
#ifndef SHOUT_BENCH_SERVER_H
#define SHOUT_BENCH_SERVER_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Start shoutd (the path) on the CPUs in allowed, then pinned by its own
 * --cpu to cpu (-1: not pinned). allowed matters because shout-bench may
 * have pinned itself, and a child inherits that. Returns the port, or a
 * negative errno with a one-line reason in why (shoutd's own messages, if
 * it wrote any, are copied to stderr).
 */
int bench_server_start(const char *path, const cpu_set_t *allowed, int cpu, char *why,
                       size_t why_cap);

/* The running server's PID, or 0 when none is running. */
pid_t bench_server_pid(void);

/* Stop the server if one is running and reap it. Safe to call twice. */
void bench_server_stop(void);

#endif
