/* Unit tests for lib/wire.c: the frame header codec and the incremental decoder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "prng.h"
#include "support.h"
#include "wire.h"

#define MAX_PAYLOAD 1024

/* ---- header encode / parse ---- */

static void encode_header_writes_big_endian_fields(void **state)
{
    (void)state;
    struct wire_header header = {
        .version = 1, .type = 2, .length = 0x01020304, .id = 0x1122334455667788ULL};
    uint8_t out[WIRE_HEADER_LEN];
    wire_encode_header(out, &header);
    const uint8_t want[WIRE_HEADER_LEN] = {0xF5, 0x55, 0x01, 0x02, 0x01, 0x02, 0x03, 0x04,
                                           0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    assert_memory_equal(out, want, sizeof want);
}

static void encode_then_parse_header_round_trips(void **state)
{
    (void)state;
    const struct wire_header cases[] = {
        {.version = 1, .type = 1, .length = 0, .id = 0},
        {.version = 1, .type = 2, .length = 1, .id = 1},
        {.version = 1, .type = 3, .length = MAX_PAYLOAD, .id = UINT64_MAX},
        {.version = 1, .type = 1, .length = 300, .id = 0x8000000000000001ULL},
        {.version = 1, .type = 1, .length = 0x00FF00FF, .id = 0xDEADBEEFCAFEF00DULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t bytes[WIRE_HEADER_LEN];
        struct wire_header parsed;
        memset(&parsed, 0xAB, sizeof parsed);
        wire_encode_header(bytes, &cases[i]);
        assert_int_equal(wire_parse_header(bytes, UINT32_MAX, &parsed), WIRE_OK);
        assert_int_equal(parsed.version, cases[i].version);
        assert_int_equal(parsed.type, cases[i].type);
        assert_int_equal(parsed.length, cases[i].length);
        assert_int_equal(parsed.id, cases[i].id);
    }
}

static void parse_header_checks_magic_then_version_then_type_then_length(void **state)
{
    (void)state;
    uint8_t bytes[WIRE_HEADER_LEN];
    struct wire_header parsed;
    /* Wrong in every field: each fix uncovers the next check in order. */
    put_header(bytes, 0x00, 0x55, 9, 9, MAX_PAYLOAD + 1, 42);
    assert_int_equal(wire_parse_header(bytes, MAX_PAYLOAD, &parsed), WIRE_ERR_BAD_MAGIC);
    bytes[0] = WIRE_MAGIC_0;
    bytes[1] = 0x54;
    assert_int_equal(wire_parse_header(bytes, MAX_PAYLOAD, &parsed), WIRE_ERR_BAD_MAGIC);
    bytes[1] = WIRE_MAGIC_1;
    assert_int_equal(wire_parse_header(bytes, MAX_PAYLOAD, &parsed), WIRE_ERR_BAD_VERSION);
    bytes[2] = WIRE_VERSION;
    assert_int_equal(wire_parse_header(bytes, MAX_PAYLOAD, &parsed), WIRE_ERR_BAD_TYPE);
    bytes[3] = WIRE_TYPE_REQUEST;
    assert_int_equal(wire_parse_header(bytes, MAX_PAYLOAD, &parsed), WIRE_ERR_TOO_LARGE);
    put_request(bytes, MAX_PAYLOAD, 42);
    assert_int_equal(wire_parse_header(bytes, MAX_PAYLOAD, &parsed), WIRE_OK);
}

static void parse_header_fills_header_even_when_rejecting(void **state)
{
    (void)state;
    uint8_t bytes[WIRE_HEADER_LEN];
    struct wire_header parsed = {0};
    put_header(bytes, 0x12, 0x34, 7, 8, 0xFFFFFFFF, 0x0102030405060708ULL);
    assert_int_equal(wire_parse_header(bytes, MAX_PAYLOAD, &parsed), WIRE_ERR_BAD_MAGIC);
    assert_int_equal(parsed.version, 7);
    assert_int_equal(parsed.type, 8);
    assert_int_equal(parsed.length, 0xFFFFFFFF);
    assert_int_equal(parsed.id, 0x0102030405060708ULL);
}

static void parse_header_accepts_every_known_type_and_no_other(void **state)
{
    (void)state;
    for (int type = 0; type < 256; type++) {
        uint8_t bytes[WIRE_HEADER_LEN];
        struct wire_header parsed;
        put_header(bytes, WIRE_MAGIC_0, WIRE_MAGIC_1, WIRE_VERSION, (uint8_t)type, 0, 1);
        enum wire_error want = type >= 1 && type <= 3 ? WIRE_OK : WIRE_ERR_BAD_TYPE;
        assert_int_equal(wire_parse_header(bytes, MAX_PAYLOAD, &parsed), want);
    }
    for (int version = 0; version < 256; version++) {
        uint8_t bytes[WIRE_HEADER_LEN];
        struct wire_header parsed;
        put_header(bytes, WIRE_MAGIC_0, WIRE_MAGIC_1, (uint8_t)version, 1, 0, 1);
        enum wire_error want = version == 1 ? WIRE_OK : WIRE_ERR_BAD_VERSION;
        assert_int_equal(wire_parse_header(bytes, MAX_PAYLOAD, &parsed), want);
    }
}

/* ---- decoder: errors ---- */

/* Decode a whole header in one call; returns the status, and *dec holds the verdict. */
static enum wire_status decode_header(struct wire_decoder *dec, const uint8_t *bytes,
                                      struct wire_frame *frame)
{
    size_t consumed = 999;
    enum wire_status status = wire_decode(dec, bytes, WIRE_HEADER_LEN, &consumed, frame);
    assert_true(consumed <= WIRE_HEADER_LEN);
    return status;
}

static void expect_decode_error(const uint8_t *header, enum wire_error code, uint64_t id)
{
    struct wire_decoder dec;
    struct wire_frame frame;
    wire_decoder_init(&dec, MAX_PAYLOAD);
    assert_int_equal(decode_header(&dec, header, &frame), WIRE_ERROR);
    assert_int_equal(wire_decoder_error(&dec), code);
    assert_int_equal(frame.header.id, id);
    assert_null(frame.payload);
    assert_null(dec.payload.bytes);
    wire_decoder_free(&dec);
}

static void decode_rejects_bad_magic(void **state)
{
    (void)state;
    uint8_t header[WIRE_HEADER_LEN];
    put_header(header, 0x00, WIRE_MAGIC_1, 1, 1, 0, 11);
    expect_decode_error(header, WIRE_ERR_BAD_MAGIC, 11);
    put_header(header, WIRE_MAGIC_0, 0x00, 1, 1, 0, 12);
    expect_decode_error(header, WIRE_ERR_BAD_MAGIC, 12);
    put_header(header, 'h', 'e', 'l', 'l', 0x6F20776F, 13);
    expect_decode_error(header, WIRE_ERR_BAD_MAGIC, 13);
}

static void decode_rejects_bad_version(void **state)
{
    (void)state;
    uint8_t header[WIRE_HEADER_LEN];
    const uint8_t versions[] = {0, 2, 0xFF};
    for (size_t i = 0; i < sizeof versions; i++) {
        put_header(header, WIRE_MAGIC_0, WIRE_MAGIC_1, versions[i], 1, 0, 100 + i);
        expect_decode_error(header, WIRE_ERR_BAD_VERSION, 100 + i);
    }
}

static void decode_rejects_bad_type(void **state)
{
    (void)state;
    uint8_t header[WIRE_HEADER_LEN];
    const uint8_t types[] = {0, 4, 0xFF};
    for (size_t i = 0; i < sizeof types; i++) {
        put_header(header, WIRE_MAGIC_0, WIRE_MAGIC_1, 1, types[i], 0, 200 + i);
        expect_decode_error(header, WIRE_ERR_BAD_TYPE, 200 + i);
    }
}

static void decode_rejects_length_over_limit(void **state)
{
    (void)state;
    uint8_t header[WIRE_HEADER_LEN];
    put_request(header, MAX_PAYLOAD + 1, 300);
    expect_decode_error(header, WIRE_ERR_TOO_LARGE, 300);
    put_request(header, 0x80000000u, 301);
    expect_decode_error(header, WIRE_ERR_TOO_LARGE, 301);
}

static void decode_accepts_length_at_limit(void **state)
{
    (void)state;
    static uint8_t stream[WIRE_HEADER_LEN + MAX_PAYLOAD];
    put_request(stream, MAX_PAYLOAD, 5);
    memset(stream + WIRE_HEADER_LEN, 'q', MAX_PAYLOAD);
    struct wire_decoder dec;
    struct wire_frame frame;
    size_t consumed;
    wire_decoder_init(&dec, MAX_PAYLOAD);
    assert_int_equal(wire_decode(&dec, stream, sizeof stream, &consumed, &frame), WIRE_FRAME);
    assert_int_equal(consumed, sizeof stream);
    assert_int_equal(frame.header.length, MAX_PAYLOAD);
    assert_memory_equal(frame.payload, stream + WIRE_HEADER_LEN, MAX_PAYLOAD);
    wire_decoder_free(&dec);
}

static void decode_refuses_max_length_without_allocating_it(void **state)
{
    (void)state;
    uint8_t stream[WIRE_HEADER_LEN + 64];
    put_request(stream, 0xFFFFFFFF, 0xABCDEF);
    memset(stream + WIRE_HEADER_LEN, 'z', 64);
    struct wire_decoder dec;
    struct wire_frame frame;
    size_t consumed;
    wire_decoder_init(&dec, 1u << 20);
    assert_int_equal(wire_decode(&dec, stream, sizeof stream, &consumed, &frame), WIRE_ERROR);
    assert_int_equal(wire_decoder_error(&dec), WIRE_ERR_TOO_LARGE);
    assert_int_equal(consumed, WIRE_HEADER_LEN);
    assert_int_equal(frame.header.length, 0xFFFFFFFF);
    assert_int_equal(frame.header.id, 0xABCDEF);
    assert_int_equal(dec.payload.alloc, 0);
    assert_null(dec.payload.bytes);
    wire_decoder_free(&dec);
}

static void decode_store_grows_with_arrived_bytes_not_claimed_length(void **state)
{
    (void)state;
    uint8_t stream[WIRE_HEADER_LEN + 10];
    put_request(stream, 1u << 24, 9);
    memset(stream + WIRE_HEADER_LEN, 'z', 10);
    struct wire_decoder dec;
    struct wire_frame frame;
    size_t consumed;
    wire_decoder_init(&dec, 1u << 24);
    assert_int_equal(wire_decode(&dec, stream, sizeof stream, &consumed, &frame), WIRE_NEED_MORE);
    assert_int_equal(consumed, sizeof stream);
    assert_int_equal(buf_len(&dec.payload), 10);
    /* 16 MiB claimed, ten bytes arrived: the store must stay near the latter. */
    assert_true(dec.payload.alloc >= 10);
    assert_true(dec.payload.alloc <= 4096);
    wire_decoder_free(&dec);
}

static void decode_validates_only_once_the_whole_header_is_in(void **state)
{
    (void)state;
    uint8_t header[WIRE_HEADER_LEN];
    put_header(header, 0x00, 0x00, 0, 0, 0xFFFFFFFF, 77);
    struct wire_decoder dec;
    struct wire_frame frame;
    wire_decoder_init(&dec, MAX_PAYLOAD);
    assert_false(wire_decoder_mid_frame(&dec));
    for (size_t i = 0; i + 1 < WIRE_HEADER_LEN; i++) {
        size_t consumed = 0;
        assert_int_equal(wire_decode(&dec, header + i, 1, &consumed, &frame), WIRE_NEED_MORE);
        assert_int_equal(consumed, 1);
        assert_int_equal(wire_decoder_error(&dec), WIRE_OK);
        assert_true(wire_decoder_mid_frame(&dec));
    }
    size_t consumed = 0;
    assert_int_equal(wire_decode(&dec, header + WIRE_HEADER_LEN - 1, 1, &consumed, &frame),
                     WIRE_ERROR);
    assert_int_equal(consumed, 1);
    assert_int_equal(wire_decoder_error(&dec), WIRE_ERR_BAD_MAGIC);
    assert_int_equal(frame.header.id, 77);
    wire_decoder_free(&dec);
}

static void decode_error_is_sticky(void **state)
{
    (void)state;
    uint8_t bad[WIRE_HEADER_LEN];
    uint8_t good[WIRE_HEADER_LEN + 3];
    put_header(bad, WIRE_MAGIC_0, WIRE_MAGIC_1, 2, 1, 0, 0x5151);
    put_request(good, 3, 0x6262);
    memcpy(good + WIRE_HEADER_LEN, "abc", 3);
    struct wire_decoder dec;
    struct wire_frame frame;
    wire_decoder_init(&dec, MAX_PAYLOAD);
    assert_int_equal(decode_header(&dec, bad, &frame), WIRE_ERROR);
    for (int i = 0; i < 3; i++) {
        size_t consumed = 999;
        memset(&frame, 0, sizeof frame);
        assert_int_equal(wire_decode(&dec, good, sizeof good, &consumed, &frame), WIRE_ERROR);
        assert_int_equal(consumed, 0);
        assert_int_equal(wire_decoder_error(&dec), WIRE_ERR_BAD_VERSION);
        /* Still the offending header's id, not the later frame's. */
        assert_int_equal(frame.header.id, 0x5151);
        assert_null(frame.payload);
    }
    wire_decoder_free(&dec);
}

static void decode_error_after_good_frames_carries_the_bad_header_id(void **state)
{
    (void)state;
    uint8_t stream[3 * WIRE_HEADER_LEN + 2];
    put_request(stream, 2, 1);
    memcpy(stream + WIRE_HEADER_LEN, "ab", 2);
    put_request(stream + WIRE_HEADER_LEN + 2, 0, 2);
    put_header(stream + 2 * WIRE_HEADER_LEN + 2, WIRE_MAGIC_0, WIRE_MAGIC_1, 1, 9, 0, 3);
    struct wire_decoder dec;
    struct wire_frame frame;
    size_t consumed;
    size_t off = 0;
    wire_decoder_init(&dec, MAX_PAYLOAD);
    assert_int_equal(wire_decode(&dec, stream, sizeof stream, &consumed, &frame), WIRE_FRAME);
    assert_int_equal(frame.header.id, 1);
    off += consumed;
    assert_int_equal(wire_decode(&dec, stream + off, sizeof stream - off, &consumed, &frame),
                     WIRE_FRAME);
    assert_int_equal(frame.header.id, 2);
    off += consumed;
    assert_int_equal(wire_decode(&dec, stream + off, sizeof stream - off, &consumed, &frame),
                     WIRE_ERROR);
    assert_int_equal(wire_decoder_error(&dec), WIRE_ERR_BAD_TYPE);
    assert_int_equal(frame.header.id, 3);
    assert_int_equal(frame.header.type, 9);
    wire_decoder_free(&dec);
}

/* ---- decoder: frames ---- */

static void decode_zero_length_frame_ends_at_its_header(void **state)
{
    (void)state;
    uint8_t stream[WIRE_HEADER_LEN + 4];
    put_request(stream, 0, 0x0A0B0C0D0E0F1011ULL);
    memcpy(stream + WIRE_HEADER_LEN, "next", 4);
    uint8_t copy[sizeof stream];
    memcpy(copy, stream, sizeof stream);
    struct wire_decoder dec;
    struct wire_frame frame;
    size_t consumed;
    wire_decoder_init(&dec, MAX_PAYLOAD);
    assert_int_equal(wire_decode(&dec, stream, sizeof stream, &consumed, &frame), WIRE_FRAME);
    assert_int_equal(consumed, WIRE_HEADER_LEN);
    assert_int_equal(frame.header.version, 1);
    assert_int_equal(frame.header.type, WIRE_TYPE_REQUEST);
    assert_int_equal(frame.header.length, 0);
    assert_int_equal(frame.header.id, 0x0A0B0C0D0E0F1011ULL);
    assert_false(wire_decoder_mid_frame(&dec));
    assert_memory_equal(stream, copy, sizeof stream);
    wire_decoder_free(&dec);
}

static void decode_accepts_reply_and_error_types(void **state)
{
    (void)state;
    for (uint8_t type = WIRE_TYPE_REPLY; type <= WIRE_TYPE_ERROR; type++) {
        uint8_t stream[WIRE_HEADER_LEN + 2];
        put_header(stream, WIRE_MAGIC_0, WIRE_MAGIC_1, 1, type, 2, type);
        memcpy(stream + WIRE_HEADER_LEN, "\x00\x01", 2);
        struct wire_decoder dec;
        struct wire_frame frame;
        size_t consumed;
        wire_decoder_init(&dec, MAX_PAYLOAD);
        assert_int_equal(wire_decode(&dec, stream, sizeof stream, &consumed, &frame), WIRE_FRAME);
        assert_int_equal(frame.header.type, type);
        assert_memory_equal(frame.payload, "\x00\x01", 2);
        wire_decoder_free(&dec);
    }
}

static void decode_of_empty_input_needs_more_and_consumes_nothing(void **state)
{
    (void)state;
    uint8_t byte = WIRE_MAGIC_0;
    struct wire_decoder dec;
    struct wire_frame frame;
    size_t consumed = 999;
    wire_decoder_init(&dec, MAX_PAYLOAD);
    assert_int_equal(wire_decode(&dec, &byte, 0, &consumed, &frame), WIRE_NEED_MORE);
    assert_int_equal(consumed, 0);
    assert_false(wire_decoder_mid_frame(&dec));
    wire_decoder_free(&dec);
}

#define STREAM_FRAMES 4
static const uint32_t stream_sizes[STREAM_FRAMES] = {0, 1, 7, 300};
#define STREAM_LEN (STREAM_FRAMES * WIRE_HEADER_LEN + 0 + 1 + 7 + 300)

struct decoded {
    struct wire_header header;
    uint8_t payload[300];
    size_t end; /* stream offset just past the frame when it was handed out */
};

struct stream {
    uint8_t bytes[STREAM_LEN];
    size_t frame_end[STREAM_FRAMES];
    size_t payload_at[STREAM_FRAMES];
};

static void build_stream(struct stream *s)
{
    struct prng rng = {.state = 0x3A1E0004};
    size_t off = 0;
    for (size_t i = 0; i < STREAM_FRAMES; i++) {
        put_request(s->bytes + off, stream_sizes[i], 0x1000000000000000ULL * (i + 1) + i);
        off += WIRE_HEADER_LEN;
        s->payload_at[i] = off;
        prng_fill(&rng, s->bytes + off, stream_sizes[i]);
        off += stream_sizes[i];
        s->frame_end[i] = off;
    }
    assert_int_equal(off, STREAM_LEN);
}

/*
 * Feed the stream in chunks (each copied into a block of exactly its size, so
 * a sanitizer catches any read past a chunk) and record every frame.
 */
static size_t decode_chunks(const uint8_t *stream, const size_t *chunk_lens, size_t chunks,
                            struct decoded *out, size_t out_cap)
{
    struct wire_decoder dec;
    wire_decoder_init(&dec, MAX_PAYLOAD);
    size_t frames = 0;
    size_t stream_off = 0;
    for (size_t c = 0; c < chunks; c++) {
        size_t len = chunk_lens[c];
        uint8_t *chunk = malloc(len ? len : 1);
        assert_non_null(chunk);
        memcpy(chunk, stream + stream_off, len);
        size_t pos = 0;
        for (int calls = 0;; calls++) {
            assert_true(calls <= STREAM_FRAMES + 1);
            struct wire_frame frame;
            size_t consumed = SIZE_MAX;
            enum wire_status status = wire_decode(&dec, chunk + pos, len - pos, &consumed, &frame);
            assert_true(consumed <= len - pos);
            pos += consumed;
            if (status == WIRE_NEED_MORE) {
                /* "Need more" means everything offered was taken. */
                assert_int_equal(pos, len);
                break;
            }
            assert_int_equal(status, WIRE_FRAME);
            assert_true(frames < out_cap);
            out[frames].header = frame.header;
            assert_true(frame.header.length <= sizeof out[frames].payload);
            if (frame.header.length)
                memcpy(out[frames].payload, frame.payload, frame.header.length);
            out[frames].end = stream_off + pos;
            frames++;
        }
        assert_memory_equal(chunk, stream + stream_off, len); /* input is never written */
        free(chunk);
        stream_off += len;
    }
    assert_false(wire_decoder_mid_frame(&dec));
    wire_decoder_free(&dec);
    return frames;
}

static void expect_stream_frames(const struct stream *s, const struct decoded *got, size_t frames)
{
    assert_int_equal(frames, STREAM_FRAMES);
    for (size_t i = 0; i < STREAM_FRAMES; i++) {
        assert_int_equal(got[i].header.version, WIRE_VERSION);
        assert_int_equal(got[i].header.type, WIRE_TYPE_REQUEST);
        assert_int_equal(got[i].header.length, stream_sizes[i]);
        assert_int_equal(got[i].header.id, 0x1000000000000000ULL * (i + 1) + i);
        assert_memory_equal(got[i].payload, s->bytes + s->payload_at[i], stream_sizes[i]);
        /* Each frame is handed out exactly at its end: nothing after it was taken. */
        assert_int_equal(got[i].end, s->frame_end[i]);
    }
}

static void decode_in_one_piece_yields_each_frame_at_its_end(void **state)
{
    (void)state;
    static struct stream s;
    static struct decoded got[STREAM_FRAMES + 1];
    build_stream(&s);
    size_t whole = STREAM_LEN;
    expect_stream_frames(&s, got, decode_chunks(s.bytes, &whole, 1, got, STREAM_FRAMES + 1));
}

static void decode_in_two_chunks_at_every_split_matches_one_piece(void **state)
{
    (void)state;
    static struct stream s;
    static struct decoded got[STREAM_FRAMES + 1];
    build_stream(&s);
    for (size_t i = 0; i <= STREAM_LEN; i++) {
        size_t lens[2] = {i, STREAM_LEN - i};
        expect_stream_frames(&s, got, decode_chunks(s.bytes, lens, 2, got, STREAM_FRAMES + 1));
    }
}

static void decode_in_three_chunks_at_every_split_matches_one_piece(void **state)
{
    (void)state;
    static struct stream s;
    static struct decoded got[STREAM_FRAMES + 1];
    build_stream(&s);
    for (size_t i = 0; i <= STREAM_LEN; i++) {
        for (size_t j = i; j <= STREAM_LEN; j++) {
            size_t lens[3] = {i, j - i, STREAM_LEN - j};
            expect_stream_frames(&s, got, decode_chunks(s.bytes, lens, 3, got, STREAM_FRAMES + 1));
        }
    }
}

static void decode_byte_at_a_time_matches_one_piece(void **state)
{
    (void)state;
    static struct stream s;
    static struct decoded got[STREAM_FRAMES + 1];
    static size_t lens[STREAM_LEN];
    build_stream(&s);
    for (size_t i = 0; i < STREAM_LEN; i++)
        lens[i] = 1;
    expect_stream_frames(&s, got, decode_chunks(s.bytes, lens, STREAM_LEN, got, STREAM_FRAMES + 1));
}

static void decode_payload_from_store_stays_valid_until_next_call(void **state)
{
    (void)state;
    uint8_t stream[2 * (WIRE_HEADER_LEN + 5)];
    put_request(stream, 5, 1);
    memcpy(stream + WIRE_HEADER_LEN, "first", 5);
    put_request(stream + WIRE_HEADER_LEN + 5, 5, 2);
    memcpy(stream + 2 * WIRE_HEADER_LEN + 5, "later", 5);
    struct wire_decoder dec;
    struct wire_frame frame;
    size_t consumed;
    wire_decoder_init(&dec, MAX_PAYLOAD);
    /* Split inside the payload, so the payload comes from the decoder's store. */
    assert_int_equal(wire_decode(&dec, stream, WIRE_HEADER_LEN + 2, &consumed, &frame),
                     WIRE_NEED_MORE);
    assert_int_equal(
        wire_decode(&dec, stream + WIRE_HEADER_LEN + 2, sizeof stream - 18, &consumed, &frame),
        WIRE_FRAME);
    assert_int_equal(consumed, 3);
    assert_int_equal(frame.header.id, 1);
    assert_memory_equal(frame.payload, "first", 5);
    size_t off = WIRE_HEADER_LEN + 5;
    assert_int_equal(wire_decode(&dec, stream + off, sizeof stream - off, &consumed, &frame),
                     WIRE_FRAME);
    assert_int_equal(frame.header.id, 2);
    assert_memory_equal(frame.payload, "later", 5);
    /* Once handed out and superseded, the store is released again. */
    assert_null(dec.payload.bytes);
    wire_decoder_free(&dec);
}

/* ---- error frames ---- */

static void encode_error_needs_room_for_header_and_code(void **state)
{
    (void)state;
    for (size_t cap = 0; cap < WIRE_HEADER_LEN + 2; cap++) {
        uint8_t out[WIRE_HEADER_LEN + 2];
        memset(out, 0xEE, sizeof out);
        assert_int_equal(wire_encode_error(out, cap, 1, WIRE_ERR_BAD_MAGIC), 0);
        for (size_t i = 0; i < sizeof out; i++)
            assert_int_equal(out[i], 0xEE);
    }
}

static void encode_error_cuts_the_reason_to_the_capacity(void **state)
{
    (void)state;
    for (int code = WIRE_ERR_BAD_MAGIC; code <= WIRE_ERROR_CODE_MAX; code++) {
        const char *reason = wire_error_reason((enum wire_error)code);
        size_t full = WIRE_HEADER_LEN + 2 + strlen(reason);
        for (size_t cap = WIRE_HEADER_LEN + 2; cap <= WIRE_ERROR_MAX_LEN + 8; cap++) {
            uint8_t out[WIRE_ERROR_MAX_LEN + 16];
            memset(out, 0xEE, sizeof out);
            uint64_t id = 0xF00D0000ULL + (uint64_t)cap;
            size_t len = wire_encode_error(out, cap, id, (enum wire_error)code);
            assert_int_equal(len, cap < full ? cap : full);
            assert_int_equal(out[0], WIRE_MAGIC_0);
            assert_int_equal(out[1], WIRE_MAGIC_1);
            assert_int_equal(out[2], WIRE_VERSION);
            assert_int_equal(out[3], WIRE_TYPE_ERROR);
            assert_int_equal(get_be32(out + 4), len - WIRE_HEADER_LEN);
            assert_int_equal(get_be64(out + 8), id);
            assert_int_equal(get_be16(out + WIRE_HEADER_LEN), code);
            assert_memory_equal(out + WIRE_HEADER_LEN + 2, reason, len - WIRE_HEADER_LEN - 2);
            for (size_t i = len; i < sizeof out; i++)
                assert_int_equal(out[i], 0xEE);
        }
    }
}

static void error_frames_never_exceed_the_reason_limit(void **state)
{
    (void)state;
    for (int code = 0; code <= WIRE_ERROR_CODE_MAX + 1; code++) {
        uint8_t out[256];
        size_t len = wire_encode_error(out, sizeof out, 1, (enum wire_error)code);
        assert_true(len >= WIRE_HEADER_LEN + 2);
        assert_true(len <= WIRE_ERROR_MAX_LEN);
        assert_true(len - WIRE_HEADER_LEN - 2 <= WIRE_REASON_MAX);
    }
}

static void error_reason_is_short_printable_and_distinct_for_every_code(void **state)
{
    (void)state;
    for (int code = 0; code <= WIRE_ERROR_CODE_MAX; code++) {
        const char *reason = wire_error_reason((enum wire_error)code);
        assert_non_null(reason);
        size_t len = strlen(reason);
        assert_true(len > 0);
        assert_true(len <= WIRE_REASON_MAX);
        for (size_t i = 0; i < len; i++)
            assert_true(reason[i] >= 0x20 && reason[i] < 0x7F);
        for (int other = 0; other < code; other++)
            assert_string_not_equal(reason, wire_error_reason((enum wire_error)other));
    }
    /* A code from a newer peer still gets a reason. */
    const char *unknown = wire_error_reason((enum wire_error)(WIRE_ERROR_CODE_MAX + 1));
    assert_non_null(unknown);
    assert_true(strlen(unknown) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_header_writes_big_endian_fields),
        cmocka_unit_test(encode_then_parse_header_round_trips),
        cmocka_unit_test(parse_header_checks_magic_then_version_then_type_then_length),
        cmocka_unit_test(parse_header_fills_header_even_when_rejecting),
        cmocka_unit_test(parse_header_accepts_every_known_type_and_no_other),
        cmocka_unit_test(decode_rejects_bad_magic),
        cmocka_unit_test(decode_rejects_bad_version),
        cmocka_unit_test(decode_rejects_bad_type),
        cmocka_unit_test(decode_rejects_length_over_limit),
        cmocka_unit_test(decode_accepts_length_at_limit),
        cmocka_unit_test(decode_refuses_max_length_without_allocating_it),
        cmocka_unit_test(decode_store_grows_with_arrived_bytes_not_claimed_length),
        cmocka_unit_test(decode_validates_only_once_the_whole_header_is_in),
        cmocka_unit_test(decode_error_is_sticky),
        cmocka_unit_test(decode_error_after_good_frames_carries_the_bad_header_id),
        cmocka_unit_test(decode_zero_length_frame_ends_at_its_header),
        cmocka_unit_test(decode_accepts_reply_and_error_types),
        cmocka_unit_test(decode_of_empty_input_needs_more_and_consumes_nothing),
        cmocka_unit_test(decode_in_one_piece_yields_each_frame_at_its_end),
        cmocka_unit_test(decode_in_two_chunks_at_every_split_matches_one_piece),
        cmocka_unit_test(decode_in_three_chunks_at_every_split_matches_one_piece),
        cmocka_unit_test(decode_byte_at_a_time_matches_one_piece),
        cmocka_unit_test(decode_payload_from_store_stays_valid_until_next_call),
        cmocka_unit_test(encode_error_needs_room_for_header_and_code),
        cmocka_unit_test(encode_error_cuts_the_reason_to_the_capacity),
        cmocka_unit_test(error_frames_never_exceed_the_reason_limit),
        cmocka_unit_test(error_reason_is_short_printable_and_distinct_for_every_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
