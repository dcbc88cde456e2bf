/* Unit tests for lib/buf.c: the bounded byte FIFO. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "buf.h"
#include "prng.h"

static void fill_pattern(uint8_t *dst, size_t len, size_t start)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = (uint8_t)((start + i) * 7 + 3);
}

static void new_buffer_is_empty_and_has_no_storage(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_len(&b), 0);
    assert_int_equal(buf_room(&b), 100);
    assert_null(buf_head(&b));
    assert_null(b.bytes);
    assert_int_equal(b.alloc, 0);
    buf_free(&b);
}

static void capacity_is_the_storage_allocated_and_none_once_emptied(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100000);
    assert_int_equal(buf_capacity(&b), 0);
    uint8_t bytes[3000];
    fill_pattern(bytes, sizeof bytes, 0);
    assert_int_equal(buf_append(&b, bytes, sizeof bytes), 0);
    /* Geometric growth: at least what is held, less than twice that plus the first step. */
    assert_true(buf_capacity(&b) >= sizeof bytes);
    assert_true(buf_capacity(&b) < 2 * sizeof bytes + 256);
    buf_consume(&b, 1000);
    assert_true(buf_capacity(&b) >= sizeof bytes); /* consuming part keeps the storage */
    buf_consume(&b, 2000);
    assert_int_equal(buf_capacity(&b), 0);
    buf_free(&b);
}

static void append_then_consume_returns_bytes_in_order(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, "hello", 5), 0);
    assert_int_equal(buf_append(&b, " world", 6), 0);
    assert_int_equal(buf_len(&b), 11);
    assert_int_equal(buf_room(&b), 89);
    assert_memory_equal(buf_head(&b), "hello world", 11);
    buf_consume(&b, 6);
    assert_int_equal(buf_len(&b), 5);
    assert_int_equal(buf_room(&b), 95);
    assert_memory_equal(buf_head(&b), "world", 5);
    buf_free(&b);
}

static void append_over_limit_fails_with_enobufs_and_leaves_buffer_unchanged(void **state)
{
    (void)state;
    uint8_t bytes[101];
    fill_pattern(bytes, sizeof bytes, 0);
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, bytes, 90), 0);
    const uint8_t *head = buf_head(&b);
    size_t alloc = b.alloc;

    assert_int_equal(buf_append(&b, bytes, 11), -ENOBUFS);
    assert_int_equal(buf_len(&b), 90);
    assert_int_equal(buf_room(&b), 10);
    assert_ptr_equal(buf_head(&b), head);
    assert_int_equal(b.alloc, alloc);
    assert_memory_equal(buf_head(&b), bytes, 90);

    /* Exactly the room left still fits. */
    assert_int_equal(buf_append(&b, bytes + 90, 10), 0);
    assert_int_equal(buf_len(&b), 100);
    assert_int_equal(buf_room(&b), 0);
    assert_memory_equal(buf_head(&b), bytes, 100);
    assert_int_equal(buf_append(&b, bytes, 1), -ENOBUFS);
    assert_int_equal(buf_len(&b), 100);
    buf_free(&b);
}

static void append_larger_than_limit_to_empty_buffer_fails_without_allocating(void **state)
{
    (void)state;
    uint8_t bytes[64] = {0};
    struct buf b;
    buf_init(&b, 63);
    assert_int_equal(buf_append(&b, bytes, 64), -ENOBUFS);
    assert_int_equal(buf_len(&b), 0);
    assert_null(b.bytes);
    assert_int_equal(b.alloc, 0);
    buf_free(&b);
}

static void append_of_zero_bytes_succeeds_without_allocating(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(buf_len(&b), 0);
    assert_null(b.bytes);
    buf_free(&b);
}

static void reserve_of_zero_returns_null(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_null(buf_reserve(&b, 0));
    assert_null(b.bytes);
    assert_int_equal(buf_append(&b, "abc", 3), 0);
    assert_null(buf_reserve(&b, 0));
    assert_int_equal(buf_len(&b), 3);
    buf_free(&b);
}

