#include "sockperf.h"

#include <string.h>

#include "bigendian.h"
#include "upper.h"

enum sockperf_error sockperf_parse_header(const uint8_t bytes[SOCKPERF_HEADER_LEN],
                                          uint32_t max_payload, struct sockperf_header *header)
{
    header->seq = load_be64(bytes);
    header->flags = load_be16(bytes + 8);
    header->length = load_be32(bytes + 10);
    if (header->length < SOCKPERF_HEADER_LEN)
        return SOCKPERF_ERR_TOO_SHORT;
    if (header->length - SOCKPERF_HEADER_LEN > max_payload)
        return SOCKPERF_ERR_TOO_LARGE;
    return SOCKPERF_OK;
}

void sockperf_encode_header(uint8_t out[SOCKPERF_HEADER_LEN], const struct sockperf_header *header)
{
    store_be64(out, header->seq);
    store_be16(out + 8, header->flags);
    store_be32(out + 10, header->length);
}

bool sockperf_wants_reply(const struct sockperf_header *header)
{
    /*
     * A message without the client bit is another server's reply: answering
     * it would let two echo servers bounce one message between them forever.
     */
    uint16_t flags = header->flags;
    return (flags & SOCKPERF_FLAG_CLIENT) && (flags & SOCKPERF_FLAG_REPLY_REQUEST) &&
           !(flags & SOCKPERF_FLAG_WARMUP);
}

void sockperf_encode_reply(uint8_t *out, const struct sockperf_header *header,
                           const uint8_t *payload)
{
    /* Payload first: when answering in place, the header bytes are rewritten last. */
    size_t payload_len = header->length - SOCKPERF_HEADER_LEN;
    if (payload_len > 0)
        upper_ascii(out + SOCKPERF_HEADER_LEN, payload, payload_len);
    struct sockperf_header reply = *header;
    reply.flags &= (uint16_t)~SOCKPERF_FLAG_CLIENT;
    sockperf_encode_header(out, &reply);
}

void sockperf_decoder_init(struct sockperf_decoder *dec, uint32_t max_payload)
{
    *dec = (struct sockperf_decoder){.max_payload = max_payload};
    buf_init(&dec->payload, max_payload);
}

void sockperf_decoder_free(struct sockperf_decoder *dec)
{
    buf_free(&dec->payload);
}

enum sockperf_error sockperf_decoder_error(const struct sockperf_decoder *dec)
{
    return dec->error;
}

static enum sockperf_status sockperf_fail(struct sockperf_decoder *dec, enum sockperf_error code,
                                          struct sockperf_message *message)
{
    dec->error = code;
    message->header = dec->header;
    message->payload = NULL;
    buf_clear(&dec->payload);
    return SOCKPERF_ERROR;
}

bool sockperf_decoder_mid_message(const struct sockperf_decoder *dec)
{
    return dec->header_len > 0 && dec->error == SOCKPERF_OK;
}

static void sockperf_next_message(struct sockperf_decoder *dec)
{
    dec->header_len = 0;
    dec->payload_seen = 0;
}

/* Gather header bytes; returns how many were taken from in. */
static size_t sockperf_take_header(struct sockperf_decoder *dec, const uint8_t *in, size_t in_len)
{
    size_t take = SOCKPERF_HEADER_LEN - dec->header_len;
    if (take > in_len)
        take = in_len;
    if (take)
        memcpy(dec->header_bytes + dec->header_len, in, take);
    dec->header_len += take;
    return take;
}

enum sockperf_status sockperf_decode(struct sockperf_decoder *dec, const uint8_t *in, size_t in_len,
                                     size_t *consumed, struct sockperf_message *message)
{
    *consumed = 0;
    if (dec->payload_handed_out) {
        buf_clear(&dec->payload);
        dec->payload_handed_out = false;
    }
    if (dec->error != SOCKPERF_OK)
        return sockperf_fail(dec, dec->error, message);

    size_t used = 0;
    if (dec->header_len < SOCKPERF_HEADER_LEN) {
        used = sockperf_take_header(dec, in, in_len);
        *consumed = used;
        if (dec->header_len < SOCKPERF_HEADER_LEN)
            return SOCKPERF_NEED_MORE;
        enum sockperf_error err =
            sockperf_parse_header(dec->header_bytes, dec->max_payload, &dec->header);
        if (err != SOCKPERF_OK)
            return sockperf_fail(dec, err, message);
    }

    /* The header is whole and its length within the limit: pass over the payload. */
    bool keep = sockperf_wants_reply(&dec->header);
    size_t missing = dec->header.length - SOCKPERF_HEADER_LEN - dec->payload_seen;
    size_t available = in_len - used;
    message->header = dec->header;
    message->payload = NULL;

    if (keep && dec->payload_seen == 0 && available >= missing) {
        /* The whole payload is in this input: hand it out without a copy. */
        message->payload = in + used;
        *consumed = used + missing;
        sockperf_next_message(dec);
        return SOCKPERF_MESSAGE;
    }

    size_t take = available < missing ? available : missing;
    if (keep && take && buf_append(&dec->payload, in + used, take) != 0)
        return sockperf_fail(dec, SOCKPERF_ERR_NO_MEMORY, message);
    dec->payload_seen += (uint32_t)take;
    *consumed = used + take;
    if (take < missing)
        return SOCKPERF_NEED_MORE;

    if (keep) {
        /* Valid until the next call, which empties the store first. */
        message->payload = buf_head(&dec->payload);
        dec->payload_handed_out = true;
    }
    sockperf_next_message(dec);
    return SOCKPERF_MESSAGE;
}

enum sockperf_verdict sockperf_answer_datagram(const uint8_t *in, size_t len, uint32_t max_payload,
                                               uint8_t *reply)
{
    if (len < SOCKPERF_HEADER_LEN)
        return SOCKPERF_BAD_LENGTH;
    struct sockperf_header header;
    if (sockperf_parse_header(in, max_payload, &header) != SOCKPERF_OK || header.length != len)
        return SOCKPERF_BAD_LENGTH;
    if (!sockperf_wants_reply(&header))
        return SOCKPERF_NO_REPLY;
    sockperf_encode_reply(reply, &header, in + SOCKPERF_HEADER_LEN);
    return SOCKPERF_REPLY;
}
