/*
 * hist: a latency histogram with log-linear buckets, for recording one value
 * per message at O(1) cost and reading percentiles from it afterwards.
 *
 * Values are nanoseconds from 0 to HIST_MAX_NS (about 18 minutes; larger
 * values are recorded as HIST_MAX_NS and counted in `clamped`). Values under
 * 256 get a bucket each; above that every power of two is cut into 128
 * buckets, so a bucket is never wider than 1/128 of its lowest value and a
 * percentile read back is within 0.4% of the true sample (it reports the
 * bucket's midpoint, clamped to the exact min and max). Histograms with the
 * same layout merge by adding counts, across threads, runs and machines.
 *
 * Debian ships no HdrHistogram C library, so this one is ours; the layout is
 * HdrHistogram's idea (a linear range, then log2 steps cut linearly).
 *
 * Memory: a struct hist is a plain value (about 35 KiB of counts) that the
 * caller owns, on the stack or inside its own structs; nothing allocates.
 * Not thread-safe: give each thread its own and merge them.
 */
#ifndef SHOUT_HIST_H
#define SHOUT_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS 7  /* 128 buckets per power of two */
#define HIST_MAX_BITS 40 /* values below 2^40 ns */
#define HIST_MAX_NS   ((UINT64_C(1) << HIST_MAX_BITS) - 1)
#define HIST_BUCKETS  ((HIST_MAX_BITS - HIST_SUB_BITS + 1) << HIST_SUB_BITS)

struct hist {
    uint64_t count;
    uint64_t min_ns;  /* exact; UINT64_MAX while empty */
    uint64_t max_ns;  /* exact */
    uint64_t clamped; /* values over HIST_MAX_NS, recorded as HIST_MAX_NS */
    double sum_ns;    /* for the exact mean */
    /*
     * The sum of squared deviations from the mean (Welford's M2), for the
     * standard deviation: summing squares and subtracting mean^2 cancels
     * away every digit when the spread is small next to the mean.
     */
    double m2_ns;
    uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t value_ns);
/* Add every sample of src into dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/*
 * The smallest recorded value v such that at least pct percent of the samples
 * are <= v (pct from 0 to 100), as the midpoint of v's bucket clamped to
 * [min_ns, max_ns]. 0 for an empty histogram.
 */
uint64_t hist_percentile(const struct hist *h, double pct);
double hist_mean(const struct hist *h);
double hist_stdev(const struct hist *h);

/* The bucket layout, for serialising and for tests. */
size_t hist_bucket_of(uint64_t value_ns);
uint64_t hist_bucket_low(size_t bucket);
uint64_t hist_bucket_high(size_t bucket); /* inclusive */

/*
 * Add count samples to the bucket holding value_ns, for rebuilding a
 * histogram from its serialised buckets; min, max and the sums are then the
 * caller's to restore (hist_restore_summary).
 */
void hist_add_bucket(struct hist *h, uint64_t value_ns, uint64_t count);
void hist_restore_summary(struct hist *h, uint64_t min_ns, uint64_t max_ns, double sum_ns,
                          double m2_ns, uint64_t clamped);

#endif
