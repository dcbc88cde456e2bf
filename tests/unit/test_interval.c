/*
 * Unit tests for client/interval.h: each entry covers its own interval only
 * (deltas, not totals since the start), the boundaries move on past an
 * overrun, and the lines end in newlines and say the full elapsed time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "interval.h"

#define NS_PER_S UINT64_C(1000000000)

static void close_reports_the_interval_not_the_totals(void **state)
{
    (void)state;
    struct interval_clock c;
    struct hist h;
    interval_start(&c, 5 * NS_PER_S, 1.0);
    hist_init(&h);
    hist_record(&h, 20000);
    struct run_interval first = interval_close(&c, 6 * NS_PER_S, 1000, 2, 1, &h);
    assert_int_equal(first.replies, 1000);
    assert_true(first.replies_per_s > 999.9 && first.replies_per_s < 1000.1);
    assert_true(first.t_s > 0.999 && first.t_s < 1.001);
    assert_true(first.p50_us > 19.9 && first.p50_us < 20.1);
    hist_init(&h);
    hist_record(&h, 40000);
    struct run_interval second = interval_close(&c, 7 * NS_PER_S, 1500, 2, 4, &h);
    assert_int_equal(second.replies, 500);
    assert_true(second.replies_per_s > 499.9 && second.replies_per_s < 500.1);
    assert_int_equal(second.lost, 0);
    assert_int_equal(second.errors, 3);
    assert_true(second.p99_us > 39.8 && second.p99_us < 40.2);
    assert_true(second.t_s > 1.999 && second.t_s < 2.001);
}

static void an_interval_without_replies_has_no_latency(void **state)
{
    (void)state;
    struct interval_clock c;
    struct hist h;
    interval_start(&c, 0, 0.5);
    hist_init(&h);
    struct run_interval e = interval_close(&c, NS_PER_S / 2, 0, 3, 0, &h);
    assert_true(e.p50_us < 0);
    assert_true(e.p99_us < 0);
    assert_int_equal(e.lost, 3);
    assert_true(e.replies_per_s == 0);
}

static void an_overrun_moves_the_next_boundary_past_now(void **state)
{
    (void)state;
    struct interval_clock c;
    struct hist h;
    hist_init(&h);
    interval_start(&c, 0, 1.0);
    assert_false(interval_due(&c, NS_PER_S - 1));
    assert_true(interval_due(&c, NS_PER_S));
    /* A loop that stalled for 3.5 s closes one long interval, not three empty ones. */
    struct run_interval e = interval_close(&c, 7 * NS_PER_S / 2, 350, 0, 0, &h);
    assert_true(e.span_s > 3.49 && e.span_s < 3.51);
    assert_int_equal(c.next_ns, 4 * NS_PER_S);
    assert_false(interval_due(&c, 4 * NS_PER_S - 1));
}

static void keep_stops_at_the_cap(void **state)
{
    (void)state;
    struct run_result *r = calloc(1, sizeof *r);
    assert_non_null(r);
    struct run_interval e = {.replies = 1};
    for (int i = 0; i < RESULT_MAX_INTERVALS + 5; i++)
        interval_keep(r, &e);
    assert_int_equal(r->interval_count, RESULT_MAX_INTERVALS);
    free(r);
}

static void lines_end_in_newlines_and_say_the_full_length(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    struct run_interval e = {
        .t_s = 9.9996, .replies_per_s = 4115, .p50_us = 31, .p99_us = 45.5, .lost = 2, .errors = 1};
    interval_print_warmup(out, 1.0);
    interval_print_head(out);
    interval_print(out, 9.0, &e);
    fclose(out);
    assert_null(strchr(text, '\r'));
    assert_int_equal(text[len - 1], '\n');
    assert_non_null(strstr(text, "warming up for 1.0s"));
    assert_non_null(strstr(text, "replies/s"));
    assert_non_null(strstr(text, "9.00-10.00s"));
    assert_non_null(strstr(text, "4115"));
    assert_non_null(strstr(text, "31.0us"));
    assert_non_null(strstr(text, "45.5us"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(close_reports_the_interval_not_the_totals),
        cmocka_unit_test(an_interval_without_replies_has_no_latency),
        cmocka_unit_test(an_overrun_moves_the_next_boundary_past_now),
        cmocka_unit_test(keep_stops_at_the_cap),
        cmocka_unit_test(lines_end_in_newlines_and_say_the_full_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
