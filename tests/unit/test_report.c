/*
 * Unit tests for client/report.h: the JSON result file (written, read back
 * exactly, checked as a reader sees it), the table and
 * the environment. shout merge is test_merge.c, the stats port client
 * test_report_stats.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "report.h"
#include "report_fixture.h"

static void assert_same_result(const struct run_result *a, const struct run_result *b)
{
    const struct run_config *x = &a->config, *y = &b->config;
    assert_string_equal(x->command, y->command);
    assert_string_equal(x->host, y->host);
    assert_int_equal(x->port, y->port);
    assert_int_equal(x->udp, y->udp);
    assert_int_equal(x->framed, y->framed);
    assert_int_equal(x->sockperf, y->sockperf);
    assert_int_equal(x->size, y->size);
    assert_true(x->duration_s == y->duration_s);
    assert_int_equal(x->count, y->count);
    assert_true(x->warmup_s == y->warmup_s);
    assert_int_equal(x->connections, y->connections);
    assert_int_equal(x->threads, y->threads);
    assert_int_equal(x->pipeline, y->pipeline);
    assert_true(x->rate == y->rate);
    assert_true(x->timeout_s == y->timeout_s);
    assert_int_equal(x->client_cpu_count, y->client_cpu_count);
    assert_memory_equal(x->client_cpus, y->client_cpus, x->client_cpu_count * sizeof(int));
    assert_int_equal(x->stats_port, y->stats_port);

    const struct run_env *e = &a->env, *f = &b->env;
    assert_string_equal(e->kernel, f->kernel);
    assert_string_equal(e->cpu_model, f->cpu_model);
    assert_string_equal(e->hostname, f->hostname);
    assert_int_equal(e->online_cpus, f->online_cpus);
    assert_int_equal(e->client_cpus_seen_count, f->client_cpus_seen_count);
    assert_memory_equal(e->client_cpus_seen, f->client_cpus_seen,
                        e->client_cpus_seen_count * sizeof(int));
    assert_int_equal(e->server_cpu, f->server_cpu);
    assert_int_equal(e->server_pinned, f->server_pinned);
    assert_int_equal(e->shared_cpu, f->shared_cpu);
    assert_string_equal(e->started_at, f->started_at);

    assert_true(a->elapsed_s == b->elapsed_s);
    /* struct hist is all 8-byte fields (no padding): bytewise equal is exactly equal. */
    assert_memory_equal(&a->latency, &b->latency, sizeof a->latency);
    assert_memory_equal(&a->service, &b->service, sizeof a->service);
    assert_memory_equal(&a->counts, &b->counts, sizeof a->counts);
    assert_int_equal(a->client_cpu.known, b->client_cpu.known);
    assert_true(a->client_cpu.user_s == b->client_cpu.user_s);
    assert_true(a->client_cpu.system_s == b->client_cpu.system_s);
    const struct server_counters *s = &a->server, *t = &b->server;
    assert_int_equal(s->known, t->known);
    assert_int_equal(s->requests, t->requests);
    assert_int_equal(s->text_bytes, t->text_bytes);
    assert_int_equal(s->udp_replies, t->udp_replies);
    assert_int_equal(s->bytes_in, t->bytes_in);
    assert_int_equal(s->bytes_out, t->bytes_out);
    assert_int_equal(s->errors, t->errors);
    assert_int_equal(s->cpu.known, t->cpu.known);
    assert_true(s->cpu.user_s == t->cpu.user_s);
    assert_true(s->cpu.system_s == t->cpu.system_s);
    assert_int_equal(a->merged_from, b->merged_from);
    assert_memory_equal(&s->drops, &t->drops, sizeof s->drops);
    assert_true(a->run_id == b->run_id);
    assert_int_equal(a->id_count, b->id_count);
    assert_memory_equal(a->ids, b->ids, a->id_count * sizeof a->ids[0]);
    assert_int_equal(a->interrupted, b->interrupted);
    assert_true(a->client_thread_share == b->client_thread_share);
    assert_true(a->server_share == b->server_share);
    assert_int_equal(a->client_bound, b->client_bound);
}

/* ---- JSON ---- */

static void json_round_trip_restores_every_field(void **state)
{
    (void)state;
    struct run_result *r = new_result(), *back = new_result();
    fill_result(r);
    assert_int_equal(r->latency.clamped, 1);
    assert_int_equal(report_write_json(r, test_path("a.json")), 0);
    memset(back, 0xAB, sizeof *back);
    assert_int_equal(report_read_json(test_path("a.json"), back), 0);
    assert_same_result(r, back);
    free(r);
    free(back);
}

