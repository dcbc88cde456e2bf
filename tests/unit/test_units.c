/* Unit tests for lib/units.c: every suffix, every refusal, and format -> parse round trips. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "units.h"

#define S  1000000000ull
#define MS 1000000ull

static uint64_t duration(const char *text)
{
    uint64_t ns = 12345;
    assert_int_equal(units_parse_duration_ns(text, UINT64_MAX, &ns), 0);
    return ns;
}

static uint64_t size(const char *text)
{
    uint64_t bytes = 12345;
    assert_int_equal(units_parse_size(text, UINT64_MAX, &bytes), 0);
    return bytes;
}

static double rate(const char *text)
{
    double per_s = -1;
    assert_int_equal(units_parse_rate(text, 1e18, &per_s), 0);
    return per_s;
}

static void duration_without_suffix_is_seconds(void **state)
{
    (void)state;
    assert_true(duration("10") == 10 * S);
    assert_true(duration("1.5") == 1500 * MS);
    assert_true(duration("0") == 0);
    assert_true(duration("0.000000001") == 1);
}

static void duration_suffixes_scale(void **state)
{
    (void)state;
    assert_true(duration("10s") == 10 * S);
    assert_true(duration("500ms") == 500 * MS);
    assert_true(duration("250us") == 250000);
    assert_true(duration("100ns") == 100);
    assert_true(duration("2m") == 120 * S);
    assert_true(duration("1.5m") == 90 * S);
    assert_true(duration("1h") == 3600 * S);
    assert_true(duration("0.5ms") == 500000);
}

static void duration_rejects_what_is_not_a_plain_number(void **state)
{
    (void)state;
    static const char *bad[] = {"",     "s",    "-1",    "+1",   " 1",  "1 ",   "1e3",
                                "0x10", "inf",  "nan",   "1.",   ".5",  "1..5", "10S",
                                "10x",  "1sec", "1.5ns", "1mss", "10d", "1,5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t ns = 7;
        assert_int_equal(units_parse_duration_ns(bad[i], UINT64_MAX, &ns), -EINVAL);
        assert_true(ns == 7);
    }
}

static void duration_over_max_is_a_range_error(void **state)
{
    (void)state;
    uint64_t ns = 7;
    assert_int_equal(units_parse_duration_ns("11s", 10 * S, &ns), -ERANGE);
    assert_int_equal(units_parse_duration_ns("10s", 10 * S, &ns), 0);
    assert_true(ns == 10 * S);
    ns = 7;
    assert_int_equal(units_parse_duration_ns("99999999999999999999", UINT64_MAX, &ns), -ERANGE);
    assert_int_equal(units_parse_duration_ns("18446744073s", UINT64_MAX, &ns), 0);
    assert_int_equal(units_parse_duration_ns("18446744074s", UINT64_MAX, &ns), -ERANGE);
    assert_int_equal(units_parse_duration_ns("999999999999999h", UINT64_MAX, &ns), -ERANGE);
}

static void duration_takes_at_most_nine_decimals(void **state)
{
    (void)state;
    assert_true(duration("1.0000000010") == S + 1);
    uint64_t ns;
    assert_int_equal(units_parse_duration_ns("1.0000000001", UINT64_MAX, &ns), -EINVAL);
    /*
     * A digit after zeros past the ninth decimal is still too precise: the
     * check once looked only at the tenth, and the scale overflowed to 0 (a
     * division by zero fuzz_options found through --max-frame).
     */
    assert_int_equal(units_parse_duration_ns("0.44444444000000000000000000001", UINT64_MAX, &ns),
                     -EINVAL);
    assert_true(duration("0.5000000000000000000000000") == S / 2);
}

static void size_suffixes_are_binary_and_case_blind(void **state)
{
    (void)state;
    assert_true(size("64") == 64);
    assert_true(size("64B") == 64);
    assert_true(size("1k") == 1024);
    assert_true(size("1K") == 1024);
    assert_true(size("1Ki") == 1024);
    assert_true(size("1KiB") == 1024);
    assert_true(size("1KB") == 1024);
    assert_true(size("4M") == 4u << 20);
    assert_true(size("1m") == 1u << 20);
    assert_true(size("2G") == 2ull << 30);
    assert_true(size("1T") == 1ull << 40);
    assert_true(size("1.5K") == 1536);
    assert_true(size("0.5M") == 512 * 1024);
}

