/*
 * Unit tests for lib/hist.c: the bucket layout, and every percentile checked
 * against the exact percentile of the same samples sorted, on several
 * distributions and sample counts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "prng.h"

/*
 * The percentiles checked, in hundredths of a percent so that the exact
 * rank is computed in integers (99.9% of 1000 in doubles is 999.0000000000001).
 */
static const uint32_t checked_pct_x100[] = {0, 100, 5000, 9000, 9900, 9990, 9999, 10000};

/* The sample counts each distribution is checked at, from a single sample up. */
static const size_t sample_counts[] = {1, 2, 3, 10, 100, 1000, 10000, 1000000};

enum shape {
    SHAPE_UNIFORM,      /* 0 to 1 ms */
    SHAPE_UNIFORM_WIDE, /* 0 to HIST_MAX_NS */
    SHAPE_EXPONENTIAL,  /* mean 50 us */
    SHAPE_LOG_NORMAL,   /* median 20 us, sigma 1.5: a heavy tail */
    SHAPE_PARETO,       /* from 10 us, alpha 1.1: a heavier one */
    SHAPE_BIMODAL,      /* 90% around 10 us, 10% around 5 ms */
    SHAPE_CONSTANT,
    SHAPE_TWO_VALUES, /* 700 ns, and 1% at 3 ms */
};

/* A double in (0, 1]. */
static double unit_open(struct prng *rng)
{
    return (double)((prng_next(rng) >> 11) + 1) * 0x1p-53;
}

static uint64_t ns_from_double(double x)
{
    if (!(x >= 0))
        return 0;
    if (x >= (double)HIST_MAX_NS)
        return HIST_MAX_NS;
    return (uint64_t)x;
}

