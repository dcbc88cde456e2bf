/* Unit tests for lib/udp_pace.c: single reads for ping-pong, batches once a queue is seen. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "udp_pace.h"

#define BATCH 64

/* Reads as shoutd does them: ask what the pace says, then tell it what came. */
static unsigned read_once(struct udp_pace *pace, unsigned waiting)
{
    unsigned asked = udp_pace_next(pace, BATCH);
    unsigned got = waiting < asked ? waiting : asked;
    udp_pace_saw(pace, asked, got);
    return asked;
}

static void test_fresh_socket_reads_one(void **state)
{
    (void)state;
    struct udp_pace pace;
    udp_pace_init(&pace);
    assert_int_equal(udp_pace_next(&pace, BATCH), 1);
}

/* Ping-pong: one datagram per read; exactly one batch read in every UDP_PACE_PROBE_EVERY. */
static void test_ping_pong_probes_once_per_period(void **state)
{
    (void)state;
    struct udp_pace pace;
    udp_pace_init(&pace);
    unsigned batches = 0, reads = 10 * UDP_PACE_PROBE_EVERY;
    for (unsigned i = 0; i < reads; i++)
        batches += read_once(&pace, 1) == BATCH;
    assert_int_equal(batches, reads / UDP_PACE_PROBE_EVERY);
    assert_false(pace.batching);
}

/* A queue behind single reads is found by the next probe, within UDP_PACE_PROBE_EVERY reads. */
static void test_queue_is_found_within_a_period(void **state)
{
    (void)state;
    struct udp_pace pace;
    udp_pace_init(&pace);
    unsigned reads = 0;
    while (read_once(&pace, 1000) == 1)
        reads++;
    assert_true(reads < UDP_PACE_PROBE_EVERY);
    assert_true(pace.batching);
    assert_int_equal(udp_pace_next(&pace, BATCH), BATCH);
}

/* Batching holds while batches find a queue, and ends at the first that finds one or none. */
static void test_batching_ends_when_the_queue_does(void **state)
{
    (void)state;
    struct udp_pace pace = {.batching = true, .singles = 0};
    for (int i = 0; i < 100; i++)
        assert_int_equal(read_once(&pace, 2), BATCH);
    assert_int_equal(read_once(&pace, 1), BATCH);
    assert_false(pace.batching);
    assert_int_equal(udp_pace_next(&pace, BATCH), 1);

    pace = (struct udp_pace){.batching = true, .singles = 0};
    read_once(&pace, 0);
    assert_false(pace.batching);
}

/* A single read that finds nothing (a spurious wake-up) does not bring the probe closer. */
static void test_empty_single_read_is_not_counted(void **state)
{
    (void)state;
    struct udp_pace pace;
    udp_pace_init(&pace);
    for (int i = 0; i < 10 * UDP_PACE_PROBE_EVERY; i++)
        assert_int_equal(read_once(&pace, 0), 1);
    assert_int_equal(pace.singles, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_socket_reads_one),
        cmocka_unit_test(test_ping_pong_probes_once_per_period),
        cmocka_unit_test(test_queue_is_found_within_a_period),
        cmocka_unit_test(test_batching_ends_when_the_queue_does),
        cmocka_unit_test(test_empty_single_read_is_not_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
