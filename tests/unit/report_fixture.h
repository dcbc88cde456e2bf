/*
 * report_fixture: what the report unit tests share: a temporary folder for
 * result files (made and emptied by the group set-up and tear-down) and a
 * run result with every field set to a value of its own. Include it after
 * cmocka.h.
 */
#ifndef SHOUT_TEST_REPORT_FIXTURE_H
#define SHOUT_TEST_REPORT_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prng.h"
#include "report.h"

/* The folder every test file goes in, made and removed by the group set-up and tear-down. */
static char test_dir[64];

static inline int make_test_dir(void **state)
{
    (void)state;
    snprintf(test_dir, sizeof test_dir, "/tmp/test_report.XXXXXX");
    return mkdtemp(test_dir) ? 0 : -1;
}

static inline int remove_test_dir(void **state)
{
    (void)state;
    /* Only the files these tests made, by name. */
    static const char *const names[] = {"a.json", "b.json", "out.json", "bad.json", "c.json"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", test_dir, names[i]);
        unlink(path);
    }
    return rmdir(test_dir);
}

static inline const char *test_path(const char *name)
{
    static char paths[4][128];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s", test_dir, name);
    return path;
}

static inline struct run_result *new_result(void)
{
    struct run_result *r = calloc(1, sizeof *r);
    assert_non_null(r);
    return r;
}

/* Samples up to 1 ms, few enough that their sum is an exact double. */
static inline void record_samples(struct hist *h, uint64_t seed, int n)
{
    struct prng rng = {seed};
    for (int i = 0; i < n; i++)
        hist_record(h, 1000 + prng_below(&rng, 999000));
}

/* A paced UDP load run with every field set to a value of its own. */
static inline void fill_result(struct run_result *r)
{
    memset(r, 0, sizeof *r);
    struct run_config *c = &r->config;
    strcpy(c->command, "load");
    strcpy(c->host, "127.0.0.1");
    c->port = 7680;
    c->udp = true;
    c->framed = true;
    c->sockperf = false;
    c->size = 64;
    c->duration_s = 10.5;
    c->count = 123;
    c->warmup_s = 1.25;
    c->connections = 4;
    c->threads = 2;
    c->pipeline = 8;
    c->rate = 10000.5;
    c->timeout_s = 0.25;
    c->client_cpus[0] = 0;
    c->client_cpus[1] = 3;
    c->client_cpu_count = 2;
    c->stats_port = 7681;

    struct run_env *e = &r->env;
    strcpy(e->kernel, "Linux 6.1.0-test");
    strcpy(e->cpu_model, "Test CPU @ 2.00GHz \"quoted\"");
    strcpy(e->hostname, "bench-host");
    e->online_cpus = 8;
    e->client_cpus_seen[0] = 3;
    e->client_cpus_seen[1] = 0;
    e->client_cpus_seen_count = 2;
    e->server_cpu = 5;
    e->server_pinned = 5;
    e->shared_cpu = 0;
    strcpy(e->started_at, "2024-05-01T12:00:00Z");

    r->elapsed_s = 10.000123456789;
    hist_init(&r->latency);
    hist_init(&r->service);
    record_samples(&r->latency, 1, 2000);
    record_samples(&r->service, 2, 1500);
    hist_record(&r->latency, 0);
    hist_record(&r->latency, HIST_MAX_NS + 12345); /* clamped */

    r->counts = (struct run_counts){.sent = 2011,
                                    .received = 2002,
                                    .mismatches = 3,
                                    .lost = 5,
                                    .duplicates = 7,
                                    .reordered = 11,
                                    .error_frames = 13,
                                    .refused = 37,
                                    .unanswered = 41,
                                    .bytes_sent = 160880,
                                    .bytes_received = 160160};
    r->client_cpu = (struct run_cpu){.known = true, .user_s = 1.5, .system_s = 2.25};
    r->server = (struct server_counters){
        .known = true,
        .requests = 17,
        .text_bytes = 19,
        .udp_replies = 2002,
        .bytes_in = 23,
        .bytes_out = 29,
        .errors = 31,
        .cpu = {.known = true, .user_s = 0.125, .system_s = 0.75},
        .drops = {.known = true,
                  .udp_dropped_rate = 43,
                  .tcp_refused_per_ip = 47,
                  .tcp_closed_memory_per_ip = 53},
    };
    r->merged_from = 1;
    r->run_id = UINT64_C(0x0123456789abcdef);
    r->ids[0] = r->run_id;
    r->id_count = 1;
    r->interrupted = true;
    /* A client thread at its limit beside a server with room: what client_bound is for. */
    r->client_thread_share = 0.96875;
    r->server_share = 0.40625;
    r->client_bound = true;
}

#endif
