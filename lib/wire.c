#include "wire.h"

#include <string.h>

#include "bigendian.h"

enum wire_error wire_parse_header(const uint8_t bytes[WIRE_HEADER_LEN], uint32_t max_payload,
                                  struct wire_header *header)
{
    header->version = bytes[2];
    header->type = bytes[3];
    header->length = load_be32(bytes + 4);
    header->id = load_be64(bytes + 8);
    if (bytes[0] != WIRE_MAGIC_0 || bytes[1] != WIRE_MAGIC_1)
        return WIRE_ERR_BAD_MAGIC;
    if (header->version != WIRE_VERSION)
        return WIRE_ERR_BAD_VERSION;
    if (header->type < WIRE_TYPE_REQUEST || header->type > WIRE_TYPE_ERROR)
        return WIRE_ERR_BAD_TYPE;
    if (header->length > max_payload)
        return WIRE_ERR_TOO_LARGE;
    return WIRE_OK;
}

void wire_encode_header(uint8_t out[WIRE_HEADER_LEN], const struct wire_header *header)
{
    out[0] = WIRE_MAGIC_0;
    out[1] = WIRE_MAGIC_1;
    out[2] = header->version;
    out[3] = header->type;
    store_be32(out + 4, header->length);
    store_be64(out + 8, header->id);
}

const char *wire_error_reason(enum wire_error code)
{
    switch (code) {
    case WIRE_OK:
        return "ok";
    case WIRE_ERR_BAD_MAGIC:
        return "bad magic";
    case WIRE_ERR_BAD_VERSION:
        return "unsupported version";
    case WIRE_ERR_BAD_TYPE:
        return "unknown frame type";
    case WIRE_ERR_TOO_LARGE:
        return "payload length over the limit";
    case WIRE_ERR_UNEXPECTED_TYPE:
        return "frame type not accepted here";
    case WIRE_ERR_LENGTH_MISMATCH:
        return "length does not match the datagram";
    case WIRE_ERR_SHUTTING_DOWN:
        return "server shutting down";
    case WIRE_ERR_NO_MEMORY:
        return "out of memory";
    }
    return "unknown error";
}

size_t wire_encode_error(uint8_t *out, size_t out_cap, uint64_t id, enum wire_error code)
{
    if (out_cap < WIRE_HEADER_LEN + 2)
        return 0;
    const char *reason = wire_error_reason(code);
    size_t reason_len = strlen(reason);
    if (reason_len > WIRE_REASON_MAX)
        reason_len = WIRE_REASON_MAX;
    if (reason_len > out_cap - WIRE_HEADER_LEN - 2)
        reason_len = out_cap - WIRE_HEADER_LEN - 2;
    struct wire_header header = {
        .version = WIRE_VERSION,
        .type = WIRE_TYPE_ERROR,
        .length = (uint32_t)(2 + reason_len),
        .id = id,
    };
    wire_encode_header(out, &header);
    store_be16(out + WIRE_HEADER_LEN, (uint16_t)code);
    memcpy(out + WIRE_HEADER_LEN + 2, reason, reason_len);
    return WIRE_HEADER_LEN + 2 + reason_len;
}

void wire_decoder_init(struct wire_decoder *dec, uint32_t max_payload)
{
    *dec = (struct wire_decoder){.max_payload = max_payload};
    buf_init(&dec->payload, max_payload);
}

void wire_decoder_free(struct wire_decoder *dec)
{
    buf_free(&dec->payload);
}

enum wire_error wire_decoder_error(const struct wire_decoder *dec)
{
    return dec->error;
}

int wire_decoder_mid_frame(const struct wire_decoder *dec)
{
    return dec->header_len > 0;
}

static enum wire_status wire_fail(struct wire_decoder *dec, enum wire_error code,
                                  struct wire_frame *frame)
{
    dec->error = code;
    frame->header = dec->header;
    frame->payload = NULL;
    buf_clear(&dec->payload);
    return WIRE_ERROR;
}

static void wire_reset_frame(struct wire_decoder *dec)
{
    dec->header_len = 0;
}

enum wire_status wire_decode(struct wire_decoder *dec, const uint8_t *in, size_t in_len,
                             size_t *consumed, struct wire_frame *frame)
{
    size_t used = 0;
    *consumed = 0;
    if (dec->payload_handed_out) {
        buf_clear(&dec->payload);
        dec->payload_handed_out = 0;
    }
    if (dec->error != WIRE_OK)
        return wire_fail(dec, dec->error, frame);

    if (dec->header_len < WIRE_HEADER_LEN) {
        size_t take = WIRE_HEADER_LEN - dec->header_len;
        if (take > in_len)
            take = in_len;
        if (take)
            memcpy(dec->header_bytes + dec->header_len, in, take);
        dec->header_len += take;
        used = take;
        *consumed = used;
        if (dec->header_len < WIRE_HEADER_LEN)
            return WIRE_NEED_MORE;
        enum wire_error err = wire_parse_header(dec->header_bytes, dec->max_payload, &dec->header);
        if (err != WIRE_OK)
            return wire_fail(dec, err, frame);
    }

    /* The header is whole and within the limit: gather the payload. */
    size_t stored = buf_len(&dec->payload);
    size_t missing = dec->header.length - stored;
    size_t available = in_len - used;
    frame->header = dec->header;

    if (stored == 0 && available >= missing) {
        /* The whole payload is in this input: hand it out without a copy. */
        frame->payload = in + used;
        *consumed = used + missing;
        wire_reset_frame(dec);
        return WIRE_FRAME;
    }

    size_t take = available < missing ? available : missing;
    if (take && buf_append(&dec->payload, in + used, take) != 0)
        return wire_fail(dec, WIRE_ERR_NO_MEMORY, frame);
    *consumed = used + take;
    if (take < missing)
        return WIRE_NEED_MORE;

    frame->payload = buf_head(&dec->payload);
    wire_reset_frame(dec);
    /*
     * The payload stays in the store until the next call, which empties it
     * first: the caller may read frame->payload until then.
     */
    dec->payload_handed_out = 1;
    return WIRE_FRAME;
}
