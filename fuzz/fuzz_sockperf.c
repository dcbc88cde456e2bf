/*
 * fuzz_sockperf: the sockperf codec and answerer of lib/sockperf.c, against
 * a reference model of docs/protocol.md's "sockperf compatibility".
 *
 * Input (fuzz_split.h): max_payload (be32; 1 MiB is shoutd's default), which
 * allocation of the payload store fails (fuzz_alloc.h; 0 none), the cuts,
 * then bytes that are used three ways: as a TCP stream, as one UDP
 * datagram, and (their first 14) as a header.
 *
 * Oracles:
 * - The stream, decoded in one piece and in the fuzzer's pieces, gives
 *   exactly the model's messages: 14-byte headers back to back, the length
 *   counting the header, a length under 14 or a payload over max_payload an
 *   error after the bad header; a payload handed out (its bytes are the
 *   stream's) exactly when the message is answered (client bit, reply
 *   requested, no warm-up), NULL otherwise. No call consumes more than it
 *   was given; an error is sticky. When the store's allocation fails, the
 *   call that saw it ends in the out-of-memory error (and only such a call
 *   does), inside a valid message that is answered.
 * - The payload store never exceeds max_payload, and stays empty while the
 *   message is one that is not answered (those payloads are skipped, never
 *   stored).
 * - Any 14 bytes parse and re-encode to themselves; a header encoded and
 *   parsed back is the same header.
 * - sockperf_answer_datagram: the model's verdict; a reply, written into a
 *   buffer of exactly the datagram's size, is the datagram with the client
 *   bit cleared and every other header byte unchanged, payload uppercased;
 *   in place gives the same bytes.
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
#include "sockperf.h"

enum sockperf_model_kind {
    SOCKPERF_MODEL_MESSAGE,
    SOCKPERF_MODEL_ERROR,
    SOCKPERF_MODEL_INCOMPLETE,
};

/* What the model reads at one offset of the stream. */
struct sockperf_model_step {
    enum sockperf_model_kind kind;
    enum sockperf_error error;
    size_t start;
    size_t end; /* one past the message (past the header for an error); len if incomplete */
    uint64_t seq;
    uint16_t flags;
    uint32_t length;
    bool answered;
};

static bool sockperf_model_answers(uint16_t flags)
{
    return (flags & 1) && (flags & 2) && !(flags & 4);
}

static struct sockperf_model_step sockperf_model_read(const uint8_t *stream, size_t len, size_t at,
                                                      uint32_t max_payload)
{
    struct sockperf_model_step step = {.kind = SOCKPERF_MODEL_INCOMPLETE, .start = at, .end = len};
    if (len - at < 14)
        return step;
    const uint8_t *h = stream + at;
    step.seq = fuzz_model_load_be(h, 8);
    step.flags = (uint16_t)fuzz_model_load_be(h + 8, 2);
    step.length = (uint32_t)fuzz_model_load_be(h + 10, 4);
    step.answered = sockperf_model_answers(step.flags);
    if (step.length < 14)
        step.error = SOCKPERF_ERR_TOO_SHORT;
    else if (step.length - 14 > max_payload)
        step.error = SOCKPERF_ERR_TOO_LARGE;
    if (step.error != SOCKPERF_OK) {
        step.kind = SOCKPERF_MODEL_ERROR;
        step.end = at + 14;
        return step;
    }
    if (step.length > len - at)
        return step;
    step.kind = SOCKPERF_MODEL_MESSAGE;
    step.end = at + step.length;
    return step;
}

static void sockperf_check_message(const struct sockperf_message *m,
                                   const struct sockperf_model_step *want, const uint8_t *stream)
{
    const struct sockperf_header *h = &m->header;
    FUZZ_CHECK(h->seq == want->seq && h->flags == want->flags && h->length == want->length,
               "message at %zu: header differs from the stream's", want->start);
    size_t payload_len = want->length - 14;
    if (!want->answered) {
        FUZZ_CHECK(m->payload == NULL, "message at %zu: payload of an unanswered message",
                   want->start);
        return;
    }
    FUZZ_CHECK(payload_len == 0 ||
                   (m->payload && memcmp(m->payload, stream + want->start + 14, payload_len) == 0),
               "message at %zu: payload differs from the stream's", want->start);
}

