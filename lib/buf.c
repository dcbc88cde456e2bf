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

/* Where copies inside buffers are counted; NULL (always, in shoutd and shout): nowhere. */
static size_t *buf_moved;

void buf_count_moves(size_t *moved)
{
    buf_moved = moved;
}

static void buf_note_moved(size_t n)
{
    if (buf_moved)
        *buf_moved += n;
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

/*
 * Grow, or slide the live bytes to the front, so that n bytes fit after the
 * tail. A slide moves every live byte, so it is done only when at least as
 * many bytes were consumed in front of them (head >= len): each byte
 * consumed pays for at most one byte moved. Otherwise the storage grows,
 * and a buffer that has consumed bytes may grow to twice its limit: a full
 * buffer that drains a byte and takes a byte at a time would otherwise
 * slide all of its bytes for every one (quadratic work, which fuzz_conn's
 * and unit_buf's cost checks catch). At twice the limit a short tail always
 * means head >= len, since len + n <= limit.
 */
static int buf_make_room(struct buf *b, size_t n)
{
    size_t len = buf_len(b);
    if (b->alloc - b->tail >= n)
        return 0;
    if (b->head >= len && b->alloc - len >= n) {
        memmove(b->bytes, b->bytes + b->head, len);
        buf_note_moved(len);
        b->head = 0;
        b->tail = len;
        return 0;
    }
    size_t want = len + n;
    /* Nothing consumed: sliding cannot help, and no byte past the limit is needed. */
    size_t cap = b->head > 0 && b->limit <= SIZE_MAX / 2 ? 2 * b->limit : b->limit;
    size_t alloc = b->alloc ? b->alloc : BUF_MIN_ALLOC;
    while (alloc < want || (b->head > 0 && alloc <= b->alloc))
        alloc = alloc > SIZE_MAX / 2 ? want : alloc * 2;
    if (alloc > cap)
        alloc = cap;
    uint8_t *bytes = buf_alloc(alloc);
    if (!bytes)
        return -ENOMEM;
    if (len)
        memcpy(bytes, b->bytes + b->head, len);
    buf_note_moved(len);
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
