#include "upper.h"

#include <string.h>

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

void upper_ascii(uint8_t *dst, const uint8_t *src, size_t len)
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
