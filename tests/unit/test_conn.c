/* Unit tests for lib/conn.c: the TCP connection engine, text and framed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "conn.h"
#include "prng.h"
#include "support.h"
#include "engine_support.h"

#define MAX_PAYLOAD 1024
#define BIG_OUTPUT  (1u << 20)

static void engine_init(struct engine *e, uint32_t max_payload, size_t max_output)
{
    engine_init_mode(e, max_payload, max_output, CONN_MODE_UNDECIDED);
}

static size_t output_len(const struct conn *c)
{
    size_t len;
    conn_output(c, &len);
    return len;
}

/* Send everything queued, step bytes at a time, collecting it into out. */
static void drain(struct conn *c, struct bytes *out, size_t step)
{
    for (int rounds = 0;; rounds++) {
        assert_true(rounds < 1000000);
        size_t len;
        const uint8_t *p = conn_output(c, &len);
        if (len == 0)
            return;
        assert_non_null(p);
        size_t n = len < step ? len : step;
        bytes_add(out, p, n);
        conn_output_sent(c, n);
    }
}

static void expect_upper(const uint8_t *got, const uint8_t *in, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (got[i] != ref_upper(in[i]))
            fail_msg("byte %zu: got 0x%02x for input 0x%02x", i, got[i], in[i]);
    }
}

/* Check a reply frame at out[*off] and step past it. */
static void expect_reply(const struct bytes *out, size_t *off, uint64_t id, const uint8_t *payload,
                         uint32_t len)
{
    assert_true(*off + 16 + len <= out->len);
    const uint8_t *frame = out->at + *off;
    assert_int_equal(frame[0], 0xF5);
    assert_int_equal(frame[1], 0x55);
    assert_int_equal(frame[2], 1);
    assert_int_equal(frame[3], WIRE_TYPE_REPLY);
    assert_int_equal(get_be32(frame + 4), len);
    assert_int_equal(get_be64(frame + 8), id);
    expect_upper(frame + 16, payload, len);
    *off += 16 + len;
}

/* Check an error frame at out[*off] and step past it. */
static void expect_error_frame(const struct bytes *out, size_t *off, uint64_t id,
                               enum wire_error code)
{
    const char *reason = wire_error_reason(code);
    size_t reason_len = strlen(reason);
    assert_true(*off + 18 + reason_len <= out->len);
    const uint8_t *frame = out->at + *off;
    assert_int_equal(frame[0], 0xF5);
    assert_int_equal(frame[1], 0x55);
    assert_int_equal(frame[2], 1);
    assert_int_equal(frame[3], WIRE_TYPE_ERROR);
    assert_int_equal(get_be32(frame + 4), 2 + reason_len);
    assert_int_equal(get_be64(frame + 8), id);
    assert_int_equal(get_be16(frame + 16), code);
    assert_memory_equal(frame + 18, reason, reason_len);
    *off += 18 + reason_len;
}

/* ---- text mode ---- */

static void text_hello_is_answered_uppercase(void **state)
{
    (void)state;
    struct engine e;
    struct bytes out = {0};
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    assert_int_equal(conn_feed(&e.c, (const uint8_t *)"hello", 5), 0);
    assert_int_equal(e.c.mode, CONN_MODE_TEXT);
    assert_int_equal(output_len(&e.c), 5);
    drain(&e.c, &out, SIZE_MAX);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.at, "HELLO", 5);
    assert_true(conn_wants_input(&e.c));
    assert_false(conn_finished(&e.c));
    assert_int_equal(e.counters.text_bytes, 5);
    assert_int_equal(e.counters.bytes_in, 5);
    assert_int_equal(e.counters.bytes_out, 5);
    assert_int_equal(e.counters.requests, 0);
    conn_free(&e.c);
    bytes_free(&out);
}