static void size_rejects_fractions_of_a_byte_and_junk(void **state)
{
    (void)state;
    static const char *bad[] = {"",   "K",   "0.1K", "1.5", "-1",  "1 K", "1KK", "1Kib",
                                "1b", "1iB", "1P",   "1e3", "0x1", " 1",  "1.K", "1KiBB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t bytes = 7;
        assert_int_equal(units_parse_size(bad[i], UINT64_MAX, &bytes), -EINVAL);
        assert_true(bytes == 7);
    }
}

static void size_over_max_is_a_range_error(void **state)
{
    (void)state;
    uint64_t bytes = 7;
    assert_int_equal(units_parse_size("256M", 256u << 20, &bytes), 0);
    assert_true(bytes == 256u << 20);
    bytes = 7;
    assert_int_equal(units_parse_size("257M", 256u << 20, &bytes), -ERANGE);
    assert_int_equal(units_parse_size("16777216T", UINT64_MAX, &bytes), -ERANGE);
    assert_true(bytes == 7);
}

static void rate_suffixes_are_decimal(void **state)
{
    (void)state;
    assert_true(rate("10") == 10);
    assert_true(rate("10k") == 10000);
    assert_true(rate("10K") == 10000);
    assert_true(rate("1.5M") == 1500000);
    assert_true(rate("2G") == 2e9);
    assert_true(rate("0.5") == 0.5);
}

static void rate_rejects_milli_and_junk(void **state)
{
    (void)state;
    static const char *bad[] = {"", "1m", "-1", "1e3", "inf", "nan", "1 k", "1kk", "1/s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double per_s = 7;
        assert_int_equal(units_parse_rate(bad[i], 1e18, &per_s), -EINVAL);
        assert_true(per_s == 7);
    }
    double per_s = 7;
    assert_int_equal(units_parse_rate("101", 100, &per_s), -ERANGE);
    assert_true(per_s == 7);
}

static void format_duration_is_short_and_reads_back(void **state)
{
    (void)state;
    static const struct {
        uint64_t ns;
        const char *text;
    } cases[] = {
        {0, "0"},
        {1, "1ns"},
        {1500, "1.5us"},
        {500 * MS, "500ms"},
        {S, "1s"},
        {1500 * MS, "1.5s"},
        {90 * S, "90s"},
        {120 * S, "2m"},
        {7200 * S, "2h"},
        {S + 1, "1.000000001s"},
        {UINT64_MAX, "18446744073.709551615s"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[UNITS_TEXT_MAX];
        units_format_duration(cases[i].ns, text, sizeof text);
        assert_string_equal(text, cases[i].text);
        assert_true(duration(text) == cases[i].ns);
    }
}

static void format_size_uses_the_largest_exact_unit(void **state)
{
    (void)state;
    static const struct {
        uint64_t bytes;
        const char *text;
    } cases[] = {
        {0, "0"},
        {64, "64"},
        {1536, "1536"},
        {1024, "1K"},
        {4u << 20, "4M"},
        {3ull << 30, "3G"},
        {5ull << 40, "5T"},
        {1ull << 50, "1024T"},
        {UINT64_MAX, "18446744073709551615"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[UNITS_TEXT_MAX];
        units_format_size(cases[i].bytes, text, sizeof text);
        assert_string_equal(text, cases[i].text);
        assert_true(size(text) == cases[i].bytes);
    }
}

static void format_rate_is_decimal_with_four_digits(void **state)
{
    (void)state;
    static const struct {
        double per_s;
        const char *text;
    } cases[] = {
        {0, "0"},        {950, "950"},        {999.96, "1k"},        {10000, "10k"},
        {1.5e6, "1.5M"}, {2.345e9, "2.345G"}, {1.23456e6, "1.235M"}, {5e13, "50000G"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[UNITS_TEXT_MAX];
        units_format_rate(cases[i].per_s, text, sizeof text);
        assert_string_equal(text, cases[i].text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(duration_without_suffix_is_seconds),
        cmocka_unit_test(duration_suffixes_scale),
        cmocka_unit_test(duration_rejects_what_is_not_a_plain_number),
        cmocka_unit_test(duration_over_max_is_a_range_error),
        cmocka_unit_test(duration_takes_at_most_nine_decimals),
        cmocka_unit_test(size_suffixes_are_binary_and_case_blind),
        cmocka_unit_test(size_rejects_fractions_of_a_byte_and_junk),
        cmocka_unit_test(size_over_max_is_a_range_error),
        cmocka_unit_test(rate_suffixes_are_decimal),
        cmocka_unit_test(rate_rejects_milli_and_junk),
        cmocka_unit_test(format_duration_is_short_and_reads_back),
        cmocka_unit_test(format_size_uses_the_largest_exact_unit),
        cmocka_unit_test(format_rate_is_decimal_with_four_digits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