static void reserve_over_room_returns_null_and_leaves_buffer_unchanged(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_null(buf_reserve(&b, 11));
    assert_null(b.bytes);
    assert_int_equal(buf_append(&b, "abcdef", 6), 0);
    const uint8_t *head = buf_head(&b);
    assert_null(buf_reserve(&b, 5));
    assert_int_equal(buf_len(&b), 6);
    assert_ptr_equal(buf_head(&b), head);
    assert_memory_equal(buf_head(&b), "abcdef", 6);
    buf_free(&b);
}

static void reserve_then_commit_counts_only_committed_bytes(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, "ab", 2), 0);
    uint8_t *dst = buf_reserve(&b, 10);
    assert_non_null(dst);
    /* Reserving alone adds nothing. */
    assert_int_equal(buf_len(&b), 2);
    memcpy(dst, "cdefghijkl", 10);
    buf_commit(&b, 4);
    assert_int_equal(buf_len(&b), 6);
    assert_int_equal(buf_room(&b), 94);
    assert_memory_equal(buf_head(&b), "abcdef", 6);
    /* The uncommitted bytes are overwritten by the next append. */
    assert_int_equal(buf_append(&b, "XY", 2), 0);
    assert_memory_equal(buf_head(&b), "abcdefXY", 8);
    buf_free(&b);
}

static void reserve_of_exactly_the_room_succeeds(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 300);
    assert_int_equal(buf_append(&b, "x", 1), 0);
    uint8_t *dst = buf_reserve(&b, 299);
    assert_non_null(dst);
    memset(dst, 'y', 299);
    buf_commit(&b, 299);
    assert_int_equal(buf_len(&b), 300);
    assert_int_equal(buf_room(&b), 0);
    assert_true(b.alloc <= 300);
    assert_int_equal(buf_head(&b)[0], 'x');
    assert_int_equal(buf_head(&b)[299], 'y');
    buf_free(&b);
}

static void consuming_everything_releases_storage(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, "abcdef", 6), 0);
    assert_non_null(b.bytes);
    buf_consume(&b, 2);
    assert_non_null(b.bytes);
    buf_consume(&b, 4);
    assert_int_equal(buf_len(&b), 0);
    assert_null(b.bytes);
    assert_null(buf_head(&b));
    assert_int_equal(b.alloc, 0);
    assert_int_equal(b.head, 0);
    assert_int_equal(b.tail, 0);
    /* The limit survives, and the buffer is usable again. */
    assert_int_equal(buf_room(&b), 100);
    assert_int_equal(buf_append(&b, "gh", 2), 0);
    assert_memory_equal(buf_head(&b), "gh", 2);
    buf_free(&b);
}

static void consuming_more_than_held_empties_and_releases(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, "abc", 3), 0);
    buf_consume(&b, 1000);
    assert_int_equal(buf_len(&b), 0);
    assert_null(b.bytes);
    assert_int_equal(buf_room(&b), 100);
    buf_free(&b);
}

static void clear_drops_everything_and_keeps_the_limit(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 50);
    assert_int_equal(buf_append(&b, "abc", 3), 0);
    buf_clear(&b);
    assert_int_equal(buf_len(&b), 0);
    assert_null(b.bytes);
    assert_int_equal(b.limit, 50);
    assert_int_equal(buf_room(&b), 50);
    buf_free(&b);
    buf_free(&b); /* a freed buffer may be freed again */
    assert_null(b.bytes);
}

