/*
 * conn_model: the reference model that fuzz_conn holds shoutd's TCP path
 * to. Given every byte a server read from one connection before the peer's
 * EOF, it says what the server must have sent back, written straight from
 * docs/protocol.md and kept naive on purpose: one pass over the whole input
 * at once, no incremental decoder, no code shared with lib/ but the reason
 * text of an error frame (which clients must not depend on).
 *
 * - text (the first byte is not 0xF5): every byte, uppercased;
 * - framed (0xF5): each whole request answered in order with a reply (same
 *   id, type 2, same length, payload uppercased); at the first bad frame
 *   (magic, version, type, length over the limit, then a whole frame of a
 *   type other than request) one error frame with that header's id and
 *   code, and nothing after it; a frame cut off by the EOF gets nothing;
 * - sockperf (fixed by shoutd's sockperf port): each whole message that asks
 *   for a reply answered with its client bit cleared and its payload
 *   uppercased; at the first impossible length nothing more.
 *
 * It also lists the messages it saw, where each one's answer starts in the
 * expected output, so that the oracle can allow what a failed allocation
 * legitimately changes (fuzz_conn.c says what).
 *
 * Memory: conn_model_run allocates the expected output and the message list
 * with plain malloc (never through lib/'s allocator, so injected allocation
 * failures cannot reach the model); conn_model_free releases them.
 */
#ifndef SHOUT_FUZZ_CONN_MODEL_H
#define SHOUT_FUZZ_CONN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

/* How one message of a framed or sockperf stream ended. */
enum conn_model_fate {
    CONN_MODEL_ANSWERED,   /* whole and answered (or, sockperf, whole and not to be answered) */
    CONN_MODEL_REFUSED,    /* the bad frame: answered by the error frame, the stream ends */
    CONN_MODEL_CUT_BY_EOF, /* its header arrived, its payload did not all arrive */
};

struct conn_model_message {
    enum conn_model_fate fate;
    size_t answer_at;     /* where its answer starts (or would start) in the expected output */
    uint64_t id;          /* the frame's id, or the sockperf sequence number */
    uint32_t payload_len; /* as the header says (for a refused frame: as far as it is valid) */
    bool header_valid;    /* magic, version, type and length passed (the payload was stored) */
};

struct conn_model {
    enum conn_mode mode; /* TEXT, FRAMED or SOCKPERF; UNDECIDED when there was no input */
    uint8_t *expected;   /* what the server must send, in order */
    size_t expected_len;
    bool fails;            /* the framing was lost (error frame or bad sockperf length) */
    enum wire_error error; /* framed: the error frame's code when fails */
    uint64_t answers;      /* replies in expected (framed requests or sockperf replies) */
    struct conn_model_message *messages;
    size_t message_count;
};

/*
 * Compute the answer to in[0..len), read by a server whose engine started
 * in mode (CONN_MODE_UNDECIDED or CONN_MODE_SOCKPERF) with max_payload.
 * Returns 0, or -ENOMEM (and then *m holds nothing).
 */
int conn_model_run(struct conn_model *m, enum conn_mode mode, uint32_t max_payload,
                   const uint8_t *in, size_t len);
void conn_model_free(struct conn_model *m);

/* Write the error frame for code and id into out (WIRE_ERROR_MAX_LEN bytes); returns its length. */
size_t conn_model_error_frame(uint8_t *out, uint64_t id, enum wire_error code);

#endif
