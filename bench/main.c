/*
 * shout-bench: the Google Benchmark suite. Every benchmark is C, registered
 * through gbench.h; argv goes to Google Benchmark whole, so all of its flags
 * work (--benchmark_filter, --benchmark_out=FILE --benchmark_out_format=json,
 * --benchmark_repetitions, ...).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "bench_hist.h"
#include "gbench.h"

/*
 * Google Benchmark's own --help knows nothing of the variables that place
 * and size the e2e benchmarks (bench_e2e.c): say them first, then let it
 * print its flags and exit.
 */
static const char bench_env_help[] =
    "Usage: shout-bench [--benchmark_FLAG=VALUE...]\n"
    "\n"
    "shout's Google Benchmark suite: core benchmarks of the pure library, and e2e\n"
    "benchmarks against a shoutd it starts on loopback.\n"
    "\n"
    "Environment:\n"
    "  SHOUT_BENCH_CLIENT_CPU=N|none  the CPU shout-bench pins itself to (default:\n"
    "                                 the first CPU it may use; none: not pinned)\n"
    "  SHOUT_BENCH_SERVER_CPU=N|none  the CPU of the shoutd it starts for the e2e\n"
    "                                 benchmarks (default: the client's CPU)\n"
    "  SHOUT_BENCH_E2E_ITERATIONS=N   run every e2e benchmark exactly N iterations\n"
    "                                 (default: as many as Google Benchmark decides)\n"
    "  SHOUT_BENCH_HISTOGRAMS=DIR     write each e2e run's latency histogram (one file\n"
    "                                 per repetition) into DIR, created if missing, for\n"
    "                                 the tail gate: ci/bench-compare BASE_DIR NEW_DIR\n"
    "The placement is recorded in the JSON context (e2e_client_cpu, e2e_server_cpu).\n"
    "\n"
    "Google Benchmark's flags:\n";

static bool bench_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    bool help = bench_wants_help(argc, argv);
    /* Before registering: the e2e set-up pins the process and checks the variables. */
    if (help) {
        fputs(bench_env_help, stdout);
        fflush(stdout);
    }
    bench_core_register();
    if (bench_e2e_register() != 0)
        return 2;
    /* Before any benchmark runs; not for --help, which must not create the directory. */
    if (!help && bench_hist_setup() != 0)
        return 2;
    int status = gbench_main(argc, argv);
    bench_e2e_stop();
    return status;
}
