/*
 * gbench: a plain C API over Google Benchmark (Debian's libbenchmark 1.7.1),
 * so that every shout benchmark is written in C. gbench_shim.cc implements it;
 * no C++ type crosses this header.
 *
 * A benchmark is a C function taking an opaque gbench_state and a user
 * pointer. It runs its measured loop in batches (one call into the shim per
 * batch, not per iteration: a C callback per iteration costs more than the
 * kernels measured here), may pause the clock, report its own time per
 * iteration (manual time), and sets bytes, items, counters and a label after
 * the loop. gbench_main() takes all of Google Benchmark's flags and writes
 * --benchmark_out files in JSON through the shim's file reporter, which adds
 * the percentile rows and never writes NaN (see gbench_main).
 *
 * Memory: names, labels and context strings are copied; the user pointer
 * given to gbench_register is the caller's and must outlive gbench_main.
 * gbench_bench handles belong to the library and stay valid until
 * gbench_main returns. Not thread-safe: register and run from one thread.
 */
#ifndef SHOUT_GBENCH_H
#define SHOUT_GBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A running benchmark's state (benchmark::State) and a registered family. */
typedef struct gbench_state gbench_state;
typedef struct gbench_bench gbench_bench;

typedef void (*gbench_fn)(gbench_state *st, void *user);

/*
 * Counter flags, mirroring benchmark::Counter::Flags bit for bit (the shim
 * static_asserts each one). They are #defines, not an enum, because
 * GBENCH_COUNTER_INVERT is 1u<<31, which does not fit a C enum.
 */
#define GBENCH_COUNTER_DEFAULT             0u
#define GBENCH_COUNTER_RATE                (1u << 0)  /* divided by the run's seconds */
#define GBENCH_COUNTER_AVG_THREADS         (1u << 1)  /* divided by the thread count */
#define GBENCH_COUNTER_ITERATION_INVARIANT (1u << 2)  /* multiplied by the iterations */
#define GBENCH_COUNTER_AVG_ITERATIONS      (1u << 3)  /* divided by the iterations */
#define GBENCH_COUNTER_INVERT              (1u << 31) /* 1/x, applied last */
/* Not a Google Benchmark flag: show k/M/G as powers of 1024 (the shim strips it). */
#define GBENCH_COUNTER_KIBI (1u << 30)

enum gbench_unit {
    GBENCH_NS,
    GBENCH_US,
    GBENCH_MS,
    GBENCH_S,
};

/* --- Registering (before gbench_main) ------------------------------------ */

/* Register fn under name; returns the family to configure (never NULL). */
gbench_bench *gbench_register(const char *name, gbench_fn fn, void *user);

/* One run per call, with that argument (appended to the name as /x). */
gbench_bench *gbench_arg(gbench_bench *b, int64_t x);
/* One run with n arguments (/a0/a1/...). */
gbench_bench *gbench_args(gbench_bench *b, const int64_t *args, size_t n);
/* One run per value of an explicit list. */
gbench_bench *gbench_arg_list(gbench_bench *b, const int64_t *values, size_t n);
/* lo, hi and the powers of the range multiplier (default 8) between them. */
gbench_bench *gbench_range(gbench_bench *b, int64_t lo, int64_t hi);
gbench_bench *gbench_range_multiplier(gbench_bench *b, int multiplier);

/* Time by the wall clock instead of the thread's CPU time. */
gbench_bench *gbench_use_real_time(gbench_bench *b);
/* Time by what the benchmark reports with gbench_set_iteration_time. */
gbench_bench *gbench_use_manual_time(gbench_bench *b);
gbench_bench *gbench_unit(gbench_bench *b, enum gbench_unit unit);

/*
 * Run exactly n iterations, whatever --benchmark_min_time says: the cap for
 * benchmarks whose wall clock would otherwise run away (with manual time
 * the wall clock can be far longer than the time reported).
 */
gbench_bench *gbench_iterations(gbench_bench *b, int64_t n);
gbench_bench *gbench_min_time(gbench_bench *b, double seconds);
gbench_bench *gbench_repetitions(gbench_bench *b, int n);

/*
 * Add key=value to the "context" of every report (CPU placement, versions).
 * Takes effect for a gbench_main that has not started yet; a key given twice
 * keeps its first value.
 */
void gbench_add_context(const char *key, const char *value);

/* --- Inside a benchmark -------------------------------------------------- */

/*
 * The measured loop, in batches: returns how many iterations to run now (at
 * most max_batch, never past the run's iteration count), or 0 when the run is
 * over. Call it until it returns 0:
 *
 *     int64_t n;
 *     while ((n = gbench_next_batch(st, 256)) > 0)
 *         for (int64_t i = 0; i < n; i++)
 *             work();
 */
