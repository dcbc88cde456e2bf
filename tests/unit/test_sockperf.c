/*
 * Unit tests for lib/sockperf.c (sockperf's wire format: header codec,
 * datagram answerer, stream decoder) and for the connection engine run in
 * sockperf mode (conn_init_mode with CONN_MODE_SOCKPERF). Messages are
 * spelled out byte by byte here, and the expected replies are computed from
 * the format's description, not with lib/sockperf.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "conn.h"
#include "prng.h"
#include "sockperf.h"
#include "support.h"
#include "engine_support.h"

#define MAX_PAYLOAD 1024
#define HDR         14
#define F_CLIENT    0x1
#define F_REPLY     0x2
#define F_WARMUP    0x4
#define F_PING      (F_CLIENT | F_REPLY) /* what sockperf ping-pong sends */

static void put_sp_header(uint8_t *out, uint64_t seq, uint16_t flags, uint32_t length)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(seq >> (56 - 8 * i));
    out[8] = (uint8_t)(flags >> 8);
    out[9] = (uint8_t)flags;
    for (int i = 0; i < 4; i++)
        out[10 + i] = (uint8_t)(length >> (24 - 8 * i));
}

/* A message with a pseudo-random payload of payload_len bytes. */
static void add_message(struct bytes *s, struct prng *rng, uint64_t seq, uint16_t flags,
                        uint32_t payload_len)
{
    put_sp_header(bytes_extend(s, HDR), seq, flags, HDR + payload_len);
    prng_fill(rng, bytes_extend(s, payload_len), payload_len);
}

static int answered(uint16_t flags)
{
    return (flags & F_CLIENT) && (flags & F_REPLY) && !(flags & F_WARMUP);
}

/* What a sockperf server that uppercases payloads sends back for a valid stream. */
static void expected_replies(const uint8_t *in, size_t len, struct bytes *out)
{
    size_t off = 0;
    while (off < len) {
        uint16_t flags = get_be16(in + off + 8);
        uint32_t length = get_be32(in + off + 10);
        assert_true(length >= HDR && off + length <= len);
        if (answered(flags)) {
            uint8_t *reply = bytes_extend(out, length);
            memcpy(reply, in + off, HDR);
            reply[9] = (uint8_t)(flags & ~F_CLIENT);
            for (uint32_t i = HDR; i < length; i++)
                reply[i] = ref_upper(in[off + i]);
        }
        off += length;
    }
}

/* A stream mixing every kind of message: answered, unanswered, warm-up, a server's, empty. */
static size_t build_mixed_stream(struct bytes *s, struct prng *rng)
{
    static const struct {
        uint16_t flags;
        uint32_t payload_len;
    } specs[] = {
        {F_PING, 50}, {F_CLIENT, 30},         {F_PING | F_WARMUP, 20}, {F_REPLY, 10}, {F_PING, 0},
        {F_PING, 3},  {F_PING | 0x80F0, 200}, {F_CLIENT, 0},           {F_PING, 17},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        add_message(s, rng, 1000 + i, specs[i].flags, specs[i].payload_len);
    return sizeof specs / sizeof specs[0];
}

/* ---- header ---- */

static void header_is_parsed_big_endian(void **state)
{
    (void)state;
    static const uint8_t bytes[HDR] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                       0x08, 0x00, 0x03, 0x00, 0x00, 0x01, 0x00};
    struct sockperf_header h;
    assert_int_equal(sockperf_parse_header(bytes, MAX_PAYLOAD, &h), SOCKPERF_OK);
    assert_true(h.seq == 0x0102030405060708ULL);
    assert_int_equal(h.flags, 3);
    assert_int_equal(h.length, 256);
}

static void header_encodes_to_the_bytes_it_was_parsed_from(void **state)
{
    (void)state;
    uint8_t bytes[HDR];
    put_sp_header(bytes, 0xFEDCBA9876543210ULL, 0xA5C3, 0x12345);
    struct sockperf_header h;
    assert_int_equal(sockperf_parse_header(bytes, 0x20000, &h), SOCKPERF_OK);
    uint8_t again[HDR];
    sockperf_encode_header(again, &h);
    assert_memory_equal(again, bytes, HDR);
}