static void text_is_answered_as_it_arrives_without_newline(void **state)
{
    (void)state;
    struct engine e;
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    assert_int_equal(conn_feed(&e.c, (const uint8_t *)"ab", 2), 0);
    size_t len;
    const uint8_t *p = conn_output(&e.c, &len);
    assert_int_equal(len, 2);
    assert_memory_equal(p, "AB", 2);
    assert_int_equal(conn_feed(&e.c, (const uint8_t *)"c\n", 2), 0);
    p = conn_output(&e.c, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(p, "ABC\n", 4);
    conn_output_sent(&e.c, 3);
    p = conn_output(&e.c, &len);
    assert_int_equal(len, 1);
    assert_memory_equal(p, "\n", 1);
    assert_int_equal(e.counters.text_bytes, 4);
    assert_int_equal(e.counters.bytes_out, 4);
    conn_free(&e.c);
}

static void text_utf8_passes_through_unchanged(void **state)
{
    (void)state;
    static const char in[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac \xf0\x9f\x98\x80 z";
    static const char want[] = "H\xc3\xa9LLO W\xc3\xb6RLD \xe2\x82\xac \xf0\x9f\x98\x80 Z";
    struct engine e;
    struct bytes out = {0};
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    assert_int_equal(conn_feed(&e.c, (const uint8_t *)in, sizeof in - 1), 0);
    drain(&e.c, &out, SIZE_MAX);
    assert_int_equal(out.len, sizeof want - 1);
    assert_memory_equal(out.at, want, sizeof want - 1);
    conn_free(&e.c);
    bytes_free(&out);
}

static void text_stream_stays_text_when_0xf5_comes_later(void **state)
{
    (void)state;
    struct bytes in = {0};
    bytes_add(&in, "x", 1);
    bytes_add_request(&in, 7, "abc", 3); /* a whole valid frame, after the first byte */
    bytes_add(&in, "\xf5\xf5 tail", 7);
    for (size_t split = 1; split <= in.len; split++) {
        struct engine e;
        struct bytes out = {0};
        engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
        assert_int_equal(conn_feed(&e.c, in.at, split), 0);
        if (split < in.len)
            assert_int_equal(conn_feed(&e.c, in.at + split, in.len - split), 0);
        assert_int_equal(e.c.mode, CONN_MODE_TEXT);
        drain(&e.c, &out, SIZE_MAX);
        assert_int_equal(out.len, in.len);
        expect_upper(out.at, in.at, in.len);
        assert_int_equal(e.counters.requests, 0);
        assert_int_equal(e.counters.text_bytes, in.len);
        conn_free(&e.c);
        bytes_free(&out);
    }
    bytes_free(&in);
}

static void zero_length_feed_decides_nothing(void **state)
{
    (void)state;
    struct engine e;
    uint8_t byte = 'a';
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    assert_int_equal(conn_feed(&e.c, &byte, 0), 0);
    assert_int_equal(e.c.mode, CONN_MODE_UNDECIDED);
    assert_int_equal(output_len(&e.c), 0);
    assert_true(conn_wants_input(&e.c));
    /* The first real byte still decides. */
    byte = 0xF5;
    assert_int_equal(conn_feed(&e.c, &byte, 1), 0);
    assert_int_equal(e.c.mode, CONN_MODE_FRAMED);
    conn_free(&e.c);
}

/* ---- framed mode ---- */

static void framed_mode_is_chosen_by_the_magic_byte(void **state)
{
    (void)state;
    struct engine e;
    uint8_t byte = 0xF5;
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    assert_int_equal(conn_feed(&e.c, &byte, 1), 0);
    assert_int_equal(e.c.mode, CONN_MODE_FRAMED);
    assert_int_equal(output_len(&e.c), 0);
    assert_true(conn_wants_input(&e.c));
    assert_int_equal(e.counters.text_bytes, 0);
    conn_free(&e.c);
}

static void framed_pipelined_requests_are_answered_in_order(void **state)
{
    (void)state;
    static const char third[] = "Three, and \xc3\xa9 more { } ` @";
    struct bytes in = {0};
    bytes_add_request(&in, 0x0300000000000003ULL, "one", 3);
    bytes_add_request(&in, 1, "", 0);
    bytes_add_request(&in, UINT64_MAX, third, sizeof third - 1);
    struct engine e;
    struct bytes out = {0};
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    assert_int_equal(conn_feed(&e.c, in.at, in.len), 0);
    drain(&e.c, &out, SIZE_MAX);
    size_t off = 0;
    expect_reply(&out, &off, 0x0300000000000003ULL, (const uint8_t *)"one", 3);
    expect_reply(&out, &off, 1, (const uint8_t *)"", 0);
    expect_reply(&out, &off, UINT64_MAX, (const uint8_t *)third, sizeof third - 1);
    assert_int_equal(off, out.len);
    assert_int_equal(e.counters.requests, 3);
    assert_int_equal(e.counters.bytes_in, in.len);
    assert_int_equal(e.counters.bytes_out, out.len);
    assert_int_equal(e.counters.text_bytes, 0);
    for (int code = 0; code <= WIRE_ERROR_CODE_MAX; code++)
        assert_int_equal(e.counters.errors[code], 0);
    assert_true(conn_wants_input(&e.c));
    assert_false(conn_finished(&e.c));
    conn_free(&e.c);
    bytes_free(&in);
    bytes_free(&out);
}

static void framed_request_split_across_feeds_is_answered_once_whole(void **state)
{
    (void)state;
    struct bytes in = {0};
    bytes_add_request(&in, 42, "split me", 8);
    for (size_t split = 1; split < in.len; split++) {
        struct engine e;
        struct bytes out = {0};
        engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
        assert_int_equal(conn_feed(&e.c, in.at, split), 0);
        assert_int_equal(output_len(&e.c), 0);
        assert_true(conn_wants_input(&e.c));
        assert_int_equal(conn_feed(&e.c, in.at + split, in.len - split), 0);
        drain(&e.c, &out, SIZE_MAX);
        size_t off = 0;
        expect_reply(&out, &off, 42, (const uint8_t *)"split me", 8);
        assert_int_equal(off, out.len);
        assert_int_equal(e.counters.requests, 1);
        assert_int_equal(e.counters.bytes_in, in.len);
        conn_free(&e.c);
        bytes_free(&out);
    }
    /* And one byte per feed. */
    struct engine e;
    struct bytes out = {0};
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    for (size_t i = 0; i < in.len; i++) {
        assert_int_equal(output_len(&e.c), 0);
        assert_int_equal(conn_feed(&e.c, in.at + i, 1), 0);
    }
    drain(&e.c, &out, SIZE_MAX);
    size_t off = 0;
    expect_reply(&out, &off, 42, (const uint8_t *)"split me", 8);
    assert_int_equal(off, out.len);
    conn_free(&e.c);
    bytes_free(&out);
    bytes_free(&in);
}

struct bad_frame {
    const char *name;
    uint8_t magic0, magic1, version, type;
    uint32_t length;
    uint32_t payload_sent; /* payload bytes that follow the bad header */
    enum wire_error code;
};

static const struct bad_frame bad_frames[] = {
    {"bad version", 0xF5, 0x55, 2, 1, 0, 0, WIRE_ERR_BAD_VERSION},
    {"version 0", 0xF5, 0x55, 0, 1, 3, 3, WIRE_ERR_BAD_VERSION},
    {"type 0", 0xF5, 0x55, 1, 0, 0, 0, WIRE_ERR_BAD_TYPE},
    {"type 4", 0xF5, 0x55, 1, 4, 2, 2, WIRE_ERR_BAD_TYPE},
    {"length over limit", 0xF5, 0x55, 1, 1, MAX_PAYLOAD + 1, 5, WIRE_ERR_TOO_LARGE},
    {"length 0xFFFFFFFF", 0xF5, 0x55, 1, 1, 0xFFFFFFFF, 5, WIRE_ERR_TOO_LARGE},
    {"bad second magic byte", 0xF5, 0x00, 1, 1, 0, 0, WIRE_ERR_BAD_MAGIC},
    {"text where a frame should be", 'h', 'e', 'l', 'l', 0x6F0A0A0A, 4, WIRE_ERR_BAD_MAGIC},
    {"reply sent to the server", 0xF5, 0x55, 1, 2, 3, 3, WIRE_ERR_UNEXPECTED_TYPE},
    {"error sent to the server", 0xF5, 0x55, 1, 3, 2, 2, WIRE_ERR_UNEXPECTED_TYPE},
};

/*
 * A good request, then the bad frame, then a good request that must be
 * ignored; fed in one piece or one byte at a time (until refused).
 */
static void expect_one_error_after_good_replies(const struct bad_frame *bad, size_t feed_step)
{
    const uint64_t bad_id = 0xBAD0000000000000ULL | bad->code;
    struct bytes in = {0};
    bytes_add_request(&in, 10, "good one", 8);
    size_t bad_at = in.len;
    bytes_add_header(&in, bad->magic0, bad->magic1, bad->version, bad->type, bad->length, bad_id);
    for (uint32_t i = 0; i < bad->payload_sent; i++)
        bytes_add(&in, "p", 1);
    bytes_add_request(&in, 12, "never", 5);
    /* The engine takes a bad header's payload only if the header itself passed. */
    size_t bad_end = bad_at + 16 + (bad->code == WIRE_ERR_UNEXPECTED_TYPE ? bad->payload_sent : 0);

    struct engine e;
    struct bytes out = {0};
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    size_t fed = 0;
    while (fed < in.len && conn_wants_input(&e.c)) {
        size_t n = in.len - fed < feed_step ? in.len - fed : feed_step;
        assert_int_equal(conn_feed(&e.c, in.at + fed, n), 0);
        fed += n;
    }
    assert_true(fed >= bad_end);
    assert_int_equal(e.c.state, CONN_FAILED);
    assert_false(conn_wants_input(&e.c));
    assert_false(conn_finished(&e.c));
    uint8_t more = 'x';
    assert_int_equal(conn_feed(&e.c, &more, 1), -EINVAL);
    /* A refused header stores none of the payload it announced. */
    if (bad->code != WIRE_ERR_UNEXPECTED_TYPE)
        assert_int_equal(e.c.decoder.payload.alloc, 0);

    drain(&e.c, &out, 5);
    assert_true(conn_finished(&e.c));
    assert_false(conn_wants_input(&e.c));
    size_t off = 0;
    expect_reply(&out, &off, 10, (const uint8_t *)"good one", 8);
    expect_error_frame(&out, &off, bad_id, bad->code);
    assert_int_equal(off, out.len);

    assert_int_equal(e.counters.requests, 1);
    assert_int_equal(e.counters.bytes_in, fed);
    assert_int_equal(e.counters.bytes_out, out.len);
    assert_int_equal(e.counters.bytes_discarded, fed - bad_end);
    for (int code = 0; code <= WIRE_ERROR_CODE_MAX; code++)
        assert_int_equal(e.counters.errors[code], code == (int)bad->code ? 1 : 0);
    conn_free(&e.c);
    bytes_free(&in);
    bytes_free(&out);
}

static void framed_bad_second_frame_gets_replies_then_one_error_frame(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_frames / sizeof bad_frames[0]; i++) {
        print_message("case: %s\n", bad_frames[i].name);
        expect_one_error_after_good_replies(&bad_frames[i], SIZE_MAX);
    }
}

static void framed_bad_second_frame_fed_byte_by_byte_gets_the_same_answer(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_frames / sizeof bad_frames[0]; i++) {
        print_message("case: %s\n", bad_frames[i].name);
        expect_one_error_after_good_replies(&bad_frames[i], 1);
    }
}

