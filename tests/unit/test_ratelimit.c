/* Unit tests for lib/ratelimit.c: token buckets on a fake clock, exact counts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "ratelimit.h"

#define MS     1000000u
#define SECOND 1000000000u
#define SLOTS  64
/* Any start: the buckets only look at differences. */
#define T0 (5 * (uint64_t)SECOND)

static struct ratelimit_key key_of(uint32_t n)
{
    struct ratelimit_key key = {{0}};
    key.bytes[10] = 0xff;
    key.bytes[11] = 0xff;
    memcpy(key.bytes + 12, &n, sizeof n);
    return key;
}

/* How many of `tries` takes at now_ns the source is allowed. */
static unsigned allowed(struct ratelimit_table *table, uint32_t source, unsigned tries,
                        uint64_t now_ns)
{
    struct ratelimit_key key = key_of(source);
    unsigned count = 0;
    for (unsigned i = 0; i < tries; i++)
        count += ratelimit_allow(table, &key, now_ns);
    return count;
}

static void bucket_gives_its_burst_then_refills_at_the_rate(void **state)
{
    (void)state;
    struct ratelimit_bucket bucket;
    ratelimit_bucket_init(&bucket, 100, T0);
    unsigned count = 0;
    for (int i = 0; i < 1000; i++)
        count += ratelimit_bucket_take(&bucket, 50, 100, T0);
    assert_int_equal(count, 100);
    /* 50/s: one token per 20 ms, none before. */
    assert_false(ratelimit_bucket_take(&bucket, 50, 100, T0 + 19 * MS));
    assert_true(ratelimit_bucket_take(&bucket, 50, 100, T0 + 20 * MS));
    assert_false(ratelimit_bucket_take(&bucket, 50, 100, T0 + 20 * MS));
    /* A second later: 50 more, exactly. */
    count = 0;
    for (int i = 0; i < 1000; i++)
        count += ratelimit_bucket_take(&bucket, 50, 100, T0 + 20 * MS + SECOND);
    assert_int_equal(count, 50);
}

static void bucket_never_holds_more_than_its_burst(void **state)
{
    (void)state;
    struct ratelimit_bucket bucket;
    ratelimit_bucket_init(&bucket, 3, T0);
    /* An hour idle (and a huge gap that would overflow rate x elapsed) still gives 3. */
    unsigned count = 0;
    for (int i = 0; i < 10; i++)
        count +=
            ratelimit_bucket_take(&bucket, RATELIMIT_MAX_RATE, 3, T0 + 3600 * (uint64_t)SECOND);
    assert_int_equal(count, 3);
    count = 0;
    for (int i = 0; i < 10; i++)
        count += ratelimit_bucket_take(&bucket, 1, 3, UINT64_MAX);
    assert_int_equal(count, 3);
}

static void bucket_refill_is_exact_for_rates_that_do_not_divide_a_second(void **state)
{
    (void)state;
    struct ratelimit_bucket bucket;
    ratelimit_bucket_init(&bucket, 0, T0);
    /* 3/s taken every millisecond for 10 s: 30 tokens, none lost to rounding. */
    unsigned count = 0;
    for (uint64_t ms = 1; ms <= 10000; ms++)
        count += ratelimit_bucket_take(&bucket, 3, 1000, T0 + ms * MS);
    assert_int_equal(count, 30);
}

static void bucket_with_rate_zero_is_unlimited(void **state)
{
    (void)state;
    struct ratelimit_bucket bucket;
    ratelimit_bucket_init(&bucket, 0, T0);
    for (int i = 0; i < 1000; i++)
        assert_true(ratelimit_bucket_take(&bucket, 0, 0, T0));
}

static void clock_going_back_refills_nothing(void **state)
{
    (void)state;
    struct ratelimit_bucket bucket;
    ratelimit_bucket_init(&bucket, 1, T0);
    assert_true(ratelimit_bucket_take(&bucket, 10, 1, T0));
    assert_false(ratelimit_bucket_take(&bucket, 10, 1, T0 - SECOND));
    /* Time is measured from the latest moment seen, not the earlier one. */
    assert_false(ratelimit_bucket_take(&bucket, 10, 1, T0 + 99 * MS));
    assert_true(ratelimit_bucket_take(&bucket, 10, 1, T0 + 100 * MS));
}

