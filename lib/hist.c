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
    h->count++;
    if (value_ns < h->min_ns)
        h->min_ns = value_ns;
    if (value_ns > h->max_ns)
        h->max_ns = value_ns;
    h->sum_ns += (double)value_ns;
    h->sum_sq_ns += (double)value_ns * (double)value_ns;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->clamped += src->clamped;
    dst->sum_ns += src->sum_ns;
    dst->sum_sq_ns += src->sum_sq_ns;
    if (src->min_ns < dst->min_ns)
        dst->min_ns = src->min_ns;
    if (src->max_ns > dst->max_ns)
        dst->max_ns = src->max_ns;
}

uint64_t hist_percentile(const struct hist *h, double pct)
{
    if (h->count == 0)
        return 0;
    if (pct <= 0)
        return h->min_ns;
    if (pct >= 100)
        return h->max_ns;
    /* The rank of the sample asked for, 1-based: ceil(pct% of count). */
    uint64_t rank = (uint64_t)ceil(pct / 100.0 * (double)h->count);
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
    double mean = hist_mean(h);
    double variance = h->sum_sq_ns / (double)h->count - mean * mean;
    return variance > 0 ? sqrt(variance) : 0.0;
}

void hist_add_bucket(struct hist *h, uint64_t value_ns, uint64_t count)
{
    h->buckets[hist_bucket_of(value_ns)] += count;
    h->count += count;
}

void hist_restore_summary(struct hist *h, uint64_t min_ns, uint64_t max_ns, double sum_ns,
                          double sum_sq_ns, uint64_t clamped)
{
    h->min_ns = min_ns;
    h->max_ns = max_ns;
    h->sum_ns = sum_ns;
    h->sum_sq_ns = sum_sq_ns;
    h->clamped = clamped;
}
