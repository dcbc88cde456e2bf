#include "check.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "judge.h"
#include "upper.h"

static enum check_status check_verdict(struct check *c, enum check_status status)
{
    c->status = status;
    return status;
}

/* Compare reply bytes that belong at offset `at` of the reply; 0 if they are right. */
static int check_compare(struct check *c, size_t at, const uint8_t *reply, size_t len)
{
    size_t diff = judge_upper_difference(c->request + at, reply, len);
    if (diff == len)
        return 0;
    uint8_t expected;
    upper_ascii(&expected, c->request + at + diff, 1);
    snprintf(c->why, sizeof c->why, "reply mismatch at byte %zu: expected 0x%02X, got 0x%02X",
             at + diff, expected, reply[diff]);
    return -1;
}

void check_init_text(struct check *c, const uint8_t *request, size_t len)
{
    *c = (struct check){.mode = CHECK_TEXT, .request = request, .request_len = len};
    if (len == 0)
        c->status = CHECK_DONE;
}

void check_init_framed(struct check *c, const uint8_t *payload, uint32_t len, uint64_t id)
{
    *c = (struct check){.mode = CHECK_FRAMED, .request = payload, .request_len = len, .id = id};
    /*
     * The decoder's limit is the longest frame we could accept: the reply
     * (as long as the request) or an error frame. A longer length field is
     * refused from the header alone, before a byte of its payload is stored.
     */
    wire_decoder_init(&c->decoder, judge_frame_limit(len));
}

void check_free(struct check *c)
{
    if (c->mode == CHECK_FRAMED)
        wire_decoder_free(&c->decoder);
}

enum check_status check_status(const struct check *c)
{
    return c->status;
}

const char *check_why(const struct check *c)
{
    return c->why;
}

/* Bytes arrived after a reply that was already complete. */
static enum check_status check_extra_bytes(struct check *c, size_t extra)
{
    if (c->mode == CHECK_TEXT)
        snprintf(c->why, sizeof c->why,
                 "reply mismatch at byte %zu: the reply is longer than the request (%zu more "
                 "bytes)",
                 c->request_len, extra);
    else
        snprintf(c->why, sizeof c->why,
                 "reply mismatch: %zu unexpected bytes after the reply frame", extra);
    return check_verdict(c, CHECK_MISMATCH);
}

static enum check_status check_feed_text(struct check *c, const uint8_t *in, size_t len)
{
    size_t want = c->request_len - c->received;
    size_t take = len < want ? len : want;
    if (check_compare(c, c->received, in, take) != 0)
        return check_verdict(c, CHECK_MISMATCH);
    c->received += take;
    if (c->received < c->request_len)
        return CHECK_NEED_MORE;
    c->status = CHECK_DONE;
    return take < len ? check_extra_bytes(c, len - take) : CHECK_DONE;
}

/* An error frame: a 2-byte code, then a short reason that is shown, made printable. */
static enum check_status check_server_error(struct check *c, const struct wire_frame *frame)
{
    char reason[WIRE_REASON_MAX + 1];
    int code = judge_error_reason(frame->payload, frame->header.length, reason);
    if (code < 0)
        snprintf(c->why, sizeof c->why, "server error frame without an error code");
    else
        snprintf(c->why, sizeof c->why, "server error %d (%s)", code, reason);
    return check_verdict(c, CHECK_SERVER_ERROR);
}

/* Judge one complete frame, header fields first, so the message names the first thing wrong. */
static enum check_status check_frame(struct check *c, const struct wire_frame *frame)
{
    const struct wire_header *h = &frame->header;
    enum judge_header verdict = judge_header(h, c->id, (uint32_t)c->request_len);
    if (verdict == JUDGE_HEADER_ERROR_FRAME)
        return check_server_error(c, frame);
    if (verdict != JUDGE_HEADER_REPLY) {
        char what[JUDGE_WHY_MAX];
        judge_header_why(what, sizeof what, verdict, h, c->id, (uint32_t)c->request_len);
        snprintf(c->why, sizeof c->why, "reply mismatch: %s", what);
        return check_verdict(c, CHECK_MISMATCH);
    }
    if (check_compare(c, 0, frame->payload, h->length) != 0)
        return check_verdict(c, CHECK_MISMATCH);
    return check_verdict(c, CHECK_DONE);
}

static enum check_status check_decode_error(struct check *c, const struct wire_frame *frame)
{
    enum wire_error err = wire_decoder_error(&c->decoder);
    if (err == WIRE_ERR_TOO_LARGE)
        snprintf(c->why, sizeof c->why,
                 "reply mismatch: frame type %u with length %" PRIu32 ", expected %zu",
                 (unsigned)frame->header.type, frame->header.length, c->request_len);
    else
        snprintf(c->why, sizeof c->why, "reply mismatch: not a reply frame (%s)",
                 wire_error_reason(err));
    return check_verdict(c, CHECK_MISMATCH);
}

static enum check_status check_feed_framed(struct check *c, const uint8_t *in, size_t len)
{
    struct wire_frame frame;
    size_t consumed;
    enum wire_status ws = wire_decode(&c->decoder, in, len, &consumed, &frame);
    c->received += consumed;
    if (ws == WIRE_NEED_MORE)
        return CHECK_NEED_MORE;
    if (ws == WIRE_ERROR)
        return check_decode_error(c, &frame);
    if (check_frame(c, &frame) == CHECK_DONE && consumed < len)
        return check_extra_bytes(c, len - consumed);
    return c->status;
}

enum check_status check_feed(struct check *c, const uint8_t *in, size_t len)
{
    if (len == 0)
        return c->status;
    if (c->status == CHECK_DONE)
        return check_extra_bytes(c, len);
    if (c->status != CHECK_NEED_MORE)
        return c->status;
    return c->mode == CHECK_TEXT ? check_feed_text(c, in, len) : check_feed_framed(c, in, len);
}

enum check_status check_end(struct check *c)
{
    if (c->status != CHECK_NEED_MORE)
        return c->status;
    if (c->mode == CHECK_TEXT)
        snprintf(c->why, sizeof c->why,
                 "reply mismatch at byte %zu: the reply ends there, %zu short", c->received,
                 c->request_len - c->received);
    else
        snprintf(c->why, sizeof c->why,
                 "reply mismatch: the reply ends inside a frame, after %zu bytes", c->received);
    return check_verdict(c, CHECK_MISMATCH);
}
