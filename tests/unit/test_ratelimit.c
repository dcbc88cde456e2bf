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

/* A fixed secret, so that which keys collide is known to the test. */
static const struct source_secret SECRET = {0x5eed5eed01234567u, 0x89abcdef5eed5eedu};

static struct source_key key_of(uint32_t n)
{
    struct source_key key = {{0}};
    key.bytes[10] = 0xff;
    key.bytes[11] = 0xff;
    memcpy(key.bytes + 12, &n, sizeof n);
    return key;
}

/* How many of `tries` takes at now_ns the source is allowed. */
static unsigned allowed(struct ratelimit_table *table, uint32_t source, unsigned tries,
                        uint64_t now_ns)
{
    struct source_key key = key_of(source);
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
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, 50, 100, &SECRET), 0);
    assert_int_equal(allowed(&table, 1, 1000, T0), 100);
    assert_int_equal(allowed(&table, 1, 1000, T0 + 2 * SECOND), 100);
    assert_int_equal(allowed(&table, 1, 1000, T0 + 3 * SECOND), 50);
}

static void table_keeps_sources_independent(void **state)
{
    (void)state;
    static struct ratelimit_slot slots[SLOTS];
    struct ratelimit_table table;
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, 50, 100, &SECRET), 0);
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
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, 50, 2, &SECRET), 0);
    /*
     * 100,000 sources into 64 slots, one a nanosecond: each new one takes a
     * slot, evicting the stalest, and inherits what is left in its bucket.
     * Together they get what 64 buckets hold, not a burst each.
     */
    unsigned total = 0;
    for (uint32_t source = 0; source < 100000; source++) {
        unsigned got = allowed(&table, source, 3, T0 + source);
        assert_true(got <= 2);
        total += got;
    }
    assert_true(total >= 2);
    assert_true(total <= SLOTS * (2 + 50 * 100000 / SECOND));
    assert_true(table.evictions >= 100000 - SLOTS);
    for (size_t i = 0; i < SLOTS; i++)
        assert_true(slots[i].used);
    /* The table's memory is the caller's array and nothing else. */
    assert_ptr_equal(table.slots, slots);
}

/* `count` sources (from `first` on) whose slots are all in set `set`. */
static void find_colliding(const struct ratelimit_table *table, size_t set, uint32_t first,
                           uint32_t *sources, size_t count)
{
    size_t found = 0;
    for (uint32_t n = first; n < first + 1000000 && found < count; n++) {
        struct source_key key = key_of(n);
        if (ratelimit_set_of(table, &key) == set)
            sources[found++] = n;
    }
    assert_int_equal(found, count);
}

#define TURNS_RATE  10
#define TURNS_BURST 10
#define TURNS       5 /* one more source than a set has ways: every round evicts */

static void colliding_sources_taking_turns_share_their_sets_buckets(void **state)
{
    (void)state;
    static struct ratelimit_slot slots[SLOTS];
    struct ratelimit_table table;
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, TURNS_RATE, TURNS_BURST, &SECRET), 0);
    uint32_t sources[TURNS];
    find_colliding(&table, 3, 1000, sources, TURNS);
    /* A lone source in another set, whose set sees no churn. */
    uint32_t lone;
    find_colliding(&table, 9, 1000, &lone, 1);
    unsigned got[TURNS] = {0};
    unsigned lone_got = 0;
    /* Every millisecond for a second, each colliding source once in turn, the lone one 3 times. */
    const uint64_t turns_ms = 1000;
    for (uint64_t ms = 0; ms < turns_ms; ms++) {
        for (size_t i = 0; i < TURNS; i++)
            got[i] += allowed(&table, sources[i], 1, T0 + ms * MS);
        lone_got += allowed(&table, lone, 3, T0 + ms * MS);
    }
    uint64_t elapsed_ns = (turns_ms - 1) * MS;
    /* The documented bound (ratelimit.h), for each and for all of them together. */
    uint64_t bound = RATELIMIT_WAYS * (TURNS_BURST + TURNS_RATE * elapsed_ns / SECOND);
    unsigned total = 0;
    for (size_t i = 0; i < TURNS; i++) {
        assert_true(got[i] <= bound);
        total += got[i];
    }
    assert_true(total <= bound);
    /* Nothing is lost either: the four slots' bursts were given out. */
    assert_true(total >= RATELIMIT_WAYS * TURNS_BURST);
    /* Five sources, four slots: at least one is evicted in every round. */
    assert_true(table.evictions >= turns_ms);
    /* The lone source: its burst, then the rate, exactly. */
    assert_int_equal(lone_got, TURNS_BURST + TURNS_RATE * elapsed_ns / SECOND);
}

static void a_never_used_slot_gives_a_full_burst(void **state)
{
    (void)state;
    static struct ratelimit_slot slots[SLOTS];
    struct ratelimit_table table;
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, TURNS_RATE, TURNS_BURST, &SECRET), 0);
    uint32_t sources[RATELIMIT_WAYS + 1];
    find_colliding(&table, 5, 1, sources, RATELIMIT_WAYS + 1);
    /* The set's four slots, each new: a fresh client's first datagrams are answered. */
    for (size_t i = 0; i < RATELIMIT_WAYS; i++)
        assert_int_equal(allowed(&table, sources[i], 100, T0), TURNS_BURST);
    assert_int_equal(table.evictions, 0);
    /* A fifth takes the stalest slot as it stands, empty: no fresh burst. */
    assert_int_equal(allowed(&table, sources[RATELIMIT_WAYS], 100, T0), 0);
    assert_int_equal(table.evictions, 1);
}

static void table_keeps_a_busy_source_over_a_stale_one(void **state)
{
    (void)state;
    static struct ratelimit_slot slots[RATELIMIT_WAYS];
    struct ratelimit_table table;
    /* One set only: every source collides. */
    assert_int_equal(ratelimit_init(&table, slots, RATELIMIT_WAYS, 50, 10, &SECRET), 0);
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
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, 0, 1, &SECRET), 0);
    assert_int_equal(allowed(&table, 1, 1000, T0), 1000);
}

static void init_rejects_bad_sizes_and_limits(void **state)
{
    (void)state;
    static struct ratelimit_slot slots[SLOTS];
    struct ratelimit_table table;
    assert_int_equal(ratelimit_init(&table, slots, 0, 50, 100, &SECRET), -EINVAL);
    assert_int_equal(ratelimit_init(&table, slots, 3 * RATELIMIT_WAYS, 50, 100, &SECRET), -EINVAL);
    assert_int_equal(ratelimit_init(&table, slots, SLOTS + 1, 50, 100, &SECRET), -EINVAL);
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, RATELIMIT_MAX_RATE + 1, 100, &SECRET),
                     -EINVAL);
    assert_int_equal(ratelimit_init(&table, slots, SLOTS, 50, RATELIMIT_MAX_BURST + 1, &SECRET),
                     -EINVAL);
    assert_int_equal(
        ratelimit_init(&table, slots, SLOTS, RATELIMIT_MAX_RATE, RATELIMIT_MAX_BURST, &SECRET), 0);
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
        cmocka_unit_test(colliding_sources_taking_turns_share_their_sets_buckets),
        cmocka_unit_test(a_never_used_slot_gives_a_full_burst),
        cmocka_unit_test(table_keeps_a_busy_source_over_a_stale_one),
        cmocka_unit_test(table_with_rate_zero_allows_everything),
        cmocka_unit_test(init_rejects_bad_sizes_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
