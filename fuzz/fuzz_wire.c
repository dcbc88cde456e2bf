/*
 * fuzz_wire: the frame codec of lib/wire.c, decoder and encoder, against a
 * reference model of the framing written from docs/protocol.md.
 *
 * Input (fuzz_split.h): max_payload (be32: shoutd's 1 MiB default, its
 * 256 MiB cap, and UINT32_MAX, no limit at all, so that a length field of
 * gigabytes meets a decoder that would accept it), an error code and a
 * buffer size for wire_encode_error, which allocation of the payload store
 * fails (fuzz_alloc.h; 0 none), the cuts, then the byte stream.
 *
 * Oracles:
 * - The stream is decoded twice, in one piece and in the fuzzer's pieces,
 *   and both times the frames (every header field and every payload byte),
 *   the error code and the offending header's id, and the total consumed
 *   are exactly what the model reads from the stream: frames back to back,
 *   a header checked magic, version, type, then length against the limit,
 *   and an error after the 16 bytes of the bad header. When the store's
 *   allocation fails, the call that saw it ends in the out-of-memory error
 *   (and only such a call does), inside a frame the model says is valid.
 * - Each frame's header, re-encoded with wire_encode_header, is the 16 bytes
 *   it was decoded from.
 * - No call consumes more than it was given; "need more" means all of it
 *   was taken; an error is sticky and consumes nothing after.
 * - The payload store never holds more than max_payload, and grows with the
 *   bytes that arrived (at most twice them, past a small first block), never
 *   with what a length field claims.
 * - wire_encode_error never writes past its buffer, gives 0 exactly when the
 *   header and code do not fit, and writes a valid type-3 frame whose reason
 *   is a prefix of wire_error_reason(code) of at most 64 bytes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_alloc.h"
#include "fuzz_check.h"
#include "fuzz_model.h"
#include "fuzz_split.h"
#include "wire.h"

/* The store's first block may exceed twice a tiny payload; lib/buf.c's is 256 bytes. */
#define FUZZ_WIRE_FIRST_BLOCK 4096

enum wire_model_kind {
    WIRE_MODEL_FRAME,      /* a whole frame, header valid, payload all there */
    WIRE_MODEL_ERROR,      /* a whole header that is refused */
    WIRE_MODEL_INCOMPLETE, /* the stream ends inside this frame (or at its start) */
};

/* What the model reads at one offset of the stream. */
struct wire_model_step {
    enum wire_model_kind kind;
    enum wire_error error;
    size_t start; /* offset of the frame's first header byte */
    size_t end;   /* one past its last byte (after the header for an error); len if incomplete */
    uint8_t version;
    uint8_t type;
    uint32_t length;
    uint64_t id;
};

static struct wire_model_step wire_model_read(const uint8_t *stream, size_t len, size_t at,
                                              uint32_t max_payload)
{
    struct wire_model_step step = {.kind = WIRE_MODEL_INCOMPLETE, .start = at, .end = len};
    if (len - at < 16)
        return step;
    const uint8_t *h = stream + at;
    step.version = h[2];
    step.type = h[3];
    step.length = (uint32_t)fuzz_model_load_be(h + 4, 4);
    step.id = fuzz_model_load_be(h + 8, 8);
    if (h[0] != 0xF5 || h[1] != 0x55)
        step.error = WIRE_ERR_BAD_MAGIC;
    else if (step.version != 1)
        step.error = WIRE_ERR_BAD_VERSION;
    else if (step.type < 1 || step.type > 3)
        step.error = WIRE_ERR_BAD_TYPE;
    else if (step.length > max_payload)
        step.error = WIRE_ERR_TOO_LARGE;
    if (step.error != WIRE_OK) {
        step.kind = WIRE_MODEL_ERROR;
        step.end = at + 16;
        return step;
    }
    if (step.length > len - at - 16)
        return step;
    step.kind = WIRE_MODEL_FRAME;
    step.end = at + 16 + step.length;
    return step;
}

