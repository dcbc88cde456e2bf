/*
 * judge: the pieces of judging a server's reply that the client's two
 * checkers share: check.c (one request, `shout send`) and flow_rx.c (many
 * requests in flight, `shout ping` and `shout load`). One copy of each rule,
 * so that the two cannot drift apart on what counts as a right reply:
 *  - the longest frame a reply may claim before its payload is stored;
 *  - a reply header's verdict (error frame, wrong type, wrong id, wrong
 *    length), in the order that names the first thing wrong, and its text;
 *  - where reply bytes first differ from what was expected;
 *  - an error frame's code and its reason, made printable (a terminal must
 *    not receive the server's control bytes).
 *
 * Pure: no syscalls, no clock, no allocation. The caller owns every buffer
 * passed in; nothing is kept after a call returns.
 */
#ifndef SHOUT_JUDGE_H
#define SHOUT_JUDGE_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Room for judge_header_why's longest text (two 20-digit ids) and its NUL. */
#define JUDGE_WHY_MAX 64

/* A reply header's verdict, in the order judge_header tries them. */
enum judge_header {
    JUDGE_HEADER_REPLY,        /* type 2, the id and length expected: judge its payload */
    JUDGE_HEADER_ERROR_FRAME,  /* type 3: the server's error, not a mismatch */
    JUDGE_HEADER_WRONG_TYPE,   /* a type other than reply or error */
    JUDGE_HEADER_WRONG_ID,     /* a reply to some other request */
    JUDGE_HEADER_WRONG_LENGTH, /* not as long as the request */
};

/*
 * The decoder limit for the reply to a payload of len bytes: the reply
 * itself or an error frame (a code and a reason), whichever is longer. A
 * header claiming more is refused from the header alone, before a byte of
 * its payload is stored.
 */
uint32_t judge_frame_limit(uint32_t len);

/* The verdict on header h of the reply to a request with this id and payload length. */
enum judge_header judge_header(const struct wire_header *h, uint64_t id, uint32_t len);

/*
 * What is wrong with h, for a verdict of WRONG_TYPE, WRONG_ID or
 * WRONG_LENGTH, as the tail of a message ("id 7, expected 3"); "" for the
 * others. Returns what snprintf returns.
 */
int judge_header_why(char *out, size_t cap, enum judge_header verdict, const struct wire_header *h,
                     uint64_t id, uint32_t len);

/* The offset of the first byte where got differs from want, both len bytes; len if none. */
size_t judge_first_difference(const uint8_t *want, const uint8_t *got, size_t len);

/*
 * The same, against upper(request): the reply a server owes a request. The
 * expected bytes are made a block at a time on the stack, so judging a
 * multi-megabyte reply needs no second copy of the request.
 */
size_t judge_upper_difference(const uint8_t *request, const uint8_t *got, size_t len);

/*
 * An error frame's payload of len bytes: its code (big-endian, the first
 * two bytes), and its reason, at most WIRE_REASON_MAX bytes with every byte
 * outside printable ASCII shown as '?', into reason (NUL-terminated).
 * Returns the code, or -1 when the payload is too short to hold one (reason
 * is then "").
 */
int judge_error_reason(const uint8_t *payload, size_t len, char reason[WIRE_REASON_MAX + 1]);

#endif
