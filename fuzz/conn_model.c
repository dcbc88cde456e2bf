#include "conn_model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The protocol's numbers, written out from docs/protocol.md rather than taken from lib/. */
#define MODEL_MAGIC_0       0xF5
#define MODEL_MAGIC_1       0x55
#define MODEL_VERSION       1
#define MODEL_TYPE_REQUEST  1
#define MODEL_TYPE_REPLY    2
#define MODEL_TYPE_ERROR    3
#define MODEL_HEADER_LEN    16
#define MODEL_REASON_MAX    64
#define MODEL_SP_HEADER_LEN 14
#define MODEL_SP_CLIENT     0x1
#define MODEL_SP_REPLY_REQ  0x2
#define MODEL_SP_WARMUP     0x4

static uint64_t model_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void model_put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = n; i-- > 0; v >>= 8)
        p[i] = (uint8_t)v;
}

/* Python's bytes.upper(): a..z become A..Z, nothing else changes. */
static void model_upper(uint8_t *out, const uint8_t *in, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = in[i] >= 'a' && in[i] <= 'z' ? (uint8_t)(in[i] - 'a' + 'A') : in[i];
}

size_t conn_model_error_frame(uint8_t *out, uint64_t id, enum wire_error code)
{
    /* The reason's text is not part of the contract: take shoutd's, cut to its documented 64. */
    const char *reason = wire_error_reason(code);
    size_t reason_len = strlen(reason);
    if (reason_len > MODEL_REASON_MAX)
        reason_len = MODEL_REASON_MAX;
    out[0] = MODEL_MAGIC_0;
    out[1] = MODEL_MAGIC_1;
    out[2] = MODEL_VERSION;
    out[3] = MODEL_TYPE_ERROR;
    model_put_be(out + 4, 2 + reason_len, 4);
    model_put_be(out + 8, id, 8);
    model_put_be(out + 16, (uint64_t)code, 2);
    memcpy(out + 18, reason, reason_len);
    return 18 + reason_len;
}

static struct conn_model_message *model_add(struct conn_model *m, enum conn_model_fate fate,
                                            uint64_t id, uint32_t payload_len, bool header_valid)
{
    struct conn_model_message *msg = &m->messages[m->message_count++];
    *msg = (struct conn_model_message){
        .fate = fate,
        .answer_at = m->expected_len,
        .id = id,
        .payload_len = payload_len,
        .header_valid = header_valid,
    };
    return msg;
}

static void model_refuse(struct conn_model *m, uint64_t id, uint32_t payload_len, bool valid,
                         enum wire_error code)
{
    model_add(m, CONN_MODEL_REFUSED, id, payload_len, valid);
    m->expected_len += conn_model_error_frame(m->expected + m->expected_len, id, code);
    m->fails = true;
    m->error = code;
}

/* The code a 16-byte header earns, in the documented order; WIRE_OK for a good one. */
static enum wire_error model_check_header(const uint8_t *h, uint32_t max_payload)
{
    if (h[0] != MODEL_MAGIC_0 || h[1] != MODEL_MAGIC_1)
        return WIRE_ERR_BAD_MAGIC;
    if (h[2] != MODEL_VERSION)
        return WIRE_ERR_BAD_VERSION;
    if (h[3] < MODEL_TYPE_REQUEST || h[3] > MODEL_TYPE_ERROR)
        return WIRE_ERR_BAD_TYPE;
    if (model_be(h + 4, 4) > max_payload)
        return WIRE_ERR_TOO_LARGE;
    return WIRE_OK;
}