static void wire_check_store(const struct wire_decoder *dec, uint32_t max_payload)
{
    size_t alloc = dec->payload.alloc, stored = buf_len(&dec->payload);
    FUZZ_CHECK(alloc <= max_payload, "store of %zu bytes, limit %u", alloc, (unsigned)max_payload);
    FUZZ_CHECK(alloc <= FUZZ_WIRE_FIRST_BLOCK || alloc / 2 <= stored,
               "store of %zu bytes for %zu bytes received", alloc, stored);
}

static void wire_check_frame(const struct wire_frame *frame, const struct wire_model_step *want,
                             const uint8_t *stream)
{
    const struct wire_header *h = &frame->header;
    FUZZ_CHECK(h->version == want->version && h->type == want->type && h->length == want->length &&
                   h->id == want->id,
               "frame at %zu: header differs from the stream's", want->start);
    FUZZ_CHECK(want->length == 0 ||
                   (frame->payload &&
                    memcmp(frame->payload, stream + want->start + 16, want->length) == 0),
               "frame at %zu: payload differs from the stream's", want->start);
    uint8_t again[WIRE_HEADER_LEN];
    wire_encode_header(again, h);
    FUZZ_CHECK(memcmp(again, stream + want->start, WIRE_HEADER_LEN) == 0,
               "frame at %zu: re-encoded header differs", want->start);
}

/* The store could not grow: the frame was a valid one, and the error is out of memory. */
static void wire_check_no_memory(const struct wire_decoder *dec, const struct wire_model_step *want,
                                 size_t total)
{
    FUZZ_CHECK(want->kind != WIRE_MODEL_ERROR && total <= want->end,
               "out of memory after %zu bytes, model kind %d ending at %zu", total, (int)want->kind,
               want->end);
    FUZZ_CHECK(dec->payload.alloc == 0, "store kept after running out of memory");
}

static void wire_check_error(const struct wire_decoder *dec, const struct wire_frame *frame,
                             const struct wire_model_step *want)
{
    FUZZ_CHECK(want->kind == WIRE_MODEL_ERROR, "error %d where the model has none at %zu",
               (int)wire_decoder_error(dec), want->start);
    FUZZ_CHECK(wire_decoder_error(dec) == want->error, "error %d, model %d",
               (int)wire_decoder_error(dec), (int)want->error);
    FUZZ_CHECK(frame->header.id == want->id && frame->header.length == want->length,
               "error frame at %zu: not the offending header's id and length", want->start);
}

/* One decoder being fed one stream, and where the model says it is. */
struct wire_feed {
    struct wire_decoder dec;
    const uint8_t *stream;
    size_t len;
    uint32_t max_payload;
    struct wire_model_step want; /* the frame being decoded */
    size_t total;                /* bytes consumed so far */
};

/* Decode one piece to its end, checking every call; false once the decoder is in error. */
static bool wire_feed_piece(struct wire_feed *f, const uint8_t *in, size_t piece)
{
    size_t off = 0;
    for (;;) {
        size_t consumed = 0;
        struct wire_frame frame;
        enum wire_status st = wire_decode(&f->dec, in + off, piece - off, &consumed, &frame);
        FUZZ_CHECK(consumed <= piece - off, "consumed %zu of %zu", consumed, piece - off);
        off += consumed;
        f->total += consumed;
        wire_check_store(&f->dec, f->max_payload);
        bool no_memory = st == WIRE_ERROR && wire_decoder_error(&f->dec) == WIRE_ERR_NO_MEMORY;
        FUZZ_CHECK(fuzz_alloc_took_failure() == no_memory,
                   "status %d error %d: not what a failed allocation (or none) gives", (int)st,
                   (int)wire_decoder_error(&f->dec));
        if (st == WIRE_NEED_MORE) {
            FUZZ_CHECK(off == piece, "need more with %zu bytes left", piece - off);
            FUZZ_CHECK(f->total < f->want.end || f->want.kind == WIRE_MODEL_INCOMPLETE,
                       "need more at %zu, model complete at %zu", f->total, f->want.end);
            return true;
        }
        if (st == WIRE_ERROR) {
            if (no_memory) {
                wire_check_no_memory(&f->dec, &f->want, f->total);
            } else {
                wire_check_error(&f->dec, &frame, &f->want);
                FUZZ_CHECK(f->total == f->want.end, "error after %zu bytes, model %zu", f->total,
                           f->want.end);
            }
            st = wire_decode(&f->dec, in + off, piece - off, &consumed, &frame);
            FUZZ_CHECK(st == WIRE_ERROR && consumed == 0, "error is not sticky");
            return false;
        }
        FUZZ_CHECK(f->want.kind == WIRE_MODEL_FRAME && f->total == f->want.end,
                   "frame ending at %zu, model kind %d ending at %zu", f->total, (int)f->want.kind,
                   f->want.end);
        wire_check_frame(&frame, &f->want, f->stream);
        f->want = wire_model_read(f->stream, f->len, f->total, f->max_payload);
    }
}

