/*
 * support: helpers the unit tests share. Frames are spelled out byte by byte
 * here, independently of lib/wire.c, so the codec is checked against the
 * protocol table rather than against itself; ref_upper is the definition of
 * the uppercase mapping from the design, not a call into lib/upper.c.
 */
#ifndef SHOUT_TEST_SUPPORT_H
#define SHOUT_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint8_t ref_upper(uint8_t byte)
{
    if (byte >= 'a' && byte <= 'z')
        return (uint8_t)(byte - 'a' + 'A');
    return byte;
}

static inline void put_header(uint8_t *out, uint8_t magic0, uint8_t magic1, uint8_t version,
                              uint8_t type, uint32_t length, uint64_t id)
{
    out[0] = magic0;
    out[1] = magic1;
    out[2] = version;
    out[3] = type;
    for (int i = 0; i < 4; i++)
        out[4 + i] = (uint8_t)(length >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        out[8 + i] = (uint8_t)(id >> (56 - 8 * i));
}

/* A version 1 request header (magic 0xF5 0x55, type 1). */
static inline void put_request(uint8_t *out, uint32_t length, uint64_t id)
{
    put_header(out, 0xF5, 0x55, 1, 1, length, id);
}

static inline uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* A growable byte string: a stream being built, or output being collected. */
struct bytes {
    uint8_t *at;
    size_t len;
    size_t cap;
};

/* Make room for n more bytes and return where they go (already counted in len). */
static inline uint8_t *bytes_extend(struct bytes *b, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *at = realloc(b->at, cap);
        if (!at)
            abort();
        b->at = at;
        b->cap = cap;
    }
    uint8_t *dst = b->at + b->len;
    b->len += n;
    return dst;
}

static inline void bytes_add(struct bytes *b, const void *src, size_t n)
{
    if (n)
        memcpy(bytes_extend(b, n), src, n);
}

static inline void bytes_add_header(struct bytes *b, uint8_t magic0, uint8_t magic1,
                                    uint8_t version, uint8_t type, uint32_t length, uint64_t id)
{
    put_header(bytes_extend(b, 16), magic0, magic1, version, type, length, id);
}

static inline void bytes_add_request(struct bytes *b, uint64_t id, const void *payload,
                                     uint32_t len)
{
    put_request(bytes_extend(b, 16), len, id);
    bytes_add(b, payload, len);
}

static inline void bytes_free(struct bytes *b)
{
    free(b->at);
    *b = (struct bytes){0};
}

#endif