static void json_round_trip_keeps_unknowns_unknown(void **state)
{
    (void)state;
    struct run_result *r = new_result(), *back = new_result();
    fill_result(r);
    strcpy(r->config.command, "ping");
    r->config.client_cpu_count = 0;
    r->config.rate = 0;
    r->env.client_cpus_seen_count = 0;
    r->env.server_cpu = r->env.server_pinned = r->env.shared_cpu = -1;
    hist_init(&r->service);
    r->client_cpu = (struct run_cpu){.known = false};
    r->server = (struct server_counters){.known = false};
    assert_int_equal(report_write_json(r, test_path("a.json")), 0);
    assert_int_equal(report_read_json(test_path("a.json"), back), 0);
    assert_same_result(r, back);
    assert_int_equal(back->service.min_ns, UINT64_MAX); /* empty, as hist_init leaves it */
    free(r);
    free(back);
}

static json_t *load_json(const char *path)
{
    json_error_t error;
    json_t *root = json_load_file(path, 0, &error);
    assert_non_null(root);
    return root;
}

static json_t *at(const json_t *obj, const char *dotted)
{
    char path[128];
    snprintf(path, sizeof path, "%s", dotted);
    const json_t *node = obj;
    for (char *key = strtok(path, "."); key; key = strtok(NULL, ".")) {
        node = json_object_get(node, key);
        if (!node)
            fail_msg("no member %s in %s", key, dotted);
    }
    return (json_t *)node;
}

static uint64_t at_uint(const json_t *obj, const char *dotted)
{
    const json_t *v = at(obj, dotted);
    assert_true(json_is_integer(v));
    return (uint64_t)json_integer_value(v);
}

static double at_real(const json_t *obj, const char *dotted)
{
    const json_t *v = at(obj, dotted);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void json_file_holds_the_documented_fields(void **state)
{
    (void)state;
    struct run_result *r = new_result();
    fill_result(r);
    assert_int_equal(report_write_json(r, test_path("a.json")), 0);
    json_t *root = load_json(test_path("a.json"));

    assert_string_equal(json_string_value(at(root, "shout_version")), SHOUT_VERSION);
    assert_string_equal(json_string_value(at(root, "command")), "load");
    assert_true(json_is_true(at(root, "config.udp")));
    assert_int_equal(json_array_size(at(root, "config.client_cpus")), 2);
    assert_int_equal(json_array_size(at(root, "environment.client_cpus")), 2);
    assert_int_equal(json_integer_value(json_array_get(at(root, "environment.client_cpus"), 1)), 3);
    assert_true(json_is_false(at(root, "environment.shared_cpu")));
    assert_int_equal(at_uint(root, "environment.server_cpu"), 5);

    assert_int_equal(at_uint(root, "results.counts.lost"), 5);
    assert_true(at_real(root, "results.rates.requests_per_s") == 2002 / r->elapsed_s);
    assert_true(at_real(root, "results.rates.bytes_sent_per_s") == 160880 / r->elapsed_s);

    const json_t *lat = at(root, "results.latency");
    assert_string_equal(json_string_value(at(lat, "unit")), "ns");
    assert_int_equal(at_uint(lat, "count"), r->latency.count);
    assert_int_equal(at_uint(lat, "min"), 0);
    assert_int_equal(at_uint(lat, "max"), HIST_MAX_NS);
    assert_int_equal(at_uint(lat, "clamped"), 1);
    assert_int_equal(at_uint(lat, "p50"), hist_percentile(&r->latency, 50));
    assert_int_equal(at_uint(lat, "p99_9"), hist_percentile(&r->latency, 99.9));
    assert_int_equal(at_uint(lat, "p99_99"), hist_percentile(&r->latency, 99.99));
    assert_true(at_real(lat, "mean") == hist_mean(&r->latency));
    assert_true(at_real(lat, "stdev") == hist_stdev(&r->latency));
    /* Buckets: only non-empty ones, each [its low edge, its count], adding up to count. */
    const json_t *buckets = at(lat, "buckets");
    uint64_t total = 0;
    for (size_t i = 0; i < json_array_size(buckets); i++) {
        const json_t *pair = json_array_get(buckets, i);
        uint64_t low = (uint64_t)json_integer_value(json_array_get(pair, 0));
        uint64_t count = (uint64_t)json_integer_value(json_array_get(pair, 1));
        assert_int_equal(hist_bucket_low(hist_bucket_of(low)), low);
        assert_true(count > 0);
        assert_int_equal(r->latency.buckets[hist_bucket_of(low)], count);
        total += count;
    }
    assert_int_equal(total, r->latency.count);

    assert_true(at_real(root, "results.cpu.client.us_per_message") == 3.75e6 / 2011);
    assert_int_equal(at_uint(root, "results.cpu.server.messages"), 17 + 2002 + 19 / 64);
    assert_true(at_real(root, "results.cpu.server.us_per_message") == 0.875e6 / (17 + 2002));
    assert_int_equal(at_uint(root, "results.cpu.server.errors"), 31);
    assert_int_equal(at_uint(root, "merged_from"), 1);
    json_decref(root);
    free(r);
}

static bool file_mentions(const char *path, const char *word)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strcasestr(line, word) != NULL;
    fclose(f);
    return found;
}

