/*
 * fuzz_udp: the datagram handler, udp_answer in lib/udp.c, against a
 * reference model of docs/protocol.md's UDP rules.
 *
 * Input: max_payload (be32; 1 MiB is shoutd's default), then the datagram.
 *
 * Oracles:
 * - Never a reply larger than the datagram (no amplification). The reply
 *   buffer is exactly the datagram's size, so ASan also sees a byte written
 *   past it.
 * - Otherwise exactly the model's answer, verdict, error code and bytes:
 *   empty: no reply; first byte not 0xF5: the bytes uppercased; a request
 *   whose length is the rest of the datagram: its reply frame (type 2, same
 *   id, payload uppercased); any other frame: an error frame with the
 *   header's id (magic, version, type, length over the limit, not a request,
 *   length mismatch, checked in that order; 0 and length mismatch when the
 *   datagram is shorter than a header), cut to the datagram's size, reason
 *   first, or no reply when not even the header and the code fit.
 * - Answering in place (reply == in) gives the same answer and bytes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_model.h"
#include "fuzz_split.h"
#include "udp.h"

/* What the model answers: the verdict and code, and the reply in out (len bytes of room). */
static struct udp_answer udp_model_answer(const uint8_t *in, size_t len, uint32_t max_payload,
                                          uint8_t *out)
{
    struct udp_answer a = {.verdict = UDP_DROP_EMPTY};
    if (len == 0)
        return a;
    if (in[0] != 0xF5) {
        fuzz_model_upper_copy(out, in, len);
        a.verdict = UDP_REPLY_TEXT;
        a.reply_len = len;
        return a;
    }
    uint64_t id = 0;
    if (len < 16) {
        a.error = WIRE_ERR_LENGTH_MISMATCH;
    } else {
        uint32_t length = (uint32_t)fuzz_model_load_be(in + 4, 4);
        id = fuzz_model_load_be(in + 8, 8);
        if (in[1] != 0x55)
            a.error = WIRE_ERR_BAD_MAGIC;
        else if (in[2] != 1)
            a.error = WIRE_ERR_BAD_VERSION;
        else if (in[3] < 1 || in[3] > 3)
            a.error = WIRE_ERR_BAD_TYPE;
        else if (length > max_payload)
            a.error = WIRE_ERR_TOO_LARGE;
        else if (in[3] != 1)
            a.error = WIRE_ERR_UNEXPECTED_TYPE;
        else if (length != len - 16)
            a.error = WIRE_ERR_LENGTH_MISMATCH;
    }
    if (a.error == WIRE_OK) {
        memcpy(out, in, 16);
        out[3] = 2;
        fuzz_model_upper_copy(out + 16, in + 16, len - 16);
        a.verdict = UDP_REPLY_FRAME;
        a.reply_len = len;
        return a;
    }
    if (len < 18) {
        a.verdict = UDP_DROP_TOO_SHORT;
        return a;
    }
    const char *reason = wire_error_reason(a.error);
    size_t reason_len = strlen(reason);
    if (reason_len > 64)
        reason_len = 64;
    if (reason_len > len - 18)
        reason_len = len - 18;
    out[0] = 0xF5;
    out[1] = 0x55;
    out[2] = 1;
    out[3] = 3;
    fuzz_model_store_be(out + 4, 2 + reason_len, 4);
    fuzz_model_store_be(out + 8, id, 8);
    fuzz_model_store_be(out + 16, (uint64_t)a.error, 2);
    memcpy(out + 18, reason, reason_len);
    a.verdict = UDP_REPLY_ERROR;
    a.reply_len = 18 + reason_len;
    return a;
}

static void udp_check_same(const struct udp_answer *got, const uint8_t *got_bytes,
                           const struct udp_answer *want, const uint8_t *want_bytes,
                           const char *what)
{
    FUZZ_CHECK(got->verdict == want->verdict && got->error == want->error &&
                   got->reply_len == want->reply_len,
               "%s: verdict %d error %d len %zu, want %d %d %zu", what, (int)got->verdict,
               (int)got->error, got->reply_len, (int)want->verdict, (int)want->error,
               want->reply_len);
    FUZZ_CHECK(want->reply_len == 0 || memcmp(got_bytes, want_bytes, want->reply_len) == 0,
               "%s: reply bytes differ", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    struct fuzz_reader r = fuzz_reader_init(size ? data : empty, size);
    uint32_t max_payload = fuzz_read_max_payload(&r);
    size_t len = r.left;

    /* Exactly len bytes each, so that ASan sees a read or a write one byte past the datagram. */
    uint8_t *in = calloc(len ? len : 1, 1);
    uint8_t *reply = malloc(len ? len : 1);
    uint8_t *model = malloc(len ? len : 1);
    FUZZ_CHECK(in && reply && model, "out of memory");
    if (len)
        memcpy(in, r.bytes, len);

    struct udp_answer got = udp_answer(in, len, max_payload, reply);
    FUZZ_CHECK(got.reply_len <= len, "reply of %zu bytes to a datagram of %zu", got.reply_len, len);
    FUZZ_CHECK(len == 0 || memcmp(in, r.bytes, len) == 0, "the datagram was changed");
    struct udp_answer want = udp_model_answer(in, len, max_payload, model);
    udp_check_same(&got, reply, &want, model, "separate buffer");

    struct udp_answer in_place = udp_answer(in, len, max_payload, in);
    udp_check_same(&in_place, in, &want, model, "in place");

    free(model);
    free(reply);
    free(in);
    return 0;
}
