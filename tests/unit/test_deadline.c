/* Unit tests for lib/deadline.c: which deadline a connection is under after a round. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "deadline.h"

static const struct deadline_timeouts all_on = {
    .frame_ms = 10000, .idle_ms = 60000, .write_ms = 30000};

static struct deadline_choice choose(const struct deadline_timeouts *t, enum deadline_kind now,
                                     struct deadline_round round)
{
    return deadline_choose(t, now, &round);
}

/* A new connection (under none yet) that has sent nothing is under the frame deadline. */
static void test_fresh_connection_is_under_the_frame_deadline(void **state)
{
    (void)state;
    struct deadline_choice c =
        choose(&all_on, DEADLINE_KINDS, (struct deadline_round){.mid_request = true});
    assert_int_equal(c.kind, DEADLINE_FRAME);
    assert_true(c.restart);
}

/* Slowloris: bytes keep coming but no request completes; the frame deadline keeps running. */
static void test_dribbled_bytes_do_not_restart_the_frame_deadline(void **state)
{
    (void)state;
    struct deadline_choice c = choose(
        &all_on, DEADLINE_FRAME, (struct deadline_round){.mid_request = true, .bytes_read = 1});
    assert_int_equal(c.kind, DEADLINE_FRAME);
    assert_false(c.restart);
    c = choose(&all_on, DEADLINE_FRAME,
               (struct deadline_round){
                   .mid_request = true, .request_done = true, .bytes_read = 40, .bytes_sent = 20});
    assert_int_equal(c.kind, DEADLINE_FRAME);
    assert_true(c.restart);
}

/* Queued replies outrank a partial request; only bytes the client takes restart it. */
static void test_full_socket_is_under_the_write_deadline(void **state)
{
    (void)state;
    struct deadline_choice c = choose(
        &all_on, DEADLINE_FRAME, (struct deadline_round){.want_write = true, .mid_request = true});
    assert_int_equal(c.kind, DEADLINE_WRITE);
    assert_true(c.restart);
    c = choose(&all_on, DEADLINE_WRITE,
               (struct deadline_round){.want_write = true, .bytes_read = 500});
    assert_int_equal(c.kind, DEADLINE_WRITE);
    assert_false(c.restart);
    c = choose(&all_on, DEADLINE_WRITE,
               (struct deadline_round){.want_write = true, .bytes_sent = 1});
    assert_true(c.restart);
}

/* Nothing in flight: idle, restarted by any byte either way. */
static void test_idle_restarts_on_any_byte(void **state)
{
    (void)state;
    struct deadline_choice c = choose(&all_on, DEADLINE_IDLE, (struct deadline_round){0});
    assert_int_equal(c.kind, DEADLINE_IDLE);
    assert_false(c.restart);
    c = choose(&all_on, DEADLINE_IDLE, (struct deadline_round){.bytes_sent = 3});
    assert_true(c.restart);
    c = choose(&all_on, DEADLINE_IDLE, (struct deadline_round){.bytes_read = 3});
    assert_true(c.restart);
}

/* A kind turned off gives way to idle, which still watches the connection. */
static void test_a_kind_turned_off_gives_way_to_idle(void **state)
{
    (void)state;
    struct deadline_timeouts no_frame = all_on, no_write = all_on;
    no_frame.frame_ms = 0;
    no_write.write_ms = 0;
    struct deadline_choice c =
        choose(&no_frame, DEADLINE_KINDS, (struct deadline_round){.mid_request = true});
    assert_int_equal(c.kind, DEADLINE_IDLE);
    c = choose(&no_write, DEADLINE_IDLE, (struct deadline_round){.want_write = true});
    assert_int_equal(c.kind, DEADLINE_IDLE);
    /* Without the write deadline, a partial request still falls under the frame one. */
    c = choose(&no_write, DEADLINE_IDLE,
               (struct deadline_round){.want_write = true, .mid_request = true});
    assert_int_equal(c.kind, DEADLINE_FRAME);
    assert_true(c.restart);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_connection_is_under_the_frame_deadline),
        cmocka_unit_test(test_dribbled_bytes_do_not_restart_the_frame_deadline),
        cmocka_unit_test(test_full_socket_is_under_the_write_deadline),
        cmocka_unit_test(test_idle_restarts_on_any_byte),
        cmocka_unit_test(test_a_kind_turned_off_gives_way_to_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
