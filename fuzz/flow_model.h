/*
 * flow_model: the reference model that fuzz_flow holds the client's reply
 * judge (client/flow_rx.h) to. It plays both ends from the documents alone:
 * the requests the client sends (flow.h: a tag of 12 letters 'a'..'p'
 * spelling the sequence, least significant digit first, then a run of
 * 'a'..'z' starting at letter seq % 26), the right reply a server owes each
 * one (docs/protocol.md), and what the client must conclude from whatever a
 * server sent back instead (flow.h's "Checking and counting").
 *
 * It is kept naive on purpose and shares no code with client/ or lib/: a
 * TCP reply is gathered whole into a buffer and compared with the right
 * reply byte for byte (the client follows the stream without storing it),
 * and each request's fate is kept in a plain array indexed by its sequence
 * (the client keeps a ring of slots).
 *
 * Memory: flow_model_init allocates the request array (grown as requests
 * are sent) and the reply buffer with plain malloc; flow_model_free
 * releases them.
 */
#ifndef SHOUT_FUZZ_FLOW_MODEL_H
#define SHOUT_FUZZ_FLOW_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLOW_MODEL_TAG_LEN 12
#define FLOW_MODEL_HEADER  16
/* The longest error frame payload a reply may claim: a 2-byte code and a 64-byte reason. */
#define FLOW_MODEL_ERROR_MAX 66

enum flow_model_fate {
    FLOW_MODEL_IN_FLIGHT,
    FLOW_MODEL_RIGHT,
    FLOW_MODEL_WRONG, /* a wrong reply, or (TCP) an error frame */
    FLOW_MODEL_LOST,
};

struct flow_model_request {
    uint64_t intended_ns;
    uint64_t sent_ns;
    uint64_t done_ns; /* RIGHT: when its reply completed */
    bool measured;
    uint8_t fate;
};

/* What the client must have counted (flow.h; run_counts in client/result.h). */
struct flow_model_counts {
    uint64_t sent, received, mismatches, lost, duplicates, reordered, error_frames;
    uint64_t bytes_sent, bytes_received, late;
};

struct flow_model {
    bool udp, framed;
    uint32_t size, window;
    uint64_t history; /* UDP: requests the client keeps track of */
    struct flow_model_request *req;
    uint64_t req_cap;
    uint64_t next_seq;
    uint64_t oldest; /* the oldest request in flight, or next_seq */
    uint32_t in_flight;
    uint64_t newest_done; /* UDP: highest sequence completed + 1 */
    uint8_t *reply;       /* TCP: the reply being gathered */
    size_t reply_len, reply_cap;
    size_t scanned;   /* TCP: bytes of it already looked at */
    bool reply_wrong; /* TCP: its bytes so far show it wrong (the mismatch is counted) */
    bool reply_error; /* TCP: it is an error frame */
    bool broken;      /* TCP: the stream can no longer be read as replies */
    struct flow_model_counts counts;
    /* The requests answered rightly by the last take, in order. */
    uint64_t *rights;
    size_t rights_len, rights_cap;
};

/* 0, or -1 when out of memory. */
int flow_model_init(struct flow_model *m, bool udp, bool framed, uint32_t size, uint32_t window);
void flow_model_free(struct flow_model *m);

/* Bytes of a request (and of its right reply) on the wire. */
size_t flow_model_request_len(const struct flow_model *m);

/* Request seq's payload, size bytes, as the client sends it. */
void flow_model_payload(uint64_t seq, uint32_t size, uint8_t *out);

/* The right reply to request seq into out (flow_model_request_len bytes); returns its length. */
size_t flow_model_right_reply(const struct flow_model *m, uint64_t seq, uint8_t *out);

/* Whether the client may send now: the window, and over UDP its history. */
bool flow_model_can_send(const struct flow_model *m);

/* Request next_seq goes out; 0, or -1 when out of memory. */
int flow_model_send(struct flow_model *m, bool measured, uint64_t intended_ns, uint64_t sent_ns);

/*
 * TCP: stream bytes arrive. Returns the requests completed, or -1 when the
 * stream breaks (then nothing more is taken). rights lists the right ones.
 */
int flow_model_tcp_take(struct flow_model *m, const uint8_t *in, size_t len, uint64_t now_ns);

/* UDP: one datagram arrives. Returns 1 when it completed a request, else 0. */
int flow_model_udp_take(struct flow_model *m, const uint8_t *d, size_t n, uint64_t now_ns);

/* UDP: the timeout passed for every request in flight: all are lost. Returns how many. */
uint32_t flow_model_expire_all(struct flow_model *m);

#endif
