#include "conn.h"

#include <errno.h>
#include <string.h>

#include "upper.h"

void conn_init(struct conn *c, const struct conn_limits *limits, struct conn_counters *counters)
{
    conn_init_mode(c, limits, counters, CONN_MODE_UNDECIDED);
}

void conn_init_mode(struct conn *c, const struct conn_limits *limits,
                    struct conn_counters *counters, enum conn_mode mode)
{
    *c = (struct conn){.limits = *limits, .counters = counters, .mode = mode};
    wire_decoder_init(&c->decoder, limits->max_payload);
    sockperf_decoder_init(&c->sockperf, limits->max_payload);
    /*
     * The soft cap, plus the reply frame that crossed it, plus an error
     * frame. Saturating, so that a max_output meant as "no limit" cannot
     * wrap the hard limit around to a few bytes.
     */
    size_t slack = WIRE_HEADER_LEN + (size_t)limits->max_payload + WIRE_ERROR_MAX_LEN;
    size_t hard_limit =
        limits->max_output > SIZE_MAX - slack ? SIZE_MAX : limits->max_output + slack;
    buf_init(&c->output, hard_limit);
    buf_init(&c->pending, CONN_FEED_MAX);
}

void conn_free(struct conn *c)
{
    wire_decoder_free(&c->decoder);
    sockperf_decoder_free(&c->sockperf);
    buf_free(&c->output);
    buf_free(&c->pending);
}

static bool conn_output_full(const struct conn *c)
{
    return buf_len(&c->output) >= c->limits.max_output;
}

/* Memory ran out: what is queued may be incomplete, so nothing more is sent. */
static void conn_break(struct conn *c)
{
    c->state = CONN_BROKEN;
    buf_clear(&c->output);
    buf_clear(&c->pending);
}

static void conn_send_error(struct conn *c, uint64_t id, enum wire_error code)
{
    uint8_t frame[WIRE_ERROR_MAX_LEN];
    size_t len = wire_encode_error(frame, sizeof frame, id, code);
    buf_clear(&c->pending);
    if (buf_append(&c->output, frame, len) != 0) {
        conn_break(c);
        return;
    }
    c->state = CONN_FAILED;
    c->counters->errors[code]++;
    c->counters->bytes_out += len;
}

static int conn_send_reply(struct conn *c, const struct wire_frame *request)
{
    size_t len = WIRE_HEADER_LEN + request->header.length;
    uint8_t *out = buf_reserve(&c->output, len);
    if (!out)
        return -ENOMEM;
    struct wire_header reply = request->header;
    reply.type = WIRE_TYPE_REPLY;
    wire_encode_header(out, &reply);
    upper_ascii(out + WIRE_HEADER_LEN, request->payload, request->header.length);
    buf_commit(&c->output, len);
    c->counters->requests++;
    c->messages++;
    c->counters->bytes_out += len;
    return 0;
}

/* Answer text bytes while the output has room; returns how many were taken. */
static size_t conn_answer_text(struct conn *c, const uint8_t *in, size_t len)
{
    size_t room = c->limits.max_output - buf_len(&c->output);
    size_t take = len < room ? len : room;
    if (take == 0)
        return 0;
    uint8_t *out = buf_reserve(&c->output, take);
    if (!out) {
        conn_break(c);
        return len;
    }
    upper_ascii(out, in, take);
    buf_commit(&c->output, take);
    c->counters->text_bytes += take;
    c->counters->bytes_out += take;
    return take;
}

/* Answer whole frames while the output has room; returns how many bytes were taken. */
static size_t conn_answer_frames(struct conn *c, const uint8_t *in, size_t len)
{
    size_t taken = 0;
    while (taken < len && !conn_output_full(c)) {
        size_t used;
        struct wire_frame frame;
        enum wire_status status = wire_decode(&c->decoder, in + taken, len - taken, &used, &frame);
        taken += used;
        if (status == WIRE_NEED_MORE)
            break;
        enum wire_error refusal = status == WIRE_ERROR ? wire_decoder_error(&c->decoder)
                                  : frame.header.type != WIRE_TYPE_REQUEST
                                      ? WIRE_ERR_UNEXPECTED_TYPE
                                      : WIRE_OK;
        if (refusal != WIRE_OK) {
            /* Everything after a bad frame is ignored: the stream has lost its framing. */
            c->counters->bytes_discarded += len - taken;
            conn_send_error(c, frame.header.id, refusal);
            return len;
        }
        if (conn_send_reply(c, &frame) != 0) {
            conn_break(c);
            return len;
        }
    }
    return taken;
}

/*
 * A sockperf length that cannot be right: the stream has lost its framing.
 * sockperf has no error message, so the replies already queued are sent and
 * the connection finishes, like after an error frame.
 */
static void conn_lose_sockperf_framing(struct conn *c)
{
    if (sockperf_decoder_error(&c->sockperf) == SOCKPERF_ERR_NO_MEMORY) {
        conn_break(c);
        return;
    }
    buf_clear(&c->pending);
    c->state = CONN_FAILED;
    c->counters->sockperf_bad_length++;
}