static void sockperf_check_store(const struct sockperf_decoder *dec, uint32_t max_payload,
                                 const struct sockperf_model_step *want)
{
    FUZZ_CHECK(dec->payload.alloc <= max_payload, "store of %zu bytes, limit %u",
               dec->payload.alloc, (unsigned)max_payload);
    /* The store holds, at most, the one message being decoded or just handed out. */
    FUZZ_CHECK(want->answered || dec->payload.alloc == 0,
               "%zu bytes stored for an unanswered message at %zu", dec->payload.alloc,
               want->start);
}

/* One decoder being fed one stream, and where the model says it is. */
struct sockperf_feed {
    struct sockperf_decoder dec;
    const uint8_t *stream;
    size_t len;
    uint32_t max_payload;
    struct sockperf_model_step want; /* the message being decoded */
    size_t total;                    /* bytes consumed so far */
};

/* The store could not grow: the message was a valid one that is answered. */
static void sockperf_check_no_memory(const struct sockperf_feed *f)
{
    FUZZ_CHECK(f->want.kind != SOCKPERF_MODEL_ERROR && f->want.answered && f->total <= f->want.end,
               "out of memory after %zu bytes, model kind %d ending at %zu", f->total,
               (int)f->want.kind, f->want.end);
    FUZZ_CHECK(f->dec.payload.alloc == 0, "store kept after running out of memory");
}

static void sockperf_check_error(const struct sockperf_feed *f, const struct sockperf_message *m)
{
    FUZZ_CHECK(f->want.kind == SOCKPERF_MODEL_ERROR && f->total == f->want.end &&
                   sockperf_decoder_error(&f->dec) == f->want.error,
               "error %d after %zu bytes, model kind %d error %d at %zu",
               (int)sockperf_decoder_error(&f->dec), f->total, (int)f->want.kind,
               (int)f->want.error, f->want.end);
    FUZZ_CHECK(m->header.seq == f->want.seq && m->header.length == f->want.length,
               "error at %zu: not the offending header", f->want.start);
    FUZZ_CHECK(f->dec.payload.alloc == 0, "store kept after an error");
}

/* Decode one piece to its end, checking every call; false once the decoder is in error. */
static bool sockperf_feed_piece(struct sockperf_feed *f, const uint8_t *in, size_t piece)
{
    size_t off = 0;
    for (;;) {
        size_t consumed = 0;
        struct sockperf_message m;
        enum sockperf_status st = sockperf_decode(&f->dec, in + off, piece - off, &consumed, &m);
        FUZZ_CHECK(consumed <= piece - off, "consumed %zu of %zu", consumed, piece - off);
        off += consumed;
        f->total += consumed;
        bool no_memory =
            st == SOCKPERF_ERROR && sockperf_decoder_error(&f->dec) == SOCKPERF_ERR_NO_MEMORY;
        FUZZ_CHECK(fuzz_alloc_took_failure() == no_memory,
                   "status %d error %d: not what a failed allocation (or none) gives", (int)st,
                   (int)sockperf_decoder_error(&f->dec));
        if (st == SOCKPERF_NEED_MORE) {
            sockperf_check_store(&f->dec, f->max_payload, &f->want);
            FUZZ_CHECK(off == piece, "need more with %zu bytes left", piece - off);
            FUZZ_CHECK(f->total < f->want.end || f->want.kind == SOCKPERF_MODEL_INCOMPLETE,
                       "need more at %zu, model complete at %zu", f->total, f->want.end);
            return true;
        }
        if (st == SOCKPERF_ERROR) {
            if (no_memory)
                sockperf_check_no_memory(f);
            else
                sockperf_check_error(f, &m);
            st = sockperf_decode(&f->dec, in + off, piece - off, &consumed, &m);
            FUZZ_CHECK(st == SOCKPERF_ERROR && consumed == 0, "error is not sticky");
            return false;
        }
        FUZZ_CHECK(f->want.kind == SOCKPERF_MODEL_MESSAGE && f->total == f->want.end,
                   "message ending at %zu, model kind %d ending at %zu", f->total,
                   (int)f->want.kind, f->want.end);
        sockperf_check_store(&f->dec, f->max_payload, &f->want);
        sockperf_check_message(&m, &f->want, f->stream);
        f->want = sockperf_model_read(f->stream, f->len, f->total, f->max_payload);
    }
}

