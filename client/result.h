/*
 * result: what one measuring run (shout ping or shout load) was asked to do,
 * where it ran, and what it measured. The run loops (ping.c, load.c) fill it;
 * report.c prints it as a table and writes it as JSON; merge.c reads several
 * back and adds them up. Plain values only: a struct run_result owns all of
 * its memory (it is large, ~75 KiB with its two histograms: allocate it, do
 * not put it on a small stack).
 */
#ifndef SHOUT_RESULT_H
#define SHOUT_RESULT_H

#include <stdbool.h>
#include <stdint.h>

#include "hist.h"

#define RESULT_TEXT_MAX 128
#define RESULT_MAX_CPUS 64
/* The result file's layout version ("format"); a reader refuses any other. */
#define RESULT_FORMAT 1
/* Run ids a merged result remembers; shout merge refuses to merge more runs. */
#define RESULT_MAX_IDS 256

struct run_config {
    char command[16];           /* "ping" or "load" */
    char host[RESULT_TEXT_MAX]; /* as given */
    uint16_t port;
    bool udp;
    bool framed;
    bool sockperf;        /* ping --sockperf: sockperf's wire format */
    uint32_t size;        /* payload bytes per request */
    double duration_s;    /* 0 when count decides */
    uint64_t count;       /* 0 when duration decides */
    double warmup_s;      /* not recorded */
    uint32_t connections; /* load: flows (TCP connections or UDP sockets); ping: 1 */
    uint32_t threads;     /* load; ping: 1 */
    uint32_t pipeline;    /* requests in flight per connection (UDP: the window); ping: 1 */
    double rate;          /* load: requests/s over all connections; 0 = closed loop */
    double timeout_s;     /* UDP: a reply later than this is lost */
    int client_cpus[RESULT_MAX_CPUS]; /* --cpu as given; empty = not pinned */
    uint32_t client_cpu_count;
    uint16_t stats_port; /* the server's stats port; 0 = not asked */
    bool busy_poll;      /* ping --busy-poll: replies were waited for by spinning */
    int family;          /* -4, -6: AF_INET or AF_INET6; 0 (AF_UNSPEC) for either; not in JSON */
};

struct run_env {
    char kernel[RESULT_TEXT_MAX];    /* uname -sr */
    char cpu_model[RESULT_TEXT_MAX]; /* /proc/cpuinfo "model name" */
    char hostname[RESULT_TEXT_MAX];
    uint32_t online_cpus;
    int client_cpus_seen[RESULT_MAX_CPUS]; /* CPUs the client threads ran on (sched_getcpu) */
    uint32_t client_cpus_seen_count;
    int server_cpu;      /* from the server's stats: the CPU it ran on last; -1 unknown */
    int server_pinned;   /* the server's --cpu; -1 not pinned or unknown */
    int shared_cpu;      /* 1 client and server shared a CPU, 0 they did not, -1 unknown */
    char started_at[32]; /* UTC, ISO 8601 */
};

struct run_counts {
    uint64_t sent;         /* requests sent (measured phase) */
    uint64_t received;     /* right replies */
    uint64_t mismatches;   /* replies that were not the uppercased request, or wrong id */
    uint64_t lost;         /* UDP: no reply within timeout_s */
    uint64_t duplicates;   /* UDP: a second reply to one request */
    uint64_t reordered;    /* UDP: a reply arriving after a later request's reply */
    uint64_t error_frames; /* the server answered with an error frame */
    /*
     * TCP only (UDP has lost instead): connections that the server closed or
     * reset during the run, and the requests that were in flight on them or
     * on connections the run gave up on. TCP cannot lose a request, so a
     * request without a reply there is "unanswered", never "lost".
     */
    uint64_t refused;
    uint64_t unanswered;
    uint64_t bytes_sent; /* on the wire, payload and headers (no IP/TCP/UDP headers) */
    uint64_t bytes_received;
};

struct run_cpu {
    bool known;
    double user_s;
    double system_s;
};

/*
 * What shoutd dropped or refused on purpose over the run, by reason, from
 * its stats port (names as there). Deltas after report_server_delta.
 */
struct server_drops {
    bool known;
    uint64_t udp_dropped_rate;        /* --udp-rate-per-ip */
    uint64_t udp_dropped_global_rate; /* --udp-rate */
    uint64_t udp_dropped_source_port; /* source ports the server will not answer */
    uint64_t tcp_refused_max_conns;   /* --max-conns */
    uint64_t tcp_refused_per_ip;      /* --max-conns-per-ip */
    uint64_t tcp_refused_no_fds;
    uint64_t tcp_refused_no_memory;
    uint64_t tcp_timeouts_frame; /* deadlines */
    uint64_t tcp_timeouts_idle;
    uint64_t tcp_timeouts_write;
    uint64_t tcp_closed_memory; /* memory caps */
    uint64_t tcp_closed_memory_per_ip;
};

struct server_counters {
    bool known;           /* the stats port answered before and after the run */
    uint64_t requests;    /* framed requests answered (TCP) */
    uint64_t text_bytes;  /* text bytes answered (TCP) */
    uint64_t udp_replies; /* datagrams answered */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t errors;    /* error frames sent, all codes */
    struct run_cpu cpu; /* server rusage over the run */
    struct server_drops drops;
};

/*
 * One entry of the interval series (interval.h): t_s is the interval's end
 * from the start of the measured phase, span_s its length; p50/p99 are -1
 * when no reply came in it; lost and errors (mismatches and error frames)
 * are counted in it, not since the start.
 */
struct run_interval {
    double t_s;
    double span_s;
    uint64_t replies;
    double replies_per_s;
    double p50_us;
    double p99_us;
    uint64_t lost;
    uint64_t errors;
};
/* An hour at the default 1 s; a longer run keeps its first hour of entries. */
#define RESULT_MAX_INTERVALS 3600

struct run_result {
    struct run_config config;
    struct run_env env;
    double elapsed_s; /* the measured phase, wall clock */
    /*
     * latency: round trip as the user sees it. For ping and closed-loop load
     * it is from the actual send; for paced load (rate > 0) it is from the
     * request's intended send time, so a stall cannot hide (coordinated
     * omission). service: always from the actual send.
     */
    struct hist latency;
    struct hist service;
    struct run_counts counts;
    struct run_cpu client_cpu;     /* getrusage of the client over the measured phase */
    struct server_counters server; /* deltas over the measured phase */
    uint32_t merged_from;          /* 1 for a run; N after shout merge of N files */
    /*
     * A random id per run (getrandom), and the ids of every run a merged
     * result adds up, so that merge can refuse one run counted twice.
     * id_count 0: a file from before ids (format absent), not checkable.
     */
    uint64_t run_id;
    uint64_t ids[RESULT_MAX_IDS];
    uint32_t id_count;
    /* Ctrl-C or SIGTERM ended the measured phase early; elapsed_s is what was measured. */
    bool interrupted;
    /*
     * CPU as a share of one core over the measured phase (1.0: a whole
     * core; negative: not known): the busiest client thread's, and the
     * server's. client_bound: the client thread was the limit, not the
     * server (measure_client_bound), so the throughput is the client's.
     */
    double client_thread_share;
    double server_share;
    bool client_bound;
    /* The interval series (interval.h); 0 entries after shout merge or from an older file. */
    struct run_interval intervals[RESULT_MAX_INTERVALS];
    uint32_t interval_count;
};

#endif
