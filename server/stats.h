/*
 * stats: shoutd's stats port, how a client (shout ping and load, ci/bench)
 * reads the server's counters to compute server CPU time per message. Every
 * connection to it is answered with one JSON object and a newline, then
 * closed; the client sends nothing. The object holds the counters since
 * start (each module's own, gathered by the server: struct stats_counters),
 * the process's CPU time (getrusage), and the CPU it runs on and is pinned
 * to. The field list is in docs/protocol.md ("The stats port"). The port
 * knows no module: what it reports comes from the gather function the
 * server hands it, so stats.c calls nothing but the acceptor and the kernel.
 *
 * The write is one non-blocking send of under 4 KiB into a fresh socket's
 * empty buffer: if it would block or is short, the connection is closed
 * anyway, so a stats client can never hold the server up. The stats port's
 * own connections are not counted. Nothing is allocated: the JSON is built
 * with snprintf in a fixed buffer that the caller owns.
 */
#ifndef SHOUTD_STATS_H
#define SHOUTD_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "accept.h"
#include "conn.h"
#include "dgram.h"
#include "kernel.h"
#include "loop.h"
#include "stream.h"

/* Large enough for every counter at its widest (20 digits each). */
#define STATS_JSON_MAX 4096

/* What the process reports about itself, sampled when a client asks. */
struct stats_process {
    long pid;
    double uptime_s;
    int cpu;        /* sched_getcpu(), or -1 when it did not answer */
    int pinned_cpu; /* --cpu N, or -1 */
    double user_s;
    double system_s;
};

/* The process's figures now, for a server started at started (CLOCK_MONOTONIC). */
void stats_sample_process(const struct kernel *kernel, const struct timespec *started,
                          int pinned_cpu, struct stats_process *process);

/*
 * The counters the stats port reports, copied out of each module by the
 * server's gather function, so that stats_format is pure (numbers in, bytes
 * out) and is tested and fuzzed without a server.
 */
struct stats_counters {
    struct stream_stats tcp;     /* connections, timeouts, shutdown */
    struct accept_stats accept;  /* descriptor exhaustion */
    struct dgram_stats udp;      /* datagrams, replies, drops */
    struct conn_counters engine; /* the connection engines', both serving ports */
    uint64_t malloc_trims;       /* freed memory handed back to the kernel after a release */
    uint32_t open;               /* TCP connections open now */
    size_t buffered;             /* bytes their buffers hold (the memory budget's total) */
    uint64_t rate_evictions;     /* UDP sources forgotten by the per-source budget */
    uint64_t loop_wakeups;
    uint64_t loop_spins;
    uint32_t busy_poll_us;
};

/*
 * The JSON object, its newline and a NUL in out[0..cap); returns its length
 * (without the NUL), or 0 if cap was short.
 */
size_t stats_format(const struct stats_counters *counters, const struct stats_process *process,
                    char *out, size_t cap);

/* Fills both with what is true now; context is the stats port's. */
typedef void stats_gather_fn(const void *context, struct stats_counters *counters,
                             struct stats_process *process);

/* The stats port: its listener's source (owner: the port) and where its answers come from. */
struct stats_port {
    const struct kernel *kernel;
    struct acceptor *acceptor;
    stats_gather_fn *gather;
    const void *context;
    struct loop_source source;
};

/* The stats listener's callback: answer every waiting client. */
void stats_on_listener_ready(struct loop_source *listener, uint32_t events);

#endif
