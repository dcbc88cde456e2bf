/*
 * test_gbench_shim: benchmarks with known answers, registered through
 * gbench.h, for test_gbench_shim.py to run and check. Their time is manual
 * and fixed (1 ms or 1 us an iteration) and their iteration counts are set,
 * so every rate, average and percentile row has one exact expected value,
 * whatever the machine.
 */
#include <stdint.h>
#include <stdio.h>

#include "gbench.h"

/* One simulated millisecond per iteration. */
#define SHIM_ITER_S 1e-3

/*
 * Everything a benchmark can set: manual time, bytes, items, counters of
 * every kind, a label and the percentile counters. The loop count proves
 * that gbench_next_batch hands out exactly the run's iterations.
 */
static void shim_bench_manual(gbench_state *st, void *user)
{
    (void)user;
    int64_t looped = 0;
    int64_t n;
    while ((n = gbench_next_batch(st, 64)) > 0) {
        for (int64_t i = 0; i < n; i++)
            looped++;
        gbench_set_iteration_time(st, (double)n * SHIM_ITER_S);
    }
    int64_t iters = gbench_state_iterations(st);
    gbench_set_bytes_processed(st, iters * 1000);
    gbench_set_items_processed(st, iters * 2);
    gbench_set_counter(st, "looped", (double)looped, GBENCH_COUNTER_DEFAULT);
    gbench_set_counter(st, "plain", 42.0, GBENCH_COUNTER_DEFAULT);
    gbench_set_counter(st, "rate", (double)iters * 5, GBENCH_COUNTER_RATE);
    gbench_set_counter(st, "avg", (double)iters * 10, GBENCH_COUNTER_AVG_ITERATIONS);
    gbench_set_counter(st, "per_item_s", (double)iters,
                       GBENCH_COUNTER_RATE | GBENCH_COUNTER_INVERT);
    gbench_set_counter(st, "kibi", 2048.0, GBENCH_COUNTER_KIBI);
    gbench_set_counter(st, "p50_ns", 1500.0, GBENCH_COUNTER_DEFAULT);
    gbench_set_counter(st, "p99_ns", 4000.0, GBENCH_COUNTER_DEFAULT);
    gbench_set_label(st, "shim label");
}

/* Echo the run's arguments as counters, so the names can be checked against them. */
static void shim_bench_args(gbench_state *st, void *user)
{
    size_t count = *(const size_t *)user;
    int64_t n;
    while ((n = gbench_next_batch(st, 8)) > 0)
        gbench_set_iteration_time(st, (double)n * SHIM_ITER_S);
    for (size_t pos = 0; pos < count; pos++) {
        char name[32];
        snprintf(name, sizeof name, "arg%zu", pos);
        gbench_set_counter(st, name, (double)gbench_state_arg(st, pos), GBENCH_COUNTER_DEFAULT);
    }
}

/*
 * A counter that is always 0 across repetitions: its coefficient of
 * variation is 0/0, which Google Benchmark writes as a bare NaN.
 */
static void shim_bench_zero(gbench_state *st, void *user)
{
    (void)user;
    int64_t n;
    while ((n = gbench_next_batch(st, 1000)) > 0)
        gbench_set_iteration_time(st, (double)n * 1e-6);
    gbench_set_counter(st, "zero", 0.0, GBENCH_COUNTER_DEFAULT);
    gbench_set_counter(st, "p50_ns", 700.0, GBENCH_COUNTER_DEFAULT);
    gbench_set_counter(st, "p99_ns", 900.0, GBENCH_COUNTER_DEFAULT);
}

/* Zero manual time: every rate is x/0, infinite or NaN. */
static void shim_bench_no_time(gbench_state *st, void *user)
{
    (void)user;
    while (gbench_next_batch(st, 16) > 0)
        gbench_set_iteration_time(st, 0.0);
    gbench_set_bytes_processed(st, 0);
    gbench_set_items_processed(st, gbench_state_iterations(st));
    gbench_set_counter(st, "rate", 0.0, GBENCH_COUNTER_RATE);
}

/* Pausing and resuming inside the loop must keep the iteration count. */
static void shim_bench_pause(gbench_state *st, void *user)
{
    (void)user;
    int64_t looped = 0;
    while (gbench_next_batch(st, 1) > 0) {
        gbench_pause(st);
        looped++;
        gbench_resume(st);
    }
    gbench_set_counter(st, "looped", (double)looped, GBENCH_COUNTER_DEFAULT);
}

static void shim_bench_error(gbench_state *st, void *user)
{
    (void)user;
    gbench_skip_with_error(st, "deliberate failure");
    while (gbench_next_batch(st, 1) > 0)
        ;
}

int main(int argc, char **argv)
{
    static size_t two_args = 2;
    static size_t one_arg = 1;
    static const int64_t args_a[] = {3, 7};
    static const int64_t args_b[] = {4, 9};
    static const int64_t list[] = {1, 10, 100};

    gbench_add_context("shim_key", "shim_value");

    gbench_bench *b = gbench_register("shim/manual", shim_bench_manual, NULL);
    gbench_unit(gbench_iterations(gbench_use_manual_time(b), 1000), GBENCH_US);

    b = gbench_register("shim/args", shim_bench_args, &two_args);
    gbench_args(b, args_a, 2);
    gbench_args(b, args_b, 2);
    gbench_iterations(gbench_use_manual_time(b), 10);

    b = gbench_register("shim/range", shim_bench_args, &one_arg);
    gbench_range(gbench_range_multiplier(b, 2), 16, 64);
    gbench_iterations(gbench_use_manual_time(b), 10);

    b = gbench_register("shim/list", shim_bench_args, &one_arg);
    gbench_arg_list(b, list, sizeof list / sizeof list[0]);
    gbench_iterations(gbench_use_manual_time(b), 10);

    b = gbench_register("shim/zero", shim_bench_zero, NULL);
    gbench_repetitions(gbench_iterations(gbench_use_manual_time(b), 100), 3);

    b = gbench_register("shim/no_time", shim_bench_no_time, NULL);
    gbench_iterations(gbench_use_manual_time(b), 32);

    b = gbench_register("shim/pause", shim_bench_pause, NULL);
    gbench_iterations(gbench_use_real_time(b), 10);

    b = gbench_register("shim/error", shim_bench_error, NULL);
    gbench_iterations(b, 5);

    return gbench_main(argc, argv);
}
