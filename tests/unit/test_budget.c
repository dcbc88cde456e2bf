/* Unit tests for lib/budget.c: the memory budget's verdicts, size classes, defaults and trims. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "budget.h"

#define MIB (1024u * 1024)

static const struct budget_limits limits = {.max_total = 64 * MIB, .max_per_source = 16 * MIB};

static void judge_is_ok_at_the_limits_and_over_past_them(void **state)
{
    (void)state;
    assert_int_equal(budget_judge(&limits, 0, 0, BUDGET_OK), BUDGET_OK);
    assert_int_equal(budget_judge(&limits, 64 * MIB, 16 * MIB, BUDGET_OK), BUDGET_OK);
    assert_int_equal(budget_judge(&limits, 64 * MIB + 1, 0, BUDGET_OK), BUDGET_OVER_TOTAL);
    assert_int_equal(budget_judge(&limits, 20 * MIB, 16 * MIB + 1, BUDGET_OK), BUDGET_OVER_SOURCE);
}

static void judge_puts_the_total_before_the_source(void **state)
{
    (void)state;
    assert_int_equal(budget_judge(&limits, 64 * MIB + 1, 64 * MIB + 1, BUDGET_OK),
                     BUDGET_OVER_TOTAL);
}

static void judge_sheds_down_to_the_low_water_mark_once_started(void **state)
{
    (void)state;
    size_t low = budget_low_water(64 * MIB);
    assert_int_equal(low, 56 * MIB);
    /* Under the limit, over the low-water mark: shed only if already shedding for it. */
    assert_int_equal(budget_judge(&limits, low + 1, 0, BUDGET_OK), BUDGET_OK);
    assert_int_equal(budget_judge(&limits, low + 1, 0, BUDGET_OVER_TOTAL), BUDGET_OVER_TOTAL);
    assert_int_equal(budget_judge(&limits, low, 0, BUDGET_OVER_TOTAL), BUDGET_OK);
    size_t source_low = budget_low_water(16 * MIB);
    assert_int_equal(budget_judge(&limits, 0, source_low + 1, BUDGET_OVER_SOURCE),
                     BUDGET_OVER_SOURCE);
    assert_int_equal(budget_judge(&limits, 0, source_low, BUDGET_OVER_SOURCE), BUDGET_OK);
    /* Shedding for one limit does not lower the other's. */
    assert_int_equal(budget_judge(&limits, low + 1, 0, BUDGET_OVER_SOURCE), BUDGET_OK);
    assert_int_equal(budget_judge(&limits, 0, source_low + 1, BUDGET_OVER_TOTAL), BUDGET_OK);
}

static void judge_without_a_per_source_share_looks_at_the_total_only(void **state)
{
    (void)state;
    const struct budget_limits no_share = {.max_total = 64 * MIB, .max_per_source = 0};
    assert_int_equal(budget_judge(&no_share, 64 * MIB, 64 * MIB, BUDGET_OK), BUDGET_OK);
    assert_int_equal(budget_judge(&no_share, 1, SIZE_MAX, BUDGET_OVER_SOURCE), BUDGET_OK);
}

static void size_class_is_the_bit_width_so_a_class_spans_a_factor_of_two(void **state)
{
    (void)state;
    assert_int_equal(budget_size_class(0), 0);
    assert_int_equal(budget_size_class(1), 1);
    assert_int_equal(budget_size_class(2), 2);
    assert_int_equal(budget_size_class(3), 2);
    assert_int_equal(budget_size_class(4), 3);
    assert_int_equal(budget_size_class(MIB - 1), 20);
    assert_int_equal(budget_size_class(MIB), 21);
    assert_int_equal(budget_size_class(SIZE_MAX), BUDGET_SIZE_CLASSES - 1);
    for (size_t held = 1; held < 100000; held = held * 3 + 1)
        assert_true(budget_size_class(held) <= budget_size_class(held + 1));
}

static void cgroup_path_is_the_v2_line_among_v1_ones(void **state)
{
    (void)state;
    char path[64];
    assert_int_equal(budget_cgroup_path("0::/system.slice/shoutd.service\n", path, sizeof path), 0);
    assert_string_equal(path, "/system.slice/shoutd.service");
    const char *hybrid = "9:name=systemd:/\n4:memory:/x/y\n1:cpu:/\n0::/\n";
    assert_int_equal(budget_cgroup_path(hybrid, path, sizeof path), 0);
    assert_string_equal(path, "/");
    /* The last line need not end in a newline. */
    assert_int_equal(budget_cgroup_path("1:cpu:/\n0::/a", path, sizeof path), 0);
    assert_string_equal(path, "/a");
}

static void cgroup_path_is_missing_without_a_v2_line_and_refused_when_too_long(void **state)
{
    (void)state;
    char path[8];
    assert_int_equal(budget_cgroup_path("4:memory:/x\n1:cpu:/\n", path, sizeof path), -ENOENT);
    assert_int_equal(budget_cgroup_path("", path, sizeof path), -ENOENT);
    assert_int_equal(budget_cgroup_path("10::/not-v2\n", path, sizeof path), -ENOENT);
    assert_int_equal(budget_cgroup_path("0::/much/too/long\n", path, sizeof path), -ENAMETOOLONG);
}

