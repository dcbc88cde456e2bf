/*
 * interval: the per-interval series of a measuring run, as iperf3 prints it:
 * every --interval seconds (default 1) one entry with that interval's
 * replies/s, p50 and p99, and the losses and errors counted in it (not the
 * totals since the start). ping.c and load.c call interval_due and
 * interval_close from their loops; the entries go into the run's result
 * (results.intervals in the JSON) and, when progress is on, one line each
 * onto stderr, always ended by a newline so that a file or a pipe reads
 * line by line.
 *
 * interval_close is pure: counters and a histogram of the interval in, one
 * entry out. The printing functions only format.
 *
 * Memory: a struct interval_clock is a plain value the caller owns; the
 * entries are stored in the caller's struct run_result (RESULT_MAX_INTERVALS
 * of them; a longer run keeps its first ones and its totals are unaffected).
 */
#ifndef SHOUT_INTERVAL_H
#define SHOUT_INTERVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"
#include "result.h"

#define INTERVAL_DEFAULT_S 1.0

/* Where the series stands: when it started, the last boundary, and the counters there. */
struct interval_clock {
    uint64_t start_ns;               /* the measured phase's start */
    uint64_t period_ns;              /* --interval */
    uint64_t last_ns;                /* the end of the last closed interval */
    uint64_t next_ns;                /* when the next one is due */
    uint64_t received, lost, errors; /* cumulative, at last_ns */
};

void interval_start(struct interval_clock *c, uint64_t start_ns, double period_s);
static inline bool interval_due(const struct interval_clock *c, uint64_t now_ns)
{
    return now_ns >= c->next_ns;
}
/*
 * Close the interval from c->last_ns to now_ns: received, lost and errors
 * are the run's cumulative counters at now_ns, latency the round trips
 * recorded in this interval only. Advances c past now_ns (an interval that
 * overran its period is one longer entry, not several empty ones).
 */
struct run_interval interval_close(struct interval_clock *c, uint64_t now_ns, uint64_t received,
                                   uint64_t lost, uint64_t errors, const struct hist *latency);
/* Keep e in r's series; past RESULT_MAX_INTERVALS it is only printed. */
void interval_keep(struct run_result *r, const struct run_interval *e);

/* The progress lines: the warm-up, the column heads, and one interval. */
void interval_print_warmup(FILE *out, double warmup_s);
void interval_print_head(FILE *out);
void interval_print(FILE *out, double from_s, const struct run_interval *e);

#endif
