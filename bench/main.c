/*
 * shout-bench: the Google Benchmark suite. Every benchmark is C, registered
 * through gbench.h; argv goes to Google Benchmark whole, so all of its flags
 * work (--benchmark_filter, --benchmark_out=FILE --benchmark_out_format=json,
 * --benchmark_repetitions, ...).
 */
#include "bench.h"
#include "gbench.h"

int main(int argc, char **argv)
{
    bench_core_register();
    if (bench_e2e_register() != 0)
        return 2;
    int status = gbench_main(argc, argv);
    bench_e2e_stop();
    return status;
}
