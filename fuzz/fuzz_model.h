/*
 * fuzz_model: the few facts of docs/protocol.md that the fuzz targets'
 * reference models are built from, written again from the document and not
 * taken from lib/, so that a bug in the real code cannot hide in its oracle:
 * Python's bytes.upper() one byte at a time, and big-endian loads and stores
 * spelled out byte by byte.
 *
 * Nothing here allocates or makes a syscall.
 */
#ifndef SHOUT_FUZZ_MODEL_H
#define SHOUT_FUZZ_MODEL_H

#include <stddef.h>
#include <stdint.h>

/* bytes.upper(): 'a'..'z' to 'A'..'Z', every other byte as it is. */
static inline uint8_t fuzz_model_upper(uint8_t b)
{
    return b >= 'a' && b <= 'z' ? (uint8_t)(b - ('a' - 'A')) : b;
}

static inline void fuzz_model_upper_copy(uint8_t *dst, const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = fuzz_model_upper(src[i]);
}

static inline uint64_t fuzz_model_load_be(const uint8_t *p, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

static inline void fuzz_model_store_be(uint8_t *p, uint64_t v, size_t bytes)
{
    for (size_t i = bytes; i-- > 0; v >>= 8)
        p[i] = (uint8_t)v;
}

#endif