int64_t gbench_next_batch(gbench_state *st, int64_t max_batch);

/* The run's argument at pos (0 for gbench_arg, gbench_range, ...). */
int64_t gbench_state_arg(const gbench_state *st, size_t pos);
/* Iterations completed so far (after the loop: all of them). */
int64_t gbench_state_iterations(const gbench_state *st);

/* Stop and restart the clock; about 200 ns a pair, so never per iteration of a fast loop. */
void gbench_pause(gbench_state *st);
void gbench_resume(gbench_state *st);

/*
 * With gbench_use_manual_time: add seconds to the run's time. Call it once
 * per iteration, or once per batch with the batch's total.
 */
void gbench_set_iteration_time(gbench_state *st, double seconds);

/* After the loop: totals over all iterations, shown as per-second rates. */
void gbench_set_bytes_processed(gbench_state *st, int64_t bytes);
void gbench_set_items_processed(gbench_state *st, int64_t items);

/* After the loop: a counter with GBENCH_COUNTER_* flags; a later call replaces it. */
void gbench_set_counter(gbench_state *st, const char *name, double value, uint32_t flags);
void gbench_set_label(gbench_state *st, const char *label);

/*
 * Report the run as failed (error_occurred in the JSON, exit status 1); the
 * next gbench_next_batch returns 0. The first message given is kept.
 */
void gbench_skip_with_error(gbench_state *st, const char *message);

/*
 * Keep the compiler from proving a result unused: it must assume the pointed
 * memory is read. Inline, because a call per iteration would cost more than
 * a 16-byte copy.
 */
#define GBENCH_CLOBBER(ptr) __asm__ volatile("" : : "g"(ptr) : "memory")

/* --- A value per reported run -------------------------------------------- */

/*
 * What a benchmark measured beyond Google Benchmark's numbers (shout-bench:
 * a latency histogram) cannot go into its report. Instead the call keeps it
 * (gbench_keep), and once the run is reported the sink gets it together with
 * the run it belongs to.
 *
 * Why the shim does the matching: Google Benchmark calls a benchmark
 * function several times per run while it searches for an iteration count,
 * and reports only the last call of each repetition, so a value is known to
 * be a run's only afterwards. The shim keeps every call's value with the
 * registered name; which calls were reported is worked out in gbench_main
 * (gbench_shim.cc says the rule), and every other value is released unseen.
 *
 * Limits: benchmarks registered without arguments (one run name per
 * registered name) and single-threaded; values kept by others are released
 * with a message on stderr and make gbench_main return 1.
 */

/* A reported run, as the sink sees it. */
struct gbench_run {
    const char *name;   /* the run's name as reported ("e2e/tcp/64/pingpong/text/manual_time") */
    int64_t iterations; /* the run's iterations */
    int64_t repetition_index; /* 0 .. repetitions - 1 */
    int64_t repetitions;
    bool error_occurred; /* the run failed (gbench_skip_with_error) */
};

/*
 * The sink: called once per reported run whose call kept a value, in
 * repetition order; value is released after it returns. 0, or -1 after a
 * message on stderr, which makes gbench_main return 1.
 */
typedef int (*gbench_kept_fn)(const struct gbench_run *run, void *value, void *user);

/* Set the sink, before gbench_main. Without one, kept values are released unseen. */
void gbench_set_kept_sink(gbench_kept_fn sink, void *user);

/*
 * Inside a benchmark: keep value for this call of the benchmark function;
 * keeping another in the same call releases the first. The shim owns value
 * from now on and calls release(value) when done with it (release may be
 * NULL).
 */
void gbench_keep(gbench_state *st, void *value, void (*release)(void *value));

/* --- Running ------------------------------------------------------------- */

/*
 * Parse Google Benchmark's flags from argv (--benchmark_filter,
 * --benchmark_min_time, --benchmark_repetitions, --benchmark_out=FILE,
 * --benchmark_out_format, ...), run the selected benchmarks, and shut down.
 *
 * The console output is Google Benchmark's own. A JSON file output (the
 * default --benchmark_out_format) goes through the shim's reporter: every
 * non-finite value (a 0/0 counter) is written as 0, and every run with
 * counters p50_ns and p99_ns also gets rows "<name>/p50" and "<name>/p99"
 * whose real_time and cpu_time are that percentile in the run's time unit
 * (aggregates: "<name>/p99_mean", ...), so that compare.py compares tail
 * latency across repetitions.
 *
 * Returns 0 when every run succeeded, 1 when a benchmark reported an error,
 * and 2 on an unrecognised argument.
 */
int gbench_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
