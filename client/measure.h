/*
 * measure: the frame every measuring run (`shout ping`, `shout load`)
 * shares around its measured phase: the options beyond the recorded
 * configuration, the client's CPU time and the server's counters before and
 * after, the CPU placement, the table, the JSON file and the exit status.
 * The measuring itself is ping.c's and load.c's, on flows (flow.h).
 *
 * Deadlines: a request's reply is due --timeout after its send. Over UDP a
 * later reply is lost and the run goes on; over TCP a reply cannot be lost,
 * only late, and the run fails as a timeout (exit 4).
 *
 * Memory: everything here fills or reads a struct run_result and a struct
 * measure_frame that the caller owns; the options are the caller's too.
 */
#ifndef SHOUT_MEASURE_H
#define SHOUT_MEASURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "report.h"
#include "result.h"

/* --timeout's defaults: a UDP reply later than this is lost; a TCP one fails the run. */
#define MEASURE_UDP_TIMEOUT_S 1.0
#define MEASURE_TCP_TIMEOUT_S 10.0

struct measure_options {
    struct run_config cfg; /* what the run is asked to do; recorded as is */
    const char *json_path; /* --json FILE ("-": standard output), or NULL */
    bool progress;         /* --progress or --interval (a terminal on stderr turns it on too) */
    bool quiet;            /* --quiet: no progress lines at all */
    double interval_s;     /* --interval; 0: INTERVAL_DEFAULT_S */
    bool server_stats;     /* ask the server's stats port (cfg.stats_port) */
};

/* What a run is doing between measure_begin and measure_end. */
struct measure_frame {
    struct report_json_file json; /* --json, opened before any traffic */
    /*
     * The server's drops before any traffic: a connection cap refuses at
     * connect, before the measured phase, and still belongs to the run.
     */
    struct server_counters before_traffic;
    struct server_counters server_before;
    struct run_cpu cpu_before;
    bool server_asked; /* the stats port answered at the start */
    bool progress;     /* print progress lines (interval.h) */
};

/*
 * measure_setup fills r's config and environment and decides on progress
 * lines (runs over 2 s on a terminal or with --progress, any run with
 * --interval, none with --quiet), and prints the warm-up line;
 * measure_begin snapshots the client's CPU time and the server's counters
 * at the start of the measured phase (one warning line if the stats port
 * does not answer); measure_end takes the deltas, fills the CPU placement,
 * prints the table, writes the JSON file, and returns the exit status for
 * r's counts and the run's own failure (an enum send_exit, or SEND_EXIT_OK;
 * why is its reason, or the first mismatch, for the one-line message).
 */
void measure_setup(const struct measure_options *opt, struct run_result *r,
                   struct measure_frame *fr);
/*
 * Before any traffic: open the --json file (0, or a one-line message and
 * SEND_EXIT_USAGE), and catch SIGINT and SIGTERM. The first of those only
 * asks the run to stop (measure_interrupted); the handler then gives the
 * signal back its default action, so a second one ends shout at once. A run
 * that ends without measure_end calls measure_abandon to drop the file.
 */
int measure_prepare(const struct measure_options *opt, struct measure_frame *fr);
void measure_abandon(struct measure_frame *fr);
/* Whether SIGINT or SIGTERM asked the run to stop; any thread may ask. */
bool measure_interrupted(void);
/* Where the table goes: stdout, or stderr when the JSON goes to stdout (--json -). */
FILE *measure_table_stream(const struct measure_options *opt);
void measure_begin(const struct measure_options *opt, struct run_result *r,
                   struct measure_frame *fr);
int measure_end(const struct measure_options *opt, struct run_result *r, struct measure_frame *fr,
                int failure, const char *why);

/*
 * --busy-poll with a client CPU (--cpu) that the stats port says shoutd is
 * pinned to: two ends that spin on one CPU livelock (each waits for the
 * other, which cannot run until the spinner's time slice ends). 0, or a
 * one-line message and SEND_EXIT_USAGE.
 */
int measure_check_busy_poll(const struct measure_options *opt);

/*
 * Whether a run measured its own client rather than the server: its busiest
 * thread used more than MEASURE_BOUND_SHARE of a core while the server used
 * less (both known, as shares of one core). Pure.
 */
#define MEASURE_BOUND_SHARE 0.9
bool measure_client_bound(double client_thread_share, double server_share);

/*
 * Which failure the exit status reports when a run has several (higher
 * wins): a usage error, a wrong reply, an error frame, the network, a
 * timeout.
 */
int measure_failure_rank(int status);

/* The flow settings the options describe (window: the pipeline). */
struct flow_config;
void measure_flow_config(const struct run_config *cfg, struct flow_config *fc);

/* How long after its send a reply may come, in ns (see the top of this file). */
uint64_t measure_deadline_ns(const struct run_config *cfg);

#endif