static void json_writes_null_never_nan_or_infinity(void **state)
{
    (void)state;
    struct run_result *r = new_result(), *back = new_result();
    fill_result(r);
    r->elapsed_s = 0; /* every rate divides by it */
    r->config.rate = NAN;
    r->config.duration_s = INFINITY;
    r->counts.sent = 0; /* CPU per message divides by it */
    hist_init(&r->service);
    assert_int_equal(report_write_json(r, test_path("a.json")), 0);
    /* As values: "unanswered" has "nan" in it. */
    assert_false(file_mentions(test_path("a.json"), ": nan"));
    assert_false(file_mentions(test_path("a.json"), ": inf"));

    json_t *root = load_json(test_path("a.json"));
    assert_true(json_is_null(at(root, "results.rates.requests_per_s")));
    assert_true(json_is_null(at(root, "results.rates.bytes_received_per_s")));
    assert_true(json_is_null(at(root, "config.rate")));
    assert_true(json_is_null(at(root, "results.cpu.client.us_per_message")));
    assert_true(json_is_null(at(root, "results.service.p50")));
    assert_true(json_is_null(at(root, "results.service.min")));
    json_decref(root);

    assert_int_equal(report_read_json(test_path("a.json"), back), 0);
    assert_true(isnan(back->config.rate));
    assert_true(isnan(back->config.duration_s));
    assert_true(back->elapsed_s == 0);
    free(r);
    free(back);
}

/* Write r, then apply edit to the JSON tree, then write it back as bad.json. */
static void write_edited(const struct run_result *r, void (*edit)(json_t *root))
{
    assert_int_equal(report_write_json(r, test_path("bad.json")), 0);
    json_t *root = load_json(test_path("bad.json"));
    edit(root);
    assert_int_equal(json_dump_file(root, test_path("bad.json"), 0), 0);
    json_decref(root);
}

static void drop_sent(json_t *root)
{
    assert_int_equal(json_object_del(at(root, "results.counts"), "sent"), 0);
}

static void inflate_count(json_t *root)
{
    json_object_set_new(at(root, "results.latency"), "count", json_integer(1));
}

static void negative_bucket(json_t *root)
{
    json_t *pair = json_array_get(at(root, "results.service.buckets"), 0);
    json_array_set_new(pair, 1, json_integer(-4));
}

static void claim_format_2(json_t *root)
{
    json_object_set_new(root, "format", json_integer(2));
}

static void drop_format_and_new_members(json_t *root)
{
    json_object_del(root, "format");
    json_object_del(root, "run_id");
    json_object_del(root, "run_ids");
    json_object_del(at(root, "results.counts"), "refused");
}

static void read_json_refuses_another_format_and_reads_unversioned_files(void **state)
{
    (void)state;
    struct run_result *r = new_result(), *back = new_result();
    fill_result(r);
    write_edited(r, claim_format_2);
    assert_int_equal(report_read_json(test_path("bad.json"), back), -EBADMSG);
    /* A file from before "format": read, with no ids and no refused count. */
    write_edited(r, drop_format_and_new_members);
    assert_int_equal(report_read_json(test_path("bad.json"), back), 0);
    assert_int_equal(back->id_count, 0);
    assert_int_equal(back->counts.refused, 0);
    free(r);
    free(back);
}

static void json_reals_are_shortest_and_sums_are_integers(void **state)
{
    (void)state;
    char out[256];
    report_json_shorten("{\"a\": 0.20000000000000001, \"b\": \"0.10000000000000001\", \"c\": 17, "
                        "\"d\": 1.0, \"e\": -2.5e-07, \"f\": 0.10000000000000001}",
                        out, sizeof out);
    assert_string_equal(out, "{\"a\": 0.2, \"b\": \"0.10000000000000001\", \"c\": 17, \"d\": 1.0, "
                             "\"e\": -2.5e-07, \"f\": 0.1}");
    struct run_result *r = new_result(), *back = new_result();
    fill_result(r);
    assert_int_equal(report_write_json(r, test_path("a.json")), 0);
    json_t *root = load_json(test_path("a.json"));
    assert_true(json_is_integer(at(root, "results.latency.sum_ns")));
    assert_true(json_is_integer(at(root, "format")));
    assert_int_equal(json_integer_value(at(root, "format")), RESULT_FORMAT);
    assert_true(json_real_value(at(root, "config.warmup_s")) == 1.25);
    json_decref(root);
    /* 10.000123456789, as fill_result set it, not its 17-digit spelling. */
    assert_true(file_mentions(test_path("a.json"), "\"elapsed_s\": 10.000123456789,"));
    free(r);
    free(back);
}

