/*
 * buf: a bounded byte buffer (a FIFO of bytes with a hard cap).
 *
 * Bytes are appended at the tail and consumed from the head. The buffer never
 * holds more than its limit: every operation that would grow it past the
 * limit fails without changing it. Storage is allocated lazily, grows
 * geometrically up to the limit, and is released when the buffer empties
 * (buf_consume), so an idle owner costs no heap. A buffer that is consumed
 * from while it is appended to may hold storage of up to twice its limit
 * (never more bytes than the limit): that slack is what lets every byte
 * moved inside it be paid for by a byte consumed, so the work per byte
 * stays constant however the appends and consumes interleave. Its storage
 * is what buf_capacity reports, and what shoutd's memory budget counts.
 *
 * Memory: the buffer owns its storage; buf_free releases it. Pointers from
 * buf_head and buf_reserve are valid until the next call that changes the
 * buffer. Every allocation in lib/ is a buffer's, and goes through one
 * replaceable allocator (malloc and free unless buf_set_allocator says
 * otherwise), so that a fuzzer can make allocation N fail.
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

/* How buffers get and give back storage: malloc's and free's contracts. */
typedef void *buf_alloc_fn(size_t size);
typedef void buf_release_fn(void *bytes);

/*
 * Replace the allocator of every buffer in the process; NULL for either
 * restores malloc and free. For fault injection (fuzz/fuzz_conn.c), not for
 * production: it is a process-wide setting, so change it only while no other
 * thread uses a buffer, and only to a release that can free what the
 * allocator it replaces returned (a wrapper around malloc and free).
 */
void buf_set_allocator(buf_alloc_fn *alloc, buf_release_fn *release);

/*
 * Add to *moved every byte a buffer copies inside itself (sliding its live
 * bytes to the front, or into larger storage); NULL stops counting. For the
 * fuzzers' cost oracle, which holds that work to the bytes that came and
 * went: process-wide like buf_set_allocator, with the same care.
 */
void buf_count_moves(size_t *moved);

void buf_init(struct buf *b, size_t limit);
void buf_free(struct buf *b);

/*
 * The accessors are inline: they are called for every read, frame and
 * reply, and as functions of their own each paid a call and, in the fuzz
 * builds, its own sanitizer and coverage checks of the same pointer.
 */
static inline size_t buf_len(const struct buf *b)
{
    return b->tail - b->head;
}

/* How many more bytes may be appended before the limit. */
static inline size_t buf_room(const struct buf *b)
{
    return b->limit - buf_len(b);
}

/*
 * Bytes of storage allocated now, whatever part of it holds bytes: what the
 * buffer costs the process (lib/conn.h's conn_bytes_held adds these up).
 */
static inline size_t buf_capacity(const struct buf *b)
{
    return b->alloc;
}

/* The first unconsumed byte; NULL when the buffer has no storage. */
static inline const uint8_t *buf_head(const struct buf *b)
{
    /* An empty buffer may have no storage; NULL + 0 is undefined in C. */
    return b->bytes ? b->bytes + b->head : NULL;
}

/*
 * Make room for n more bytes and return where to write them, or NULL if n is
 * 0, over buf_room (the limit), or memory runs out. Nothing counts until
 * buf_commit says how many of them were written.
 */
uint8_t *buf_reserve(struct buf *b, size_t n);

static inline void buf_commit(struct buf *b, size_t n)
{
    b->tail += n;
}

/* Append n bytes: 0, or -ENOBUFS over the limit, or -ENOMEM. */
int buf_append(struct buf *b, const void *src, size_t n);

/* Drop n bytes (at most buf_len) from the head. */
void buf_consume(struct buf *b, size_t n);

/* Drop everything and release the storage. */
void buf_clear(struct buf *b);

#endif