static void model_framed(struct conn_model *m, uint32_t max_payload, const uint8_t *in, size_t len)
{
    size_t at = 0;
    while (len - at >= MODEL_HEADER_LEN) {
        const uint8_t *h = in + at;
        uint64_t id = model_be(h + 8, 8);
        uint32_t payload_len = (uint32_t)model_be(h + 4, 4);
        enum wire_error code = model_check_header(h, max_payload);
        if (code != WIRE_OK) {
            model_refuse(m, id, payload_len, false, code);
            return;
        }
        /* A known type is a whole frame: its payload is read before it is judged. */
        if (len - at - MODEL_HEADER_LEN < payload_len) {
            model_add(m, CONN_MODEL_CUT_BY_EOF, id, payload_len, true);
            return;
        }
        if (h[3] != MODEL_TYPE_REQUEST) {
            model_refuse(m, id, payload_len, true, WIRE_ERR_UNEXPECTED_TYPE);
            return;
        }
        model_add(m, CONN_MODEL_ANSWERED, id, payload_len, true);
        uint8_t *out = m->expected + m->expected_len;
        memcpy(out, h, MODEL_HEADER_LEN);
        out[3] = MODEL_TYPE_REPLY;
        model_upper(out + MODEL_HEADER_LEN, h + MODEL_HEADER_LEN, payload_len);
        m->expected_len += MODEL_HEADER_LEN + payload_len;
        m->answers++;
        at += MODEL_HEADER_LEN + payload_len;
    }
}

static void model_sockperf(struct conn_model *m, uint32_t max_payload, const uint8_t *in,
                           size_t len)
{
    size_t at = 0;
    while (len - at >= MODEL_SP_HEADER_LEN) {
        const uint8_t *h = in + at;
        uint64_t seq = model_be(h, 8);
        uint16_t flags = (uint16_t)model_be(h + 8, 2);
        uint64_t length = model_be(h + 10, 4);
        if (length < MODEL_SP_HEADER_LEN || length - MODEL_SP_HEADER_LEN > max_payload) {
            /* sockperf has no error message: the stream just ends. */
            model_add(m, CONN_MODEL_REFUSED, seq, 0, false);
            m->fails = true;
            return;
        }
        uint32_t payload_len = (uint32_t)(length - MODEL_SP_HEADER_LEN);
        if (len - at < length) {
            model_add(m, CONN_MODEL_CUT_BY_EOF, seq, payload_len, true);
            return;
        }
        model_add(m, CONN_MODEL_ANSWERED, seq, payload_len, true);
        bool answer =
            (flags & MODEL_SP_CLIENT) && (flags & MODEL_SP_REPLY_REQ) && !(flags & MODEL_SP_WARMUP);
        if (answer) {
            uint8_t *out = m->expected + m->expected_len;
            memcpy(out, h, MODEL_SP_HEADER_LEN);
            model_put_be(out + 8, flags & ~MODEL_SP_CLIENT, 2);
            model_upper(out + MODEL_SP_HEADER_LEN, h + MODEL_SP_HEADER_LEN, payload_len);
            m->expected_len += length;
            m->answers++;
        }
        at += length;
    }
}

int conn_model_run(struct conn_model *m, enum conn_mode mode, uint32_t max_payload,
                   const uint8_t *in, size_t len)
{
    *m = (struct conn_model){.mode = mode};
    if (m->mode == CONN_MODE_UNDECIDED && len > 0)
        m->mode = in[0] == MODEL_MAGIC_0 ? CONN_MODE_FRAMED : CONN_MODE_TEXT;
    /* An answer is never longer than its request, and one error frame at most is added. */
    m->expected = malloc(len + WIRE_ERROR_MAX_LEN);
    /*
     * A message is at least a header long; one more may be cut or refused.
     * Text has none: the list would be the largest allocation of a fuzz run.
     */
    size_t header_len = m->mode == CONN_MODE_FRAMED ? MODEL_HEADER_LEN : MODEL_SP_HEADER_LEN;
    size_t message_cap = m->mode == CONN_MODE_TEXT ? 0 : len / header_len + 1;
    m->messages = malloc((message_cap ? message_cap : 1) * sizeof *m->messages);
    if (!m->expected || !m->messages) {
        conn_model_free(m);
        m->mode = mode;
        return -ENOMEM;
    }
    switch (m->mode) {
    case CONN_MODE_UNDECIDED:
        break;
    case CONN_MODE_TEXT:
        model_upper(m->expected, in, len);
        m->expected_len = len;
        break;
    case CONN_MODE_FRAMED:
        model_framed(m, max_payload, in, len);
        break;
    case CONN_MODE_SOCKPERF:
        model_sockperf(m, max_payload, in, len);
        break;
    }
    return 0;
}

void conn_model_free(struct conn_model *m)
{
    free(m->expected);
    free(m->messages);
    *m = (struct conn_model){.mode = m->mode};
}
