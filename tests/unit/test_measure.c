/*
 * Unit tests for client/measure.c's verdicts: when a run measured its own
 * client rather than the server (measure_client_bound).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>

#include "measure.h"

static void a_saturated_client_beside_an_idle_server_is_client_bound(void **state)
{
    (void)state;
    assert_true(measure_client_bound(0.99, 0.45));
    assert_true(measure_client_bound(1.0, 0.0));
    assert_true(measure_client_bound(MEASURE_BOUND_SHARE + 0.001, MEASURE_BOUND_SHARE - 0.001));
}

static void a_saturated_server_is_what_was_measured(void **state)
{
    (void)state;
    /* Both ends at their limit: the server is (also) saturated, so the figure is its. */
    assert_false(measure_client_bound(0.99, 0.97));
    assert_false(measure_client_bound(0.99, MEASURE_BOUND_SHARE));
}

static void a_client_with_room_is_not_client_bound(void **state)
{
    (void)state;
    assert_false(measure_client_bound(0.5, 0.2));
    assert_false(measure_client_bound(MEASURE_BOUND_SHARE, 0.1));
    assert_false(measure_client_bound(0.0, 0.0));
}

static void nothing_is_claimed_when_a_share_is_unknown(void **state)
{
    (void)state;
    /* No stats port (server unknown), or no thread time: no verdict either way. */
    assert_false(measure_client_bound(0.99, -1));
    assert_false(measure_client_bound(-1, 0.1));
    assert_false(measure_client_bound(-1, -1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_saturated_client_beside_an_idle_server_is_client_bound),
        cmocka_unit_test(a_saturated_server_is_what_was_measured),
        cmocka_unit_test(a_client_with_room_is_not_client_bound),
        cmocka_unit_test(nothing_is_claimed_when_a_share_is_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
