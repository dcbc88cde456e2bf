/* Unit tests for lib/udp.c: one datagram in, at most one datagram (never larger) out. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "prng.h"
#include "support.h"
#include "udp.h"

#define MAX_PAYLOAD 1024
#define MAX_DGRAM   (WIRE_HEADER_LEN + MAX_PAYLOAD + 64)
#define GUARD       16
#define GUARD_BYTE  0xA7

/* A reply buffer with guard bytes on both sides of the len bytes it may use. */
struct reply_area {
    uint8_t bytes[GUARD + MAX_DGRAM + GUARD];
    size_t len;
};

static uint8_t *reply_area_init(struct reply_area *r, size_t len)
{
    assert_true(len <= MAX_DGRAM);
    memset(r->bytes, GUARD_BYTE, sizeof r->bytes);
    r->len = len;
    return r->bytes + GUARD;
}

/* Nothing was written outside the datagram's size, nor past what the answer claims. */
static void expect_writes_within(const struct reply_area *r, size_t written)
{
    for (size_t i = 0; i < GUARD; i++)
        assert_int_equal(r->bytes[i], GUARD_BYTE);
    for (size_t i = GUARD + written; i < sizeof r->bytes; i++)
        assert_int_equal(r->bytes[i], GUARD_BYTE);
}

static struct udp_answer answer(const uint8_t *in, size_t len, struct reply_area *r)
{
    uint8_t *reply = reply_area_init(r, len);
    struct udp_answer a = udp_answer(in, len, MAX_PAYLOAD, reply);
    assert_true(a.reply_len <= len);
    expect_writes_within(r, a.reply_len);
    return a;
}

static void expect_error_reply(const uint8_t *reply, size_t reply_len, uint64_t id,
                               enum wire_error code)
{
    const char *reason = wire_error_reason(code);
    assert_true(reply_len >= WIRE_HEADER_LEN + 2);
    assert_int_equal(reply[0], 0xF5);
    assert_int_equal(reply[1], 0x55);
    assert_int_equal(reply[2], 1);
    assert_int_equal(reply[3], WIRE_TYPE_ERROR);
    assert_int_equal(get_be32(reply + 4), reply_len - WIRE_HEADER_LEN);
    assert_int_equal(get_be64(reply + 8), id);
    assert_int_equal(get_be16(reply + 16), code);
    assert_true(reply_len - 18 <= strlen(reason));
    assert_memory_equal(reply + 18, reason, reply_len - 18);
}

static void text_datagram_is_uppercased_to_the_same_length(void **state)
{
    (void)state;
    static const char in[] = "hello, w\xc3\xb6rld \xf5 {z}";
    static const char want[] = "HELLO, W\xc3\xb6RLD \xf5 {Z}";
    struct reply_area r;
    struct udp_answer a = answer((const uint8_t *)in, sizeof in - 1, &r);
    assert_int_equal(a.verdict, UDP_REPLY_TEXT);
    assert_int_equal(a.error, WIRE_OK);
    assert_int_equal(a.reply_len, sizeof in - 1);
    assert_memory_equal(r.bytes + GUARD, want, sizeof want - 1);
}

static void single_byte_text_datagram_is_answered(void **state)
{
    (void)state;
    struct reply_area r;
    struct udp_answer a = answer((const uint8_t *)"q", 1, &r);
    assert_int_equal(a.verdict, UDP_REPLY_TEXT);
    assert_int_equal(a.reply_len, 1);
    assert_int_equal(r.bytes[GUARD], 'Q');
}

static void empty_datagram_is_dropped(void **state)
{
    (void)state;
    uint8_t in[1] = {'a'};
    struct reply_area r;
    struct udp_answer a = answer(in, 0, &r);
    assert_int_equal(a.verdict, UDP_DROP_EMPTY);
    assert_int_equal(a.reply_len, 0);
}

