/*
 * stats: shoutd's stats port, how a client (shout ping and load, ci/bench)
 * reads the server's counters to compute server CPU time per message. Every
 * connection to it is answered with one JSON object and a newline, then
 * closed; the client sends nothing. The object holds the counters since
 * start (struct server_stats and struct conn_counters), the process's CPU
 * time (getrusage), and the CPU it runs on and is pinned to. The field list
 * is in docs/protocol.md ("The stats port").
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

#include "server.h"

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

void stats_sample_process(const struct server *server, struct stats_process *process);

/*
 * The counters the stats port reports, copied out of the server by
 * stats_gather, so that stats_format is pure (numbers in, bytes out) and is
 * tested and fuzzed without a server.
 */
struct stats_counters {
    struct server_stats server;  /* shoutd's own: connections, UDP, shutdown, trims */
    struct conn_counters engine; /* the connection engines', both serving ports */
    uint32_t open;               /* TCP connections open now */
    size_t buffered;             /* bytes their buffers hold (the memory budget's total) */
    uint64_t rate_evictions;     /* UDP sources forgotten by the per-source budget */
    uint64_t loop_wakeups;
    uint64_t loop_spins;
    uint32_t busy_poll_us;
};

void stats_gather(const struct server *server, struct stats_counters *counters);

/*
 * The JSON object, its newline and a NUL in out[0..cap); returns its length
 * (without the NUL), or 0 if cap was short.
 */
size_t stats_format(const struct stats_counters *counters, const struct stats_process *process,
                    char *out, size_t cap);

/* The stats listener's callback (its owner is the server): answer every waiting client. */
void stats_on_listener_ready(struct loop_source *listener, uint32_t events);

#endif