static void header_length_under_14_is_too_short(void **state)
{
    (void)state;
    static const uint32_t lengths[] = {0, 1, 13};
    for (size_t i = 0; i < 3; i++) {
        uint8_t bytes[HDR];
        put_sp_header(bytes, 1, F_PING, lengths[i]);
        struct sockperf_header h;
        assert_int_equal(sockperf_parse_header(bytes, MAX_PAYLOAD, &h), SOCKPERF_ERR_TOO_SHORT);
        assert_int_equal(h.length, lengths[i]);
    }
}

static void header_length_is_checked_against_the_payload_limit(void **state)
{
    (void)state;
    uint8_t bytes[HDR];
    struct sockperf_header h;
    put_sp_header(bytes, 1, F_PING, HDR);
    assert_int_equal(sockperf_parse_header(bytes, MAX_PAYLOAD, &h), SOCKPERF_OK);
    put_sp_header(bytes, 1, F_PING, HDR + MAX_PAYLOAD);
    assert_int_equal(sockperf_parse_header(bytes, MAX_PAYLOAD, &h), SOCKPERF_OK);
    put_sp_header(bytes, 1, F_PING, HDR + MAX_PAYLOAD + 1);
    assert_int_equal(sockperf_parse_header(bytes, MAX_PAYLOAD, &h), SOCKPERF_ERR_TOO_LARGE);
    put_sp_header(bytes, 1, F_PING, UINT32_MAX);
    assert_int_equal(sockperf_parse_header(bytes, MAX_PAYLOAD, &h), SOCKPERF_ERR_TOO_LARGE);
}

static void only_a_clients_reply_request_outside_warm_up_is_answered(void **state)
{
    (void)state;
    for (unsigned flags = 0; flags < 8; flags++) {
        for (unsigned high = 0; high < 2; high++) {
            struct sockperf_header h = {.seq = 1, .flags = (uint16_t)(flags | high << 12)};
            assert_int_equal(sockperf_wants_reply(&h), answered((uint16_t)flags));
        }
    }
}

/* ---- datagrams ---- */

static void datagram_reply_clears_only_the_client_bit_and_uppercases_the_payload(void **state)
{
    (void)state;
    uint8_t in[HDR + 12];
    put_sp_header(in, 0x1122334455667788ULL, F_PING | 0x0100, sizeof in);
    memcpy(in + HDR, "hello, w{z}!", 12);
    uint8_t reply[sizeof in];
    assert_int_equal(sockperf_answer_datagram(in, sizeof in, MAX_PAYLOAD, reply), SOCKPERF_REPLY);
    assert_memory_equal(reply, in, 8);
    assert_int_equal(get_be16(reply + 8), F_REPLY | 0x0100);
    assert_int_equal(get_be32(reply + 10), sizeof in);
    assert_memory_equal(reply + HDR, "HELLO, W{Z}!", 12);
}

static void datagram_is_answered_in_place(void **state)
{
    (void)state;
    struct prng rng = {7};
    struct bytes msg = {0};
    struct bytes want = {0};
    add_message(&msg, &rng, 42, F_PING, 300);
    expected_replies(msg.at, msg.len, &want);
    assert_int_equal(sockperf_answer_datagram(msg.at, msg.len, MAX_PAYLOAD, msg.at),
                     SOCKPERF_REPLY);
    assert_memory_equal(msg.at, want.at, want.len);
    bytes_free(&msg);
    bytes_free(&want);
}

