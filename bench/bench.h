/*
 * bench: the parts of the shout-bench suite, each registering its
 * benchmarks through gbench.h before main() hands argv to gbench_main.
 *
 *   core/...  micro benchmarks of lib/ (bench_core.c)
 *   e2e/...   end to end on loopback against a shoutd started here (bench_e2e.c)
 *
 * Memory: everything a registered benchmark needs is static or allocated
 * inside its run; the e2e server is started on first use and stopped by
 * bench_e2e_stop().
 */
#ifndef SHOUT_BENCH_H
#define SHOUT_BENCH_H

void bench_core_register(void);

/*
 * Register the e2e benchmarks and record the CPU placement as context.
 * Returns 0, or -1 after a message on stderr when a placement setting is bad.
 */
int bench_e2e_register(void);

/* Stop the server the e2e benchmarks started, if any. Safe to call twice. */
void bench_e2e_stop(void);

#endif