static uint64_t draw(struct prng *rng, enum shape shape)
{
    switch (shape) {
    case SHAPE_UNIFORM:
        return prng_below(rng, 1000000);
    case SHAPE_UNIFORM_WIDE:
        return prng_below(rng, HIST_MAX_NS + 1);
    case SHAPE_EXPONENTIAL:
        return ns_from_double(-log(unit_open(rng)) * 50000.0);
    case SHAPE_LOG_NORMAL: {
        /* Box-Muller. */
        double z = sqrt(-2.0 * log(unit_open(rng))) * cos(6.283185307179586 * unit_open(rng));
        return ns_from_double(exp(log(20000.0) + 1.5 * z));
    }
    case SHAPE_PARETO:
        return ns_from_double(10000.0 * pow(unit_open(rng), -1.0 / 1.1));
    case SHAPE_BIMODAL:
        if (prng_below(rng, 10) == 0)
            return 4000000 + prng_below(rng, 2000000);
        return 8000 + prng_below(rng, 4000);
    case SHAPE_CONSTANT:
        return 123456789;
    case SHAPE_TWO_VALUES:
        return prng_below(rng, 100) == 0 ? 3000000 : 700;
    }
    return 0;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The smallest sample with at least pct_x100 / 100 percent of the samples <= it. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, uint32_t pct_x100)
{
    size_t rank = (size_t)(((uint64_t)pct_x100 * n + 9999) / 10000);
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

static uint64_t *draw_samples(uint64_t seed, enum shape shape, size_t n)
{
    struct prng rng = {seed};
    uint64_t *samples = test_malloc(n * sizeof *samples);
    assert_non_null(samples);
    for (size_t i = 0; i < n; i++)
        samples[i] = draw(&rng, shape);
    return samples;
}

static struct hist *hist_of(const uint64_t *samples, size_t n)
{
    struct hist *h = test_malloc(sizeof *h);
    assert_non_null(h);
    hist_init(h);
    for (size_t i = 0; i < n; i++)
        hist_record(h, samples[i]);
    return h;
}

/*
 * Every percentile within the 0.4% the header promises of the exact one,
 * min and max exact for 0 and 100, and no percentile below a smaller one.
 */
static void expect_percentiles_match(const struct hist *h, const uint64_t *sorted, size_t n)
{
    uint64_t previous = 0;
    for (size_t i = 0; i < sizeof checked_pct_x100 / sizeof checked_pct_x100[0]; i++) {
        double pct = checked_pct_x100[i] / 100.0;
        uint64_t want = exact_percentile(sorted, n, checked_pct_x100[i]);
        uint64_t got = hist_percentile(h, pct);
        uint64_t error = got > want ? got - want : want - got;
        if (error * 1000 > want * 4)
            fail_msg("p%g of %zu samples: got %" PRIu64 ", exact %" PRIu64, pct, n, got, want);
        if (checked_pct_x100[i] == 0 || checked_pct_x100[i] == 10000)
            assert_int_equal(got, want);
        assert_true(got >= previous);
        previous = got;
    }
}

static void check_percentiles(enum shape shape, uint64_t seed)
{
    for (size_t i = 0; i < sizeof sample_counts / sizeof sample_counts[0]; i++) {
        size_t n = sample_counts[i];
        uint64_t *samples = draw_samples(seed + i, shape, n);
        struct hist *h = hist_of(samples, n);
        qsort(samples, n, sizeof *samples, compare_u64);
        expect_percentiles_match(h, samples, n);
        test_free(h);
        test_free(samples);
    }
}

static void percentiles_of_uniform_samples_are_within_0_4_percent_of_exact(void **state)
{
    (void)state;
    check_percentiles(SHAPE_UNIFORM, 100);
}

static void percentiles_of_uniform_samples_up_to_the_maximum_are_within_0_4_percent(void **state)
{
    (void)state;
    check_percentiles(SHAPE_UNIFORM_WIDE, 200);
}

static void percentiles_of_exponential_samples_are_within_0_4_percent_of_exact(void **state)
{
    (void)state;
    check_percentiles(SHAPE_EXPONENTIAL, 300);
}

static void percentiles_of_log_normal_samples_are_within_0_4_percent_of_exact(void **state)
{
    (void)state;
    check_percentiles(SHAPE_LOG_NORMAL, 400);
}

static void percentiles_of_pareto_samples_are_within_0_4_percent_of_exact(void **state)
{
    (void)state;
    check_percentiles(SHAPE_PARETO, 500);
}

static void percentiles_of_bimodal_samples_are_within_0_4_percent_of_exact(void **state)
{
    (void)state;
    check_percentiles(SHAPE_BIMODAL, 600);
}

static void percentiles_of_a_constant_are_that_constant(void **state)
{
    (void)state;
    check_percentiles(SHAPE_CONSTANT, 700);
    uint64_t samples[] = {123456789, 123456789, 123456789};
    struct hist *h = hist_of(samples, 3);
    for (size_t i = 0; i < sizeof checked_pct_x100 / sizeof checked_pct_x100[0]; i++)
        assert_int_equal(hist_percentile(h, checked_pct_x100[i] / 100.0), 123456789);
    test_free(h);
}

static void percentiles_of_two_values_pick_the_right_one(void **state)
{
    (void)state;
    check_percentiles(SHAPE_TWO_VALUES, 800);
    /*
     * 99 at 700 ns and one at 3 ms: up to p99 the answer is 700's bucket (its
     * midpoint, 701), anything above is the 3 ms sample, clamped to the max.
     */
    uint64_t samples[100];
    for (size_t i = 0; i < 99; i++)
        samples[i] = 700;
    samples[99] = 3000000;
    struct hist *h = hist_of(samples, 100);
    assert_int_equal(hist_percentile(h, 1), 701);
    assert_int_equal(hist_percentile(h, 50), 701);
    assert_int_equal(hist_percentile(h, 99), 701);
    assert_int_equal(hist_percentile(h, 99.5), 3000000);
    assert_int_equal(hist_percentile(h, 100), 3000000);
    test_free(h);
}

static void percentile_of_a_single_sample_is_that_sample(void **state)
{
    (void)state;
    static const uint64_t values[] = {0, 1, 255, 256, 1000, 123456789, HIST_MAX_NS};
    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
        struct hist *h = hist_of(&values[v], 1);
        for (size_t i = 0; i < sizeof checked_pct_x100 / sizeof checked_pct_x100[0]; i++)
            assert_int_equal(hist_percentile(h, checked_pct_x100[i] / 100.0), values[v]);
        test_free(h);
    }
}

