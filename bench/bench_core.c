/*
 * bench_core: micro benchmarks of the pure core (lib/), no sockets. They run
 * on the thread's CPU time (Google Benchmark's default), loop in batches so
 * that the shim's per-call cost stays out of nanosecond-scale numbers, and
 * check what they computed after the loop, so a broken kernel fails the run
 * instead of looking fast.
 */
#include "bench.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "gbench.h"
#include "hist.h"
#include "upper.h"
#include "wire.h"

/* The uppercase kernel's sizes: 16 B to 64 KiB, by fours. */
static size_t core_upper_sizes[] = {16, 64, 256, 1024, 4096, 16384, 65536};
/* Message sizes for the codec and the connection engine. */
static size_t core_message_sizes[] = {16, 64, 1024, 16384};
#define CORE_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The frame size the per-frame codec benchmarks use: a small payload. */
static size_t core_wire_payload = 64;

/* A batch long enough (about 16 KiB of work) that one shim call per batch is noise. */
static int64_t core_batch(size_t size)
{
    return size >= 16384 ? 1 : (int64_t)(16384 / size);
}

/* Text with every kind of byte the kernel sees: lower, upper, digits, UTF-8. */
static void core_fill_text(uint8_t *p, size_t len)
{
    static const char sample[] = "shout the Quick brown fox 0123 caf\xc3\xa9 ~!";
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)sample[i % (sizeof sample - 1)];
}

enum core_copy_kind {
    CORE_UPPER,
    CORE_UPPER_SCALAR,
    CORE_MEMCPY,
};

static void core_copy(gbench_state *st, size_t size, enum core_copy_kind kind)
{
    uint8_t *src = malloc(size);
    uint8_t *dst = malloc(size);
    uint8_t *want = malloc(size);
    if (!src || !dst || !want) {
        gbench_skip_with_error(st, "out of memory");
        goto out;
    }
    core_fill_text(src, size);
    int64_t n;
    while ((n = gbench_next_batch(st, core_batch(size))) > 0) {
        for (int64_t i = 0; i < n; i++) {
            if (kind == CORE_UPPER)
                upper_ascii(dst, src, size);
            else if (kind == CORE_UPPER_SCALAR)
                upper_ascii_scalar(dst, src, size);
            else
                memcpy(dst, src, size);
            GBENCH_CLOBBER(dst);
        }
    }
    if (kind == CORE_MEMCPY)
        memcpy(want, src, size);
    else
        upper_ascii_scalar(want, src, size);
    if (memcmp(dst, want, size) != 0)
        gbench_skip_with_error(st, "wrong output");
    gbench_set_bytes_processed(st, gbench_state_iterations(st) * (int64_t)size);
out:
    free(src);
    free(dst);
    free(want);
}

static void core_bench_upper(gbench_state *st, void *user)
{
    core_copy(st, *(const size_t *)user, CORE_UPPER);
}

static void core_bench_upper_scalar(gbench_state *st, void *user)
{
    core_copy(st, *(const size_t *)user, CORE_UPPER_SCALAR);
}

static void core_bench_memcpy(gbench_state *st, void *user)
{
    core_copy(st, *(const size_t *)user, CORE_MEMCPY);
}

/* Encode one request frame: the header, then the payload copied behind it. */
static void core_bench_wire_encode(gbench_state *st, void *user)
{
    size_t payload_len = *(const size_t *)user;
    size_t frame_len = WIRE_HEADER_LEN + payload_len;
    uint8_t *payload = malloc(payload_len);
    uint8_t *frame = malloc(frame_len);
    if (!payload || !frame) {
        gbench_skip_with_error(st, "out of memory");
        goto out;
    }
    core_fill_text(payload, payload_len);
    struct wire_header header = {
        .version = WIRE_VERSION, .type = WIRE_TYPE_REQUEST, .length = (uint32_t)payload_len};
    int64_t n;
    while ((n = gbench_next_batch(st, 1024)) > 0) {
        for (int64_t i = 0; i < n; i++) {
            header.id++;
            wire_encode_header(frame, &header);
            memcpy(frame + WIRE_HEADER_LEN, payload, payload_len);
            GBENCH_CLOBBER(frame);
        }
    }
    struct wire_header back;
    if (wire_parse_header(frame, (uint32_t)payload_len, &back) != WIRE_OK || back.id != header.id)
        gbench_skip_with_error(st, "encoded header does not parse back");
    gbench_set_items_processed(st, gbench_state_iterations(st));
    gbench_set_bytes_processed(st, gbench_state_iterations(st) * (int64_t)frame_len);
out:
    free(payload);
    free(frame);
}