static void framed_bad_magic_in_first_frame_gets_only_an_error(void **state)
{
    (void)state;
    struct bytes in = {0};
    bytes_add_header(&in, 0xF5, 0xF5, 1, 1, 0, 0x1234);
    struct engine e;
    struct bytes out = {0};
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    assert_int_equal(conn_feed(&e.c, in.at, 15), 0);
    assert_int_equal(output_len(&e.c), 0); /* not judged before the header is whole */
    assert_true(conn_wants_input(&e.c));
    assert_int_equal(conn_feed(&e.c, in.at + 15, 1), 0);
    assert_int_equal(e.c.state, CONN_FAILED);
    drain(&e.c, &out, SIZE_MAX);
    size_t off = 0;
    expect_error_frame(&out, &off, 0x1234, WIRE_ERR_BAD_MAGIC);
    assert_int_equal(off, out.len);
    assert_true(conn_finished(&e.c));
    assert_int_equal(e.counters.errors[WIRE_ERR_BAD_MAGIC], 1);
    assert_int_equal(e.counters.requests, 0);
    conn_free(&e.c);
    bytes_free(&in);
    bytes_free(&out);
}

/* ---- backpressure ---- */

static void text_backpressure_stops_at_the_cap_then_answers_everything(void **state)
{
    (void)state;
    enum { MAX_OUTPUT = 64, IN_LEN = 1000 };
    uint8_t in[IN_LEN];
    struct prng rng = {.state = 0xC0440001};
    prng_fill(&rng, in, IN_LEN);
    in[0] = 'a';

    struct engine e;
    struct bytes out = {0};
    engine_init(&e, MAX_PAYLOAD, MAX_OUTPUT);
    assert_int_equal(conn_feed(&e.c, in, IN_LEN), 0);
    assert_int_equal(output_len(&e.c), MAX_OUTPUT);
    assert_false(conn_wants_input(&e.c));
    assert_int_equal(conn_feed(&e.c, in, 1), -EINVAL);
    /* Held, not yet answered: counted only once answered. */
    assert_int_equal(e.counters.text_bytes, MAX_OUTPUT);
    assert_int_equal(e.counters.bytes_in, MAX_OUTPUT);

    for (int rounds = 0; output_len(&e.c) > 0; rounds++) {
        assert_true(rounds < 10 * IN_LEN);
        assert_true(output_len(&e.c) <= MAX_OUTPUT);
        size_t len;
        const uint8_t *p = conn_output(&e.c, &len);
        size_t n = len < 7 ? len : 7;
        bytes_add(&out, p, n);
        conn_output_sent(&e.c, n);
    }
    assert_true(conn_wants_input(&e.c));
    assert_int_equal(out.len, IN_LEN);
    expect_upper(out.at, in, IN_LEN);
    assert_int_equal(e.counters.text_bytes, IN_LEN);
    assert_int_equal(e.counters.bytes_in, IN_LEN);
    assert_int_equal(e.counters.bytes_out, IN_LEN);
    conn_free(&e.c);
    bytes_free(&out);
}

