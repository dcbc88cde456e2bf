/*
 * prng: a deterministic pseudo-random generator for the unit tests
 * (splitmix64), so that a failing "random" case fails the same way on every
 * run and every machine. Not for anything but tests.
 */
#ifndef SHOUT_TEST_PRNG_H
#define SHOUT_TEST_PRNG_H

#include <stddef.h>
#include <stdint.h>

struct prng {
    uint64_t state;
};

static inline uint64_t prng_next(struct prng *rng)
{
    uint64_t z = (rng->state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* A value in [0, bound); bound > 0. The modulo bias is irrelevant here. */
static inline uint64_t prng_below(struct prng *rng, uint64_t bound)
{
    return prng_next(rng) % bound;
}

/*
 * A byte biased towards the edges of the lowercase range ('`' 'a' 'z' '{'),
 * the uppercase range, and the same with the high bit set, where a
 * word-at-a-time kernel would go wrong; otherwise any byte.
 */
static inline uint8_t prng_byte(struct prng *rng)
{
    static const uint8_t edges[] = {'`',  'a',  'b',  'y',  'z',  '{',  '@',  'A',
                                    'Z',  '[',  0x00, 0x7F, 0x80, 0xE0, 0xE1, 0xFA,
                                    0xFB, 0xC0, 0xDA, 0xFF, 0xF5, 0x55};
    uint64_t r = prng_next(rng);
    if ((r & 3) == 0)
        return edges[(r >> 8) % sizeof edges];
    return (uint8_t)(r >> 16);
}

static inline void prng_fill(struct prng *rng, uint8_t *dst, size_t len)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = prng_byte(rng);
}

#endif