/* Decode one whole request frame, as it arrives in a single read. */
static void core_bench_wire_decode(gbench_state *st, void *user)
{
    size_t payload_len = *(const size_t *)user;
    size_t frame_len = WIRE_HEADER_LEN + payload_len;
    uint8_t *frame = malloc(frame_len);
    if (!frame) {
        gbench_skip_with_error(st, "out of memory");
        return;
    }
    struct wire_header header = {
        .version = WIRE_VERSION, .type = WIRE_TYPE_REQUEST, .length = (uint32_t)payload_len};
    wire_encode_header(frame, &header);
    core_fill_text(frame + WIRE_HEADER_LEN, payload_len);
    struct wire_decoder dec;
    wire_decoder_init(&dec, (uint32_t)payload_len);
    int64_t bad = 0;
    int64_t n;
    while ((n = gbench_next_batch(st, 1024)) > 0) {
        for (int64_t i = 0; i < n; i++) {
            size_t consumed;
            struct wire_frame f;
            if (wire_decode(&dec, frame, frame_len, &consumed, &f) != WIRE_FRAME ||
                consumed != frame_len)
                bad++;
            GBENCH_CLOBBER(&f);
        }
    }
    if (bad)
        gbench_skip_with_error(st, "a frame did not decode");
    gbench_set_items_processed(st, gbench_state_iterations(st));
    gbench_set_bytes_processed(st, gbench_state_iterations(st) * (int64_t)frame_len);
    wire_decoder_free(&dec);
    free(frame);
}

/* One latency per iteration, spread over 1 us .. 16 ms like real round trips. */
static void core_bench_hist_record(gbench_state *st, void *user)
{
    (void)user;
    enum { VALUES = 4096 };
    uint64_t *values = malloc(VALUES * sizeof *values);
    struct hist *h = malloc(sizeof *h);
    if (!values || !h) {
        gbench_skip_with_error(st, "out of memory");
        goto out;
    }
    uint64_t x = 0x9E3779B97F4A7C15u; /* xorshift64: fixed, so every run records the same */
    for (size_t i = 0; i < VALUES; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        values[i] = (UINT64_C(1000) << (x % 15)) + (x >> 50);
    }
    hist_init(h);
    int64_t n;
    size_t next = 0;
    while ((n = gbench_next_batch(st, VALUES)) > 0) {
        for (int64_t i = 0; i < n; i++)
            hist_record(h, values[next++ % VALUES]);
        GBENCH_CLOBBER(h);
    }
    if (h->count != (uint64_t)gbench_state_iterations(st))
        gbench_skip_with_error(st, "the histogram lost samples");
    gbench_set_items_processed(st, gbench_state_iterations(st));
out:
    free(values);
    free(h);
}

/*
 * The connection engine on a pipelined stream: every iteration is one socket
 * read's worth handed to conn_feed (framed: as many whole request frames of
 * the size as fit in CONN_FEED_MAX; text: size bytes), then the replies
 * taken as shoutd would send them.
 */
struct core_conn_case {
    size_t size;
    bool framed;
};

static struct core_conn_case core_conn_cases[2 * CORE_COUNT(core_message_sizes)];