static void memory_max_is_a_number_or_max(void **state)
{
    (void)state;
    uint64_t bytes = 1;
    assert_int_equal(budget_parse_memory_max("536870912\n", &bytes), 0);
    assert_int_equal(bytes, 536870912u);
    assert_int_equal(budget_parse_memory_max("0", &bytes), 0);
    assert_int_equal(bytes, 0);
    assert_int_equal(budget_parse_memory_max("max\n", &bytes), -ENOENT);
    assert_int_equal(budget_parse_memory_max("max", &bytes), -ENOENT);
    assert_int_equal(budget_parse_memory_max("", &bytes), -EINVAL);
    assert_int_equal(budget_parse_memory_max("-1\n", &bytes), -EINVAL);
    assert_int_equal(budget_parse_memory_max("12k\n", &bytes), -EINVAL);
    assert_int_equal(budget_parse_memory_max("99999999999999999999999\n", &bytes), -EINVAL);
}

static void default_is_half_the_cgroup_then_a_quarter_of_memory_then_fixed(void **state)
{
    (void)state;
    enum budget_origin origin;
    assert_int_equal(budget_default(512 * MIB, 8192ull * MIB, &origin), 256 * MIB);
    assert_int_equal(origin, BUDGET_FROM_CGROUP);
    assert_int_equal(budget_default(0, 8192ull * MIB, &origin), 2048ull * MIB);
    assert_int_equal(origin, BUDGET_FROM_PHYSICAL);
    assert_int_equal(budget_default(0, 0, &origin), BUDGET_FALLBACK_BYTES);
    assert_int_equal(origin, BUDGET_FROM_FIXED);
    /* A limit too small to halve is no limit to derive from: never a budget of 0. */
    assert_int_equal(budget_default(1, 0, &origin), BUDGET_FALLBACK_BYTES);
    assert_int_equal(budget_default_per_source(64 * MIB), 16 * MIB);
}

static void trim_waits_for_a_large_release(void **state)
{
    (void)state;
    struct budget_trim trim = {0};
    uint64_t retry;
    assert_false(budget_trim_due(&trim, 100 * MIB, 5000, &retry));
    assert_int_equal(retry, UINT64_MAX);
    /* A release smaller than the minimum is not worth a trim. */
    assert_false(budget_trim_due(&trim, 100 * MIB - BUDGET_TRIM_MIN_RELEASE + 1, 5001, &retry));
    assert_int_equal(retry, UINT64_MAX);
    assert_true(budget_trim_due(&trim, 100 * MIB - BUDGET_TRIM_MIN_RELEASE, 5002, &retry));
    /* Done: the peak starts again from what is held now. */
    assert_false(budget_trim_due(&trim, 100 * MIB - BUDGET_TRIM_MIN_RELEASE, 9000, &retry));
}

static void trim_runs_at_most_once_per_interval_and_says_when_next(void **state)
{
    (void)state;
    struct budget_trim trim = {0};
    uint64_t retry;
    assert_false(budget_trim_due(&trim, 64 * MIB, 1000, &retry));
    assert_true(budget_trim_due(&trim, 0, 1000, &retry));
    /* Grown and released again at once: due, but not before the interval is over. */
    assert_false(budget_trim_due(&trim, 64 * MIB, 1001, &retry));
    assert_false(budget_trim_due(&trim, 0, 1002, &retry));
    assert_int_equal(retry, 1000 + BUDGET_TRIM_INTERVAL_MS);
    assert_false(budget_trim_due(&trim, 0, 1000 + BUDGET_TRIM_INTERVAL_MS - 1, &retry));
    assert_true(budget_trim_due(&trim, 0, 1000 + BUDGET_TRIM_INTERVAL_MS, &retry));
    /* A churn of a thousand releases in one interval costs one trim. */
    int trims = 0;
    for (uint64_t ms = 5000; ms < 5000 + BUDGET_TRIM_INTERVAL_MS; ms++) {
        trims += budget_trim_due(&trim, 64 * MIB, ms, &retry);
        trims += budget_trim_due(&trim, 0, ms, &retry);
    }
    assert_int_equal(trims, 1);
}

static void trim_at_clock_zero_still_starts_the_interval(void **state)
{
    (void)state;
    struct budget_trim trim = {0};
    uint64_t retry;
    assert_false(budget_trim_due(&trim, 64 * MIB, 0, &retry));
    assert_true(budget_trim_due(&trim, 0, 0, &retry));
    assert_false(budget_trim_due(&trim, 64 * MIB, 0, &retry));
    assert_false(budget_trim_due(&trim, 0, 0, &retry));
    assert_int_equal(retry, 1 + BUDGET_TRIM_INTERVAL_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(judge_is_ok_at_the_limits_and_over_past_them),
        cmocka_unit_test(judge_puts_the_total_before_the_source),
        cmocka_unit_test(judge_sheds_down_to_the_low_water_mark_once_started),
        cmocka_unit_test(judge_without_a_per_source_share_looks_at_the_total_only),
        cmocka_unit_test(size_class_is_the_bit_width_so_a_class_spans_a_factor_of_two),
        cmocka_unit_test(cgroup_path_is_the_v2_line_among_v1_ones),
        cmocka_unit_test(cgroup_path_is_missing_without_a_v2_line_and_refused_when_too_long),
        cmocka_unit_test(memory_max_is_a_number_or_max),
        cmocka_unit_test(default_is_half_the_cgroup_then_a_quarter_of_memory_then_fixed),
        cmocka_unit_test(trim_waits_for_a_large_release),
        cmocka_unit_test(trim_runs_at_most_once_per_interval_and_says_when_next),
        cmocka_unit_test(trim_at_clock_zero_still_starts_the_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