static void request_gets_a_reply_frame_of_the_same_length_and_id(void **state)
{
    (void)state;
    static const char payload[] = "make me loud: \xc3\xa9t\xc3\xa9 abc-xyz";
    const uint32_t len = sizeof payload - 1;
    uint8_t in[WIRE_HEADER_LEN + sizeof payload];
    put_request(in, len, 0x0123456789ABCDEFULL);
    memcpy(in + WIRE_HEADER_LEN, payload, len);
    struct reply_area r;
    struct udp_answer a = answer(in, WIRE_HEADER_LEN + len, &r);
    assert_int_equal(a.verdict, UDP_REPLY_FRAME);
    assert_int_equal(a.reply_len, WIRE_HEADER_LEN + len);
    const uint8_t *reply = r.bytes + GUARD;
    assert_int_equal(reply[0], 0xF5);
    assert_int_equal(reply[1], 0x55);
    assert_int_equal(reply[2], 1);
    assert_int_equal(reply[3], WIRE_TYPE_REPLY);
    assert_int_equal(get_be32(reply + 4), len);
    assert_int_equal(get_be64(reply + 8), 0x0123456789ABCDEFULL);
    for (uint32_t i = 0; i < len; i++)
        assert_int_equal(reply[WIRE_HEADER_LEN + i], ref_upper((uint8_t)payload[i]));
}

static void empty_request_gets_a_bare_reply_header(void **state)
{
    (void)state;
    uint8_t in[WIRE_HEADER_LEN];
    put_request(in, 0, 77);
    struct reply_area r;
    struct udp_answer a = answer(in, sizeof in, &r);
    assert_int_equal(a.verdict, UDP_REPLY_FRAME);
    assert_int_equal(a.reply_len, WIRE_HEADER_LEN);
    assert_int_equal(r.bytes[GUARD + 3], WIRE_TYPE_REPLY);
    assert_int_equal(get_be32(r.bytes + GUARD + 4), 0);
    assert_int_equal(get_be64(r.bytes + GUARD + 8), 77);
}

static void request_at_the_payload_limit_is_answered(void **state)
{
    (void)state;
    static uint8_t in[WIRE_HEADER_LEN + MAX_PAYLOAD];
    put_request(in, MAX_PAYLOAD, 5);
    memset(in + WIRE_HEADER_LEN, 'k', MAX_PAYLOAD);
    struct reply_area r;
    struct udp_answer a = answer(in, sizeof in, &r);
    assert_int_equal(a.verdict, UDP_REPLY_FRAME);
    assert_int_equal(a.reply_len, sizeof in);
    for (size_t i = 0; i < MAX_PAYLOAD; i++)
        assert_int_equal(r.bytes[GUARD + WIRE_HEADER_LEN + i], 'K');
}

static void header_length_not_matching_the_datagram_gets_length_mismatch(void **state)
{
    (void)state;
    uint8_t in[WIRE_HEADER_LEN + 100];
    memset(in, 'x', sizeof in);
    /* Claims fewer bytes than follow, then more; both within the payload limit. */
    const uint32_t claims[] = {0, 99, 101, MAX_PAYLOAD};
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
        put_request(in, claims[i], 1000 + i);
        struct reply_area r;
        struct udp_answer a = answer(in, sizeof in, &r);
        assert_int_equal(a.verdict, UDP_REPLY_ERROR);
        assert_int_equal(a.error, WIRE_ERR_LENGTH_MISMATCH);
        assert_true(a.reply_len <= sizeof in);
        expect_error_reply(r.bytes + GUARD, a.reply_len, 1000 + i, WIRE_ERR_LENGTH_MISMATCH);
        assert_int_equal(a.reply_len,
                         WIRE_HEADER_LEN + 2 + strlen(wire_error_reason(WIRE_ERR_LENGTH_MISMATCH)));
    }
}

static void frame_datagrams_shorter_than_an_error_frame_are_dropped(void **state)
{
    (void)state;
    uint8_t in[WIRE_HEADER_LEN + 2];
    /* 1..15 bytes: not even a header. */
    put_request(in, 0, 1);
    for (size_t len = 1; len < WIRE_HEADER_LEN; len++) {
        struct reply_area r;
        struct udp_answer a = answer(in, len, &r);
        assert_int_equal(a.verdict, UDP_DROP_TOO_SHORT);
        assert_int_equal(a.error, WIRE_ERR_LENGTH_MISMATCH);
        assert_int_equal(a.reply_len, 0);
    }
    /* 16 and 17 bytes: a whole but wrong header, with no room for the error code. */
    for (size_t len = WIRE_HEADER_LEN; len < WIRE_HEADER_LEN + 2; len++) {
        struct reply_area r;
        put_request(in, 5, 2); /* length mismatch */
        struct udp_answer a = answer(in, len, &r);
        assert_int_equal(a.verdict, UDP_DROP_TOO_SHORT);
        assert_int_equal(a.error, WIRE_ERR_LENGTH_MISMATCH);
        assert_int_equal(a.reply_len, 0);
        put_header(in, 0xF5, 0x55, 2, 1, (uint32_t)(len - WIRE_HEADER_LEN), 3); /* bad version */
        a = answer(in, len, &r);
        assert_int_equal(a.verdict, UDP_DROP_TOO_SHORT);
        assert_int_equal(a.error, WIRE_ERR_BAD_VERSION);
        assert_int_equal(a.reply_len, 0);
    }
}

