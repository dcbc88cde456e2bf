#include "hist.h"

#include <math.h>
#include <string.h>

#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min_ns = UINT64_MAX;
}

/*
 * Values below 2 * 128 map to themselves. Above, with e the position of the
 * top bit, the value is cut to its top 8 bits m (128..255) and lands in
 * bucket (e - 7) * 128 + m: the same formula gives the identity below 256,
 * so the two ranges join without a seam.
 */
size_t hist_bucket_of(uint64_t value_ns)
{
    if (value_ns > HIST_MAX_NS)
        value_ns = HIST_MAX_NS;
    if (value_ns < 2 * HIST_SUB_COUNT)
        return (size_t)value_ns;
    unsigned top_bit = 63u - (unsigned)__builtin_clzll(value_ns);
    unsigned shift = top_bit - HIST_SUB_BITS;
    return ((size_t)shift << HIST_SUB_BITS) + (size_t)(value_ns >> shift);
}

uint64_t hist_bucket_low(size_t bucket)
{
    if (bucket < 2 * HIST_SUB_COUNT)
        return bucket;
    size_t shift = (bucket >> HIST_SUB_BITS) - 1;
    uint64_t mantissa = (bucket & (HIST_SUB_COUNT - 1)) + HIST_SUB_COUNT;
    return mantissa << shift;
}

uint64_t hist_bucket_high(size_t bucket)
{
    if (bucket < 2 * HIST_SUB_COUNT)
        return bucket;
    size_t shift = (bucket >> HIST_SUB_BITS) - 1;
    return hist_bucket_low(bucket) + ((UINT64_C(1) << shift) - 1);
}

void hist_record(struct hist *h, uint64_t value_ns)
{
    if (value_ns > HIST_MAX_NS) {
        value_ns = HIST_MAX_NS;
        h->clamped++;
    }
    h->buckets[hist_bucket_of(value_ns)]++;
    if (value_ns < h->min_ns)
        h->min_ns = value_ns;
    if (value_ns > h->max_ns)
        h->max_ns = value_ns;
    /* Welford's update, with the mean taken from the exact running sum. */
    double value = (double)value_ns;
    double mean_before = h->count ? h->sum_ns / (double)h->count : 0.0;
    h->count++;
    h->sum_ns += value;
    double mean_after = h->sum_ns / (double)h->count;
    h->m2_ns += (value - mean_before) * (value - mean_after);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    if (src->count == 0)
        return;
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    /* Chan et al.'s rule for combining two sets' squared deviations. */
    if (dst->count == 0) {
        dst->m2_ns = src->m2_ns;
    } else {
        double n_dst = (double)dst->count, n_src = (double)src->count;
        double delta = src->sum_ns / n_src - dst->sum_ns / n_dst;
        dst->m2_ns += src->m2_ns + delta * delta * n_dst * n_src / (n_dst + n_src);
    }
    dst->count += src->count;
    dst->clamped += src->clamped;
    dst->sum_ns += src->sum_ns;
    if (src->min_ns < dst->min_ns)
        dst->min_ns = src->min_ns;
    if (src->max_ns > dst->max_ns)
        dst->max_ns = src->max_ns;
}

uint64_t hist_percentile(const struct hist *h, double pct)
{
    if (h->count == 0)
        return 0;
    if (!(pct > 0)) /* NaN too */
        return h->min_ns;
    if (pct >= 100)
        return h->max_ns;
    /*
     * The rank of the sample asked for, 1-based: ceil(pct% of count). 99.9 has
     * no exact binary form, so 99.9% of 1000 comes out as 999.0000000000001;
     * a relative nudge far below one sample keeps ceil from jumping a rank.
     */
    double exact_rank = pct / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)ceil(exact_rank - exact_rank * 1e-12);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen < rank)
            continue;
        uint64_t low = hist_bucket_low(i);
        uint64_t mid = low + (hist_bucket_high(i) - low) / 2;
        if (mid < h->min_ns)
            return h->min_ns;
        if (mid > h->max_ns)
            return h->max_ns;
        return mid;
    }
    return h->max_ns;
}

double hist_mean(const struct hist *h)
{
    return h->count ? h->sum_ns / (double)h->count : 0.0;
}

double hist_stdev(const struct hist *h)
{
    if (h->count < 2)
        return 0.0;
    double variance = h->m2_ns / (double)h->count;
    return variance > 0 ? sqrt(variance) : 0.0;
}

void hist_add_bucket(struct hist *h, uint64_t value_ns, uint64_t count)
{
    h->buckets[hist_bucket_of(value_ns)] += count;
    h->count += count;
}

void hist_restore_summary(struct hist *h, uint64_t min_ns, uint64_t max_ns, double sum_ns,
                          double m2_ns, uint64_t clamped)
{
    h->min_ns = min_ns;
    h->max_ns = max_ns;
    h->sum_ns = sum_ns;
    h->m2_ns = m2_ns;
    h->clamped = clamped;
}
