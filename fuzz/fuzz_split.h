/*
 * fuzz_split: how a fuzz target reads its input as a few parameters, the
 * points where a byte stream is cut into reads, and the stream itself, so
 * that one input reproduces one exact sequence of calls.
 *
 * An input is laid out front to back, so that a seed reads well in a hex
 * dump and a mutation inside the stream does not move the parameters:
 *
 *   parameters   read with fuzz_read_u8 / _be16 / _be64, in the target's order
 *   cut count    one byte, n
 *   cuts         n bytes, each one piece's length (0 is an empty read)
 *   stream       the rest
 *
 * The cuts are used in turn and then again from the first, until the stream
 * is used up; with no cuts the stream is one piece. Empty pieces are allowed
 * (a read that returns nothing is a case the code must handle), but only a
 * few per input: past that, a 0 counts as 1, so the number of pieces is at
 * most the stream's length plus FUZZ_SPLIT_EMPTY_MAX and every input ends.
 *
 * A parameter read past the end of the input is 0, so every input, even an
 * empty one, is valid. Nothing here allocates.
 */
#ifndef SHOUT_FUZZ_SPLIT_H
#define SHOUT_FUZZ_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_SPLIT_EMPTY_MAX 16

/* What is left of the input, read from the front. */
struct fuzz_reader {
    const uint8_t *bytes;
    size_t left;
};

struct fuzz_split {
    const uint8_t *cuts;
    size_t cut_count;
    size_t next;       /* the cut that gives the next piece's length */
    size_t empty_left; /* empty pieces still allowed */
};

static inline struct fuzz_reader fuzz_reader_init(const uint8_t *bytes, size_t len)
{
    struct fuzz_reader r = {bytes, len};
    return r;
}

static inline uint8_t fuzz_read_u8(struct fuzz_reader *r)
{
    if (r->left == 0)
        return 0;
    uint8_t v = r->bytes[0];
    r->bytes++;
    r->left--;
    return v;
}

static inline uint16_t fuzz_read_be16(struct fuzz_reader *r)
{
    uint16_t hi = fuzz_read_u8(r);
    return (uint16_t)(hi << 8 | fuzz_read_u8(r));
}

/*
 * A codec's max_payload: be32, so that shoutd's 1 MiB default, its 256 MiB
 * cap and UINT32_MAX (no limit at all, which a length field of gigabytes
 * meets) are all inputs.
 */
static inline uint32_t fuzz_read_max_payload(struct fuzz_reader *r)
{
    uint32_t hi = fuzz_read_be16(r);
    return hi << 16 | fuzz_read_be16(r);
}

static inline uint64_t fuzz_read_be64(struct fuzz_reader *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | fuzz_read_u8(r);
    return v;
}

/* The cut count and the cuts; what is left in r afterwards is the stream. */
static inline struct fuzz_split fuzz_read_split(struct fuzz_reader *r)
{
    size_t count = fuzz_read_u8(r);
    if (count > r->left)
        count = r->left;
    struct fuzz_split s = {r->bytes, count, 0, FUZZ_SPLIT_EMPTY_MAX};
    r->bytes += count;
    r->left -= count;
    return s;
}

/* The same cuts from the first again, to feed a second copy of the stream. */
static inline void fuzz_split_rewind(struct fuzz_split *s)
{
    s->next = 0;
    s->empty_left = FUZZ_SPLIT_EMPTY_MAX;
}

/* The length of the next piece of a stream with left bytes to go (at most left). */
static inline size_t fuzz_split_next(struct fuzz_split *s, size_t left)
{
    if (s->cut_count == 0)
        return left;
    size_t want = s->cuts[s->next];
    s->next = (s->next + 1) % s->cut_count;
    if (want == 0) {
        if (s->empty_left > 0)
            s->empty_left--;
        else
            want = 1;
    }
    return want < left ? want : left;
}

#endif