static void compaction_keeps_content_without_growing(void **state)
{
    (void)state;
    uint8_t bytes[1024];
    fill_pattern(bytes, sizeof bytes, 0);
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(buf_append(&b, bytes, 200), 0);
    size_t alloc = b.alloc;
    assert_true(alloc >= 200);
    assert_true(200 + alloc - 50 <= sizeof bytes);
    /* Free the front, then append what only fits if the live bytes slide back. */
    buf_consume(&b, 150);
    size_t fits_after_slide = alloc - 50;
    assert_int_equal(buf_append(&b, bytes + 200, fits_after_slide), 0);
    assert_int_equal(buf_len(&b), 50 + fits_after_slide);
    assert_int_equal(b.alloc, alloc);
    assert_memory_equal(buf_head(&b), bytes + 150, 50 + fits_after_slide);
    buf_free(&b);
}

static void growth_keeps_content_and_stops_at_exactly_the_limit(void **state)
{
    (void)state;
    enum { LIMIT = 1000 }; /* not a power of two: growth must be clamped */
    uint8_t bytes[LIMIT];
    fill_pattern(bytes, sizeof bytes, 11);
    struct buf b;
    buf_init(&b, LIMIT);
    for (size_t i = 0; i < LIMIT; i++) {
        assert_int_equal(buf_append(&b, bytes + i, 1), 0);
        assert_int_equal(buf_len(&b), i + 1);
        assert_true(b.alloc <= 2 * LIMIT);
        assert_true(b.alloc >= i + 1);
    }
    assert_int_equal(buf_room(&b), 0);
    assert_int_equal(b.alloc, LIMIT);
    assert_memory_equal(buf_head(&b), bytes, LIMIT);
    assert_int_equal(buf_append(&b, bytes, 1), -ENOBUFS);
    assert_null(buf_reserve(&b, 1));
    assert_memory_equal(buf_head(&b), bytes, LIMIT);
    buf_free(&b);

    /* All at once into an empty buffer. */
    buf_init(&b, LIMIT);
    assert_int_equal(buf_append(&b, bytes, LIMIT), 0);
    assert_int_equal(b.alloc, LIMIT);
    assert_memory_equal(buf_head(&b), bytes, LIMIT);
    buf_free(&b);
}

static void small_limit_never_allocates_past_it(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 5);
    assert_int_equal(buf_append(&b, "ab", 2), 0);
    assert_true(b.alloc <= 5);
    assert_int_equal(buf_append(&b, "cde", 3), 0);
    assert_true(b.alloc <= 5);
    assert_memory_equal(buf_head(&b), "abcde", 5);
    assert_int_equal(buf_append(&b, "f", 1), -ENOBUFS);
    buf_free(&b);
}

static void zero_limit_buffer_accepts_nothing(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_room(&b), 0);
    assert_int_equal(buf_append(&b, "a", 1), -ENOBUFS);
    assert_null(buf_reserve(&b, 1));
    assert_null(b.bytes);
    buf_free(&b);
}

/*
 * A full buffer drained a byte and refilled a byte at a time (a reader that
 * takes one byte per read while replies keep coming): the bytes moved
 * inside the buffer stay proportional to the bytes that went through, and
 * the storage within twice the limit. Sliding all the live bytes for every
 * byte appended moved LIMIT - 1 bytes per step here.
 */
static void
draining_a_full_buffer_a_byte_at_a_time_moves_each_byte_a_bounded_number_of_times(void **state)
{
    (void)state;
    enum { LIMIT = 4096, STEPS = 20 * LIMIT };
    static uint8_t bytes[LIMIT];
    fill_pattern(bytes, sizeof bytes, 5);
    size_t moved = 0;
    struct buf b;
    buf_init(&b, LIMIT);
    assert_int_equal(buf_append(&b, bytes, LIMIT - 1), 0);
    buf_count_moves(&moved);
    size_t first = 0; /* the pattern index of the head byte: it holds [first, first + LIMIT - 1) */
    for (size_t step = 0; step < STEPS; step++) {
        assert_int_equal(buf_head(&b)[0], (uint8_t)((5 + first) * 7 + 3));
        buf_consume(&b, 1);
        first++;
        uint8_t next = (uint8_t)((5 + first + LIMIT - 2) * 7 + 3);
        assert_int_equal(buf_append(&b, &next, 1), 0);
        assert_int_equal(buf_len(&b), LIMIT - 1);
        assert_true(b.alloc <= 2 * LIMIT);
    }
    buf_count_moves(NULL);
    assert_true(moved <= 2 * (size_t)STEPS + 4 * LIMIT);
    buf_free(&b);
}

