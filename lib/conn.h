/*
 * conn: the connection engine. Given the bytes received on one TCP
 * connection, it produces the bytes to send back; shoutd runs exactly this
 * code for every connection, and the tests and fuzzers drive it directly.
 *
 * The first byte chooses the mode for the life of the connection: 0xF5 (the
 * frame magic) means framed, anything else means text. Text is uppercased
 * and queued as it arrives. Framed requests are answered in order with a
 * reply frame carrying the request's id; a bad header is answered with one
 * error frame, after which input is ignored and the connection finishes once
 * the error is sent.
 *
 * conn_init_mode fixes the mode at the start instead. That is how shoutd's
 * sockperf port speaks sockperf's format (lib/sockperf.h) through this same
 * engine, with the same backpressure and pipelining: messages are answered
 * in order, and a bad length ends the connection like a framing error does,
 * but without an error frame (sockperf has none).
 *
 * Backpressure: the engine stops turning input into output once
 * limits.max_output bytes wait to be sent. Input it was handed but could not
 * answer yet is kept (at most one feed, CONN_FEED_MAX bytes) and answered as
 * the output drains; conn_wants_input() is false meanwhile, and the caller
 * must then stop reading. Queued output therefore never exceeds max_output
 * plus one reply frame plus one error frame.
 *
 * The engine makes no syscalls. Memory: it owns its buffers, which are
 * allocated as bytes arrive and released when they empty; conn_free releases
 * all of them. conn_output's pointer is valid until the next call on the
 * engine. Counters are owned by the caller and may be shared by many engines.
 */
#ifndef SHOUT_CONN_H
#define SHOUT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "sockperf.h"
#include "wire.h"

/* The most bytes one conn_feed call may hand over (one socket read). */
#define CONN_FEED_MAX 65536

struct conn_limits {
    uint32_t max_payload; /* largest request payload accepted */
    size_t max_output;    /* queued reply bytes at which reading stops */
};

struct conn_counters {
    uint64_t bytes_in;                        /* input bytes answered or rejected */
    uint64_t bytes_out;                       /* reply bytes produced */
    uint64_t text_bytes;                      /* text-mode bytes uppercased */
    uint64_t requests;                        /* framed requests answered */
    uint64_t bytes_discarded;                 /* input ignored after an error frame */
    uint64_t errors[WIRE_ERROR_CODE_MAX + 1]; /* error frames sent, by code */
    uint64_t sockperf_messages;               /* sockperf messages received whole */
    uint64_t sockperf_replies;                /* sockperf replies produced */
    uint64_t sockperf_bad_length;             /* sockperf lengths that lost the framing */
};

enum conn_mode {
    CONN_MODE_UNDECIDED, /* no byte yet */
    CONN_MODE_TEXT,
    CONN_MODE_FRAMED,
    CONN_MODE_SOCKPERF, /* only ever set by conn_init_mode */
};

enum conn_state {
    CONN_OPEN,      /* reading and answering */
    CONN_PEER_DONE, /* the peer sent EOF: answer what is held, then finish */
    CONN_FAILED,    /* the framing is lost (an error frame may be queued): send, then finish */
    CONN_BROKEN,    /* memory ran out: nothing more can be sent, close now */
};

struct conn {
    struct conn_limits limits;
    struct conn_counters *counters;
    enum conn_mode mode;
    enum conn_state state;
    struct wire_decoder decoder;
    struct sockperf_decoder sockperf;
    struct buf output;  /* replies not yet sent */
    struct buf pending; /* input received but not answered (backpressure) */
    bool shutting_down; /* conn_shut_down was called: no more input, a last error frame */
    uint64_t messages;  /* framed requests and sockperf messages received whole */
};

void conn_init(struct conn *c, const struct conn_limits *limits, struct conn_counters *counters);
/* conn_init with the mode fixed from the start (CONN_MODE_UNDECIDED: chosen by the first byte). */
void conn_init_mode(struct conn *c, const struct conn_limits *limits,
                    struct conn_counters *counters, enum conn_mode mode);
void conn_free(struct conn *c);

/*
 * Hand the engine in[0..len) just received; len <= CONN_FEED_MAX, and only
 * while conn_wants_input(). Returns 0, or -EINVAL when either is broken (and
 * then takes nothing).
 */
int conn_feed(struct conn *c, const uint8_t *in, size_t len);

/* The peer half-closed: no more input will come. */
void conn_peer_closed(struct conn *c);

/*
 * The server is shutting down: no more input is taken. Everything already
 * handed over, held input included, is still answered; a framed connection
 * then gets one error frame with id 0 and WIRE_ERR_SHUTTING_DOWN (so the
 * peer can tell a shutdown from a lost connection), text and sockperf just
 * finish. The caller then closes the way conn_finished says. Idempotent.
 */
void conn_shut_down(struct conn *c);

/*
 * Whether a request has begun and not ended, or the first has not come:
 * no byte yet (the mode is undecided, or a sockperf connection has had no
 * message), or part of a frame or sockperf message is held. Text has no
 * requests to be in the middle of. This is what a slowloris deadline
 * watches.
 */
bool conn_mid_request(const struct conn *c);

/* Whether the caller should read more input for this connection now. */
bool conn_wants_input(const struct conn *c);

/* The bytes waiting to be sent; *len is 0 when there are none. */
const uint8_t *conn_output(const struct conn *c, size_t *len);

/* n bytes of conn_output were sent; answers held input if room was made. */
void conn_output_sent(struct conn *c, size_t n);

/* Nothing more will be sent: close the connection (after a lingering close if FAILED). */
bool conn_finished(const struct conn *c);

/*
 * The bytes of storage the engine holds now: its two decoders' payload
 * stores, held input and queued output, counted as allocated (capacity, not
 * length), since that is what the process's memory sees. 0 for an engine
 * that holds nothing. shoutd's memory budget (server/stream.c) adds these
 * up after every round.
 */
size_t conn_bytes_held(const struct conn *c);

#endif