static void text_backpressure_holds_for_any_feed_and_drain_sizes(void **state)
{
    (void)state;
    enum { MAX_OUTPUT = 64, IN_LEN = 3000 };
    static uint8_t in[IN_LEN];
    struct prng rng = {.state = 0xC0440002};
    prng_fill(&rng, in, IN_LEN);
    in[0] = 'Z';
    const size_t feed_steps[] = {1, 63, 64, 65, 500, IN_LEN};
    const size_t drain_steps[] = {1, 13, 64, SIZE_MAX};
    for (size_t f = 0; f < sizeof feed_steps / sizeof feed_steps[0]; f++) {
        for (size_t d = 0; d < sizeof drain_steps / sizeof drain_steps[0]; d++) {
            struct engine e;
            struct bytes out = {0};
            engine_init(&e, MAX_PAYLOAD, MAX_OUTPUT);
            engine_pump(&e.c, in, IN_LEN, feed_steps[f], drain_steps[d], MAX_OUTPUT, &out);
            assert_int_equal(out.len, IN_LEN);
            expect_upper(out.at, in, IN_LEN);
            assert_int_equal(e.counters.bytes_in, IN_LEN);
            assert_int_equal(e.counters.bytes_out, IN_LEN);
            conn_free(&e.c);
            bytes_free(&out);
        }
    }
}

struct request_stream {
    struct bytes in;
    struct bytes want; /* the replies, built independently */
    size_t count;
};

static void build_requests(struct request_stream *s, size_t count, uint32_t max_payload,
                           uint64_t seed)
{
    struct prng rng = {.state = seed};
    uint8_t payload[MAX_PAYLOAD];
    *s = (struct request_stream){.count = count};
    for (size_t i = 0; i < count; i++) {
        uint32_t len = (uint32_t)prng_below(&rng, max_payload + 1);
        uint64_t id = prng_next(&rng);
        prng_fill(&rng, payload, len);
        bytes_add_request(&s->in, id, payload, len);
        bytes_add_header(&s->want, 0xF5, 0x55, 1, 2, len, id);
        uint8_t *reply = bytes_extend(&s->want, len);
        for (uint32_t j = 0; j < len; j++)
            reply[j] = ref_upper(payload[j]);
    }
}