/* Build one read: returns its length and how many messages it holds. */
static size_t core_conn_read(uint8_t *read, const struct core_conn_case *cc, size_t *messages)
{
    if (!cc->framed) {
        core_fill_text(read, cc->size);
        *messages = 1;
        return cc->size;
    }
    size_t frame_len = WIRE_HEADER_LEN + cc->size;
    size_t frames = CONN_FEED_MAX / frame_len > 0 ? CONN_FEED_MAX / frame_len : 1;
    for (size_t i = 0; i < frames; i++) {
        struct wire_header h = {.version = WIRE_VERSION,
                                .type = WIRE_TYPE_REQUEST,
                                .length = (uint32_t)cc->size,
                                .id = i};
        wire_encode_header(read + i * frame_len, &h);
        core_fill_text(read + i * frame_len + WIRE_HEADER_LEN, cc->size);
    }
    *messages = frames;
    return frames * frame_len;
}

static void core_bench_conn(gbench_state *st, void *user)
{
    const struct core_conn_case *cc = user;
    uint8_t *read = malloc(CONN_FEED_MAX);
    if (!read) {
        gbench_skip_with_error(st, "out of memory");
        return;
    }
    size_t messages;
    size_t read_len = core_conn_read(read, cc, &messages);
    /* Room for a whole read's replies, so backpressure never holds input back. */
    struct conn_limits limits = {.max_payload = 1u << 20, .max_output = 4u << 20};
    struct conn_counters counters = {0};
    struct conn c;
    conn_init(&c, &limits, &counters);
    uint64_t sent = 0;
    int64_t n;
    while ((n = gbench_next_batch(st, core_batch(read_len))) > 0) {
        for (int64_t i = 0; i < n; i++) {
            if (!conn_wants_input(&c) || conn_feed(&c, read, read_len) != 0) {
                gbench_skip_with_error(st, "the engine refused input");
                break;
            }
            size_t out_len;
            conn_output(&c, &out_len);
            conn_output_sent(&c, out_len);
            sent += out_len;
        }
    }
    uint64_t iters = (uint64_t)gbench_state_iterations(st);
    bool answered = cc->framed ? counters.requests == iters * messages
                               : counters.text_bytes == iters * read_len;
    if (sent != iters * read_len || !answered)
        gbench_skip_with_error(st, "the engine did not answer every message");
    gbench_set_bytes_processed(st, (int64_t)(iters * read_len));
    gbench_set_items_processed(st, (int64_t)(iters * messages));
    conn_free(&c);
    free(read);
}

/* Register fn as "<prefix>/<size><suffix>", with the size as its user pointer. */
static void core_register_sized(const char *prefix, const char *suffix, gbench_fn fn, size_t *size)
{
    char name[64];
    snprintf(name, sizeof name, "%s/%zu%s", prefix, *size, suffix);
    gbench_register(name, fn, size);
}

void bench_core_register(void)
{
    /* Which kernel core/upper measured depends on the CPU: say it beside the figures. */
    gbench_add_context("upper_kernel", upper_ascii_kernel_name());
    for (size_t i = 0; i < CORE_COUNT(core_upper_sizes); i++) {
        size_t *size = &core_upper_sizes[i];
        core_register_sized("core/upper", "", core_bench_upper, size);
        core_register_sized("core/upper", "/scalar", core_bench_upper_scalar, size);
        core_register_sized("core/memcpy", "", core_bench_memcpy, size);
    }
    core_register_sized("core/wire", "/encode", core_bench_wire_encode, &core_wire_payload);
    core_register_sized("core/wire", "/decode", core_bench_wire_decode, &core_wire_payload);
    gbench_register("core/hist/record", core_bench_hist_record, NULL);

    size_t k = 0;
    for (int framed = 1; framed >= 0; framed--) {
        for (size_t i = 0; i < CORE_COUNT(core_message_sizes); i++, k++) {
            struct core_conn_case *cc = &core_conn_cases[k];
            *cc = (struct core_conn_case){.size = core_message_sizes[i], .framed = framed};
            char name[64];
            snprintf(name, sizeof name, "core/conn/%zu/%s", cc->size, framed ? "framed" : "text");
            gbench_register(name, core_bench_conn, cc);
        }
    }
}