/* Feed stream to a fresh decoder in the pieces split gives. */
static void wire_decode_stream(const uint8_t *stream, size_t len, uint32_t max_payload,
                               size_t fail_at, struct fuzz_split *split)
{
    fuzz_alloc_arm(fail_at);
    struct wire_feed f = {.stream = stream, .len = len, .max_payload = max_payload};
    wire_decoder_init(&f.dec, max_payload);
    f.want = wire_model_read(stream, len, 0, max_payload);
    size_t fed = 0;
    bool healthy;
    do {
        size_t piece = fuzz_split_next(split, len - fed);
        healthy = wire_feed_piece(&f, stream + fed, piece);
        fed += piece;
    } while (healthy && fed < len);

    if (healthy) {
        FUZZ_CHECK(f.want.kind == WIRE_MODEL_INCOMPLETE && f.total == len,
                   "stream ended: model kind %d, consumed %zu of %zu", (int)f.want.kind, f.total,
                   len);
        FUZZ_CHECK(wire_decoder_mid_frame(&f.dec) == (len > f.want.start),
                   "mid-frame says %d with %zu bytes of a frame", wire_decoder_mid_frame(&f.dec),
                   len - f.want.start);
    }
    wire_decoder_free(&f.dec);
    fuzz_alloc_disarm();
}

/* wire_encode_error into a buffer of exactly cap bytes, so that ASan sees any byte past it. */
static void wire_check_encode_error(enum wire_error code, size_t cap)
{
    const uint64_t id = 0x0123456789ABCDEFu;
    uint8_t *out = malloc(cap ? cap : 1);
    FUZZ_CHECK(out != NULL, "out of memory");
    size_t len = wire_encode_error(out, cap, id, code);
    const char *reason = wire_error_reason(code);
    size_t reason_len = strlen(reason);
    if (reason_len > WIRE_REASON_MAX)
        reason_len = WIRE_REASON_MAX;
    if (cap < 18) {
        FUZZ_CHECK(len == 0, "%zu bytes of error frame in %zu", len, cap);
    } else {
        if (reason_len > cap - 18)
            reason_len = cap - 18;
        FUZZ_CHECK(len == 18 + reason_len, "error frame of %zu bytes, want %zu", len,
                   18 + reason_len);
        FUZZ_CHECK(out[0] == 0xF5 && out[1] == 0x55 && out[2] == 1 && out[3] == 3 &&
                       fuzz_model_load_be(out + 4, 4) == len - 16 &&
                       fuzz_model_load_be(out + 8, 8) == id &&
                       fuzz_model_load_be(out + 16, 2) == (uint64_t)code,
                   "error frame header or code wrong");
        FUZZ_CHECK(memcmp(out + 18, reason, reason_len) == 0, "reason is not the code's");
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    struct fuzz_reader r = fuzz_reader_init(size ? data : empty, size);
    uint32_t max_payload = fuzz_read_max_payload(&r);
    /* One code past the last, to see the reason of an unknown code too. */
    enum wire_error code = (enum wire_error)(fuzz_read_u8(&r) % (WIRE_ERROR_CODE_MAX + 2));
    size_t error_cap = fuzz_read_u8(&r);
    size_t fail_at = fuzz_read_u8(&r);
    struct fuzz_split split = fuzz_read_split(&r);

    struct fuzz_split one_piece = {0};
    wire_decode_stream(r.bytes, r.left, max_payload, fail_at, &one_piece);
    wire_decode_stream(r.bytes, r.left, max_payload, fail_at, &split);
    wire_check_encode_error(code, error_cap);
    return 0;
}