static void framed_backpressure_bounds_output_and_answers_everything(void **state)
{
    (void)state;
    enum { MAX_OUTPUT = 64, SMALL_PAYLOAD = 100 };
    const size_t bound = MAX_OUTPUT + WIRE_HEADER_LEN + SMALL_PAYLOAD + WIRE_ERROR_MAX_LEN;
    struct request_stream s;
    build_requests(&s, 60, SMALL_PAYLOAD, 0xF4A3E001);
    const size_t feed_steps[] = {1, 16, 17, 250, 1000, SIZE_MAX};
    const size_t drain_steps[] = {1, 7, 64, SIZE_MAX};
    for (size_t f = 0; f < sizeof feed_steps / sizeof feed_steps[0]; f++) {
        for (size_t d = 0; d < sizeof drain_steps / sizeof drain_steps[0]; d++) {
            struct engine e;
            struct bytes out = {0};
            engine_init(&e, SMALL_PAYLOAD, MAX_OUTPUT);
            engine_pump(&e.c, s.in.at, s.in.len, feed_steps[f], drain_steps[d], bound, &out);
            assert_int_equal(out.len, s.want.len);
            assert_memory_equal(out.at, s.want.at, s.want.len);
            assert_int_equal(e.counters.requests, s.count);
            assert_int_equal(e.counters.bytes_in, s.in.len);
            assert_int_equal(e.counters.bytes_out, s.want.len);
            assert_int_equal(e.c.state, CONN_OPEN);
            conn_free(&e.c);
            bytes_free(&out);
        }
    }
    bytes_free(&s.in);
    bytes_free(&s.want);
}

static void framed_error_in_held_input_is_sent_after_the_replies(void **state)
{
    (void)state;
    enum { MAX_OUTPUT = 64, SMALL_PAYLOAD = 100 };
    const size_t bound = MAX_OUTPUT + WIRE_HEADER_LEN + SMALL_PAYLOAD + WIRE_ERROR_MAX_LEN;
    struct request_stream s;
    build_requests(&s, 30, SMALL_PAYLOAD, 0xF4A3E002);
    bytes_add_header(&s.in, 0xF5, 0x55, 1, 1, SMALL_PAYLOAD + 1, 0xE44);
    bytes_add_request(&s.in, 1, "ignored", 7);
    /* The whole stream in one feed: the bad header is among the held input. */
    struct engine e;
    struct bytes out = {0};
    engine_init(&e, SMALL_PAYLOAD, MAX_OUTPUT);
    engine_pump(&e.c, s.in.at, s.in.len, SIZE_MAX, 10, bound, &out);
    assert_true(conn_finished(&e.c));
    assert_int_equal(e.c.state, CONN_FAILED);
    assert_true(out.len > s.want.len);
    assert_memory_equal(out.at, s.want.at, s.want.len);
    size_t off = s.want.len;
    expect_error_frame(&out, &off, 0xE44, WIRE_ERR_TOO_LARGE);
    assert_int_equal(off, out.len);
    assert_int_equal(e.counters.requests, s.count);
    assert_int_equal(e.counters.errors[WIRE_ERR_TOO_LARGE], 1);
    assert_int_equal(e.counters.bytes_discarded, 16 + 7);
    conn_free(&e.c);
    bytes_free(&s.in);
    bytes_free(&s.want);
    bytes_free(&out);
}

/* ---- feeding rules and the end of a connection ---- */

static void feed_over_feed_max_is_refused_and_takes_nothing(void **state)
{
    (void)state;
    static uint8_t in[CONN_FEED_MAX + 1];
    memset(in, 'q', sizeof in);
    struct engine e;
    engine_init(&e, MAX_PAYLOAD, CONN_FEED_MAX);
    assert_int_equal(conn_feed(&e.c, in, CONN_FEED_MAX + 1), -EINVAL);
    assert_int_equal(e.c.mode, CONN_MODE_UNDECIDED);
    assert_int_equal(output_len(&e.c), 0);
    assert_int_equal(e.counters.bytes_in, 0);
    assert_true(conn_wants_input(&e.c));
    /* Exactly CONN_FEED_MAX is allowed. */
    assert_int_equal(conn_feed(&e.c, in, CONN_FEED_MAX), 0);
    assert_int_equal(output_len(&e.c), CONN_FEED_MAX);
    assert_int_equal(e.counters.text_bytes, CONN_FEED_MAX);
    conn_free(&e.c);
}

static void feed_is_refused_while_output_is_full(void **state)
{
    (void)state;
    enum { MAX_OUTPUT = 64 };
    uint8_t in[MAX_OUTPUT];
    memset(in, 'w', sizeof in);
    struct engine e;
    engine_init(&e, MAX_PAYLOAD, MAX_OUTPUT);
    assert_int_equal(conn_feed(&e.c, in, MAX_OUTPUT), 0);
    assert_false(conn_wants_input(&e.c));
    assert_int_equal(conn_feed(&e.c, in, 1), -EINVAL);
    assert_int_equal(output_len(&e.c), MAX_OUTPUT);
    assert_int_equal(e.counters.bytes_in, MAX_OUTPUT);
    conn_output_sent(&e.c, 1);
    assert_true(conn_wants_input(&e.c));
    assert_int_equal(conn_feed(&e.c, in, 1), 0);
    assert_int_equal(output_len(&e.c), MAX_OUTPUT);
    conn_free(&e.c);
}

static void feed_is_refused_after_the_peer_closed(void **state)
{
    (void)state;
    struct engine e;
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    conn_peer_closed(&e.c);
    assert_int_equal(e.c.state, CONN_PEER_DONE);
    assert_false(conn_wants_input(&e.c));
    assert_int_equal(conn_feed(&e.c, (const uint8_t *)"x", 1), -EINVAL);
    assert_int_equal(output_len(&e.c), 0);
    assert_true(conn_finished(&e.c));
    conn_free(&e.c);
}