/*
 * 99.9% of 1000 samples is 999 of them, so p99.9 is the 999th smallest; a
 * rank taken as ceil(99.9 / 100 * 1000) in doubles is 1000, the outlier.
 * The bulk sits at 100 ns, which has a bucket of its own, so the answer is exact.
 */
static void percentile_rank_is_exact_for_decimal_percentages(void **state)
{
    (void)state;
    static const struct {
        double pct;
        size_t n;
    } cases[] = {{99.9, 1000}, {99.9, 10000}, {99.9, 100000}, {99.9, 1000000}, {99.99, 10000}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = cases[c].n;
        size_t outliers = n - (size_t)llround(cases[c].pct / 100.0 * (double)n);
        struct hist *h = test_malloc(sizeof *h);
        assert_non_null(h);
        hist_init(h);
        for (size_t i = 0; i < n - outliers; i++)
            hist_record(h, 100);
        for (size_t i = 0; i < outliers; i++)
            hist_record(h, 1000000);
        uint64_t got = hist_percentile(h, cases[c].pct);
        if (got != 100)
            fail_msg("p%g of %zu samples with %zu outliers: got %" PRIu64 ", exact 100",
                     cases[c].pct, n, outliers, got);
        test_free(h);
    }
}

/* min, max and count exact; the mean to double rounding of the exact integer sum. */
static void min_max_and_mean_are_exact_on_every_distribution(void **state)
{
    (void)state;
    for (enum shape shape = SHAPE_UNIFORM; shape <= SHAPE_TWO_VALUES; shape++) {
        size_t n = 100000;
        uint64_t *samples = draw_samples(1000 + shape, shape, n);
        struct hist *h = hist_of(samples, n);
        uint64_t min = UINT64_MAX, max = 0, sum = 0;
        for (size_t i = 0; i < n; i++) {
            min = samples[i] < min ? samples[i] : min;
            max = samples[i] > max ? samples[i] : max;
            sum += samples[i]; /* under 2^40 * 2^17: no overflow */
        }
        assert_int_equal(h->count, n);
        assert_int_equal(h->min_ns, min);
        assert_int_equal(h->max_ns, max);
        assert_int_equal(h->clamped, 0);
        double want = (double)sum / (double)n;
        /* n additions in doubles, each rounding by at most 2^-53 of the running sum. */
        assert_true(fabs(hist_mean(h) - want) <= want * (double)n * 0x1p-53);
        test_free(h);
        test_free(samples);
    }
}

/* Against a two-pass population stdev in long double. */
static void stdev_is_close_to_the_population_stdev_on_every_distribution(void **state)
{
    (void)state;
    for (enum shape shape = SHAPE_UNIFORM; shape <= SHAPE_TWO_VALUES; shape++) {
        size_t n = 100000;
        uint64_t *samples = draw_samples(2000 + shape, shape, n);
        struct hist *h = hist_of(samples, n);
        long double mean = 0;
        for (size_t i = 0; i < n; i++)
            mean += samples[i];
        mean /= n;
        long double squares = 0;
        for (size_t i = 0; i < n; i++)
            squares += (samples[i] - mean) * (samples[i] - mean);
        double want = (double)sqrtl(squares / n);
        double got = hist_stdev(h);
        if (fabs(got - want) > want * 1e-6)
            fail_msg("shape %d: stdev %.9g, exact %.9g", shape, got, want);
        test_free(h);
        test_free(samples);
    }
}

/*
 * A narrow spread far from zero: a 1 s timer with 1 us of jitter, a 100 ms
 * path with 100 ns. The stdev must not drown in the rounding of the sum of
 * squares (sum_sq / n - mean^2 cancels all but a few of its digits here).
 */
