#include "udp.h"

#include <string.h>

#include "upper.h"

static struct udp_answer udp_refuse(uint8_t *reply, size_t len, uint64_t id, enum wire_error code)
{
    /* The error frame is cut to the datagram's size: no amplification. */
    size_t reply_len = wire_encode_error(reply, len, id, code);
    if (reply_len == 0)
        return (struct udp_answer){.verdict = UDP_DROP_TOO_SHORT, .error = code};
    return (struct udp_answer){.verdict = UDP_REPLY_ERROR, .error = code, .reply_len = reply_len};
}

struct udp_answer udp_answer(const uint8_t *in, size_t len, uint32_t max_payload, uint8_t *reply)
{
    if (len == 0)
        return (struct udp_answer){.verdict = UDP_DROP_EMPTY};
    if (in[0] != WIRE_MAGIC_0) {
        upper_ascii(reply, in, len);
        return (struct udp_answer){.verdict = UDP_REPLY_TEXT, .reply_len = len};
    }
    if (len < WIRE_HEADER_LEN)
        return udp_refuse(reply, len, 0, WIRE_ERR_LENGTH_MISMATCH);

    struct wire_header header;
    enum wire_error err = wire_parse_header(in, max_payload, &header);
    if (err == WIRE_OK && header.type != WIRE_TYPE_REQUEST)
        err = WIRE_ERR_UNEXPECTED_TYPE;
    if (err == WIRE_OK && header.length != len - WIRE_HEADER_LEN)
        err = WIRE_ERR_LENGTH_MISMATCH;
    if (err != WIRE_OK)
        return udp_refuse(reply, len, header.id, err);

    /* Payload first: when answering in place, the header must still be readable. */
    upper_ascii(reply + WIRE_HEADER_LEN, in + WIRE_HEADER_LEN, header.length);
    header.type = WIRE_TYPE_REPLY;
    wire_encode_header(reply, &header);
    return (struct udp_answer){.verdict = UDP_REPLY_FRAME, .reply_len = len};
}