static void peer_closed_then_drained_is_finished(void **state)
{
    (void)state;
    struct engine e;
    struct bytes out = {0};
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    assert_int_equal(conn_feed(&e.c, (const uint8_t *)"abc", 3), 0);
    conn_peer_closed(&e.c);
    assert_false(conn_wants_input(&e.c));
    assert_false(conn_finished(&e.c));
    conn_output_sent(&e.c, 1);
    assert_false(conn_finished(&e.c));
    drain(&e.c, &out, SIZE_MAX);
    assert_true(conn_finished(&e.c));
    assert_memory_equal(out.at, "BC", 2);
    conn_free(&e.c);
    bytes_free(&out);
}

static void peer_closed_while_input_is_held_answers_it_all_first(void **state)
{
    (void)state;
    enum { MAX_OUTPUT = 64, IN_LEN = 500 };
    uint8_t in[IN_LEN];
    struct prng rng = {.state = 0xC0440003};
    prng_fill(&rng, in, IN_LEN);
    in[0] = 'm';
    struct engine e;
    struct bytes out = {0};
    engine_init(&e, MAX_PAYLOAD, MAX_OUTPUT);
    assert_int_equal(conn_feed(&e.c, in, IN_LEN), 0);
    conn_peer_closed(&e.c);
    assert_int_equal(e.c.state, CONN_PEER_DONE);
    assert_false(conn_finished(&e.c));
    for (int rounds = 0; !conn_finished(&e.c); rounds++) {
        assert_true(rounds < 10 * IN_LEN);
        size_t len;
        const uint8_t *p = conn_output(&e.c, &len);
        assert_true(len > 0); /* not finished, so something must be on its way */
        size_t n = len < 10 ? len : 10;
        bytes_add(&out, p, n);
        conn_output_sent(&e.c, n);
    }
    assert_int_equal(out.len, IN_LEN);
    expect_upper(out.at, in, IN_LEN);
    conn_free(&e.c);
    bytes_free(&out);
}

static void peer_closed_mid_frame_finishes_without_a_reply(void **state)
{
    (void)state;
    uint8_t partial[20];
    put_request(partial, 10, 5);
    memcpy(partial + 16, "half", 4);
    struct engine e;
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    assert_int_equal(conn_feed(&e.c, partial, sizeof partial), 0);
    assert_int_equal(output_len(&e.c), 0);
    conn_peer_closed(&e.c);
    assert_true(conn_finished(&e.c));
    assert_int_equal(e.counters.requests, 0);
    conn_free(&e.c);
}

static void counters_are_shared_between_engines(void **state)
{
    (void)state;
    struct conn_counters counters = {0};
    struct conn_limits limits = {.max_payload = MAX_PAYLOAD, .max_output = BIG_OUTPUT};
    struct conn a;
    struct conn b;
    conn_init(&a, &limits, &counters);
    conn_init(&b, &limits, &counters);
    assert_int_equal(conn_feed(&a, (const uint8_t *)"abc", 3), 0);
    uint8_t frame[16 + 2];
    put_request(frame, 2, 9);
    memcpy(frame + 16, "hi", 2);
    assert_int_equal(conn_feed(&b, frame, sizeof frame), 0);
    assert_int_equal(counters.text_bytes, 3);
    assert_int_equal(counters.requests, 1);
    assert_int_equal(counters.bytes_in, 3 + 18);
    assert_int_equal(counters.bytes_out, 3 + 18);
    conn_free(&a);
    conn_free(&b);
}

/* ---- shutdown ---- */

static void shut_down_framed_answers_held_input_then_one_shutting_down_frame(void **state)
{
    (void)state;
    enum { MAX_OUTPUT = 64, SMALL_PAYLOAD = 100 };
    struct request_stream s;
    build_requests(&s, 30, SMALL_PAYLOAD, 0xF4A3E010);
    const size_t drain_steps[] = {1, 7, SIZE_MAX};
    for (size_t d = 0; d < sizeof drain_steps / sizeof drain_steps[0]; d++) {
        struct engine e;
        struct bytes out = {0};
        engine_init(&e, SMALL_PAYLOAD, MAX_OUTPUT);
        /* The whole stream in one feed: most of it is held back, then the server shuts down. */
        assert_int_equal(conn_feed(&e.c, s.in.at, s.in.len), 0);
        conn_shut_down(&e.c);
        conn_shut_down(&e.c);
        assert_false(conn_wants_input(&e.c));
        drain(&e.c, &out, drain_steps[d]);
        assert_true(conn_finished(&e.c));
        assert_int_equal(e.c.state, CONN_FAILED);
        assert_true(out.len > s.want.len);
        assert_memory_equal(out.at, s.want.at, s.want.len);
        size_t off = s.want.len;
        expect_error_frame(&out, &off, 0, WIRE_ERR_SHUTTING_DOWN);
        assert_int_equal(off, out.len);
        assert_int_equal(e.counters.requests, s.count);
        assert_int_equal(e.counters.errors[WIRE_ERR_SHUTTING_DOWN], 1);
        conn_free(&e.c);
        bytes_free(&out);
    }
    bytes_free(&s.in);
    bytes_free(&s.want);
}

static void shut_down_framed_mid_frame_sends_only_the_shutting_down_frame(void **state)
{
    (void)state;
    struct engine e;
    struct bytes out = {0};
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    const uint8_t partial[] = {0xF5, 0x55, 1, 1, 0, 0};
    assert_int_equal(conn_feed(&e.c, partial, sizeof partial), 0);
    conn_shut_down(&e.c);
    drain(&e.c, &out, SIZE_MAX);
    size_t off = 0;
    expect_error_frame(&out, &off, 0, WIRE_ERR_SHUTTING_DOWN);
    assert_int_equal(off, out.len);
    assert_true(conn_finished(&e.c));
    conn_free(&e.c);
    bytes_free(&out);
}

