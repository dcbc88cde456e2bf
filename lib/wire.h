/*
 * wire: the framed protocol's codec (docs/protocol.md is the contract).
 *
 * A frame is a 16-byte big-endian header (magic 0xF5 0x55, version, type,
 * payload length, id) and the payload. The decoder is incremental: feed it
 * whatever bytes have arrived, one at a time or many frames at once, and it
 * answers "need more", "here is a complete frame" or "error, with this code".
 * It consumes input only up to the end of the frame it is decoding, so it
 * never consumes more than it was given and the caller keeps the rest. The
 * header is validated (magic, version, type, then length against the limit)
 * before a single payload byte is stored, and the payload store grows with
 * the bytes that actually arrived, never with what a length field claims.
 *
 * Memory: a decoder owns its payload store (freed by wire_decoder_free). A
 * decoded frame's payload points either into the caller's input (when the
 * whole frame was there) or into that store; it is valid until the next call
 * on the decoder or until the input is gone. The encoder writes into memory
 * the caller owns and never allocates.
 */
#ifndef SHOUT_WIRE_H
#define SHOUT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define WIRE_MAGIC_0       0xF5
#define WIRE_MAGIC_1       0x55
#define WIRE_VERSION       1
#define WIRE_HEADER_LEN    16
#define WIRE_REASON_MAX    64
#define WIRE_ERROR_MAX_LEN (WIRE_HEADER_LEN + 2 + WIRE_REASON_MAX)

enum wire_type {
    WIRE_TYPE_REQUEST = 1,
    WIRE_TYPE_REPLY = 2,
    WIRE_TYPE_ERROR = 3,
};

/* Error codes carried in an error frame's payload; the numbers are wire format. */
enum wire_error {
    WIRE_OK = 0,
    WIRE_ERR_BAD_MAGIC = 1,       /* a frame did not start with 0xF5 0x55 */
    WIRE_ERR_BAD_VERSION = 2,     /* version is not 1 */
    WIRE_ERR_BAD_TYPE = 3,        /* type is not 1, 2 or 3 */
    WIRE_ERR_TOO_LARGE = 4,       /* length is over the receiver's limit */
    WIRE_ERR_UNEXPECTED_TYPE = 5, /* a known type the receiver does not take */
    WIRE_ERR_LENGTH_MISMATCH = 6, /* UDP: length disagrees with the datagram */
    WIRE_ERR_SHUTTING_DOWN = 7,   /* the server is closing the connection */
    WIRE_ERR_NO_MEMORY = 8,       /* the receiver could not store the frame */
};
#define WIRE_ERROR_CODE_MAX 8

struct wire_header {
    uint8_t version;
    uint8_t type;
    uint32_t length;
    uint64_t id;
};

struct wire_frame {
    struct wire_header header;
    const uint8_t *payload; /* header.length bytes */
};

enum wire_status {
    WIRE_NEED_MORE, /* all input consumed, the frame is not complete */
    WIRE_FRAME,     /* a complete frame; the input after it is untouched */
    WIRE_ERROR,     /* a bad header; the decoder stays in error from now on */
};

struct wire_decoder {
    uint32_t max_payload;
    enum wire_error error;
    size_t header_len; /* header bytes gathered so far */
    uint8_t header_bytes[WIRE_HEADER_LEN];
    struct wire_header header; /* valid once header_len == WIRE_HEADER_LEN */
    struct buf payload;        /* payload bytes of a frame split across calls */
    int payload_handed_out;    /* the store holds the last frame's payload */
};

void wire_decoder_init(struct wire_decoder *dec, uint32_t max_payload);
void wire_decoder_free(struct wire_decoder *dec);

/*
 * Decode from in[0..in_len). *consumed is set to the bytes taken (at most
 * in_len). On WIRE_FRAME, *frame is filled; on WIRE_ERROR, *frame holds the
 * header as far as it was read (its id is the offending header's id) and
 * wire_decoder_error() says why.
 */
enum wire_status wire_decode(struct wire_decoder *dec, const uint8_t *in, size_t in_len,
                             size_t *consumed, struct wire_frame *frame);
enum wire_error wire_decoder_error(const struct wire_decoder *dec);

/* True when the decoder holds part of a frame (a header byte or more). */
int wire_decoder_mid_frame(const struct wire_decoder *dec);

/*
 * Check a complete 16-byte header: magic, version, type, then length against
 * max_payload, in that order. Fills *header whatever the verdict.
 */
enum wire_error wire_parse_header(const uint8_t bytes[WIRE_HEADER_LEN], uint32_t max_payload,
                                  struct wire_header *header);

void wire_encode_header(uint8_t out[WIRE_HEADER_LEN], const struct wire_header *header);

/*
 * Write an error frame for code into out, at most out_cap bytes: the header,
 * the 2-byte code and as much of the code's reason as fits. Returns the frame
 * length, or 0 if out_cap cannot hold even the header and the code.
 */
size_t wire_encode_error(uint8_t *out, size_t out_cap, uint64_t id, enum wire_error code);

/* The short ASCII reason an error frame carries for code. */
const char *wire_error_reason(enum wire_error code);

#endif
