/* Unit tests for server/droplog.c: at most one line per reason per interval, with counts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "droplog.h"

static void first_drop_of_a_reason_is_told_at_once(void **state)
{
    (void)state;
    struct droplog log = {0};
    uint64_t totals[DROPLOG_REASONS] = {0};
    struct droplog_line lines[DROPLOG_REASONS];
    size_t n;
    assert_int_equal(droplog_check(&log, totals, 5000, lines, &n), UINT64_MAX);
    assert_int_equal(n, 0);
    totals[DROPLOG_UDP_RATE] = 3;
    assert_int_equal(droplog_check(&log, totals, 5000, lines, &n), UINT64_MAX);
    assert_int_equal(n, 1);
    assert_int_equal(lines[0].reason, DROPLOG_UDP_RATE);
    assert_int_equal(lines[0].count, 3);
    assert_int_equal(lines[0].total, 3);
}

/* A flood: one line a second, the held-back counts carried into it, and a wake-up for the last. */
static void a_flood_is_told_once_a_second_with_every_count(void **state)
{
    (void)state;
    struct droplog log = {0};
    uint64_t totals[DROPLOG_REASONS] = {0};
    struct droplog_line lines[DROPLOG_REASONS];
    size_t n, lines_written = 0;
    uint64_t counted = 0, wake = UINT64_MAX;
    for (uint64_t ms = 1000; ms < 4000; ms++) {
        totals[DROPLOG_TCP_PER_IP] += 7;
        wake = droplog_check(&log, totals, ms, lines, &n);
        for (size_t i = 0; i < n; i++)
            counted += lines[i].count;
        lines_written += n;
    }
    assert_int_equal(lines_written, 3);
    assert_true(wake != UINT64_MAX && wake <= 4000 + DROPLOG_INTERVAL_MS);
    wake = droplog_check(&log, totals, wake, lines, &n);
    assert_int_equal(n, 1);
    counted += lines[0].count;
    assert_int_equal(counted, totals[DROPLOG_TCP_PER_IP]);
    assert_int_equal(lines[0].total, totals[DROPLOG_TCP_PER_IP]);
    assert_int_equal(wake, UINT64_MAX);
}

/* Each reason has its own interval: a busy one does not hold a quiet one back. */
static void reasons_are_limited_apart(void **state)
{
    (void)state;
    struct droplog log = {0};
    uint64_t totals[DROPLOG_REASONS] = {0};
    struct droplog_line lines[DROPLOG_REASONS];
    size_t n;
    totals[DROPLOG_UDP_RATE] = 1;
    droplog_check(&log, totals, 100, lines, &n);
    totals[DROPLOG_UDP_RATE] = 2;
    totals[DROPLOG_TIMEOUT_FRAME] = 1;
    uint64_t wake = droplog_check(&log, totals, 200, lines, &n);
    assert_int_equal(n, 1);
    assert_int_equal(lines[0].reason, DROPLOG_TIMEOUT_FRAME);
    assert_int_equal(wake, 100 + DROPLOG_INTERVAL_MS);
    for (int r = 0; r < DROPLOG_REASONS; r++)
        assert_non_null(droplog_what((enum droplog_reason)r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_drop_of_a_reason_is_told_at_once),
        cmocka_unit_test(a_flood_is_told_once_a_second_with_every_count),
        cmocka_unit_test(reasons_are_limited_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