static void datagram_without_reply_request_or_in_warm_up_is_not_answered(void **state)
{
    (void)state;
    static const uint16_t silent[] = {F_CLIENT, F_REPLY, F_PING | F_WARMUP, 0, F_WARMUP};
    for (size_t i = 0; i < sizeof silent / sizeof silent[0]; i++) {
        uint8_t in[HDR + 4];
        put_sp_header(in, 9, silent[i], sizeof in);
        memcpy(in + HDR, "abcd", 4);
        uint8_t reply[sizeof in];
        memset(reply, 0xA7, sizeof reply);
        assert_int_equal(sockperf_answer_datagram(in, sizeof in, MAX_PAYLOAD, reply),
                         SOCKPERF_NO_REPLY);
        for (size_t j = 0; j < sizeof reply; j++)
            assert_int_equal(reply[j], 0xA7);
    }
}

static void datagram_shorter_than_a_header_is_a_bad_length(void **state)
{
    (void)state;
    uint8_t in[HDR];
    put_sp_header(in, 1, F_PING, HDR);
    uint8_t reply[HDR];
    for (size_t len = 0; len < HDR; len++)
        assert_int_equal(sockperf_answer_datagram(in, len, MAX_PAYLOAD, reply),
                         SOCKPERF_BAD_LENGTH);
    assert_int_equal(sockperf_answer_datagram(in, HDR, MAX_PAYLOAD, reply), SOCKPERF_REPLY);
}

static void datagram_whose_length_disagrees_is_a_bad_length(void **state)
{
    (void)state;
    uint8_t in[HDR + 8] = {0};
    uint8_t reply[sizeof in];
    static const uint32_t claims[] = {HDR + 7, HDR + 9, 60000, 0, 13};
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
        put_sp_header(in, 5, F_PING, claims[i]);
        assert_int_equal(sockperf_answer_datagram(in, sizeof in, MAX_PAYLOAD, reply),
                         SOCKPERF_BAD_LENGTH);
    }
}

static void datagram_over_the_payload_limit_is_a_bad_length(void **state)
{
    (void)state;
    static uint8_t in[HDR + MAX_PAYLOAD + 1];
    static uint8_t reply[sizeof in];
    put_sp_header(in, 5, F_PING, sizeof in);
    assert_int_equal(sockperf_answer_datagram(in, sizeof in, MAX_PAYLOAD, reply),
                     SOCKPERF_BAD_LENGTH);
    put_sp_header(in, 5, F_PING, sizeof in - 1);
    assert_int_equal(sockperf_answer_datagram(in, sizeof in - 1, MAX_PAYLOAD, reply),
                     SOCKPERF_REPLY);
}

/* ---- stream decoder ---- */

/*
 * Decode in[0..len) to the end, appending what each message looks like to
 * transcript: its 14 header bytes, then its payload if it is handed out.
 */
static size_t decode_all(struct sockperf_decoder *dec, const uint8_t *in, size_t len,
                         struct bytes *transcript)
{
    size_t off = 0;
    size_t messages = 0;
    for (int rounds = 0;; rounds++) {
        assert_true(rounds < 100000);
        size_t used;
        struct sockperf_message m;
        enum sockperf_status status = sockperf_decode(dec, in + off, len - off, &used, &m);
        assert_true(used <= len - off);
        off += used;
        if (status == SOCKPERF_NEED_MORE) {
            assert_int_equal(off, len);
            return messages;
        }
        assert_int_equal(status, SOCKPERF_MESSAGE);
        messages++;
        put_sp_header(bytes_extend(transcript, HDR), m.header.seq, m.header.flags, m.header.length);
        if (answered(m.header.flags)) {
            assert_non_null(m.payload);
            bytes_add(transcript, m.payload, m.header.length - HDR);
        } else {
            assert_null(m.payload);
        }
    }
}

/* The transcript a correct decoder produces: headers, and payloads only of answered messages. */
static void expected_transcript(const uint8_t *in, size_t len, struct bytes *out)
{
    for (size_t off = 0; off < len;) {
        uint32_t length = get_be32(in + off + 10);
        bytes_add(out, in + off, answered(get_be16(in + off + 8)) ? length : HDR);
        off += length;
    }
}