static int conn_send_sockperf_reply(struct conn *c, const struct sockperf_message *message)
{
    size_t len = message->header.length;
    uint8_t *out = buf_reserve(&c->output, len);
    if (!out)
        return -ENOMEM;
    sockperf_encode_reply(out, &message->header, message->payload);
    buf_commit(&c->output, len);
    c->counters->sockperf_replies++;
    c->counters->bytes_out += len;
    return 0;
}

/* Answer whole sockperf messages while the output has room; returns the bytes taken. */
static size_t conn_answer_sockperf(struct conn *c, const uint8_t *in, size_t len)
{
    size_t taken = 0;
    while (taken < len && !conn_output_full(c)) {
        size_t used;
        struct sockperf_message message;
        enum sockperf_status status =
            sockperf_decode(&c->sockperf, in + taken, len - taken, &used, &message);
        taken += used;
        if (status == SOCKPERF_NEED_MORE)
            break;
        if (status == SOCKPERF_ERROR) {
            c->counters->bytes_discarded += len - taken;
            conn_lose_sockperf_framing(c);
            return len;
        }
        c->counters->sockperf_messages++;
        c->messages++;
        if (sockperf_wants_reply(&message.header) && conn_send_sockperf_reply(c, &message) != 0) {
            conn_break(c);
            return len;
        }
    }
    return taken;
}

/* Answer what the output has room for; returns how many bytes were taken. */
static size_t conn_answer(struct conn *c, const uint8_t *in, size_t len)
{
    if (len == 0)
        return 0;
    if (c->mode == CONN_MODE_UNDECIDED)
        c->mode = in[0] == WIRE_MAGIC_0 ? CONN_MODE_FRAMED : CONN_MODE_TEXT;
    size_t taken;
    if (c->mode == CONN_MODE_TEXT)
        taken = conn_answer_text(c, in, len);
    else if (c->mode == CONN_MODE_FRAMED)
        taken = conn_answer_frames(c, in, len);
    else
        taken = conn_answer_sockperf(c, in, len);
    c->counters->bytes_in += taken;
    return taken;
}

int conn_feed(struct conn *c, const uint8_t *in, size_t len)
{
    if (len > CONN_FEED_MAX || !conn_wants_input(c))
        return -EINVAL;
    size_t taken = conn_answer(c, in, len);
    if (c->state == CONN_OPEN && taken < len && buf_append(&c->pending, in + taken, len - taken))
        conn_break(c);
    return 0;
}

void conn_peer_closed(struct conn *c)
{
    if (c->state == CONN_OPEN)
        c->state = CONN_PEER_DONE;
}

/* After a shutdown, the error frame goes out once every held request is answered. */
static void conn_finish_shutdown(struct conn *c)
{
    if (c->shutting_down && c->state == CONN_PEER_DONE && c->mode == CONN_MODE_FRAMED &&
        buf_len(&c->pending) == 0)
        conn_send_error(c, 0, WIRE_ERR_SHUTTING_DOWN);
}

void conn_shut_down(struct conn *c)
{
    if (c->shutting_down)
        return;
    c->shutting_down = true;
    conn_peer_closed(c);
    conn_finish_shutdown(c);
}

bool conn_mid_request(const struct conn *c)
{
    switch (c->mode) {
    case CONN_MODE_UNDECIDED:
        return true;
    case CONN_MODE_FRAMED:
        return wire_decoder_mid_frame(&c->decoder);
    case CONN_MODE_SOCKPERF:
        /* Its mode is set at accept: waiting for the first message counts too. */
        return c->messages == 0 || sockperf_decoder_mid_message(&c->sockperf);
    case CONN_MODE_TEXT:
        break;
    }
    return false;
}

bool conn_wants_input(const struct conn *c)
{
    return c->state == CONN_OPEN && buf_len(&c->pending) == 0 && !conn_output_full(c);
}

const uint8_t *conn_output(const struct conn *c, size_t *len)
{
    *len = buf_len(&c->output);
    return buf_head(&c->output);
}

void conn_output_sent(struct conn *c, size_t n)
{
    buf_consume(&c->output, n);
    size_t held = buf_len(&c->pending);
    if (held == 0 || conn_output_full(c))
        return;
    if (c->state != CONN_OPEN && c->state != CONN_PEER_DONE)
        return;
    size_t taken = conn_answer(c, buf_head(&c->pending), held);
    if (c->state == CONN_OPEN || c->state == CONN_PEER_DONE)
        buf_consume(&c->pending, taken);
    conn_finish_shutdown(c);
}

bool conn_finished(const struct conn *c)
{
    if (c->state == CONN_BROKEN)
        return true;
    if (c->state == CONN_OPEN)
        return false;
    return buf_len(&c->output) == 0 && buf_len(&c->pending) == 0;
}

size_t conn_bytes_held(const struct conn *c)
{
    return buf_capacity(&c->decoder.payload) + buf_capacity(&c->sockperf.payload) +
           buf_capacity(&c->pending) + buf_capacity(&c->output);
}
