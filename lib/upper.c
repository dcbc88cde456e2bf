#include "upper.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

void upper_ascii_scalar(uint8_t *dst, const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t byte = src[i];
        dst[i] = (byte >= 'a' && byte <= 'z') ? (uint8_t)(byte - ('a' - 'A')) : byte;
    }
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/*
 * Eight bytes at a time without branches. For every byte b with its high bit
 * cleared (h = b & 0x7f), h + (0x80 - 'a') carries into bit 7 exactly when
 * h >= 'a', and h + (0x80 - 'z' - 1) exactly when h > 'z'; neither sum can
 * carry into the next byte, because both stay below 0x100. Bytes that had
 * their high bit set are not ASCII and are masked out. What is left is 0x80
 * in every lowercase byte; shifted down to 0x20 it is the case bit to flip.
 * memcpy does the unaligned loads and stores, which compilers turn into
 * plain moves, so any alignment of src and dst is fine.
 */
static uint64_t upper_word(uint64_t word)
{
    uint64_t heptets = word & ~HIGHS;
    uint64_t at_least_a = heptets + ONES * (0x80 - 'a');
    uint64_t above_z = heptets + ONES * (0x80 - 'z' - 1);
    uint64_t lowercase = (at_least_a & ~above_z) & ~word & HIGHS;
    return word ^ (lowercase >> 2);
}

static void upper_ascii_word(uint8_t *dst, const uint8_t *src, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t word;
        memcpy(&word, src + i, sizeof word);
        word = upper_word(word);
        memcpy(dst + i, &word, sizeof word);
    }
    upper_ascii_scalar(dst + i, src + i, len - i);
}

#if defined(__x86_64__)
/*
 * The vector kernels share one trick: adding 0x80 - 'a' (wrapping) moves
 * 'a'..'z' to 0x80..0x99, the 26 smallest signed bytes, so one signed
 * compare against 0x80 + 26 finds the lowercase bytes, and nothing else
 * (bytes of 0x80 and up, UTF-8's, land at 0x00 and up). The case bit of
 * those is then flipped.
 *
 * A length that is not a whole number of vectors ends with one more vector
 * that overlaps the last one done, not with a byte loop: uppercasing is
 * idempotent, so bytes done twice come out the same, in place too. Shorter
 * than one vector goes to the next smaller kernel. No load ever goes past
 * src + len (which a sanitizer, rightly, would report).
 */
#define UPPER_SHIFT (0x80 - 'a')
#define UPPER_BOUND (-128 + 26)

static __m128i upper_vec16(__m128i bytes)
{
    __m128i shifted = _mm_add_epi8(bytes, _mm_set1_epi8(UPPER_SHIFT));
    __m128i lower = _mm_cmpgt_epi8(_mm_set1_epi8(UPPER_BOUND), shifted);
    return _mm_xor_si128(bytes, _mm_and_si128(lower, _mm_set1_epi8(0x20)));
}

static void upper_store16(uint8_t *dst, const uint8_t *src)
{
    __m128i bytes = _mm_loadu_si128((const __m128i *)(const void *)src);
    _mm_storeu_si128((__m128i *)(void *)dst, upper_vec16(bytes));
}

/* 16 bytes a step: SSE2 is part of x86-64 itself, so every x86-64 CPU has it. */
static void upper_ascii_sse2(uint8_t *dst, const uint8_t *src, size_t len)
{
    if (len < 16) {
        upper_ascii_word(dst, src, len);
        return;
    }
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        upper_store16(dst + i, src + i);
        upper_store16(dst + i + 16, src + i + 16);
        upper_store16(dst + i + 32, src + i + 32);
        upper_store16(dst + i + 48, src + i + 48);
    }
    for (; i + 16 <= len; i += 16)
        upper_store16(dst + i, src + i);
    if (i < len)
        upper_store16(dst + len - 16, src + len - 16);
}

__attribute__((target("avx2"))) static __m256i upper_vec32(__m256i bytes)
{
    __m256i shifted = _mm256_add_epi8(bytes, _mm256_set1_epi8(UPPER_SHIFT));
    __m256i lower = _mm256_cmpgt_epi8(_mm256_set1_epi8(UPPER_BOUND), shifted);
    return _mm256_xor_si256(bytes, _mm256_and_si256(lower, _mm256_set1_epi8(0x20)));
}

__attribute__((target("avx2"))) static void upper_store32(uint8_t *dst, const uint8_t *src)
{
    __m256i bytes = _mm256_loadu_si256((const __m256i *)(const void *)src);
    _mm256_storeu_si256((__m256i *)(void *)dst, upper_vec32(bytes));
}

/*
 * 32 bytes a step, four steps an iteration (the loop's own cost is then
 * small beside the work); compiled for AVX2 alone, run only where the CPU
 * has it.
 */
__attribute__((target("avx2"))) static void upper_ascii_avx2(uint8_t *dst, const uint8_t *src,
                                                             size_t len)
{
    if (len < 32) {
        upper_ascii_sse2(dst, src, len);
        return;
    }
    size_t i = 0;
    for (; i + 128 <= len; i += 128) {
        upper_store32(dst + i, src + i);
        upper_store32(dst + i + 32, src + i + 32);
        upper_store32(dst + i + 64, src + i + 64);
        upper_store32(dst + i + 96, src + i + 96);
    }
    for (; i + 32 <= len; i += 32)
        upper_store32(dst + i, src + i);
    if (i < len)
        upper_store32(dst + len - 32, src + len - 32);
}
#endif

static struct upper_kernel_entry upper_table[] = {
    {"scalar", upper_ascii_scalar, 1},
    {"word", upper_ascii_word, 1},
#if defined(__x86_64__)
    {"sse2", upper_ascii_sse2, 1},
    {"avx2", upper_ascii_avx2, 0},
#endif
};

/* The last usable entry is the fastest. */
static const struct upper_kernel_entry *upper_chosen = &upper_table[1];

/*
 * Choose once, before main: every thread then reads a pointer that never
 * changes, and a call costs one indirect jump rather than a CPU check.
 */
__attribute__((constructor)) static void upper_choose(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    upper_table[3].usable = __builtin_cpu_supports("avx2");
#endif
    for (size_t i = 0; i < sizeof upper_table / sizeof upper_table[0]; i++)
        if (upper_table[i].usable)
            upper_chosen = &upper_table[i];
}

void upper_ascii(uint8_t *dst, const uint8_t *src, size_t len)
{
    upper_chosen->run(dst, src, len);
}

const struct upper_kernel_entry *upper_kernels(size_t *count)
{
    *count = sizeof upper_table / sizeof upper_table[0];
    return upper_table;
}

const char *upper_ascii_kernel_name(void)
{
    return upper_chosen->name;
}