static void decoder_gives_the_same_messages_for_a_stream_split_at_every_point(void **state)
{
    (void)state;
    struct prng rng = {11};
    struct bytes stream = {0};
    struct bytes want = {0};
    size_t count = build_mixed_stream(&stream, &rng);
    expected_transcript(stream.at, stream.len, &want);
    for (size_t split = 0; split <= stream.len; split++) {
        struct sockperf_decoder dec;
        sockperf_decoder_init(&dec, MAX_PAYLOAD);
        struct bytes got = {0};
        size_t n = decode_all(&dec, stream.at, split, &got);
        n += decode_all(&dec, stream.at + split, stream.len - split, &got);
        assert_int_equal(n, count);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.at, want.at, want.len);
        sockperf_decoder_free(&dec);
        bytes_free(&got);
    }
    bytes_free(&stream);
    bytes_free(&want);
}

static void decoder_gives_the_same_messages_byte_by_byte(void **state)
{
    (void)state;
    struct prng rng = {12};
    struct bytes stream = {0};
    struct bytes want = {0};
    size_t count = build_mixed_stream(&stream, &rng);
    expected_transcript(stream.at, stream.len, &want);
    struct sockperf_decoder dec;
    sockperf_decoder_init(&dec, MAX_PAYLOAD);
    struct bytes got = {0};
    size_t n = 0;
    for (size_t i = 0; i < stream.len; i++)
        n += decode_all(&dec, stream.at + i, 1, &got);
    assert_int_equal(n, count);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.at, want.at, want.len);
    sockperf_decoder_free(&dec);
    bytes_free(&got);
    bytes_free(&stream);
    bytes_free(&want);
}

static void decoder_stores_no_payload_of_an_unanswered_message(void **state)
{
    (void)state;
    struct prng rng = {13};
    struct bytes stream = {0};
    add_message(&stream, &rng, 3, F_CLIENT, MAX_PAYLOAD);
    struct sockperf_decoder dec;
    sockperf_decoder_init(&dec, MAX_PAYLOAD);
    struct bytes got = {0};
    assert_int_equal(decode_all(&dec, stream.at, stream.len - 1, &got), 0);
    assert_null(dec.payload.bytes);
    assert_int_equal(decode_all(&dec, stream.at + stream.len - 1, 1, &got), 1);
    assert_null(dec.payload.bytes);
    sockperf_decoder_free(&dec);
    bytes_free(&got);
    bytes_free(&stream);
}

static void decoder_refuses_a_bad_length_and_stays_refusing(void **state)
{
    (void)state;
    static const uint32_t bad[] = {0, 13, HDR + MAX_PAYLOAD + 1, UINT32_MAX};
    static const enum sockperf_error why[] = {SOCKPERF_ERR_TOO_SHORT, SOCKPERF_ERR_TOO_SHORT,
                                              SOCKPERF_ERR_TOO_LARGE, SOCKPERF_ERR_TOO_LARGE};
    for (size_t i = 0; i < 4; i++) {
        uint8_t in[HDR + 32] = {0};
        put_sp_header(in, 77, F_PING, bad[i]);
        struct sockperf_decoder dec;
        sockperf_decoder_init(&dec, MAX_PAYLOAD);
        size_t used;
        struct sockperf_message m;
        /* The header is refused before a byte after it is taken or stored. */
        assert_int_equal(sockperf_decode(&dec, in, sizeof in, &used, &m), SOCKPERF_ERROR);
        assert_int_equal(used, HDR);
        assert_int_equal(sockperf_decoder_error(&dec), why[i]);
        assert_true(m.header.seq == 77);
        assert_null(dec.payload.bytes);
        assert_int_equal(sockperf_decode(&dec, in + HDR, 32, &used, &m), SOCKPERF_ERROR);
        assert_int_equal(used, 0);
        sockperf_decoder_free(&dec);
    }
}

/* ---- the connection engine in sockperf mode ---- */

static void engine_init(struct engine *e, size_t max_output)
{
    engine_init_mode(e, MAX_PAYLOAD, max_output, CONN_MODE_SOCKPERF);
}

