/*
 * stats: shoutd's stats port, how a client (shout ping and load, ci/bench,
 * curl, a Prometheus scraper) reads the server's counters. A connection
 * gets one answer, then is closed:
 *
 * - a client that sends nothing gets one JSON object and a newline, as
 *   soon as it shuts down its write side, or after STATS_QUIET_MS of
 *   silence (what scripts written for the first stats port do);
 * - an HTTP/1.x request gets an HTTP response: GET /metrics the Prometheus
 *   text format (metrics.h), GET /stats.json the same JSON (stats_http.h).
 *
 * The object holds the counters since start (each module's own, gathered
 * by the server: struct stats_counters), the process's CPU time
 * (getrusage), and the CPU it runs on and is pinned to. The field list is
 * in docs/protocol.md ("The stats port"). The port knows no module: what it
 * reports comes from the gather function the server hands it, so stats.c
 * calls nothing but the acceptor, the loop and the kernel.
 *
 * Bounded: at most STATS_CLIENTS clients wait at once, each in a slot of the
 * port (a request buffer of STATS_HTTP_REQUEST_MAX bytes and a reply buffer,
 * nothing allocated); a client past them is answered at once with the JSON
 * line, as before, and counted busy. Each has STATS_DEADLINE_MS to send its
 * request and read the answer, else it is cut off and counted. Peers
 * outside loopback and --stats-allow are refused at accept (stats_policy.h).
 * The stats port's own connections are not counted with the main port's.
 */
#ifndef SHOUTD_STATS_H
#define SHOUTD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "accept.h"
#include "conn.h"
#include "dgram.h"
#include "kernel.h"
#include "loop.h"
#include "stats_http.h"
#include "stats_policy.h"
#include "stream.h"

/* Large enough for every counter at its widest (20 digits each). */
#define STATS_JSON_MAX 4096
/* The version of the JSON object's layout, its "format" field: a field removed or changed bumps it.
 */
#define STATS_FORMAT 1

/* Clients served at once; a scraper and a benchmark or two need no more. */
#define STATS_CLIENTS 8
/*
 * How long a silent client waits for the JSON line. An HTTP client sends
 * its request as soon as it is connected, microseconds later on loopback;
 * a quarter of a second leaves it room on a loaded machine and costs an old
 * script little (one that shuts down its write side waits for nothing).
 */
#define STATS_QUIET_MS 250
/* Request and reply, start to end: past it a client is cut off (slow). */
#define STATS_DEADLINE_MS 2000
/* The largest reply: the Prometheus text and its HTTP head. */
#define STATS_REPLY_MAX (16384 + 512)

/* The stats port's own counters: what it answered and whom it turned away. */
struct stats_port_stats {
    uint64_t answered_line;  /* the JSON line, to a client that sent nothing */
    uint64_t answered_http;  /* an HTTP response, whatever its status */
    uint64_t refused_source; /* outside loopback and --stats-allow */
    uint64_t cut_slow;       /* past STATS_DEADLINE_MS */
    uint64_t cut_large;      /* a request head over STATS_HTTP_REQUEST_MAX (431) */
    uint64_t bad_requests;   /* not HTTP, a bad path or method (400, 404, 405) */
    uint64_t busy;           /* every slot taken: answered the JSON line at once */
};

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
    struct stream_stats tcp;      /* connections, timeouts, shutdown */
    struct accept_stats accept;   /* descriptor exhaustion */
    struct dgram_stats udp;       /* datagrams, replies, drops */
    struct conn_counters engine;  /* the connection engines', both serving ports */
    struct stats_port_stats port; /* the stats port's own */
    uint64_t malloc_trims;        /* freed memory handed back to the kernel after a release */
    uint32_t open;                /* TCP connections open now */
    size_t buffered;              /* bytes their buffers hold (the memory budget's total) */
    uint64_t rate_evictions;      /* UDP sources forgotten by the per-source budget */
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

/* A client of the stats port, in a slot of it; source.fd is -1 when the slot is free. */
struct stats_client {
    struct loop_source source;
    uint64_t quiet_ms;    /* silent until then: the JSON line */
    uint64_t deadline_ms; /* not done by then: cut off */
    size_t in_len;
    size_t out_len; /* 0: still reading the request */
    size_t out_sent;
    bool lingering; /* answered and shut down: reading what is left until EOF */
    char in[STATS_HTTP_REQUEST_MAX];
    char out[STATS_REPLY_MAX];
};

/* The stats port: its listener's source and its clients (owner: the port). */
struct stats_port {
    const struct kernel *kernel;
    struct acceptor *acceptor;
    struct loop *loop;
    stats_gather_fn *gather;
    const void *context;
    const struct stats_allow *allow; /* --stats-allow, beside loopback */
    size_t allow_count;
    struct loop_source sources[OPTIONS_MAX_LISTEN]; /* its listeners' */
    struct stats_port_stats stats;
    struct stats_client clients[STATS_CLIENTS];
};

/* Mark every slot free; before the listener is watched. */
void stats_port_init(struct stats_port *port);

/* The stats listener's callback: take every waiting client. */
void stats_on_listener_ready(struct loop_source *listener, uint32_t events);

/*
 * Answer the silent clients whose quiet time is over and cut off the late
 * ones, at now_ms (the loop's clock); returns when the loop must wake next
 * for them, UINT64_MAX if it need not. A scan of STATS_CLIENTS slots.
 */
uint64_t stats_port_tick(struct stats_port *port, uint64_t now_ms);

/* Close every client (at exit). */
void stats_port_close_all(struct stats_port *port);

#endif