/* Feed stream to a fresh decoder in the pieces split gives. */
static void sockperf_decode_stream(const uint8_t *stream, size_t len, uint32_t max_payload,
                                   size_t fail_at, struct fuzz_split *split)
{
    fuzz_alloc_arm(fail_at);
    struct sockperf_feed f = {.stream = stream, .len = len, .max_payload = max_payload};
    sockperf_decoder_init(&f.dec, max_payload);
    f.want = sockperf_model_read(stream, len, 0, max_payload);
    size_t fed = 0;
    bool healthy;
    do {
        size_t piece = fuzz_split_next(split, len - fed);
        healthy = sockperf_feed_piece(&f, stream + fed, piece);
        fed += piece;
    } while (healthy && fed < len);

    if (healthy)
        FUZZ_CHECK(f.want.kind == SOCKPERF_MODEL_INCOMPLETE && f.total == len,
                   "stream ended: model kind %d, consumed %zu of %zu", (int)f.want.kind, f.total,
                   len);
    sockperf_decoder_free(&f.dec);
    fuzz_alloc_disarm();
}

static void sockperf_check_header_round_trip(const uint8_t *bytes, size_t len)
{
    uint8_t raw[SOCKPERF_HEADER_LEN] = {0};
    memcpy(raw, bytes, len < sizeof raw ? len : sizeof raw);
    struct sockperf_header h;
    (void)sockperf_parse_header(raw, UINT32_MAX, &h);
    uint8_t again[SOCKPERF_HEADER_LEN];
    sockperf_encode_header(again, &h);
    FUZZ_CHECK(memcmp(again, raw, sizeof raw) == 0, "header bytes do not re-encode to themselves");
    struct sockperf_header back;
    (void)sockperf_parse_header(again, 0, &back);
    FUZZ_CHECK(back.seq == h.seq && back.flags == h.flags && back.length == h.length,
               "header does not parse back to itself");
}

/* The model's verdict for a datagram, and its reply in out (len bytes of room). */
static enum sockperf_verdict sockperf_model_answer(const uint8_t *in, size_t len,
                                                   uint32_t max_payload, uint8_t *out)
{
    if (len < 14)
        return SOCKPERF_BAD_LENGTH;
    struct sockperf_model_step step = sockperf_model_read(in, len, 0, max_payload);
    if (step.kind != SOCKPERF_MODEL_MESSAGE || step.length != len)
        return SOCKPERF_BAD_LENGTH;
    if (!step.answered)
        return SOCKPERF_NO_REPLY;
    memcpy(out, in, 14);
    out[9] &= (uint8_t)~1u; /* the client bit, the low bit of the big-endian flags */
    fuzz_model_upper_copy(out + 14, in + 14, len - 14);
    return SOCKPERF_REPLY;
}

static void sockperf_check_datagram(const uint8_t *bytes, size_t len, uint32_t max_payload)
{
    /* Exactly len bytes each, so that ASan sees a byte read or written past the datagram. */
    uint8_t *in = calloc(len ? len : 1, 1);
    uint8_t *reply = malloc(len ? len : 1);
    uint8_t *model = malloc(len ? len : 1);
    FUZZ_CHECK(in && reply && model, "out of memory");
    if (len)
        memcpy(in, bytes, len);
    enum sockperf_verdict want = sockperf_model_answer(in, len, max_payload, model);
    enum sockperf_verdict got = sockperf_answer_datagram(in, len, max_payload, reply);
    FUZZ_CHECK(got == want, "verdict %d, model %d", (int)got, (int)want);
    if (want == SOCKPERF_REPLY)
        FUZZ_CHECK(memcmp(reply, model, len) == 0, "reply bytes differ from the model's");
    got = sockperf_answer_datagram(in, len, max_payload, in);
    FUZZ_CHECK(got == want, "in place: verdict %d, model %d", (int)got, (int)want);
    if (want == SOCKPERF_REPLY)
        FUZZ_CHECK(memcmp(in, model, len) == 0, "in place: reply bytes differ from the model's");
    else
        FUZZ_CHECK(len == 0 || memcmp(in, bytes, len) == 0, "a datagram not answered was changed");
    free(model);
    free(reply);
    free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    struct fuzz_reader r = fuzz_reader_init(size ? data : empty, size);
    uint32_t max_payload = fuzz_read_max_payload(&r);
    size_t fail_at = fuzz_read_u8(&r);
    struct fuzz_split split = fuzz_read_split(&r);

    struct fuzz_split one_piece = {0};
    sockperf_decode_stream(r.bytes, r.left, max_payload, fail_at, &one_piece);
    sockperf_decode_stream(r.bytes, r.left, max_payload, fail_at, &split);
    sockperf_check_header_round_trip(r.bytes, r.left);
    sockperf_check_datagram(r.bytes, r.left, max_payload);
    return 0;
}
