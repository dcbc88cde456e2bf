/*
 * flow_impl: what flow.c (requests, windows, waiting) and flow_rx.c (reading
 * and checking replies) share about a flow's insides. Not for callers:
 * flow.h is the interface.
 */
#ifndef SHOUT_FLOW_IMPL_H
#define SHOUT_FLOW_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

/* Reads (TCP) or datagrams (UDP) per flow_receive, so one busy flow cannot starve the others. */
#define FLOW_RX_BATCH 32
/* UDP datagrams per sendmmsg and per recvmmsg (and so rx and tx hold this many). */
#define FLOW_UDP_BATCH 64
#define FLOW_RX_MIN    4096
#define FLOW_RX_MAX    (256u << 10)
/* An error frame's payload we keep for the message: the code and the reason. */
#define FLOW_ERROR_KEEP (2 + WIRE_REASON_MAX)

enum flow_slot_state {
    FLOW_SLOT_FREE,
    FLOW_SLOT_IN_FLIGHT,
    FLOW_SLOT_DONE, /* answered: rightly, wrongly or by an error frame */
    FLOW_SLOT_LOST,
};

struct flow_slot {
    uint64_t seq;
    uint64_t intended_ns;
    uint64_t sent_ns;
    uint8_t state;
    bool measured;
    bool due_at_send; /* closed loop: intended_ns is whenever it is sent */
};

/* What the TCP reply being read is, once its header is known. */
enum flow_rx_kind {
    FLOW_RX_HEADER, /* gathering a header (framed, sockperf) */
    FLOW_RX_BODY,   /* text, or a reply body that is being checked */
    FLOW_RX_WRONG,  /* a reply body to skip: the header was already wrong */
    FLOW_RX_ERROR,  /* an error frame's body */
};

static inline uint32_t flow_header_len(enum flow_format format)
{
    switch (format) {
    case FLOW_FRAMED:
        return WIRE_HEADER_LEN;
    case FLOW_SOCKPERF:
        return FLOW_SOCKPERF_HEADER_LEN;
    case FLOW_TEXT:
        break;
    }
    return 0;
}

/* Payload bytes of a request (the size less sockperf's header, which size includes). */
static inline uint32_t flow_payload_len(const struct flow_config *cfg)
{
    return cfg->format == FLOW_SOCKPERF ? cfg->size - FLOW_SOCKPERF_HEADER_LEN : cfg->size;
}

/*
 * Letter i of request seq's tag: its base-16 digits, least significant
 * first, so that a payload shorter than the tag still differs from its
 * neighbours'.
 */
static inline char flow_tag_char(uint64_t seq, size_t i, char base)
{
    return (char)(base + (int)((seq >> (4 * i)) & 15));
}

static inline struct flow_slot *flow_slot_of(const struct flow *f, uint64_t seq)
{
    return &f->slots[seq & f->slot_mask];
}

/* Move oldest_seq past every request that is no longer in flight. */
void flow_advance_oldest(struct flow *f);

/*
 * flow_receive, with the first read blocking (up to the socket's receive
 * timeout) when wait is set.
 */
int flow_receive_some(struct flow *f, flow_sample_fn on_sample, void *ctx, bool wait);

#endif