static void read_json_refuses_what_it_did_not_write(void **state)
{
    (void)state;
    struct run_result *r = new_result(), *back = new_result();
    fill_result(r);
    void (*const edits[])(json_t *) = {drop_sent, inflate_count, negative_bucket};
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        write_edited(r, edits[i]);
        assert_int_equal(report_read_json(test_path("bad.json"), back), -EBADMSG);
    }
    FILE *f = fopen(test_path("bad.json"), "w");
    assert_non_null(f);
    fputs("{\"results\": [1, 2", f);
    fclose(f);
    assert_int_equal(report_read_json(test_path("bad.json"), back), -EBADMSG);
    assert_int_equal(report_read_json(test_path("missing.json"), back), -ENOENT);
    free(r);
    free(back);
}

/* ---- table, progress line, environment ---- */

static char *table_of(const struct run_result *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    report_print_table(r, out);
    fclose(out);
    return text;
}

static void table_shows_service_time_only_for_paced_runs(void **state)
{
    (void)state;
    struct run_result *r = new_result();
    fill_result(r);
    char *paced = table_of(r);
    assert_non_null(strstr(paced, "round trip (RTT)"));
    assert_non_null(strstr(paced, "service time"));
    assert_non_null(strstr(paced, "paced at"));
    assert_non_null(strstr(paced, "UDP, framed, 64 B"));
    assert_non_null(strstr(paced, "lost 5"));
    assert_non_null(strstr(paced, "pinned to 0,3"));
    assert_non_null(strstr(paced, "shared CPU: no"));
    char row[64]; /* min is 0, so the row starts with 0.00 µs */
    snprintf(row, sizeof row, "round trip (RTT)   %9.2f", 0.0);
    assert_non_null(strstr(paced, row));
    /* 2011 sent in 10 s against 10000.5/s asked. */
    assert_non_null(strstr(paced, "behind: 201 requests/s sent of the 10000 asked"));
    free(paced);

    r->counts.sent = 100000; /* 9999.99/s: the rate was kept */
    char *kept = table_of(r);
    assert_null(strstr(kept, "behind"));
    free(kept);

    r->config.rate = 0;
    r->config.stats_port = 0;
    r->server.known = false;
    char *closed = table_of(r);
    assert_non_null(strstr(closed, "closed loop"));
    assert_null(strstr(closed, "service time"));
    assert_non_null(strstr(closed, "server n/a (no stats port)"));
    free(closed);
    free(r);
}

static void capture_env_fills_what_it_knows_and_marks_the_rest_unknown(void **state)
{
    (void)state;
    struct run_env env;
    memset(&env, 0x5A, sizeof env);
    report_capture_env(&env);
    assert_int_equal(strncmp(env.kernel, "Linux ", 6), 0);
    assert_true(env.online_cpus >= 1);
    assert_int_equal(strlen(env.started_at), 20); /* 2024-05-01T12:00:00Z */
    assert_int_equal(env.started_at[10], 'T');
    assert_int_equal(env.started_at[19], 'Z');
    assert_int_equal(env.server_cpu, -1);
    assert_int_equal(env.server_pinned, -1);
    assert_int_equal(env.shared_cpu, -1);
    assert_int_equal(env.client_cpus_seen_count, 0);

    struct run_cpu first = report_cpu_now(), second = report_cpu_now();
    assert_true(first.known);
    assert_true(second.user_s >= first.user_s && second.system_s >= first.system_s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_round_trip_restores_every_field),
        cmocka_unit_test(json_round_trip_keeps_unknowns_unknown),
        cmocka_unit_test(json_file_holds_the_documented_fields),
        cmocka_unit_test(json_writes_null_never_nan_or_infinity),
        cmocka_unit_test(read_json_refuses_what_it_did_not_write),
        cmocka_unit_test(read_json_refuses_another_format_and_reads_unversioned_files),
        cmocka_unit_test(json_reals_are_shortest_and_sums_are_integers),
        cmocka_unit_test(table_shows_service_time_only_for_paced_runs),
        cmocka_unit_test(capture_env_fills_what_it_knows_and_marks_the_rest_unknown),
    };
    return cmocka_run_group_tests(tests, make_test_dir, remove_test_dir);
}
