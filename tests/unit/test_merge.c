/*
 * Unit tests for client/merge.c: merging runs gives what one client recording
 * every sample would have, incompatible runs are refused, the server's
 * counters are never counted twice, and shout merge exits as documented.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "report_fixture.h"

static void merge_of_two_runs_equals_one_run_of_all_samples(void **state)
{
    (void)state;
    struct run_result *a = new_result(), *b = new_result(), *whole = new_result();
    fill_result(a);
    fill_result(b);
    hist_init(&whole->latency);
    hist_init(&a->latency);
    hist_init(&b->latency);
    /* Uneven halves, different distributions. */
    struct prng rng = {42};
    for (int i = 0; i < 3000; i++) {
        uint64_t v = i % 3 ? 20000 + prng_below(&rng, 5000) : prng_below(&rng, 1000000);
        hist_record(i % 5 == 0 ? &a->latency : &b->latency, v);
        hist_record(&whole->latency, v);
    }
    b->elapsed_s = 12.5;
    b->client_cpu.user_s = 0.5;
    b->counts.sent = 1000;
    b->run_id = b->ids[0] = 0xb;
    /* Through the files, as shout merge does. */
    struct run_result *runs = calloc(2, sizeof *runs);
    assert_non_null(runs);
    assert_int_equal(report_write_json(a, test_path("a.json")), 0);
    assert_int_equal(report_write_json(b, test_path("b.json")), 0);
    assert_int_equal(report_read_json(test_path("a.json"), &runs[0]), 0);
    assert_int_equal(report_read_json(test_path("b.json"), &runs[1]), 0);

    struct run_result *merged = new_result();
    int server_from = 99;
    char why[256] = "";
    assert_int_equal(report_merge(runs, 2, merged, &server_from, why, sizeof why), 0);
    /* Buckets, count, min, max and sum add exactly; M2 merges by a formula that rounds. */
    const struct hist *m = &merged->latency, *w = &whole->latency;
    assert_memory_equal(m->buckets, w->buckets, sizeof w->buckets);
    assert_int_equal(m->count, w->count);
    assert_int_equal(m->min_ns, w->min_ns);
    assert_int_equal(m->max_ns, w->max_ns);
    assert_true(m->sum_ns == w->sum_ns);
    assert_true(fabs(m->m2_ns - w->m2_ns) <= 1e-9 * w->m2_ns);
    const double pcts[] = {0, 50, 90, 99, 99.9, 99.99, 100};
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
        assert_int_equal(hist_percentile(&merged->latency, pcts[i]),
                         hist_percentile(&whole->latency, pcts[i]));
    assert_true(hist_mean(&merged->latency) == hist_mean(&whole->latency));
    assert_true(fabs(hist_stdev(m) - hist_stdev(w)) <= 1e-9 * hist_stdev(w));
    assert_int_equal(merged->service.count, 2 * a->service.count);
    assert_int_equal(merged->counts.sent, 2011 + 1000);
    assert_int_equal(merged->counts.lost, 10);
    assert_int_equal(merged->counts.bytes_received, 2 * 160160);
    assert_true(merged->elapsed_s == 12.5);
    assert_true(merged->client_cpu.known);
    assert_true(merged->client_cpu.user_s == 2.0);
    assert_true(merged->client_cpu.system_s == 4.5);
    assert_int_equal(merged->config.connections, 8);
    assert_int_equal(merged->merged_from, 2);
    /* One server: its counters come from the longer run, not added up. */
    assert_int_equal(server_from, 1);
    assert_true(merged->server.known);
    assert_int_equal(merged->server.requests, 17);
    free(a);
    free(b);
    free(whole);
    free(merged);
    free(runs);
}

static void merge_refuses_incompatible_runs(void **state)
{
    (void)state;
    struct run_result *runs = calloc(2, sizeof *runs), *merged = new_result();
    assert_non_null(runs);
    for (int change = 0; change < 5; change++) {
        fill_result(&runs[0]);
        fill_result(&runs[1]);
        switch (change) {
        case 0:
            strcpy(runs[1].config.command, "ping");
            break;
        case 1:
            runs[1].config.udp = false;
            break;
        case 2:
            runs[1].config.framed = false;
            break;
        case 3:
            runs[1].config.size = 1024;
            break;
        default:
            runs[1].config.rate = 0; /* closed loop beside a paced run */
            break;
        }
        char why[256] = "";
        assert_int_equal(report_merge_check(&runs[0], &runs[1], why, sizeof why), -EINVAL);
        assert_true(strlen(why) > 0);
        int server_from;
        assert_int_equal(report_merge(runs, 2, merged, &server_from, why, sizeof why), -EINVAL);
    }
    free(runs);
    free(merged);
}

static void merge_has_no_server_counters_when_servers_differ(void **state)
{
    (void)state;
    struct run_result *runs = calloc(2, sizeof *runs), *merged = new_result();
    assert_non_null(runs);
    fill_result(&runs[0]);
    fill_result(&runs[1]);
    runs[1].config.port = 9999;
    int server_from = 7;
    char why[256];
    assert_int_equal(report_merge(runs, 2, merged, &server_from, why, sizeof why), 0);
    assert_int_equal(server_from, -1);
    assert_false(merged->server.known);
    assert_int_equal(merged->env.server_cpu, -1);
    free(runs);
    free(merged);
}

static void merge_main_exits_by_the_documented_statuses(void **state)
{
    (void)state;
    struct run_result *r = new_result(), *back = new_result();
    fill_result(r);
    assert_int_equal(report_write_json(r, test_path("a.json")), 0);
    char a[128], b[128], out[128], missing[128];
    snprintf(a, sizeof a, "%s", test_path("a.json"));
    snprintf(b, sizeof b, "%s", test_path("b.json"));
    snprintf(out, sizeof out, "%s", test_path("out.json"));
    snprintf(missing, sizeof missing, "%s", test_path("missing.json"));

    /* The same run twice: refused (its id repeats), before anything is written. */
    assert_int_equal(report_write_json(r, test_path("b.json")), 0);
    char *twice[] = {"merge", a, b};
    assert_int_equal(report_merge_main(3, twice), 2);
    r->run_id = r->ids[0] = 0xb;
    assert_int_equal(report_write_json(r, test_path("b.json")), 0);

    char *ok_args[] = {"merge", a, b, "--json", out};
    assert_int_equal(report_merge_main(5, ok_args), 0);
    assert_int_equal(report_read_json(out, back), 0);
    assert_int_equal(back->counts.sent, 2 * r->counts.sent);
    assert_int_equal(back->merged_from, 2);

    char *unreadable[] = {"merge", a, missing};
    assert_int_equal(report_merge_main(3, unreadable), 1);
    char *no_files[] = {"merge", "--json", out};
    assert_int_equal(report_merge_main(3, no_files), 2);
    char *bad_option[] = {"merge", "--frobnicate", a};
    assert_int_equal(report_merge_main(3, bad_option), 2);

    r->config.udp = false;
    assert_int_equal(report_write_json(r, test_path("b.json")), 0);
    char *incompatible[] = {"merge", a, b};
    assert_int_equal(report_merge_main(3, incompatible), 2);
    free(r);
    free(back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(merge_of_two_runs_equals_one_run_of_all_samples),
        cmocka_unit_test(merge_refuses_incompatible_runs),
        cmocka_unit_test(merge_has_no_server_counters_when_servers_differ),
        cmocka_unit_test(merge_main_exits_by_the_documented_statuses),
    };
    return cmocka_run_group_tests(tests, make_test_dir, remove_test_dir);
}