/* Random appends, reserves and consumes against a flat model of the contents. */
static void random_operations_match_a_model(void **state)
{
    (void)state;
    enum { LIMIT = 3000, STEPS = 20000 };
    static uint8_t model[LIMIT];
    static uint8_t chunk[LIMIT + 2];
    size_t model_len = 0;
    struct prng rng = {.state = 0xB0F0001};
    struct buf b;
    buf_init(&b, LIMIT);
    for (int step = 0; step < STEPS; step++) {
        size_t n = (size_t)prng_below(&rng, prng_below(&rng, 4) == 0 ? LIMIT + 2 : 300);
        prng_fill(&rng, chunk, n);
        int emptied_by_consume = 0;
        switch (prng_below(&rng, 3)) {
        case 0: {
            int rc = buf_append(&b, chunk, n);
            if (model_len + n > LIMIT) {
                assert_int_equal(rc, -ENOBUFS);
            } else {
                assert_int_equal(rc, 0);
                memcpy(model + model_len, chunk, n);
                model_len += n;
            }
            break;
        }
        case 1: {
            uint8_t *dst = buf_reserve(&b, n);
            if (n == 0 || model_len + n > LIMIT) {
                assert_null(dst);
                break;
            }
            assert_non_null(dst);
            memcpy(dst, chunk, n);
            size_t keep = (size_t)prng_below(&rng, n + 1);
            buf_commit(&b, keep);
            memcpy(model + model_len, chunk, keep);
            model_len += keep;
            break;
        }
        default: {
            size_t drop = n < model_len ? n : model_len;
            buf_consume(&b, n);
            memmove(model, model + drop, model_len - drop);
            model_len -= drop;
            emptied_by_consume = 1;
            break;
        }
        }
        assert_int_equal(buf_len(&b), model_len);
        assert_int_equal(buf_room(&b), LIMIT - model_len);
        assert_true(b.alloc <= 2 * LIMIT);
        if (model_len == 0 && emptied_by_consume)
            assert_null(b.bytes);
        if (model_len > 0)
            assert_memory_equal(buf_head(&b), model, model_len);
    }
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_buffer_is_empty_and_has_no_storage),
        cmocka_unit_test(capacity_is_the_storage_allocated_and_none_once_emptied),
        cmocka_unit_test(append_then_consume_returns_bytes_in_order),
        cmocka_unit_test(append_over_limit_fails_with_enobufs_and_leaves_buffer_unchanged),
        cmocka_unit_test(append_larger_than_limit_to_empty_buffer_fails_without_allocating),
        cmocka_unit_test(append_of_zero_bytes_succeeds_without_allocating),
        cmocka_unit_test(reserve_of_zero_returns_null),
        cmocka_unit_test(reserve_over_room_returns_null_and_leaves_buffer_unchanged),
        cmocka_unit_test(reserve_then_commit_counts_only_committed_bytes),
        cmocka_unit_test(reserve_of_exactly_the_room_succeeds),
        cmocka_unit_test(consuming_everything_releases_storage),
        cmocka_unit_test(consuming_more_than_held_empties_and_releases),
        cmocka_unit_test(clear_drops_everything_and_keeps_the_limit),
        cmocka_unit_test(compaction_keeps_content_without_growing),
        cmocka_unit_test(growth_keeps_content_and_stops_at_exactly_the_limit),
        cmocka_unit_test(small_limit_never_allocates_past_it),
        cmocka_unit_test(zero_limit_buffer_accepts_nothing),
        cmocka_unit_test(
            draining_a_full_buffer_a_byte_at_a_time_moves_each_byte_a_bounded_number_of_times),
        cmocka_unit_test(random_operations_match_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