static void table_gives_each_new_source_the_burst_then_the_rate(void **state)
{
    (void)state;
    static struct ratelimit_slot slots[SLOTS];
    struct ratelimit_table table;
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, 50, 100), 0);
    assert_int_equal(allowed(&table, 1, 1000, T0), 100);
    assert_int_equal(allowed(&table, 1, 1000, T0 + 2 * SECOND), 100);
    assert_int_equal(allowed(&table, 1, 1000, T0 + 3 * SECOND), 50);
}

static void table_keeps_sources_independent(void **state)
{
    (void)state;
    static struct ratelimit_slot slots[SLOTS];
    struct ratelimit_table table;
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, 50, 100), 0);
    assert_int_equal(allowed(&table, 1, 1000, T0), 100);
    /* Source 1 is empty; source 2 still has its whole burst, and source 1 gets no more. */
    assert_int_equal(allowed(&table, 2, 1000, T0), 100);
    assert_int_equal(allowed(&table, 1, 10, T0), 0);
    assert_int_equal(table.evictions, 0);
}

static void table_stays_bounded_under_many_sources(void **state)
{
    (void)state;
    static struct ratelimit_slot slots[SLOTS];
    struct ratelimit_table table;
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, 50, 2), 0);
    /* 100,000 sources into 64 slots: each new one takes a slot, evicting the stalest. */
    for (uint32_t source = 0; source < 100000; source++)
        assert_int_equal(allowed(&table, source, 3, T0 + source), 2);
    assert_true(table.evictions >= 100000 - SLOTS);
    for (size_t i = 0; i < SLOTS; i++)
        assert_true(slots[i].used);
    /* The table's memory is the caller's array and nothing else. */
    assert_ptr_equal(table.slots, slots);
}

static void table_keeps_a_busy_source_over_a_stale_one(void **state)
{
    (void)state;
    static struct ratelimit_slot slots[RATELIMIT_WAYS];
    struct ratelimit_table table;
    /* One set only: every source collides. */
    assert_int_equal(ratelimit_init(&table, slots, RATELIMIT_WAYS, 50, 10), 0);
    assert_int_equal(allowed(&table, 1, 100, T0), 10);
    for (uint32_t source = 2; source <= RATELIMIT_WAYS; source++)
        assert_int_equal(allowed(&table, source, 1, T0 + source * MS), 1);
    /* Source 1 is seen again, so source 2 is the stalest when a newcomer arrives. */
    assert_int_equal(allowed(&table, 1, 1, T0 + 10 * MS), 0);
    assert_int_equal(allowed(&table, 100, 1, T0 + 11 * MS), 1);
    /* Source 1 kept its (empty) bucket: no fresh burst by being pushed out. */
    assert_int_equal(allowed(&table, 1, 100, T0 + 11 * MS), 0);
    assert_int_equal(table.evictions, 1);
}

static void table_with_rate_zero_allows_everything(void **state)
{
    (void)state;
    static struct ratelimit_slot slots[SLOTS];
    struct ratelimit_table table;
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, 0, 1), 0);
    assert_int_equal(allowed(&table, 1, 1000, T0), 1000);
}

static void init_rejects_bad_sizes_and_limits(void **state)
{
    (void)state;
    static struct ratelimit_slot slots[SLOTS];
    struct ratelimit_table table;
    assert_int_equal(ratelimit_init(&table, slots, 0, 50, 100), -EINVAL);
    assert_int_equal(ratelimit_init(&table, slots, 3 * RATELIMIT_WAYS, 50, 100), -EINVAL);
    assert_int_equal(ratelimit_init(&table, slots, SLOTS + 1, 50, 100), -EINVAL);
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, RATELIMIT_MAX_RATE + 1, 100), -EINVAL);
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, 50, RATELIMIT_MAX_BURST + 1), -EINVAL);
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, RATELIMIT_MAX_RATE, RATELIMIT_MAX_BURST),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_gives_its_burst_then_refills_at_the_rate),
        cmocka_unit_test(bucket_never_holds_more_than_its_burst),
        cmocka_unit_test(bucket_refill_is_exact_for_rates_that_do_not_divide_a_second),
        cmocka_unit_test(bucket_with_rate_zero_is_unlimited),
        cmocka_unit_test(clock_going_back_refills_nothing),
        cmocka_unit_test(table_gives_each_new_source_the_burst_then_the_rate),
        cmocka_unit_test(table_keeps_sources_independent),
        cmocka_unit_test(table_stays_bounded_under_many_sources),
        cmocka_unit_test(table_keeps_a_busy_source_over_a_stale_one),
        cmocka_unit_test(table_with_rate_zero_allows_everything),
        cmocka_unit_test(init_rejects_bad_sizes_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