static void stdev_of_a_narrow_spread_far_from_zero_is_close_to_exact(void **state)
{
    (void)state;
    static const struct {
        uint64_t base_ns;
        uint64_t spread_ns;
    } cases[] = {{1000000, 1000}, {1000000000, 1000}, {100000000, 100}};
    size_t n = 1000000;
    int failed = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct prng rng = {6000 + c};
        struct hist *h = test_malloc(sizeof *h);
        assert_non_null(h);
        hist_init(h);
        long double sum = 0, sum_sq = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t jitter = prng_below(&rng, cases[c].spread_ns);
            hist_record(h, cases[c].base_ns + jitter);
            /* Deviations from base_ns: exact in long double, no cancellation. */
            sum += jitter;
            sum_sq += (long double)jitter * jitter;
        }
        long double mean = sum / n;
        double want = (double)sqrtl(sum_sq / n - mean * mean);
        double got = hist_stdev(h);
        if (fabs(got - want) > want * 0.01) {
            print_error("%" PRIu64 " ns + [0, %" PRIu64 ") ns: stdev %g, exact %g\n",
                        cases[c].base_ns, cases[c].spread_ns, got, want);
            failed = 1;
        }
        test_free(h);
    }
    assert_false(failed);
}

static void bucket_of_every_small_value_holds_it(void **state)
{
    (void)state;
    for (uint64_t v = 0; v <= 4096; v++) {
        size_t b = hist_bucket_of(v);
        assert_true(b < HIST_BUCKETS);
        assert_true(hist_bucket_low(b) <= v);
        assert_true(v <= hist_bucket_high(b));
        /* Below 256 every value has a bucket of its own. */
        if (v < 256)
            assert_int_equal(hist_bucket_low(b), hist_bucket_high(b));
    }
}

static void bucket_of_random_values_up_to_the_maximum_holds_them(void **state)
{
    (void)state;
    struct prng rng = {42};
    for (int i = 0; i < 1000000; i++) {
        /* A random bit length first, so that small values are drawn as often as large. */
        unsigned bits = (unsigned)prng_below(&rng, HIST_MAX_BITS + 1);
        uint64_t v = bits ? prng_next(&rng) >> (64 - bits) : 0;
        size_t b = hist_bucket_of(v);
        assert_true(b < HIST_BUCKETS);
        assert_true(hist_bucket_low(b) <= v);
        assert_true(v <= hist_bucket_high(b));
    }
}

static void buckets_are_contiguous_and_narrow_over_the_whole_range(void **state)
{
    (void)state;
    assert_int_equal(hist_bucket_low(0), 0);
    for (size_t b = 0; b < HIST_BUCKETS; b++) {
        uint64_t low = hist_bucket_low(b);
        uint64_t high = hist_bucket_high(b);
        assert_true(low <= high);
        assert_int_equal(hist_bucket_of(low), b);
        assert_int_equal(hist_bucket_of(high), b);
        if (low >= 256)
            assert_true((high - low + 1) * 128 <= low);
        if (b + 1 < HIST_BUCKETS)
            assert_int_equal(high + 1, hist_bucket_low(b + 1));
    }
}

static void last_bucket_holds_the_maximum(void **state)
{
    (void)state;
    assert_int_equal(hist_bucket_of(HIST_MAX_NS), HIST_BUCKETS - 1);
    assert_int_equal(hist_bucket_high(HIST_BUCKETS - 1), HIST_MAX_NS);
    assert_int_equal(hist_bucket_of(HIST_MAX_NS + 1), HIST_BUCKETS - 1);
    assert_int_equal(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1);
}

static void values_over_the_maximum_are_clamped_and_counted(void **state)
{
    (void)state;
    struct hist h;
    hist_init(&h);
    hist_record(&h, HIST_MAX_NS);
    assert_int_equal(h.clamped, 0);
    hist_record(&h, HIST_MAX_NS + 1);
    hist_record(&h, UINT64_MAX);
    assert_int_equal(h.count, 3);
    assert_int_equal(h.clamped, 2);
    assert_int_equal(h.min_ns, HIST_MAX_NS);
    assert_int_equal(h.max_ns, HIST_MAX_NS);
    assert_int_equal(h.buckets[HIST_BUCKETS - 1], 3);
    assert_int_equal(hist_percentile(&h, 50), HIST_MAX_NS);
    assert_int_equal(hist_percentile(&h, 100), HIST_MAX_NS);
    assert_true(hist_mean(&h) == (double)HIST_MAX_NS);
}

