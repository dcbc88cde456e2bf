/*
 * buf: a bounded byte buffer (a FIFO of bytes with a hard cap).
 *
 * Bytes are appended at the tail and consumed from the head. The buffer never
 * holds more than its limit: every operation that would grow it past the
 * limit fails without changing it. Storage is allocated lazily, grows
 * geometrically up to the limit, and is released when the buffer empties
 * (buf_consume), so an idle owner costs no heap.
 *
 * Memory: the buffer owns its storage; buf_free releases it. Pointers from
 * buf_head and buf_reserve are valid until the next call that changes the
 * buffer.
 */
#ifndef SHOUT_BUF_H
#define SHOUT_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *bytes;
    size_t head;  /* offset of the first unconsumed byte */
    size_t tail;  /* offset one past the last byte */
    size_t alloc; /* bytes allocated */
    size_t limit; /* most bytes the buffer may ever hold */
};

void buf_init(struct buf *b, size_t limit);
void buf_free(struct buf *b);

size_t buf_len(const struct buf *b);
/* How many more bytes may be appended before the limit. */
size_t buf_room(const struct buf *b);
/* The first unconsumed byte; NULL when the buffer has no storage. */
const uint8_t *buf_head(const struct buf *b);

/*
 * Make room for n more bytes and return where to write them, or NULL if n is
 * 0, over buf_room (the limit), or memory runs out. Nothing counts until
 * buf_commit says how many of them were written.
 */
uint8_t *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);

/* Append n bytes: 0, or -ENOBUFS over the limit, or -ENOMEM. */
int buf_append(struct buf *b, const void *src, size_t n);

/* Drop n bytes (at most buf_len) from the head. */
void buf_consume(struct buf *b, size_t n);

/* Drop everything and release the storage. */
void buf_clear(struct buf *b);

#endif
