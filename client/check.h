/*
 * check: decides, as the bytes arrive, whether what a server sent back is the
 * right reply to one request. In text mode the reply must be the request
 * uppercased, byte for byte and no longer; in framed mode it must be one
 * type-2 frame with the request's id and length and the uppercased payload,
 * or else a type-3 error frame, which is reported as the server's error.
 * Bytes after a complete reply are a mismatch: the client never has two
 * requests in flight, so nothing else may arrive.
 *
 * Pure: no syscalls. On a mismatch or an error frame, check_why() says what
 * and where in one line ("reply mismatch at byte 3: ...", byte offsets count
 * from 0 within the reply text or payload).
 *
 * Memory: the caller owns the request bytes and must keep them unchanged
 * until it is done with the check. A framed check owns a wire decoder, which
 * stores a reply payload that arrives in pieces; check_free releases it.
 */
#ifndef SHOUT_CHECK_H
#define SHOUT_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define CHECK_WHY_MAX 160

enum check_mode {
    CHECK_TEXT,
    CHECK_FRAMED,
};

enum check_status {
    CHECK_NEED_MORE,    /* correct so far, the reply is not complete */
    CHECK_DONE,         /* the whole reply came and it is right */
    CHECK_MISMATCH,     /* the reply is wrong; check_why() says where */
    CHECK_SERVER_ERROR, /* the server answered with an error frame */
};

struct check {
    enum check_mode mode;
    enum check_status status;
    const uint8_t *request; /* text: the whole request; framed: its payload */
    size_t request_len;
    uint64_t id;                 /* framed: the id the reply must carry */
    size_t received;             /* reply bytes taken so far */
    struct wire_decoder decoder; /* framed only */
    char why[CHECK_WHY_MAX];
};

void check_init_text(struct check *c, const uint8_t *request, size_t len);
void check_init_framed(struct check *c, const uint8_t *payload, uint32_t len, uint64_t id);
void check_free(struct check *c);

/* Take the reply bytes in[0..len) that just arrived; returns the verdict so far. */
enum check_status check_feed(struct check *c, const uint8_t *in, size_t len);

/*
 * The reply can have no more bytes (a UDP datagram ended): a reply still
 * incomplete becomes a mismatch. Returns the final verdict.
 */
enum check_status check_end(struct check *c);

enum check_status check_status(const struct check *c);
const char *check_why(const struct check *c);

#endif