static void zero_is_recorded_like_any_value(void **state)
{
    (void)state;
    struct hist h;
    hist_init(&h);
    hist_record(&h, 0);
    assert_int_equal(h.count, 1);
    assert_int_equal(h.clamped, 0);
    assert_int_equal(h.min_ns, 0);
    assert_int_equal(h.max_ns, 0);
    assert_int_equal(h.buckets[0], 1);
    assert_int_equal(hist_percentile(&h, 50), 0);
    assert_int_equal(hist_percentile(&h, 100), 0);
    hist_record(&h, 10);
    assert_int_equal(h.min_ns, 0);
    assert_int_equal(hist_percentile(&h, 50), 0);
    assert_int_equal(hist_percentile(&h, 51), 10);
    assert_true(hist_mean(&h) == 5.0);
    assert_true(hist_stdev(&h) == 5.0);
}

static void empty_histogram_reads_zero(void **state)
{
    (void)state;
    struct hist h;
    hist_init(&h);
    assert_int_equal(h.count, 0);
    for (size_t i = 0; i < sizeof checked_pct_x100 / sizeof checked_pct_x100[0]; i++)
        assert_int_equal(hist_percentile(&h, checked_pct_x100[i] / 100.0), 0);
    assert_true(hist_mean(&h) == 0.0);
    assert_true(hist_stdev(&h) == 0.0);
}

/*
 * Buckets, count, min, max and clamped exactly; the sums only up to rounding,
 * since adding in another order rounds differently (n additions: n * 2^-53).
 */
static void expect_same_hist(const struct hist *got, const struct hist *want)
{
    assert_memory_equal(got->buckets, want->buckets, sizeof want->buckets);
    assert_int_equal(got->count, want->count);
    assert_int_equal(got->min_ns, want->min_ns);
    assert_int_equal(got->max_ns, want->max_ns);
    assert_int_equal(got->clamped, want->clamped);
    double rounding = (double)want->count * 0x1p-53;
    assert_true(fabs(got->sum_ns - want->sum_ns) <= want->sum_ns * rounding);
    assert_true(fabs(got->m2_ns - want->m2_ns) <= want->m2_ns * rounding);
}

static void merging_per_thread_histograms_equals_recording_everything_in_one(void **state)
{
    (void)state;
    enum { PARTS = 5 };
    size_t n = 200000;
    uint64_t *samples = draw_samples(3000, SHAPE_LOG_NORMAL, n);
    samples[7] = UINT64_MAX; /* one clamped value, so clamped is summed too */
    struct hist *all = hist_of(samples, n);
    struct hist *parts = test_malloc(PARTS * sizeof *parts);
    assert_non_null(parts);
    for (size_t p = 0; p < PARTS; p++)
        hist_init(&parts[p]);
    struct prng rng = {3001};
    for (size_t i = 0; i < n; i++)
        hist_record(&parts[prng_below(&rng, PARTS)], samples[i]);
    struct hist merged;
    hist_init(&merged);
    for (size_t p = 0; p < PARTS; p++)
        hist_merge(&merged, &parts[p]);
    expect_same_hist(&merged, all);
    assert_int_equal(merged.clamped, 1);
    for (size_t i = 0; i < sizeof checked_pct_x100 / sizeof checked_pct_x100[0]; i++)
        assert_int_equal(hist_percentile(&merged, checked_pct_x100[i] / 100.0),
                         hist_percentile(all, checked_pct_x100[i] / 100.0));
    test_free(parts);
    test_free(all);
    test_free(samples);
}

