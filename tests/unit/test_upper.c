/* Unit tests for lib/upper.c: the word-at-a-time kernel against its scalar twin. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "prng.h"
#include "support.h"
#include "upper.h"

#define MAX_LEN   4096
#define MAX_ALIGN 8
#define GUARD     32
/* Lowercase, so a stray in-place pass over a guard byte would change it. */
#define GUARD_BYTE 'g'

static void scalar_follows_the_definition_for_every_byte(void **state)
{
    (void)state;
    for (int value = 0; value < 256; value++) {
        uint8_t in = (uint8_t)value;
        uint8_t out = 0;
        upper_ascii_scalar(&out, &in, 1);
        assert_int_equal(out, ref_upper(in));
    }
    /* A few spelled out, so the definition itself is pinned down. */
    const uint8_t in[] = "az`{AZ@[09\xc3\xa9\xff";
    const uint8_t want[] = "AZ`{AZ@[09\xc3\xa9\xff";
    uint8_t out[sizeof in];
    upper_ascii_scalar(out, in, sizeof in);
    assert_memory_equal(out, want, sizeof want);
}

static void fast_path_matches_scalar_for_every_byte_in_every_lane(void **state)
{
    (void)state;
    uint8_t all[256 + MAX_ALIGN];
    uint8_t want[256 + MAX_ALIGN];
    uint8_t got[256 + MAX_ALIGN];
    /* Rotating the 256 values puts each of them in each lane of the 8-byte word. */
    for (int shift = 0; shift < MAX_ALIGN; shift++) {
        for (int i = 0; i < 256 + MAX_ALIGN; i++)
            all[i] = (uint8_t)(i + shift);
        upper_ascii_scalar(want, all, sizeof all);
        upper_ascii(got, all, sizeof all);
        assert_memory_equal(got, want, sizeof want);
        for (size_t i = 0; i < sizeof all; i++)
            assert_int_equal(got[i], ref_upper(all[i]));
    }
    for (int value = 0; value < 256; value++) {
        uint8_t in = (uint8_t)value;
        uint8_t out = 0;
        upper_ascii(&out, &in, 1);
        assert_int_equal(out, ref_upper(in));
    }
}

static void assert_guards_intact(const uint8_t *area, size_t start, size_t len, size_t area_len)
{
    for (size_t i = 0; i < start; i++)
        assert_int_equal(area[i], GUARD_BYTE);
    for (size_t i = start + len; i < area_len; i++)
        assert_int_equal(area[i], GUARD_BYTE);
}

static void fast_path_matches_scalar_at_every_length_and_alignment(void **state)
{
    (void)state;
    static uint8_t dst_area[GUARD + MAX_ALIGN + MAX_LEN + GUARD];
    static uint8_t want[MAX_LEN];
    struct prng rng = {.state = 0x5EED0001};
    for (size_t len = 0; len <= MAX_LEN; len++) {
        for (size_t src_align = 0; src_align < MAX_ALIGN; src_align++) {
            /* Exactly as big as needed: a sanitizer then catches any read past src + len. */
            size_t block_len = src_align + len;
            uint8_t *src_block = malloc(block_len ? block_len : 1);
            assert_non_null(src_block);
            uint8_t *src = src_block + src_align;
            prng_fill(&rng, src, len);
            upper_ascii_scalar(want, src, len);
            for (size_t i = 0; i < len; i++)
                assert_int_equal(want[i], ref_upper(src[i]));
            for (size_t dst_align = 0; dst_align < MAX_ALIGN; dst_align++) {
                size_t area_len = GUARD + dst_align + len + GUARD;
                memset(dst_area, GUARD_BYTE, area_len);
                upper_ascii(dst_area + GUARD + dst_align, src, len);
                assert_memory_equal(dst_area + GUARD + dst_align, want, len);
                assert_guards_intact(dst_area, GUARD + dst_align, len, area_len);
            }
            free(src_block);
        }
    }
}

static void fast_path_works_in_place_at_every_length_and_alignment(void **state)
{
    (void)state;
    static uint8_t area[GUARD + MAX_ALIGN + MAX_LEN + GUARD];
    static uint8_t want[MAX_LEN];
    struct prng rng = {.state = 0x5EED0002};
    for (size_t len = 0; len <= MAX_LEN; len++) {
        for (size_t align = 0; align < MAX_ALIGN; align++) {
            size_t area_len = GUARD + align + len + GUARD;
            uint8_t *buf = area + GUARD + align;
            memset(area, GUARD_BYTE, area_len);
            prng_fill(&rng, buf, len);
            upper_ascii_scalar(want, buf, len);
            upper_ascii(buf, buf, len);
            assert_memory_equal(buf, want, len);
            assert_guards_intact(area, GUARD + align, len, area_len);
        }
    }
}

static void scalar_works_in_place_and_leaves_neighbours_alone(void **state)
{
    (void)state;
    static const char text[] = "mixed Case text with \xf5 and \xc3\xa9, 0123456789 {}`@[]";
    enum { TEXT_LEN = sizeof text - 1 };
    uint8_t area[GUARD + TEXT_LEN + GUARD];
    memset(area, GUARD_BYTE, sizeof area);
    memcpy(area + GUARD, text, TEXT_LEN);
    uint8_t want[TEXT_LEN];
    for (size_t i = 0; i < TEXT_LEN; i++)
        want[i] = ref_upper((uint8_t)text[i]);
    upper_ascii_scalar(area + GUARD, area + GUARD, TEXT_LEN);
    assert_memory_equal(area + GUARD, want, TEXT_LEN);
    assert_memory_equal(area + GUARD, "MIXED CASE TEXT WITH \xf5 AND \xc3\xa9, 0123456789 {}`@[]",
                        TEXT_LEN);
    assert_guards_intact(area, GUARD, TEXT_LEN, sizeof area);
}

static void zero_length_writes_nothing(void **state)
{
    (void)state;
    uint8_t src[8] = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
    uint8_t dst[8];
    memset(dst, GUARD_BYTE, sizeof dst);
    upper_ascii(dst, src, 0);
    upper_ascii_scalar(dst, src, 0);
    for (size_t i = 0; i < sizeof dst; i++)
        assert_int_equal(dst[i], GUARD_BYTE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scalar_follows_the_definition_for_every_byte),
        cmocka_unit_test(fast_path_matches_scalar_for_every_byte_in_every_lane),
        cmocka_unit_test(fast_path_matches_scalar_at_every_length_and_alignment),
        cmocka_unit_test(fast_path_works_in_place_at_every_length_and_alignment),
        cmocka_unit_test(scalar_works_in_place_and_leaves_neighbours_alone),
        cmocka_unit_test(zero_length_writes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
