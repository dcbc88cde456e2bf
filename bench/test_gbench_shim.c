/*
 * test_gbench_shim: benchmarks with known answers, registered through
 * gbench.h, for test_gbench_shim.py to run and check. Their time is manual
 * and fixed (1 ms or 1 us an iteration) and their iteration counts are set,
 * so every rate, average and percentile row has one exact expected value,
 * whatever the machine.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

/* Fails its second call only: one failed repetition among good ones. */
static void shim_bench_error_once(gbench_state *st, void *user)
{
    int *calls = user;
    if (++*calls == 2)
        gbench_skip_with_error(st, "deliberate failure of one repetition");
    while (gbench_next_batch(st, 1) > 0)
        ;
}

/*
 * Kept values: each call of shim/kept_* keeps a record of itself, and says
 * on stderr that it was called, so that test_gbench_shim.py can check which
 * calls the sink got for which run. Manual time makes the iteration search
 * the same on every machine: 1 ms an iteration for kept_a, 3 ms for kept_b,
 * so that the two find different counts.
 */
struct shim_call {
    const char *name;
    int64_t call; /* 1, 2, ... over the whole process */
    int64_t iterations;
};

static int64_t shim_calls;

static void shim_bench_kept(gbench_state *st, void *user)
{
    const char *name = user;
    double iteration_s = name[sizeof "shim/kept_" - 1] == 'a' ? 1e-3 : 3e-3;
    int64_t n;
    while ((n = gbench_next_batch(st, 64)) > 0)
        gbench_set_iteration_time(st, (double)n * iteration_s);
    struct shim_call *call = malloc(sizeof *call);
    if (!call) {
        gbench_skip_with_error(st, "out of memory");
        return;
    }
    *call = (struct shim_call){name, ++shim_calls, gbench_state_iterations(st)};
    fprintf(stderr, "call %s %" PRId64 " iterations %" PRId64 "\n", name, call->call,
            call->iterations);
    gbench_keep(st, call, free);
}

static int shim_sink(const struct gbench_run *run, void *value, void *user)
{
    (void)user;
    const struct shim_call *call = value;
    fprintf(stderr,
            "kept %s rep %" PRId64 "/%" PRId64 " iterations %" PRId64 " error %d"
            " from %s call %" PRId64 " iterations %" PRId64 "\n",
            run->name, run->repetition_index, run->repetitions, run->iterations,
            run->error_occurred, call->name, call->call, call->iterations);
    return 0;
}

/* Keeping a value in a benchmark with arguments is refused (gbench.h). */
static void shim_bench_kept_args(gbench_state *st, void *user)
{
    (void)user;
    while (gbench_next_batch(st, 8) > 0)
        ;
    gbench_keep(st, malloc(16), free);
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

    static int error_once_calls;
    gbench_iterations(gbench_register("shim/error_once", shim_bench_error_once, &error_once_calls),
                      4);
    b = gbench_register("shim/error", shim_bench_error, NULL);
    gbench_iterations(b, 5);

    static char kept_a[] = "shim/kept_a", kept_b[] = "shim/kept_b";
    gbench_use_manual_time(gbench_register(kept_a, shim_bench_kept, kept_a));
    gbench_use_manual_time(gbench_register(kept_b, shim_bench_kept, kept_b));
    b = gbench_register("shim/kept_args", shim_bench_kept_args, NULL);
    gbench_iterations(gbench_arg(b, 1), 4);
    gbench_set_kept_sink(shim_sink, NULL);

    return gbench_main(argc, argv);
}
