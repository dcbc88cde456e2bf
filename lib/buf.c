#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Small enough that a connection with one short message costs little. */
#define BUF_MIN_ALLOC 256

/* The allocator every buffer uses; replaced only by fault-injecting tests and fuzzers. */
static buf_alloc_fn *buf_alloc = malloc;
static buf_release_fn *buf_release = free;

void buf_set_allocator(buf_alloc_fn *alloc, buf_release_fn *release)
{
    buf_alloc = alloc ? alloc : malloc;
    buf_release = release ? release : free;
}

void buf_init(struct buf *b, size_t limit)
{
    *b = (struct buf){.limit = limit};
}

void buf_free(struct buf *b)
{
    if (b->bytes)
        buf_release(b->bytes);
    *b = (struct buf){.limit = b->limit};
}

void buf_clear(struct buf *b)
{
    buf_free(b);
}

size_t buf_len(const struct buf *b)
{
    return b->tail - b->head;
}

size_t buf_room(const struct buf *b)
{
    return b->limit - buf_len(b);
}

size_t buf_capacity(const struct buf *b)
{
    return b->alloc;
}

const uint8_t *buf_head(const struct buf *b)
{
    /* An empty buffer may have no storage; NULL + 0 is undefined in C. */
    return b->bytes ? b->bytes + b->head : NULL;
}

/* Grow (or slide the live bytes to the front) so that n bytes fit after the tail. */
static int buf_make_room(struct buf *b, size_t n)
{
    size_t len = buf_len(b);
    if (b->alloc - b->tail >= n)
        return 0;
    if (b->alloc - len >= n && b->head > 0) {
        memmove(b->bytes, b->bytes + b->head, len);
        b->head = 0;
        b->tail = len;
        return 0;
    }
    size_t want = len + n;
    size_t alloc = b->alloc ? b->alloc : BUF_MIN_ALLOC;
    while (alloc < want)
        alloc = alloc > SIZE_MAX / 2 ? want : alloc * 2;
    if (alloc > b->limit)
        alloc = b->limit;
    uint8_t *bytes = buf_alloc(alloc);
    if (!bytes)
        return -ENOMEM;
    if (len)
        memcpy(bytes, b->bytes + b->head, len);
    if (b->bytes)
        buf_release(b->bytes);
    b->bytes = bytes;
    b->alloc = alloc;
    b->head = 0;
    b->tail = len;
    return 0;
}

uint8_t *buf_reserve(struct buf *b, size_t n)
{
    if (n == 0 || n > buf_room(b))
        return NULL;
    if (buf_make_room(b, n) != 0)
        return NULL;
    return b->bytes + b->tail;
}

void buf_commit(struct buf *b, size_t n)
{
    b->tail += n;
}

int buf_append(struct buf *b, const void *src, size_t n)
{
    if (n > buf_room(b))
        return -ENOBUFS;
    if (n == 0)
        return 0;
    uint8_t *dst = buf_reserve(b, n);
    if (!dst)
        return -ENOMEM;
    memcpy(dst, src, n);
    buf_commit(b, n);
    return 0;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= buf_len(b)) {
        buf_free(b);
        return;
    }
    b->head += n;
}