static void engine_answers_a_stream_split_at_every_point(void **state)
{
    (void)state;
    struct prng rng = {21};
    struct bytes stream = {0};
    struct bytes want = {0};
    size_t count = build_mixed_stream(&stream, &rng);
    expected_replies(stream.at, stream.len, &want);
    for (size_t split = 0; split <= stream.len; split++) {
        struct engine e;
        engine_init(&e, 1 << 20);
        struct bytes out = {0};
        engine_pump(&e.c, stream.at, split, stream.len, stream.len, SIZE_MAX, &out);
        engine_pump(&e.c, stream.at + split, stream.len - split, stream.len, stream.len, SIZE_MAX,
                    &out);
        assert_int_equal(out.len, want.len);
        assert_memory_equal(out.at, want.at, want.len);
        assert_int_equal(e.counters.sockperf_messages, count);
        assert_int_equal(e.counters.sockperf_replies, 5);
        assert_int_equal(e.counters.bytes_in, stream.len);
        assert_int_equal(e.counters.bytes_out, want.len);
        assert_int_equal(e.counters.requests, 0);
        assert_int_equal(e.c.state, CONN_OPEN);
        conn_free(&e.c);
        bytes_free(&out);
    }
    bytes_free(&stream);
    bytes_free(&want);
}

static void engine_mode_is_fixed_even_when_the_first_byte_is_the_frame_magic(void **state)
{
    (void)state;
    uint8_t in[HDR + 2];
    put_sp_header(in, 0xF555010100000000ULL, F_PING, sizeof in);
    memcpy(in + HDR, "ok", 2);
    struct engine e;
    engine_init(&e, 1 << 20);
    struct bytes out = {0};
    engine_pump(&e.c, in, sizeof in, sizeof in, sizeof in, SIZE_MAX, &out);
    assert_int_equal(e.c.mode, CONN_MODE_SOCKPERF);
    assert_int_equal(out.len, sizeof in);
    assert_int_equal(out.at[0], 0xF5);
    assert_int_equal(get_be16(out.at + 8), F_REPLY);
    assert_memory_equal(out.at + HDR, "OK", 2);
    conn_free(&e.c);
    bytes_free(&out);
}

static void engine_backpressure_bounds_output_and_answers_everything(void **state)
{
    (void)state;
    struct prng rng = {22};
    struct bytes stream = {0};
    struct bytes want = {0};
    for (uint64_t seq = 1; seq <= 300; seq++)
        add_message(&stream, &rng, seq, seq % 7 ? F_PING : F_CLIENT,
                    (uint32_t)prng_below(&rng, MAX_PAYLOAD + 1));
    expected_replies(stream.at, stream.len, &want);
    static const size_t steps[][2] = {{1, 1}, {7, 3}, {100, 4096}, {CONN_FEED_MAX, 1}, {5000, 9}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        struct engine e;
        engine_init(&e, 512);
        struct bytes out = {0};
        /* The soft cap, plus the one reply that crossed it. */
        engine_pump(&e.c, stream.at, stream.len, steps[i][0], steps[i][1], 512 + HDR + MAX_PAYLOAD,
                    &out);
        assert_int_equal(out.len, want.len);
        assert_memory_equal(out.at, want.at, want.len);
        assert_int_equal(e.counters.sockperf_messages, 300);
        conn_free(&e.c);
        bytes_free(&out);
    }
    bytes_free(&stream);
    bytes_free(&want);
}

