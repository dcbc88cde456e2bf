/*
 * sockperf: the codec and answerer for sockperf's wire format, so that the
 * real `sockperf ping-pong` and `sockperf under-load` clients can measure
 * shoutd (`shoutd --sockperf-port N`) and be compared with shout's own client.
 *
 * A sockperf message is a 14-byte big-endian header and a payload: u64
 * sequence number, u16 flags (bit 0 "from a client", bit 1 "reply
 * requested", bit 2 "warm-up"), u32 total length including the header. The
 * answer follows sockperf's own server (sockperf 3.7, src/server.h): a
 * message without the client bit or with the warm-up bit is not answered; a
 * client message that requests a reply gets the whole message back with the
 * client bit cleared, everything else in the header unchanged. Where sockperf
 * echoes the payload, shout uppercases it (ASCII, lib/upper.h): the header is
 * never transformed, since sockperf matches replies by sequence number.
 *
 * Over TCP the stream is a sequence of messages, decoded incrementally like
 * lib/wire.h's frames; a length under 14 or a payload over the limit loses
 * the framing for good (sockperf has no error message, so the connection is
 * closed). Over UDP one datagram is exactly one message: a header whose
 * length disagrees with the datagram is dropped, never a reason to wait for
 * another datagram (sockperf's own server gets that wrong).
 *
 * Memory: a decoder owns a payload store for a message split across calls,
 * and stores a payload only when the message will be answered (the others
 * are skipped as they arrive), so a sender of unanswered messages costs no
 * heap. A decoded payload points into the caller's input or into that store
 * and is valid until the next call on the decoder. Everything else writes
 * into memory the caller owns and never allocates.
 */
#ifndef SHOUT_SOCKPERF_H
#define SHOUT_SOCKPERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SOCKPERF_HEADER_LEN 14

/* Flag bits, as sockperf's MsgHeader defines them. */
#define SOCKPERF_FLAG_CLIENT        0x1
#define SOCKPERF_FLAG_REPLY_REQUEST 0x2
#define SOCKPERF_FLAG_WARMUP        0x4

struct sockperf_header {
    uint64_t seq;
    uint16_t flags;
    uint32_t length; /* the whole message, header included */
};

enum sockperf_error {
    SOCKPERF_OK,
    SOCKPERF_ERR_TOO_SHORT, /* length under the header's 14 bytes */
    SOCKPERF_ERR_TOO_LARGE, /* payload over the receiver's limit */
    SOCKPERF_ERR_NO_MEMORY, /* the payload could not be stored */
};

enum sockperf_status {
    SOCKPERF_NEED_MORE, /* all input consumed, the message is not complete */
    SOCKPERF_MESSAGE,   /* a complete message; the input after it is untouched */
    SOCKPERF_ERROR,     /* a bad length; the decoder stays in error from now on */
};

struct sockperf_message {
    struct sockperf_header header;
    /* header.length - 14 bytes when the message is answered, NULL otherwise */
    const uint8_t *payload;
};

struct sockperf_decoder {
    uint32_t max_payload;
    enum sockperf_error error;
    size_t header_len; /* header bytes gathered so far */
    uint8_t header_bytes[SOCKPERF_HEADER_LEN];
    struct sockperf_header header; /* valid once header_len == 14 */
    uint32_t payload_seen;         /* payload bytes of the current message so far */
    struct buf payload;            /* payload of an answered message split across calls */
    bool payload_handed_out;       /* the store holds the last message's payload */
};

/*
 * Parse a complete 14-byte header and check its length: at least the header,
 * at most the header plus max_payload. Fills *header whatever the verdict.
 */
enum sockperf_error sockperf_parse_header(const uint8_t bytes[SOCKPERF_HEADER_LEN],
                                          uint32_t max_payload, struct sockperf_header *header);
void sockperf_encode_header(uint8_t out[SOCKPERF_HEADER_LEN], const struct sockperf_header *header);

/* Whether sockperf's server would answer this message: a client's, not warm-up, reply requested. */
bool sockperf_wants_reply(const struct sockperf_header *header);

/*
 * Write the reply to a message into out (header->length bytes): the header
 * with the client bit cleared, then the payload uppercased. out may be the
 * message itself (answered in place).
 */
void sockperf_encode_reply(uint8_t *out, const struct sockperf_header *header,
                           const uint8_t *payload);

void sockperf_decoder_init(struct sockperf_decoder *dec, uint32_t max_payload);
void sockperf_decoder_free(struct sockperf_decoder *dec);

/*
 * Decode from in[0..in_len). *consumed is set to the bytes taken (at most
 * in_len, never past the end of the message being decoded). On
 * SOCKPERF_MESSAGE *message is filled; on SOCKPERF_ERROR *message holds the
 * header as far as it was read and sockperf_decoder_error() says why.
 */
enum sockperf_status sockperf_decode(struct sockperf_decoder *dec, const uint8_t *in, size_t in_len,
                                     size_t *consumed, struct sockperf_message *message);
enum sockperf_error sockperf_decoder_error(const struct sockperf_decoder *dec);

/* True when the decoder holds part of a message (a header byte or more). */
bool sockperf_decoder_mid_message(const struct sockperf_decoder *dec);

enum sockperf_verdict {
    SOCKPERF_REPLY,      /* reply holds the answer, as long as the datagram */
    SOCKPERF_NO_REPLY,   /* a valid message that is not answered */
    SOCKPERF_BAD_LENGTH, /* the header's length is wrong or disagrees with the datagram */
};

/*
 * Answer the datagram in[0..len) into reply, which has room for len bytes
 * and may be in itself. A reply is never longer than the datagram.
 */
enum sockperf_verdict sockperf_answer_datagram(const uint8_t *in, size_t len, uint32_t max_payload,
                                               uint8_t *reply);

#endif
