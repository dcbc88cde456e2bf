/* Unit tests for server/stats.c's stats_format: the stats port's answer, from counters alone. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "stats.h"

/* Every counter at its widest still fits STATS_JSON_MAX, as one JSON object and a newline. */
static void widest_counters_fit_and_stay_json(void **state)
{
    (void)state;
    struct stats_counters c;
    memset(&c, 0xFF, sizeof c);
    struct stats_process process = {
        .pid = 2147483647,
        .uptime_s = 1e12,
        .cpu = 1 << 20,
        .pinned_cpu = -1,
        .user_s = 1e12,
        .system_s = 1e12,
    };
    char out[STATS_JSON_MAX];
    size_t len = stats_format(&c, &process, out, sizeof out);
    assert_true(len > 0 && len < sizeof out);
    assert_int_equal(out[len - 1], '\n');
    assert_null(memchr(out, '\n', len - 1));
    /* jansson reads integers as int64: it refuses 2^64 - 1, but the text must still be JSON. */
    json_error_t error;
    json_t *root = json_loadb(out, len, JSON_DECODE_INT_AS_REAL, &error);
    assert_non_null(root);
    assert_true(json_is_object(json_object_get(root, "tcp")));
    assert_true(json_is_object(json_object_get(root, "errors")));
    json_decref(root);
    assert_non_null(strstr(out, "\"requests\":18446744073709551615"));
}

/* Too small a buffer gives 0, never a cut answer; the answer needs one byte more, for a NUL. */
static void a_short_buffer_gives_nothing(void **state)
{
    (void)state;
    struct stats_counters c = {0};
    struct stats_process process = {.pid = 1, .cpu = -1, .pinned_cpu = -1};
    char out[STATS_JSON_MAX];
    size_t len = stats_format(&c, &process, out, sizeof out);
    assert_true(len > 0);
    assert_int_equal(stats_format(&c, &process, out, len), 0);
    assert_int_equal(stats_format(&c, &process, out, len + 1), len);
    assert_int_equal(out[len], '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(widest_counters_fit_and_stay_json),
        cmocka_unit_test(a_short_buffer_gives_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