static void merging_an_empty_histogram_changes_nothing(void **state)
{
    (void)state;
    uint64_t *samples = draw_samples(4000, SHAPE_BIMODAL, 1000);
    struct hist *h = hist_of(samples, 1000);
    struct hist before = *h;
    struct hist empty;
    hist_init(&empty);
    hist_merge(h, &empty);
    assert_memory_equal(h, &before, sizeof before);

    /* Into an empty one, a histogram is copied; two empties stay empty. */
    struct hist copy;
    hist_init(&copy);
    hist_merge(&copy, h);
    assert_memory_equal(&copy, &before, sizeof before);
    struct hist still_empty;
    hist_init(&still_empty);
    hist_merge(&still_empty, &empty);
    assert_memory_equal(&still_empty, &empty, sizeof empty);
    test_free(h);
    test_free(samples);
}

static void histogram_is_rebuilt_exactly_from_its_buckets_and_summary(void **state)
{
    (void)state;
    size_t n = 100000;
    uint64_t *samples = draw_samples(5000, SHAPE_PARETO, n);
    samples[0] = HIST_MAX_NS + 5;
    struct hist *h = hist_of(samples, n);
    struct hist rebuilt;
    hist_init(&rebuilt);
    for (size_t b = 0; b < HIST_BUCKETS; b++)
        if (h->buckets[b])
            hist_add_bucket(&rebuilt, hist_bucket_low(b), h->buckets[b]);
    hist_restore_summary(&rebuilt, h->min_ns, h->max_ns, h->sum_ns, h->m2_ns, h->clamped);
    assert_memory_equal(&rebuilt, h, sizeof *h);

    /* Any value inside a bucket names it, the high end as well as the low. */
    struct hist from_high;
    hist_init(&from_high);
    for (size_t b = 0; b < HIST_BUCKETS; b++)
        if (h->buckets[b])
            hist_add_bucket(&from_high, hist_bucket_high(b), h->buckets[b]);
    hist_restore_summary(&from_high, h->min_ns, h->max_ns, h->sum_ns, h->m2_ns, h->clamped);
    assert_memory_equal(&from_high, h, sizeof *h);
    test_free(h);
    test_free(samples);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_of_every_small_value_holds_it),
        cmocka_unit_test(bucket_of_random_values_up_to_the_maximum_holds_them),
        cmocka_unit_test(buckets_are_contiguous_and_narrow_over_the_whole_range),
        cmocka_unit_test(last_bucket_holds_the_maximum),
        cmocka_unit_test(percentiles_of_uniform_samples_are_within_0_4_percent_of_exact),
        cmocka_unit_test(percentiles_of_uniform_samples_up_to_the_maximum_are_within_0_4_percent),
        cmocka_unit_test(percentiles_of_exponential_samples_are_within_0_4_percent_of_exact),
        cmocka_unit_test(percentiles_of_log_normal_samples_are_within_0_4_percent_of_exact),
        cmocka_unit_test(percentiles_of_pareto_samples_are_within_0_4_percent_of_exact),
        cmocka_unit_test(percentiles_of_bimodal_samples_are_within_0_4_percent_of_exact),
        cmocka_unit_test(percentiles_of_a_constant_are_that_constant),
        cmocka_unit_test(percentiles_of_two_values_pick_the_right_one),
        cmocka_unit_test(percentile_of_a_single_sample_is_that_sample),
        cmocka_unit_test(percentile_rank_is_exact_for_decimal_percentages),
        cmocka_unit_test(min_max_and_mean_are_exact_on_every_distribution),
        cmocka_unit_test(stdev_is_close_to_the_population_stdev_on_every_distribution),
        cmocka_unit_test(stdev_of_a_narrow_spread_far_from_zero_is_close_to_exact),
        cmocka_unit_test(values_over_the_maximum_are_clamped_and_counted),
        cmocka_unit_test(zero_is_recorded_like_any_value),
        cmocka_unit_test(empty_histogram_reads_zero),
        cmocka_unit_test(merging_per_thread_histograms_equals_recording_everything_in_one),
        cmocka_unit_test(merging_an_empty_histogram_changes_nothing),
        cmocka_unit_test(histogram_is_rebuilt_exactly_from_its_buckets_and_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
