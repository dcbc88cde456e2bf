/*
 * udp: the datagram handler, the connection engine's sibling for UDP. One
 * datagram in, at most one datagram out, and never a byte more out than in:
 * an echo that answers spoofed sources must not amplify.
 *
 * A datagram whose first byte is not 0xF5 is text and is answered uppercased.
 * One that starts with 0xF5 holds exactly one frame: a request whose header
 * length matches the rest of the datagram is answered with its reply; any
 * other frame gets an error frame cut to the datagram's size, or nothing at
 * all when the datagram is too short to hold even an error header and code.
 * An empty datagram is not answered.
 *
 * Pure: no syscalls, no allocation; the caller owns both buffers.
 */
#ifndef SHOUT_UDP_H
#define SHOUT_UDP_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

enum udp_verdict {
    UDP_REPLY_TEXT,     /* reply holds the uppercased text */
    UDP_REPLY_FRAME,    /* reply holds the reply frame */
    UDP_REPLY_ERROR,    /* reply holds an error frame; *error says which */
    UDP_DROP_EMPTY,     /* a zero-length datagram: nothing to answer */
    UDP_DROP_TOO_SHORT, /* malformed and too short for an error frame */
};

struct udp_answer {
    enum udp_verdict verdict;
    enum wire_error error; /* for UDP_REPLY_ERROR and UDP_DROP_TOO_SHORT */
    size_t reply_len;      /* bytes written to reply; 0 for a drop */
};

/*
 * Answer the datagram in[0..len) into reply, which has room for len bytes.
 * reply may be in itself (answered in place).
 */
struct udp_answer udp_answer(const uint8_t *in, size_t len, uint32_t max_payload, uint8_t *reply);

#endif
