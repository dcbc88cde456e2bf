/*
 * bench_hist: SHOUT_BENCH_HISTOGRAMS=DIR, the directory where shout-bench
 * writes one JSON file per reported run of an e2e benchmark (every
 * repetition, no aggregates), so that `ci/bench-compare BASE_DIR NEW_DIR`
 * can gate p99 on whole histograms (ci/bench_tail.py) rather than on one
 * p99 per repetition.
 *
 * A file holds "format": 1, "kind": "shout-bench histogram", "benchmark"
 * (the run's name, as in the Google Benchmark JSON), a random "run_id", the
 * repetition and iterations, "config" (what was measured, and where),
 * "environment", and "results": "latency", the run's histogram in the
 * layout of shout's result files (report_json_hist), and "counts". Its name
 * is the benchmark's with '/' as '_', then the repetition and the run id:
 * e2e_tcp_64_pingpong_text_manual_time.r0.<run_id>.json. A file is never
 * overwritten, so runs into one directory add up; use a new directory for
 * each side of a comparison.
 *
 * Memory: the directory's path and the environment are held in static
 * storage. Not thread-safe.
 */
#ifndef SHOUT_BENCH_HIST_H
#define SHOUT_BENCH_HIST_H

#include <stdbool.h>
#include <stdint.h>

#include "gbench.h"
#include "hist.h"
#include "result.h"

/* What an e2e run measured, and how: its file's "config". */
struct bench_hist_config {
    const char *pattern; /* "pingpong", "pipeline" or "window" */
    bool udp;
    bool framed;
    uint32_t size;      /* payload bytes a request */
    uint32_t in_flight; /* requests in flight */
    uint32_t warmup;    /* unmeasured requests before the clock started */
    double timeout_s;   /* a reply later than this is lost (UDP) or fails the run (TCP) */
    const char *host;
    int port;
    int client_cpu;        /* -1: not pinned */
    int server_cpu;        /* -1: not pinned */
    const char *placement; /* "same-cpu", "cross-cpu" or "unpinned" */
    const char *shoutd;    /* the server's path */
};

/*
 * Read SHOUT_BENCH_HISTOGRAMS. Unset or empty: 0, nothing will be written.
 * Else the directory is created if missing (with its parents) and must be a
 * directory this process can write: 0, or -1 after a one-line message on
 * stderr.
 */
int bench_hist_setup(void);

/* Whether bench_hist_setup found a directory to write to. */
bool bench_hist_enabled(void);

/* Write one reported run's file. 0, or -1 after a one-line message on stderr. */
int bench_hist_write(const struct gbench_run *run, const struct bench_hist_config *config,
                     const struct hist *latency, const struct run_counts *counts);

#endif