/* Two good messages, then one whose length is bad, then more that must be ignored. */
static void expect_replies_then_finish(uint32_t bad_length, size_t feed_step)
{
    struct prng rng = {23};
    struct bytes stream = {0};
    struct bytes want = {0};
    add_message(&stream, &rng, 1, F_PING, 10);
    add_message(&stream, &rng, 2, F_PING, 20);
    expected_replies(stream.at, stream.len, &want);
    put_sp_header(bytes_extend(&stream, HDR), 3, F_PING, bad_length);
    size_t after_bad = stream.len;
    add_message(&stream, &rng, 4, F_PING, 5);

    struct engine e;
    engine_init(&e, 1 << 20);
    struct bytes out = {0};
    engine_pump(&e.c, stream.at, stream.len, feed_step, 1 << 20, SIZE_MAX, &out);
    assert_int_equal(out.len, want.len);
    assert_memory_equal(out.at, want.at, want.len);
    assert_int_equal(e.c.state, CONN_FAILED);
    assert_true(conn_finished(&e.c));
    assert_false(conn_wants_input(&e.c));
    assert_int_equal(e.counters.sockperf_bad_length, 1);
    assert_int_equal(e.counters.sockperf_replies, 2);
    /* With one feed, the bytes after the bad header arrived with it and were discarded. */
    if (feed_step >= stream.len)
        assert_int_equal(e.counters.bytes_discarded, stream.len - after_bad);
    conn_free(&e.c);
    bytes_free(&out);
    bytes_free(&stream);
    bytes_free(&want);
}

static void engine_length_under_14_sends_earlier_replies_then_finishes(void **state)
{
    (void)state;
    expect_replies_then_finish(13, CONN_FEED_MAX);
    expect_replies_then_finish(0, 1);
}

static void engine_length_over_the_limit_sends_earlier_replies_then_finishes(void **state)
{
    (void)state;
    expect_replies_then_finish(HDR + MAX_PAYLOAD + 1, CONN_FEED_MAX);
    expect_replies_then_finish(UINT32_MAX, 3);
}

static void engine_peer_closed_mid_message_finishes_without_a_reply(void **state)
{
    (void)state;
    struct prng rng = {24};
    struct bytes stream = {0};
    add_message(&stream, &rng, 1, F_PING, 40);
    struct engine e;
    engine_init(&e, 1 << 20);
    struct bytes out = {0};
    engine_pump(&e.c, stream.at, stream.len - 1, 64, 64, SIZE_MAX, &out);
    conn_peer_closed(&e.c);
    assert_int_equal(out.len, 0);
    assert_true(conn_finished(&e.c));
    assert_int_equal(e.counters.sockperf_messages, 0);
    conn_free(&e.c);
    bytes_free(&out);
    bytes_free(&stream);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_is_parsed_big_endian),
        cmocka_unit_test(header_encodes_to_the_bytes_it_was_parsed_from),
        cmocka_unit_test(header_length_under_14_is_too_short),
        cmocka_unit_test(header_length_is_checked_against_the_payload_limit),
        cmocka_unit_test(only_a_clients_reply_request_outside_warm_up_is_answered),
        cmocka_unit_test(datagram_reply_clears_only_the_client_bit_and_uppercases_the_payload),
        cmocka_unit_test(datagram_is_answered_in_place),
        cmocka_unit_test(datagram_without_reply_request_or_in_warm_up_is_not_answered),
        cmocka_unit_test(datagram_shorter_than_a_header_is_a_bad_length),
        cmocka_unit_test(datagram_whose_length_disagrees_is_a_bad_length),
        cmocka_unit_test(datagram_over_the_payload_limit_is_a_bad_length),
        cmocka_unit_test(decoder_gives_the_same_messages_for_a_stream_split_at_every_point),
        cmocka_unit_test(decoder_gives_the_same_messages_byte_by_byte),
        cmocka_unit_test(decoder_stores_no_payload_of_an_unanswered_message),
        cmocka_unit_test(decoder_refuses_a_bad_length_and_stays_refusing),
        cmocka_unit_test(engine_answers_a_stream_split_at_every_point),
        cmocka_unit_test(engine_mode_is_fixed_even_when_the_first_byte_is_the_frame_magic),
        cmocka_unit_test(engine_backpressure_bounds_output_and_answers_everything),
        cmocka_unit_test(engine_length_under_14_sends_earlier_replies_then_finishes),
        cmocka_unit_test(engine_length_over_the_limit_sends_earlier_replies_then_finishes),
        cmocka_unit_test(engine_peer_closed_mid_message_finishes_without_a_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