static void shut_down_text_flushes_then_finishes_without_an_error(void **state)
{
    (void)state;
    struct engine e;
    struct bytes out = {0};
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    assert_int_equal(conn_feed(&e.c, (const uint8_t *)"bye", 3), 0);
    conn_shut_down(&e.c);
    assert_false(conn_finished(&e.c));
    drain(&e.c, &out, 1);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.at, "BYE", 3);
    assert_true(conn_finished(&e.c));
    assert_int_equal(e.c.state, CONN_PEER_DONE);
    conn_free(&e.c);
    bytes_free(&out);
}

static void shut_down_idle_connection_is_finished_at_once(void **state)
{
    (void)state;
    struct engine e;
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    conn_shut_down(&e.c);
    assert_true(conn_finished(&e.c));
    assert_int_equal(output_len(&e.c), 0);
    conn_free(&e.c);
}

static void shut_down_after_an_error_frame_adds_nothing(void **state)
{
    (void)state;
    struct engine e;
    struct bytes out = {0};
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    const uint8_t bad[16] = {0xF5, 0x55, 9, 1};
    assert_int_equal(conn_feed(&e.c, bad, sizeof bad), 0);
    conn_shut_down(&e.c);
    drain(&e.c, &out, SIZE_MAX);
    size_t off = 0;
    expect_error_frame(&out, &off, 0, WIRE_ERR_BAD_VERSION);
    assert_int_equal(off, out.len);
    assert_int_equal(e.counters.errors[WIRE_ERR_SHUTTING_DOWN], 0);
    conn_free(&e.c);
    bytes_free(&out);
}

/* What --frame-timeout watches: a request begun and not ended, or none yet. */
static void mid_request_follows_frames_and_never_text(void **state)
{
    (void)state;
    struct engine e;
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    assert_true(conn_mid_request(&e.c)); /* nothing yet since accept */
    uint8_t frame[WIRE_HEADER_LEN + 3];
    struct wire_header header = {
        .version = WIRE_VERSION, .type = WIRE_TYPE_REQUEST, .length = 3, .id = 9};
    wire_encode_header(frame, &header);
    memcpy(frame + WIRE_HEADER_LEN, "abc", 3);
    for (size_t i = 0; i < sizeof frame; i++) {
        assert_int_equal(conn_feed(&e.c, frame + i, 1), 0);
        assert_int_equal(e.c.messages, i + 1 == sizeof frame ? 1 : 0);
        /* Mid-frame after every byte but the last. */
        assert_int_equal(conn_mid_request(&e.c), i + 1 < sizeof frame);
    }
    conn_free(&e.c);

    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    assert_int_equal(conn_feed(&e.c, (const uint8_t *)"h", 1), 0);
    assert_false(conn_mid_request(&e.c)); /* text has no requests to be inside */
    assert_int_equal(e.c.messages, 0);
    conn_free(&e.c);
}

static void mid_request_follows_sockperf_messages(void **state)
{
    (void)state;
    struct engine e;
    engine_init_mode(&e, MAX_PAYLOAD, BIG_OUTPUT, CONN_MODE_SOCKPERF);
    assert_true(conn_mid_request(&e.c)); /* the first message has not come */
    /* A 16-byte message: 14-byte header (seq, flags, length), 2 payload bytes. */
    uint8_t message[16] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 3, 0, 0, 0, 16, 'h', 'i'};
    assert_int_equal(conn_feed(&e.c, message, 5), 0);
    assert_true(conn_mid_request(&e.c));
    assert_int_equal(conn_feed(&e.c, message + 5, 11), 0);
    assert_false(conn_mid_request(&e.c));
    assert_int_equal(e.c.messages, 1);
    assert_int_equal(conn_feed(&e.c, message, 1), 0);
    assert_true(conn_mid_request(&e.c)); /* the second has begun */
    conn_free(&e.c);
}

/* The sum the memory budget sees: every buffer's storage, as allocated. */
static size_t capacity_sum(const struct conn *c)
{
    return buf_capacity(&c->decoder.payload) + buf_capacity(&c->sockperf.payload) +
           buf_capacity(&c->pending) + buf_capacity(&c->output);
}

static void bytes_held_is_zero_for_a_new_engine_and_after_a_whole_exchange(void **state)
{
    (void)state;
    struct engine e;
    struct bytes out = {0};
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    assert_int_equal(conn_bytes_held(&e.c), 0);
    struct bytes in = {0};
    bytes_add_request(&in, 7, "whole", 5);
    assert_int_equal(conn_feed(&e.c, in.at, in.len), 0);
    /* The reply is queued: the output buffer is held until it is sent. */
    assert_true(conn_bytes_held(&e.c) >= output_len(&e.c));
    drain(&e.c, &out, SIZE_MAX);
    assert_int_equal(conn_bytes_held(&e.c), 0);
    conn_free(&e.c);
    bytes_free(&in);
    bytes_free(&out);
}

