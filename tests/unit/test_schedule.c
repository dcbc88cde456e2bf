/*
 * Unit tests for client/schedule.c: when `shout load` sends each request.
 * The expected times are worked out by hand from the formula in schedule.h,
 * t0 + (c + k * connections) / rate, in whole nanoseconds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "schedule.h"

#define T0  UINT64_C(5000000000) /* an arbitrary monotonic start, 5 s */
#define MS  UINT64_C(1000000)
#define SEC UINT64_C(1000000000)

/* 1000 requests/s over 4 connections, 1 s of warm-up, then 2 s measured. */
static struct schedule paced(void)
{
    return (struct schedule){.t0_ns = T0,
                             .measure_ns = T0 + SEC,
                             .end_ns = T0 + 3 * SEC,
                             .rate = 1000,
                             .connections = 4};
}

/* The run's requests interleave: one every 1 ms over all connections, each every 4 ms. */
static void test_paced_requests_are_spread_evenly_over_connections(void **state)
{
    (void)state;
    struct schedule s = paced();
    assert_int_equal(schedule_due_ns(&s, 0, 0), T0);
    assert_int_equal(schedule_due_ns(&s, 1, 0), T0 + 1 * MS);
    assert_int_equal(schedule_due_ns(&s, 3, 0), T0 + 3 * MS);
    assert_int_equal(schedule_due_ns(&s, 0, 1), T0 + 4 * MS);
    assert_int_equal(schedule_due_ns(&s, 2, 10), T0 + 42 * MS);
    /* A rate that does not divide a second: 3/s over one connection, request 1 at 333333333 ns. */
    s = (struct schedule){.t0_ns = 0, .end_ns = UINT64_MAX, .rate = 3, .connections = 1};
    assert_int_equal(schedule_due_ns(&s, 0, 1), UINT64_C(333333333));
    assert_int_equal(schedule_due_ns(&s, 0, 3), SEC);
}

/* Before its time a request waits, and the schedule says until when. */
static void test_paced_request_waits_until_due(void **state)
{
    (void)state;
    struct schedule s = paced();
    struct schedule_next next = schedule_next(&s, 1, 2, 0, T0 + 8 * MS);
    assert_int_equal(next.verdict, SCHEDULE_WAIT);
    assert_int_equal(next.due_ns, T0 + 9 * MS);
    next = schedule_next(&s, 1, 2, 0, T0 + 9 * MS);
    assert_int_equal(next.verdict, SCHEDULE_SEND);
    assert_int_equal(next.intended_ns, T0 + 9 * MS);
}

/*
 * Coordinated omission: after a 100 ms stall every request due during it is
 * sent at once, each stamped with its own intended time, not the time it
 * finally goes out, so each one's latency includes the stall.
 */
static void test_requests_due_during_a_stall_keep_their_intended_times(void **state)
{
    (void)state;
    struct schedule s = paced();
    uint64_t now = T0 + SEC + 100 * MS; /* connection 0 last sent request 250, at T0 + 1 s */
    uint64_t k = 251;
    uint32_t sent = 0;
    for (;; k++, sent++) {
        struct schedule_next next = schedule_next(&s, 0, k, 0, now);
        if (next.verdict != SCHEDULE_SEND)
            break;
        assert_int_equal(next.intended_ns, T0 + k * 4 * MS);
        assert_true(next.intended_ns < now || next.intended_ns == now);
        assert_true(next.measured);
    }
    /* Requests 251 to 275 were due at 1004 ms to 1100 ms: 25 of them. */
    assert_int_equal(sent, 25);
    assert_int_equal(schedule_next(&s, 0, k, 0, now).due_ns, T0 + 1104 * MS);
}

/* Requests due in the warm-up are not measured; the first one due at measure_ns is. */
static void test_warm_up_requests_are_not_measured(void **state)
{
    (void)state;
    struct schedule s = paced();
    assert_false(schedule_next(&s, 3, 249, 0, T0 + 2 * SEC).measured); /* 999 ms */
    assert_true(schedule_next(&s, 0, 250, 0, T0 + 2 * SEC).measured);  /* 1000 ms */
}

/* Duration mode: the last request is the last one due before the end; then nothing. */
static void test_duration_mode_ends_at_end_ns(void **state)
{
    (void)state;
    struct schedule s = paced();
    uint64_t late = T0 + 10 * SEC;
    assert_int_equal(schedule_next(&s, 3, 749, 0, late).verdict, SCHEDULE_SEND); /* 2999 ms */
    assert_int_equal(schedule_next(&s, 0, 750, 0, late).verdict, SCHEDULE_DONE); /* 3000 ms */
    assert_int_equal(schedule_next(&s, 2, 750, 0, late).verdict, SCHEDULE_DONE);
}

/* Closed loop: due whenever asked, intended 0 (flow.h: due when sent), until the end. */
static void test_closed_loop_is_due_now_until_the_end(void **state)
{
    (void)state;
    struct schedule s = paced();
    s.rate = 0;
    struct schedule_next next = schedule_next(&s, 2, 12345, 0, T0 + 500 * MS);
    assert_int_equal(next.verdict, SCHEDULE_SEND);
    assert_int_equal(next.intended_ns, 0);
    assert_int_equal(next.due_ns, T0 + 500 * MS);
    assert_false(next.measured);
    assert_true(schedule_next(&s, 2, 12346, 0, T0 + 1500 * MS).measured);
    assert_int_equal(schedule_next(&s, 2, 12347, 0, T0 + 3 * SEC).verdict, SCHEDULE_DONE);
}

/* Count mode: the quotas add up to the count, and a connection stops at its own. */
static void test_count_mode_splits_the_count_and_stops_at_the_quota(void **state)
{
    (void)state;
    struct schedule s = paced();
    s.count = 10;
    s.end_ns = UINT64_MAX;
    assert_int_equal(schedule_quota(&s, 0), 3);
    assert_int_equal(schedule_quota(&s, 1), 3);
    assert_int_equal(schedule_quota(&s, 2), 2);
    assert_int_equal(schedule_quota(&s, 3), 2);
    uint64_t late = T0 + 100 * SEC;
    assert_int_equal(schedule_next(&s, 0, 9999, 1, late).verdict, SCHEDULE_SEND);
    assert_int_equal(schedule_next(&s, 0, 9999, 0, late).verdict, SCHEDULE_DONE);
    /* A warm-up request is sent whatever the quota: it does not count against it. */
    assert_int_equal(schedule_next(&s, 0, 1, 0, late).verdict, SCHEDULE_SEND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paced_requests_are_spread_evenly_over_connections),
        cmocka_unit_test(test_paced_request_waits_until_due),
        cmocka_unit_test(test_requests_due_during_a_stall_keep_their_intended_times),
        cmocka_unit_test(test_warm_up_requests_are_not_measured),
        cmocka_unit_test(test_duration_mode_ends_at_end_ns),
        cmocka_unit_test(test_closed_loop_is_due_now_until_the_end),
        cmocka_unit_test(test_count_mode_splits_the_count_and_stops_at_the_quota),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
