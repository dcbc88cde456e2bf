/*
 * fuzz_result_json: result files, the bytes `shout merge` reads from disk
 * (client/report_parse.c), taken as untrusted: a file can be hand-edited,
 * truncated, or someone else's. The whole input is the file's text, given
 * to report_parse_json, the reader report_read_json uses once the file is
 * read.
 *
 * Oracles (besides no crash, leak or hang under ASan and UBSan):
 * - A refused file says why, in one line.
 * - An accepted one holds only what the rest of the client may rely on
 *   without checking again: strings terminated within their arrays, CPU
 *   lists of at most 64 CPU numbers in range, merged_from at least 1, CPU
 *   times that are numbers when known, and histograms whose count is their
 *   buckets' total, with min <= max <= HIST_MAX_NS when not empty and every
 *   percentile between min and max.
 * - What merge then does with it runs cleanly: the file merges with itself
 *   (report_merge), and the merged table prints (into memory, not a file).
 *
 * A round trip through report_write_json is not checked here: it writes a
 * file (a syscall); tests/unit/test_report.c does it.
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "hist.h"
#include "report.h"

/* Room for the whole table; what does not fit is cut, which is fine for a fuzzer. */
#define RESULT_TABLE_MAX 8192

static void result_check_text(const char *text, size_t cap, const char *name)
{
    FUZZ_CHECK(strnlen(text, cap) < cap, "%s is not terminated", name);
}

static void result_check_cpus(const int *cpus, uint32_t count, const char *name)
{
    FUZZ_CHECK(count <= RESULT_MAX_CPUS, "%s: %u CPUs", name, (unsigned)count);
    for (uint32_t i = 0; i < count; i++)
        FUZZ_CHECK(cpus[i] >= 0 && cpus[i] <= 1 << 20, "%s[%u] = %d", name, (unsigned)i, cpus[i]);
}

static void result_check_hist(const struct hist *h, const char *name)
{
    uint64_t total = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        FUZZ_CHECK(h->buckets[i] <= UINT64_MAX - total, "%s: bucket total overflows", name);
        total += h->buckets[i];
    }
    FUZZ_CHECK(total == h->count, "%s: count %llu, buckets %llu", name,
               (unsigned long long)h->count, (unsigned long long)total);
    if (h->count == 0)
        return;
    FUZZ_CHECK(h->min_ns <= h->max_ns && h->max_ns <= HIST_MAX_NS, "%s: min %llu max %llu", name,
               (unsigned long long)h->min_ns, (unsigned long long)h->max_ns);
    FUZZ_CHECK(isfinite(h->sum_ns) && isfinite(h->m2_ns), "%s: sums not finite", name);
    static const double pcts[] = {0, 0.001, 50, 99.99, 100};
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
        uint64_t v = hist_percentile(h, pcts[i]);
        FUZZ_CHECK(v >= h->min_ns && v <= h->max_ns, "%s: p%g = %llu outside min..max", name,
                   pcts[i], (unsigned long long)v);
    }
    (void)hist_mean(h);
    (void)hist_stdev(h);
}

static void result_check_accepted(const struct run_result *r)
{
    result_check_text(r->config.command, sizeof r->config.command, "config.command");
    result_check_text(r->config.host, sizeof r->config.host, "config.host");
    result_check_text(r->env.kernel, sizeof r->env.kernel, "environment.kernel");
    result_check_text(r->env.cpu_model, sizeof r->env.cpu_model, "environment.cpu_model");
    result_check_text(r->env.hostname, sizeof r->env.hostname, "environment.hostname");
    result_check_text(r->env.started_at, sizeof r->env.started_at, "environment.started_at");
    result_check_cpus(r->config.client_cpus, r->config.client_cpu_count, "config.client_cpus");
    result_check_cpus(r->env.client_cpus_seen, r->env.client_cpus_seen_count,
                      "environment.client_cpus_seen");
    FUZZ_CHECK(r->env.shared_cpu >= -1 && r->env.shared_cpu <= 1, "shared_cpu %d",
               r->env.shared_cpu);
    FUZZ_CHECK(r->merged_from >= 1, "merged_from 0 accepted");
    FUZZ_CHECK(!r->client_cpu.known ||
                   (!isnan(r->client_cpu.user_s) && !isnan(r->client_cpu.system_s)),
               "client CPU known but not a number");
    FUZZ_CHECK(!r->server.cpu.known ||
                   (!isnan(r->server.cpu.user_s) && !isnan(r->server.cpu.system_s)),
               "server CPU known but not a number");
    FUZZ_CHECK(r->server.known || !r->server.cpu.known, "server CPU known without its counters");
    result_check_hist(&r->latency, "latency");
    result_check_hist(&r->service, "service");
}

/* What shout merge does next with a file it read: merge (here, with itself) and print. */
static void result_merge_and_print(struct run_result *runs)
{
    runs[1] = runs[0];
    int server_from;
    char why[256];
    int rc = report_merge(runs, 2, &runs[2], &server_from, why, sizeof why);
    FUZZ_CHECK(rc == 0, "a result does not merge with itself: %s", why);
    FUZZ_CHECK(server_from == (runs[0].server.known ? 0 : -1), "server counters from run %d",
               server_from);
    static char table[RESULT_TABLE_MAX];
    FILE *out = fmemopen(table, sizeof table, "w");
    FUZZ_CHECK(out != NULL, "fmemopen failed");
    report_print_table(&runs[2], out);
    fclose(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* runs[0] the file, runs[1] its copy, runs[2] the two merged: ~75 KiB each, not the stack. */
    struct run_result *runs = calloc(3, sizeof *runs);
    FUZZ_CHECK(runs != NULL, "out of memory");
    char why[512] = "";
    static const char empty[1];
    int rc = report_parse_json(size ? (const char *)data : empty, size, &runs[0], why, sizeof why);
    if (rc < 0) {
        size_t n = strnlen(why, sizeof why);
        FUZZ_CHECK(n > 0 && n < sizeof why && !strchr(why, '\n'),
                   "a refusal without a one-line reason (rc %d)", rc);
    } else {
        FUZZ_CHECK(rc == 0, "rc %d", rc);
        result_check_accepted(&runs[0]);
        result_merge_and_print(runs);
    }
    free(runs);
    return 0;
}