static void bytes_held_counts_a_partial_frame_as_allocated(void **state)
{
    (void)state;
    struct engine e;
    struct bytes out = {0};
    engine_init(&e, MAX_PAYLOAD, BIG_OUTPUT);
    uint8_t header[16];
    put_request(header, 1000, 9);
    uint8_t payload[1000];
    memset(payload, 'p', sizeof payload);
    assert_int_equal(conn_feed(&e.c, header, sizeof header), 0);
    assert_int_equal(conn_bytes_held(&e.c), 0); /* a header alone stores no payload */
    assert_int_equal(conn_feed(&e.c, payload, 300), 0);
    size_t held = conn_bytes_held(&e.c);
    /* At least what arrived, and the store's whole allocation, not just its bytes. */
    assert_true(held >= 300);
    assert_int_equal(held, buf_capacity(&e.c.decoder.payload));
    assert_int_equal(held, capacity_sum(&e.c));
    assert_int_equal(conn_feed(&e.c, payload + 300, sizeof payload - 300), 0);
    drain(&e.c, &out, SIZE_MAX);
    /* The frame was answered and sent: its store is gone at the next feed. */
    assert_int_equal(conn_feed(&e.c, header, 1), 0);
    assert_int_equal(conn_bytes_held(&e.c), 0);
    conn_free(&e.c);
    bytes_free(&out);
}

static void bytes_held_counts_input_held_by_backpressure(void **state)
{
    (void)state;
    struct engine e;
    engine_init(&e, MAX_PAYLOAD, 64);
    uint8_t text[4096];
    memset(text, 'a', sizeof text);
    assert_int_equal(conn_feed(&e.c, text, sizeof text), 0);
    /* 64 bytes answered, the rest held: both buffers count. */
    assert_false(conn_wants_input(&e.c));
    assert_true(conn_bytes_held(&e.c) >= sizeof text);
    assert_int_equal(conn_bytes_held(&e.c), capacity_sum(&e.c));
    assert_true(buf_capacity(&e.c.pending) > 0);
    conn_free(&e.c);
}

static void bytes_held_counts_a_partial_sockperf_message(void **state)
{
    (void)state;
    struct engine e;
    engine_init_mode(&e, MAX_PAYLOAD, BIG_OUTPUT, CONN_MODE_SOCKPERF);
    /* A 514-byte message from a client that wants a reply: its payload is stored. */
    uint8_t header[14] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 3, 0, 0, 0x02, 0x02};
    uint8_t payload[100];
    memset(payload, 'q', sizeof payload);
    assert_int_equal(conn_feed(&e.c, header, sizeof header), 0);
    assert_int_equal(conn_feed(&e.c, payload, sizeof payload), 0);
    assert_true(conn_bytes_held(&e.c) >= sizeof payload);
    assert_int_equal(conn_bytes_held(&e.c), buf_capacity(&e.c.sockperf.payload));
    conn_free(&e.c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_hello_is_answered_uppercase),
        cmocka_unit_test(text_is_answered_as_it_arrives_without_newline),
        cmocka_unit_test(text_utf8_passes_through_unchanged),
        cmocka_unit_test(text_stream_stays_text_when_0xf5_comes_later),
        cmocka_unit_test(zero_length_feed_decides_nothing),
        cmocka_unit_test(framed_mode_is_chosen_by_the_magic_byte),
        cmocka_unit_test(framed_pipelined_requests_are_answered_in_order),
        cmocka_unit_test(framed_request_split_across_feeds_is_answered_once_whole),
        cmocka_unit_test(framed_bad_second_frame_gets_replies_then_one_error_frame),
        cmocka_unit_test(framed_bad_second_frame_fed_byte_by_byte_gets_the_same_answer),
        cmocka_unit_test(framed_bad_magic_in_first_frame_gets_only_an_error),
        cmocka_unit_test(text_backpressure_stops_at_the_cap_then_answers_everything),
        cmocka_unit_test(text_backpressure_holds_for_any_feed_and_drain_sizes),
        cmocka_unit_test(framed_backpressure_bounds_output_and_answers_everything),
        cmocka_unit_test(framed_error_in_held_input_is_sent_after_the_replies),
        cmocka_unit_test(feed_over_feed_max_is_refused_and_takes_nothing),
        cmocka_unit_test(feed_is_refused_while_output_is_full),
        cmocka_unit_test(feed_is_refused_after_the_peer_closed),
        cmocka_unit_test(peer_closed_then_drained_is_finished),
        cmocka_unit_test(peer_closed_while_input_is_held_answers_it_all_first),
        cmocka_unit_test(peer_closed_mid_frame_finishes_without_a_reply),
        cmocka_unit_test(counters_are_shared_between_engines),
        cmocka_unit_test(shut_down_framed_answers_held_input_then_one_shutting_down_frame),
        cmocka_unit_test(shut_down_framed_mid_frame_sends_only_the_shutting_down_frame),
        cmocka_unit_test(shut_down_text_flushes_then_finishes_without_an_error),
        cmocka_unit_test(shut_down_idle_connection_is_finished_at_once),
        cmocka_unit_test(shut_down_after_an_error_frame_adds_nothing),
        cmocka_unit_test(mid_request_follows_frames_and_never_text),
        cmocka_unit_test(mid_request_follows_sockperf_messages),
        cmocka_unit_test(bytes_held_is_zero_for_a_new_engine_and_after_a_whole_exchange),
        cmocka_unit_test(bytes_held_counts_a_partial_frame_as_allocated),
        cmocka_unit_test(bytes_held_counts_input_held_by_backpressure),
        cmocka_unit_test(bytes_held_counts_a_partial_sockperf_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
