/*
 * Unit tests for lib/upper.c: every fast kernel this CPU can run (word,
 * SSE2, AVX2: not only the one upper_ascii chose) against the scalar
 * reference, and the scalar reference against the definition.
 */
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
/* The sweep every kernel gets: every length to 300 at every alignment in a 64-byte line. */
#define SWEEP_LEN      300
#define SWEEP_ALIGN    64
#define RANDOM_CASES   2000
#define RANDOM_MAX_LEN 65536
#define GUARD          32
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

/* The kernels to check: every one this CPU can run but the reference itself. */
static size_t fast_kernels(const struct upper_kernel_entry **out, size_t cap)
{
    size_t count;
    const struct upper_kernel_entry *all = upper_kernels(&count);
    size_t n = 0;
    for (size_t i = 0; i < count && n < cap; i++)
        if (all[i].usable && all[i].run != upper_ascii_scalar)
            out[n++] = &all[i];
    return n;
}

static void kernel_matches_scalar_at(const struct upper_kernel_entry *kernel, const uint8_t *src,
                                     size_t len, size_t dst_align)
{
    static uint8_t dst_area[GUARD + SWEEP_ALIGN + RANDOM_MAX_LEN + GUARD];
    static uint8_t want[RANDOM_MAX_LEN];
    upper_ascii_scalar(want, src, len);
    size_t area_len = GUARD + dst_align + len + GUARD;
    memset(dst_area, GUARD_BYTE, area_len);
    kernel->run(dst_area + GUARD + dst_align, src, len);
    if (memcmp(dst_area + GUARD + dst_align, want, len) != 0)
        fail_msg("kernel %s differs from scalar at length %zu, dst alignment %zu", kernel->name,
                 len, dst_align);
    assert_guards_intact(dst_area, GUARD + dst_align, len, area_len);
}

static void every_kernel_matches_scalar_for_every_length_to_300_at_every_alignment(void **state)
{
    (void)state;
    const struct upper_kernel_entry *kernels[8];
    size_t kernel_count = fast_kernels(kernels, 8);
    assert_true(kernel_count >= 1);
    struct prng rng = {.state = 0x5EED0003};
    for (size_t k = 0; k < kernel_count; k++) {
        for (size_t len = 0; len <= SWEEP_LEN; len++) {
            for (size_t src_align = 0; src_align < SWEEP_ALIGN; src_align++) {
                /* Exactly as big as needed: a sanitizer then catches any read past src + len. */
                uint8_t *block = malloc(src_align + len + 1);
                assert_non_null(block);
                prng_fill(&rng, block + src_align, len);
                /* Every dst alignment too, paired with each src alignment in turn. */
                size_t dst_align = (src_align * 37 + len) % SWEEP_ALIGN;
                kernel_matches_scalar_at(kernels[k], block + src_align, len, dst_align);
                free(block);
            }
        }
    }
}

static void every_kernel_works_in_place_for_every_length_to_300_at_every_alignment(void **state)
{
    (void)state;
    const struct upper_kernel_entry *kernels[8];
    size_t kernel_count = fast_kernels(kernels, 8);
    static uint8_t area[GUARD + SWEEP_ALIGN + SWEEP_LEN + GUARD];
    uint8_t want[SWEEP_LEN];
    struct prng rng = {.state = 0x5EED0004};
    for (size_t k = 0; k < kernel_count; k++) {
        for (size_t len = 0; len <= SWEEP_LEN; len++) {
            for (size_t align = 0; align < SWEEP_ALIGN; align++) {
                size_t area_len = GUARD + align + len + GUARD;
                uint8_t *buf = area + GUARD + align;
                memset(area, GUARD_BYTE, area_len);
                prng_fill(&rng, buf, len);
                upper_ascii_scalar(want, buf, len);
                kernels[k]->run(buf, buf, len);
                assert_memory_equal(buf, want, len);
                assert_guards_intact(area, GUARD + align, len, area_len);
            }
        }
    }
}

static void every_kernel_matches_scalar_for_every_byte_in_every_lane(void **state)
{
    (void)state;
    const struct upper_kernel_entry *kernels[8];
    size_t kernel_count = fast_kernels(kernels, 8);
    uint8_t all[256 + SWEEP_ALIGN];
    /* Rotating the 256 values puts each of them in each lane of a 64-byte vector. */
    for (size_t k = 0; k < kernel_count; k++) {
        for (int shift = 0; shift < SWEEP_ALIGN; shift++) {
            for (int i = 0; i < 256 + SWEEP_ALIGN; i++)
                all[i] = (uint8_t)(i + shift);
            kernel_matches_scalar_at(kernels[k], all, sizeof all, (size_t)shift);
        }
    }
}

static void every_kernel_matches_scalar_on_random_buffers(void **state)
{
    (void)state;
    const struct upper_kernel_entry *kernels[8];
    size_t kernel_count = fast_kernels(kernels, 8);
    struct prng rng = {.state = 0x5EED0005};
    for (int n = 0; n < RANDOM_CASES; n++) {
        /* Mostly short (where the tails are), now and then up to 64 KiB. */
        size_t len = prng_below(&rng, n % 10 == 0 ? RANDOM_MAX_LEN + 1 : 1025);
        size_t src_align = prng_below(&rng, SWEEP_ALIGN);
        size_t dst_align = prng_below(&rng, SWEEP_ALIGN);
        uint8_t *block = malloc(src_align + len + 1);
        assert_non_null(block);
        prng_fill(&rng, block + src_align, len);
        for (size_t k = 0; k < kernel_count; k++)
            kernel_matches_scalar_at(kernels[k], block + src_align, len, dst_align);
        free(block);
    }
}

static void upper_ascii_runs_the_fastest_usable_kernel(void **state)
{
    (void)state;
    size_t count;
    const struct upper_kernel_entry *all = upper_kernels(&count);
    const char *fastest = NULL;
    for (size_t i = 0; i < count; i++)
        if (all[i].usable)
            fastest = all[i].name;
    assert_non_null(fastest);
    assert_string_equal(upper_ascii_kernel_name(), fastest);
#if defined(__x86_64__)
    /* SSE2 is part of x86-64 itself: it is always there. */
    assert_true(strcmp(fastest, "sse2") == 0 || strcmp(fastest, "avx2") == 0);
    int have_avx2 = __builtin_cpu_supports("avx2");
    assert_int_equal(strcmp(fastest, "avx2") == 0, have_avx2 != 0);
#endif
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
        cmocka_unit_test(every_kernel_matches_scalar_for_every_length_to_300_at_every_alignment),
        cmocka_unit_test(every_kernel_works_in_place_for_every_length_to_300_at_every_alignment),
        cmocka_unit_test(every_kernel_matches_scalar_for_every_byte_in_every_lane),
        cmocka_unit_test(every_kernel_matches_scalar_on_random_buffers),
        cmocka_unit_test(upper_ascii_runs_the_fastest_usable_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