static void error_frame_is_cut_to_exactly_the_datagram_size(void **state)
{
    (void)state;
    const size_t full = WIRE_HEADER_LEN + 2 + strlen(wire_error_reason(WIRE_ERR_BAD_VERSION));
    uint8_t in[WIRE_ERROR_MAX_LEN + 32];
    for (size_t len = WIRE_HEADER_LEN + 2; len <= sizeof in; len++) {
        memset(in, 'p', sizeof in);
        put_header(in, 0xF5, 0x55, 9, 1, (uint32_t)(len - WIRE_HEADER_LEN), 0xC0FFEE + len);
        struct reply_area r;
        struct udp_answer a = answer(in, len, &r);
        assert_int_equal(a.verdict, UDP_REPLY_ERROR);
        assert_int_equal(a.error, WIRE_ERR_BAD_VERSION);
        assert_int_equal(a.reply_len, len < full ? len : full);
        expect_error_reply(r.bytes + GUARD, a.reply_len, 0xC0FFEE + len, WIRE_ERR_BAD_VERSION);
    }
}

struct refused {
    const char *name;
    uint8_t magic1, version, type;
    uint32_t length;
    enum wire_error code;
};

static void malformed_frames_get_the_matching_error(void **state)
{
    (void)state;
    enum { PAYLOAD = 40 };
    const struct refused cases[] = {
        {"bad magic", 0x56, 1, 1, PAYLOAD, WIRE_ERR_BAD_MAGIC},
        {"bad version", 0x55, 0, 1, PAYLOAD, WIRE_ERR_BAD_VERSION},
        {"bad type 0", 0x55, 1, 0, PAYLOAD, WIRE_ERR_BAD_TYPE},
        {"bad type 200", 0x55, 1, 200, PAYLOAD, WIRE_ERR_BAD_TYPE},
        {"too large", 0x55, 1, 1, MAX_PAYLOAD + 1, WIRE_ERR_TOO_LARGE},
        {"length 0xFFFFFFFF", 0x55, 1, 1, 0xFFFFFFFF, WIRE_ERR_TOO_LARGE},
        {"reply type", 0x55, 1, 2, PAYLOAD, WIRE_ERR_UNEXPECTED_TYPE},
        {"error type", 0x55, 1, 3, PAYLOAD, WIRE_ERR_UNEXPECTED_TYPE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("case: %s\n", cases[i].name);
        uint8_t in[WIRE_HEADER_LEN + PAYLOAD];
        memset(in, 'r', sizeof in);
        put_header(in, 0xF5, cases[i].magic1, cases[i].version, cases[i].type, cases[i].length,
                   0xE0 + i);
        struct reply_area r;
        struct udp_answer a = answer(in, sizeof in, &r);
        assert_int_equal(a.verdict, UDP_REPLY_ERROR);
        assert_int_equal(a.error, cases[i].code);
        expect_error_reply(r.bytes + GUARD, a.reply_len, 0xE0 + i, cases[i].code);
        size_t full = WIRE_HEADER_LEN + 2 + strlen(wire_error_reason(cases[i].code));
        assert_int_equal(a.reply_len, full < sizeof in ? full : sizeof in);
    }
}

/* Same answer, byte for byte, whether reply is a separate buffer or in itself. */
static void expect_same_in_place(const uint8_t *in, size_t len)
{
    static struct reply_area separate;
    static uint8_t in_place[MAX_DGRAM];
    assert_true(len <= MAX_DGRAM);
    struct udp_answer a = answer(in, len, &separate);
    memcpy(in_place, in, len);
    struct udp_answer b = udp_answer(in_place, len, MAX_PAYLOAD, in_place);
    assert_int_equal(b.verdict, a.verdict);
    assert_int_equal(b.error, a.error);
    assert_int_equal(b.reply_len, a.reply_len);
    assert_memory_equal(in_place, separate.bytes + GUARD, a.reply_len);
}

static void answering_in_place_gives_the_same_reply(void **state)
{
    (void)state;
    uint8_t in[WIRE_HEADER_LEN + 300];
    struct prng rng = {.state = 0x0D90001};
    prng_fill(&rng, in, sizeof in);

    in[0] = 't'; /* text */
    expect_same_in_place(in, sizeof in);
    put_request(in, 300, 0x1111); /* request */
    expect_same_in_place(in, sizeof in);
    put_request(in, 0, 0x2222); /* empty request */
    expect_same_in_place(in, WIRE_HEADER_LEN);
    put_request(in, 299, 0x3333); /* length mismatch */
    expect_same_in_place(in, sizeof in);
    put_header(in, 0xF5, 0x55, 1, 2, 300, 0x4444); /* unexpected type */
    expect_same_in_place(in, sizeof in);
    put_header(in, 0xF5, 0x55, 1, 1, 0xFFFFFFFF, 0x5555); /* too large, cut error */
    expect_same_in_place(in, 20);
    expect_same_in_place(in, 10); /* dropped */
    expect_same_in_place(in, 0);  /* empty */
}

static void random_datagrams_never_get_a_longer_reply(void **state)
{
    (void)state;
    static uint8_t in[MAX_DGRAM];
    struct prng rng = {.state = 0x0D90002};
    for (size_t len = 0; len <= MAX_DGRAM; len++) {
        for (int variant = 0; variant < 6; variant++) {
            prng_fill(&rng, in, len);
            if (len > 0 && variant >= 1)
                in[0] = 0xF5;
            if (len > 1 && variant >= 2)
                in[1] = 0x55;
            if (len > 3 && variant >= 3) {
                in[2] = 1;
                in[3] = (uint8_t)prng_below(&rng, 4);
            }
            if (len >= WIRE_HEADER_LEN && variant >= 4) {
                /* A length near the truth, so mismatches by one are covered. */
                uint32_t claim = (uint32_t)(len - WIRE_HEADER_LEN) + (uint32_t)variant - 5;
                put_header(in, 0xF5, 0x55, 1, in[3], claim, prng_next(&rng));
            }
            struct reply_area r;
            struct udp_answer a = answer(in, len, &r); /* checks reply_len <= len and guards */
            switch (a.verdict) {
            case UDP_REPLY_TEXT:
                assert_true(len > 0 && in[0] != 0xF5);
                assert_int_equal(a.reply_len, len);
                break;
            case UDP_REPLY_FRAME:
                assert_int_equal(a.reply_len, len);
                assert_int_equal(get_be32(in + 4), len - WIRE_HEADER_LEN);
                assert_int_equal(in[3], WIRE_TYPE_REQUEST);
                break;
            case UDP_REPLY_ERROR:
                assert_true(len >= WIRE_HEADER_LEN + 2);
                expect_error_reply(r.bytes + GUARD, a.reply_len,
                                   len >= WIRE_HEADER_LEN ? get_be64(in + 8) : 0, a.error);
                break;
            case UDP_DROP_EMPTY:
                assert_int_equal(len, 0);
                break;
            case UDP_DROP_TOO_SHORT:
                assert_true(len > 0 && len < WIRE_HEADER_LEN + 2);
                assert_int_equal(a.reply_len, 0);
                break;
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_datagram_is_uppercased_to_the_same_length),
        cmocka_unit_test(single_byte_text_datagram_is_answered),
        cmocka_unit_test(empty_datagram_is_dropped),
        cmocka_unit_test(request_gets_a_reply_frame_of_the_same_length_and_id),
        cmocka_unit_test(empty_request_gets_a_bare_reply_header),
        cmocka_unit_test(request_at_the_payload_limit_is_answered),
        cmocka_unit_test(header_length_not_matching_the_datagram_gets_length_mismatch),
        cmocka_unit_test(frame_datagrams_shorter_than_an_error_frame_are_dropped),
        cmocka_unit_test(error_frame_is_cut_to_exactly_the_datagram_size),
        cmocka_unit_test(malformed_frames_get_the_matching_error),
        cmocka_unit_test(answering_in_place_gives_the_same_reply),
        cmocka_unit_test(random_datagrams_never_get_a_longer_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
