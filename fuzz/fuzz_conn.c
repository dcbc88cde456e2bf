/*
 * fuzz_conn: shoutd's TCP connection path under a misbehaving kernel. It
 * drives the code shoutd runs for every connection, the connection engine
 * (lib/conn.c) and the pump that moves its bytes (server/pump.c), through a
 * fake kernel (a struct kernel, server/kernel.h) and a fake allocator
 * (buf_set_allocator, lib/buf.h), both of which fail when the input says
 * so. A small epoll stand-in calls the pump the way stream.c does.
 *
 * Input: [L][script][peer stream]. L (be16) is the script's length, capped
 * at what there is; the bytes after the script are what the peer sends,
 * followed by its EOF. The script is position-addressed: decision k is
 * script byte k, read forward, and it is up to 65535 decisions long, so
 * cutting or growing the stream at its end leaves every decision where it
 * was. When the script runs out the fake kernel stops failing and makes
 * progress, so no input can spin the loop.
 *   script[0]  max_payload, FUZZ_PAYLOAD_LIMITS[b & 15]
 *   script[1]  max_output, FUZZ_OUTPUT_LIMITS[b & 15]
 *   script[2]  (b & 3) == 3: the sockperf port's engine (conn_init_mode);
 *              b >> 2 = S, not 0: SIGTERM's drain (conn_shut_down, then a round
 *              that reads nothing, as stream.c's stream_drain does) before step S - 1
 *   script[3]  allocation N = b & 0x7f fails (0: none); with 0x80, every one from N on
 *   then, per recv:     b & 15: 0 EAGAIN, 1 EINTR, 2 ECONNRESET, 3 EOF now (the rest
 *                       of the stream is never sent), else read FUZZ_READ_LENS[b >> 4]
 *        per send:      b & 15: 0 EAGAIN, 1 EINTR, 2 ECONNRESET, 3..6 a short write
 *                       of 1 + (b >> 4) % (len - 1) bytes, else all
 *        per shutdown:  b & 15 == 2: ENOTCONN
 * FUZZ_CONN_TRACE=1 in the environment prints every decision.
 *
 * Oracles (FUZZ_CHECK aborts with the reason):
 * - what the server sent equals what the reference model (conn_model.h)
 *   says for the bytes it read; a strict prefix of it only when a fault
 *   closed the connection (a reset, or memory that ran out); after a failed
 *   allocation the decoder may also answer the frame it was storing with
 *   error 8 (no memory) and nothing after it;
 * - an error frame (or a lost sockperf framing) is followed by a lingering
 *   close: everything flushed, shutdown(SHUT_WR), input discarded to EOF;
 *   without one, the connection closes only after the peer's EOF;
 * - the engine's buffers stay within their documented limits, and no
 *   allocation is larger than the bytes actually received could need;
 * - after a drain, a framed connection gets every reply to what it had
 *   sent, then error 7 with id 0, then a lingering close; text and sockperf
 *   get their replies and a close;
 * - conn_mid_request (what the frame deadline asks) is true exactly when
 *   the bytes decoded so far end inside a frame or sockperf message, or no
 *   byte (no sockperf message) came yet;
 * - a reset, an EOF or a closed connection happens only when the fake
 *   kernel reported one (or memory ran out): a pump that takes EINTR or
 *   EAGAIN for a reset or an EOF fails here;
 * - the engine's counters agree with the model in every run: exactly when
 *   nothing failed, and within what was sent and what the model allows
 *   when a fault cut the connection short;
 * - the pump never waits for nothing, never sends after shutdown, never
 *   closes or accepts on its own, and reaches a close within a step bound;
 * - conn_feed refuses input the engine did not ask for and takes an empty
 *   feed, changing nothing; every byte the engine allocated is released by
 *   conn_free, and conn_bytes_held (what shoutd's memory budget counts) is
 *   exactly the bytes the engine holds from the allocator after every round.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "conn.h"
#include "conn_model.h"
#include "fuzz_check.h"
#include "pump.h"

/* Small limits first, so that a short input hits them; the defaults (script byte 0) are mid. */
static const uint32_t FUZZ_PAYLOAD_LIMITS[16] = {
    64, 0, 1, 2, 15, 16, 17, 31, 32, 100, 255, 256, 1000, 4096, 65536, 1048576,
};
static const size_t FUZZ_OUTPUT_LIMITS[16] = {
    256, 1, 2, 15, 16, 17, 31, 32, 33, 64, 100, 1000, 4096, 65536, 1048576, 3,
};
static const size_t FUZZ_READ_LENS[16] = {
    1, 2, 3, 5, 8, 15, 16, 17, 31, 32, 64, 100, 256, 1000, 4096, CONN_FEED_MAX,
};

/*
 * The cost oracle's bound on copies inside the buffers, per byte of traffic:
 * growth copies at most what doubling stores (twice what came), and a slide
 * moves no more than was consumed in front of it. The constant is a few
 * small buffers' first growth.
 */
#define FUZZ_MOVES_PER_BYTE 4
#define FUZZ_MOVES_SLACK    4096

/* Any descriptor number will do: the fake kernel checks that it is the one it gave out. */
#define FUZZ_FD 7

struct fuzz_script {
    const uint8_t *bytes;
    size_t len;
    size_t at;
};

/* The fake kernel's view of the connection: the peer's stream and what came back. */
struct fuzz_kernel {
    struct fuzz_script script;
    const uint8_t *stream;
    size_t stream_len;
    size_t delivered; /* stream bytes recv has handed out */
    size_t fed;       /* of those, the ones read while serving (what the model gets) */
    size_t received;  /* bytes recv returned (an early EOF skips bytes without returning them) */
    bool serving;     /* not yet lingering */
    bool peer_eof;    /* recv said EOF */
    bool reset;       /* a call failed with ECONNRESET or ENOTCONN */
    bool shut_wr;
    size_t walk_at;    /* fuzz_expect_mid_request: the last message boundary it found */
    size_t walk_whole; /* and the whole messages before it */
    size_t drain_step; /* the step before which the server drains (SIGTERM); SIZE_MAX: never */
    bool drained;      /* conn_shut_down was called */
    uint8_t *sent;     /* what the peer received */
    size_t sent_len;
    size_t sent_cap;
    const struct conn *engine; /* to check its state at shutdown */
};

/* The fake allocator behind lib/'s buffers. */
struct fuzz_heap {
    unsigned calls;
    unsigned fail_at;  /* 0: never */
    bool fail_after;   /* every call from fail_at on fails, not only that one */
    bool failed;       /* an allocation was refused */
    size_t live;       /* allocations not yet released */
    size_t live_bytes; /* their bytes: what conn_bytes_held must report */
};

/* Each allocation carries its size in front, so that a release can count its bytes. */
#define FUZZ_HEAP_PREFIX 16

static struct fuzz_kernel kernel;
static struct fuzz_heap heap;
static bool trace;

#define FUZZ_TRACE(...)                                                                            \
    do {                                                                                           \
        if (trace)                                                                                 \
            fprintf(stderr, __VA_ARGS__);                                                          \
    } while (0)

/*
 * The torture run (FUZZ_CONN_TORTURE=N in the environment; ci/fuzz
 * --torture): every input is run once without faults, recording which
 * call asked for each decision, then once per decision position and per
 * fault class that call can return, with that one fault injected there, and
 * once per allocation failing (alone, and with every one after it). N caps
 * the positions per input (0: all of them). Every run keeps every oracle.
 * At exit it prints the site x class matrix of runs, and fails if a cell a
 * call can return was never exercised.
 */
enum fuzz_site { FUZZ_SITE_RECV, FUZZ_SITE_SEND, FUZZ_SITE_SHUTDOWN, FUZZ_SITE_ALLOC, FUZZ_SITES };

/* One fault: the script byte that makes it, and its name. */
struct fuzz_fault {
    uint8_t byte;
    const char *name;
};

/* What each call can return (the alloc row's bytes are the allocation script byte's flag). */
static const struct fuzz_fault FUZZ_FAULTS[FUZZ_SITES][5] = {
    [FUZZ_SITE_RECV] =
        {{0x00, "EAGAIN"}, {0x01, "EINTR"}, {0x02, "ECONNRESET"}, {0x03, "EOF"}, {0x04, "short"}},
    [FUZZ_SITE_SEND] = {{0x00, "EAGAIN"}, {0x01, "EINTR"}, {0x02, "ECONNRESET"}, {0x03, "short"}},
    [FUZZ_SITE_SHUTDOWN] = {{0x02, "ENOTCONN"}},
    [FUZZ_SITE_ALLOC] = {{0x00, "ENOMEM"}, {0x80, "ENOMEM+"}},
};
static const char *const FUZZ_SITE_NAMES[FUZZ_SITES] = {"recv", "send", "shutdown", "alloc"};
/* The byte each call takes as "no fault": what it does once the script is spent. */
static const uint8_t FUZZ_SUCCESS[FUZZ_SITES] = {0xF4, 0x07, 0x00, 0x00};
#define FUZZ_TORTURE_MAX 65535

static struct {
    bool on;
    size_t cap;     /* positions per input, 0: all */
    bool recording; /* the fault-free run: note each decision's call */
    size_t count;   /* decisions noted */
    uint8_t sites[FUZZ_TORTURE_MAX];
    uint64_t runs[FUZZ_SITES][5];
    uint64_t inputs;
} torture;

static void fuzz_torture_note(enum fuzz_site site)
{
    if (torture.recording && torture.count < FUZZ_TORTURE_MAX)
        torture.sites[torture.count++] = (uint8_t)site;
}

/* The next script byte, or false when the script is spent (no more faults). */
static bool fuzz_next(struct fuzz_script *s, uint8_t *byte)
{
    if (s->at >= s->len)
        return false;
    *byte = s->bytes[s->at++];
    return true;
}

static uint8_t fuzz_next_or_zero(struct fuzz_script *s)
{
    uint8_t byte = 0;
    fuzz_next(s, &byte);
    return byte;
}

static ssize_t fuzz_fail(int code, const char *what)
{
    FUZZ_TRACE("  %s\n", what);
    if (code == ECONNRESET || code == ENOTCONN)
        kernel.reset = true;
    errno = code;
    return -1;
}

static ssize_t fuzz_recv(int fd, void *buf, size_t len, int flags)
{
    (void)flags;
    FUZZ_CHECK(fd == FUZZ_FD, "recv on descriptor %d", fd);
    FUZZ_CHECK(!kernel.reset, "recv after the connection was reset");
    FUZZ_CHECK(len > 0 && len <= CONN_FEED_MAX, "recv of %zu bytes", len);
    if (kernel.peer_eof)
        return 0;
    size_t want = len;
    uint8_t b;
    fuzz_torture_note(FUZZ_SITE_RECV);
    if (fuzz_next(&kernel.script, &b)) {
        switch (b & 15) {
        case 0:
            return fuzz_fail(EAGAIN, "recv: EAGAIN");
        case 1:
            return fuzz_fail(EINTR, "recv: EINTR");
        case 2:
            return fuzz_fail(ECONNRESET, "recv: ECONNRESET");
        case 3:
            kernel.delivered = kernel.stream_len;
            break;
        default:
            want = FUZZ_READ_LENS[b >> 4];
        }
    }
    size_t left = kernel.stream_len - kernel.delivered;
    size_t n = want < len ? want : len;
    n = n < left ? n : left;
    if (n == 0) {
        FUZZ_TRACE("  recv: EOF\n");
        kernel.peer_eof = true;
        return 0;
    }
    memcpy(buf, kernel.stream + kernel.delivered, n);
    kernel.delivered += n;
    kernel.received += n;
    if (kernel.serving)
        kernel.fed = kernel.delivered;
    FUZZ_TRACE("  recv: %zu bytes\n", n);
    return (ssize_t)n;
}

static ssize_t fuzz_send(int fd, const void *buf, size_t len, int flags)
{
    FUZZ_CHECK(fd == FUZZ_FD, "send on descriptor %d", fd);
    FUZZ_CHECK(!kernel.reset, "send after the connection was reset");
    FUZZ_CHECK(!kernel.shut_wr, "send after shutdown(SHUT_WR)");
    FUZZ_CHECK(flags & MSG_NOSIGNAL, "send without MSG_NOSIGNAL: a gone peer would kill shoutd");
    FUZZ_CHECK(len > 0, "send of nothing");
    size_t n = len;
    uint8_t b;
    fuzz_torture_note(FUZZ_SITE_SEND);
    if (fuzz_next(&kernel.script, &b)) {
        switch (b & 15) {
        case 0:
            return fuzz_fail(EAGAIN, "send: EAGAIN");
        case 1:
            return fuzz_fail(EINTR, "send: EINTR");
        case 2:
            return fuzz_fail(ECONNRESET, "send: ECONNRESET");
        case 3:
        case 4:
        case 5:
        case 6:
            if (len > 1)
                n = 1 + (size_t)(b >> 4) % (len - 1);
            break;
        default:
            break;
        }
    }
    FUZZ_CHECK(kernel.sent_len + n <= kernel.sent_cap,
               "sent %zu bytes, more than any right answer to %zu bytes", kernel.sent_len + n,
               kernel.stream_len);
    memcpy(kernel.sent + kernel.sent_len, buf, n);
    kernel.sent_len += n;
    FUZZ_TRACE("  send: %zu of %zu bytes\n", n, len);
    return (ssize_t)n;
}

static int fuzz_shutdown(int fd, int how)
{
    FUZZ_CHECK(fd == FUZZ_FD, "shutdown on descriptor %d", fd);
    FUZZ_CHECK(how == SHUT_WR, "shutdown(%d), not SHUT_WR: the peer could not read the error", how);
    FUZZ_CHECK(!kernel.shut_wr, "shutdown twice");
    size_t queued;
    conn_output(kernel.engine, &queued);
    FUZZ_CHECK(queued == 0, "shutdown with %zu bytes still queued: they would be lost", queued);
    uint8_t b;
    fuzz_torture_note(FUZZ_SITE_SHUTDOWN);
    if (fuzz_next(&kernel.script, &b) && (b & 15) == 2)
        return (int)fuzz_fail(ENOTCONN, "shutdown: ENOTCONN");
    FUZZ_TRACE("  shutdown\n");
    kernel.shut_wr = true;
    return 0;
}

static int fuzz_close(int fd)
{
    FUZZ_CHECK(false, "the pump closed descriptor %d itself: closing is its caller's", fd);
    return -1;
}

static int fuzz_accept4(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags)
{
    (void)addr;
    (void)addr_len;
    (void)flags;
    FUZZ_CHECK(false, "the pump accepted on descriptor %d", fd);
    return -1;
}

static const struct kernel fuzz_io = {
    .recv = fuzz_recv,
    .send = fuzz_send,
    .shutdown = fuzz_shutdown,
    .close = fuzz_close,
    .accept4 = fuzz_accept4,
};

static void *fuzz_alloc(size_t size)
{
    heap.calls++;
    /*
     * Storage grows with the bytes that arrived, never with a length field:
     * at most twice what was received plus an error frame, or buf's
     * smallest allocation (256 bytes; 1024 leaves it room to change).
     */
    size_t bound = 2 * (kernel.delivered + WIRE_ERROR_MAX_LEN) + 1024;
    FUZZ_CHECK(size > 0 && size <= bound, "allocation of %zu bytes after %zu received", size,
               kernel.delivered);
    if (heap.fail_at != 0 &&
        (heap.calls == heap.fail_at || (heap.fail_after && heap.calls > heap.fail_at))) {
        FUZZ_TRACE("  alloc %u: fails\n", heap.calls);
        heap.failed = true;
        return NULL;
    }
    uint8_t *base = malloc(FUZZ_HEAP_PREFIX + size);
    if (!base)
        return NULL;
    memcpy(base, &size, sizeof size);
    heap.live++;
    heap.live_bytes += size;
    return base + FUZZ_HEAP_PREFIX;
}

static void fuzz_release(void *bytes)
{
    if (bytes == NULL)
        return;
    FUZZ_CHECK(heap.live > 0, "a buffer released memory it never got");
    uint8_t *base = (uint8_t *)bytes - FUZZ_HEAP_PREFIX;
    size_t size;
    memcpy(&size, base, sizeof size);
    heap.live--;
    heap.live_bytes -= size;
    free(base);
}

/* The engine's buffers against the limits conn.h promises. */
static void fuzz_check_limits(const struct conn *engine)
{
    const struct conn_limits *lim = &engine->limits;
    size_t out = buf_len(&engine->output);
    size_t out_max = lim->max_output + WIRE_HEADER_LEN + lim->max_payload + WIRE_ERROR_MAX_LEN;
    FUZZ_CHECK(out <= out_max, "%zu bytes queued, over max_output %zu + a reply + an error", out,
               lim->max_output);
    FUZZ_CHECK(engine->mode != CONN_MODE_TEXT || out <= lim->max_output,
               "text: %zu bytes queued, over max_output %zu", out, lim->max_output);
    FUZZ_CHECK(buf_len(&engine->pending) <= CONN_FEED_MAX, "%zu bytes held back",
               buf_len(&engine->pending));
    FUZZ_CHECK(buf_len(&engine->decoder.payload) <= lim->max_payload,
               "the decoder stores %zu payload bytes, over %u", buf_len(&engine->decoder.payload),
               lim->max_payload);
    FUZZ_CHECK(buf_len(&engine->sockperf.payload) <= lim->max_payload,
               "the sockperf decoder stores %zu payload bytes, over %u",
               buf_len(&engine->sockperf.payload), lim->max_payload);
    FUZZ_CHECK(engine->state != CONN_BROKEN || (out == 0 && buf_len(&engine->pending) == 0),
               "a broken engine still holds bytes");
    /* shoutd's memory budget (--max-buffered) is kept from conn_bytes_held: it must be true. */
    FUZZ_CHECK(conn_bytes_held(engine) == heap.live_bytes,
               "conn_bytes_held says %zu bytes, the allocator has %zu live",
               conn_bytes_held(engine), heap.live_bytes);
}

/*
 * conn_feed's contract at the edges: input the engine did not ask for is
 * refused, an empty feed is taken, and neither changes anything.
 */
static void fuzz_check_feed_edges(struct conn *engine)
{
    static const uint8_t probe[1] = {'x'};
    size_t queued = buf_len(&engine->output), held = buf_len(&engine->pending);
    enum conn_state state = engine->state;
    enum conn_mode mode = engine->mode;
    if (conn_wants_input(engine))
        FUZZ_CHECK(conn_feed(engine, probe, 0) == 0, "conn_feed refused an empty feed");
    else
        FUZZ_CHECK(conn_feed(engine, probe, sizeof probe) == -EINVAL,
                   "conn_feed took input the engine did not want");
    FUZZ_CHECK(buf_len(&engine->output) == queued && buf_len(&engine->pending) == held &&
                   engine->state == state && engine->mode == mode,
               "an empty or refused conn_feed changed the engine");
}

/*
 * Whether the engine is in the middle of a request, as the bytes say: the
 * peer's stream, up to what the engine has decoded (read, less what it holds
 * back), walked frame by frame (16-byte header, its length of payload) or
 * message by message (sockperf: the total length at offset 10). Only while
 * the framing holds (state CONN_OPEN). This is what the frame deadline
 * (--frame-timeout) asks conn_mid_request.
 */
static bool fuzz_expect_mid_request(const struct conn *engine)
{
    size_t decoded = kernel.fed - buf_len(&engine->pending);
    if (engine->mode == CONN_MODE_UNDECIDED)
        return true;
    if (engine->mode == CONN_MODE_TEXT)
        return false;
    bool sockperf = engine->mode == CONN_MODE_SOCKPERF;
    size_t header = sockperf ? 14 : WIRE_HEADER_LEN;
    /* The decoded bytes only grow: carry on from the last boundary, not from 0 each round. */
    size_t at = kernel.walk_at;
    while (at + header <= decoded) {
        const uint8_t *h = kernel.stream + at + (sockperf ? 10 : 4);
        uint64_t field = (uint64_t)h[0] << 24 | (uint64_t)h[1] << 16 | (uint64_t)h[2] << 8 | h[3];
        uint64_t size = sockperf ? field : header + field;
        /* A length that loses the framing fails the engine, which is not asked then. */
        if (size < header || at + size > decoded)
            break;
        at += (size_t)size;
        kernel.walk_whole++;
    }
    kernel.walk_at = at;
    return at != decoded || (sockperf && kernel.walk_whole == 0);
}

enum fuzz_end {
    FUZZ_RUNNING,
    FUZZ_CLOSED,   /* PUMP_CLOSE while serving */
    FUZZ_LINGERED, /* PUMP_LINGER, then pump_discard's PUMP_CLOSE */
    FUZZ_RESET,    /* PUMP_RESET */
};

/* Call the pump the way stream.c's epoll callback does, until the connection closes. */
static enum fuzz_end fuzz_drive(struct conn *engine, size_t step_cap)
{
    static uint8_t scratch[CONN_FEED_MAX];
    struct pump pump = {.engine = engine,
                        .fd = FUZZ_FD,
                        .kernel = &fuzz_io,
                        .scratch = scratch,
                        .scratch_len = sizeof scratch};
    /* stream.c registers a new connection for EPOLLIN. */
    struct pump_outcome outcome = {.next = PUMP_WAIT, .want_read = true};
    for (size_t step = 0; step < step_cap; step++) {
        if (!kernel.serving) {
            FUZZ_TRACE("step %zu: discard\n", step);
            if (pump_discard(&pump) == PUMP_CLOSE)
                return FUZZ_LINGERED;
            continue;
        }
        FUZZ_CHECK(outcome.want_read || outcome.want_write,
                   "stuck: the pump waits for nothing (state %d, %zu queued, %zu held)",
                   (int)engine->state, buf_len(&engine->output), buf_len(&engine->pending));
        /* A peer's EOF is reported (EPOLLHUP-like) whatever the interest. */
        bool readable = outcome.want_read || kernel.peer_eof;
        if (step == kernel.drain_step) {
            /* SIGTERM: stream_drain shuts the engine down and serves a round without reading. */
            FUZZ_TRACE("step %zu: drain\n", step);
            conn_shut_down(engine);
            kernel.drained = true;
            readable = false;
        }
        FUZZ_TRACE("step %zu: serve (read %d, write %d)\n", step, readable, outcome.want_write);
        size_t received_before = kernel.received, sent_before = kernel.sent_len;
        outcome = pump_serve(&pump, readable);
        fuzz_check_limits(engine);
        switch (outcome.next) {
        case PUMP_WAIT:
            fuzz_check_feed_edges(engine);
            FUZZ_CHECK(engine->state != CONN_OPEN ||
                           conn_mid_request(engine) == fuzz_expect_mid_request(engine),
                       "conn_mid_request says %d after %zu bytes decoded", conn_mid_request(engine),
                       kernel.fed - buf_len(&engine->pending));
            /* The deadlines take these as progress: they must be what moved. */
            FUZZ_CHECK(outcome.bytes_read == kernel.received - received_before &&
                           outcome.bytes_sent == kernel.sent_len - sent_before,
                       "the round says read %zu, sent %zu; the kernel moved %zu, %zu",
                       outcome.bytes_read, outcome.bytes_sent, kernel.received - received_before,
                       kernel.sent_len - sent_before);
            break;
        case PUMP_LINGER:
            FUZZ_CHECK(kernel.shut_wr, "lingering without shutdown(SHUT_WR)");
            kernel.serving = false;
            break;
        case PUMP_CLOSE:
            return FUZZ_CLOSED;
        case PUMP_RESET:
            return FUZZ_RESET;
        }
    }
    FUZZ_CHECK(false, "not closed after %zu steps: the connection is stuck", step_cap);
    return FUZZ_RUNNING;
}

static bool fuzz_starts_with(const uint8_t *got, size_t got_len, const uint8_t *want,
                             size_t want_len)
{
    return got_len <= want_len && memcmp(got, want, got_len) == 0;
}

static size_t fuzz_first_difference(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    size_t i = 0;
    while (i < a_len && i < b_len && a[i] == b[i])
        i++;
    return i;
}

/* The first byte where what the peer received and the model's answer differ. */
static size_t fuzz_sent_differs_at(const struct conn_model *m)
{
    return fuzz_first_difference(kernel.sent, kernel.sent_len, m->expected, m->expected_len);
}

/*
 * A failed allocation while the decoder stored frame k's payload is answered
 * with error 8 for frame k after the replies before it. Whether what was
 * sent is that answer (or, when a fault closed the connection, a prefix).
 */
static bool fuzz_is_no_memory_answer(const struct conn_model *m, bool prefix_only)
{
    if (m->mode != CONN_MODE_FRAMED)
        return false;
    size_t same = fuzz_sent_differs_at(m);
    for (size_t k = 0; k < m->message_count; k++) {
        const struct conn_model_message *msg = &m->messages[k];
        if (msg->answer_at > same || !msg->header_valid || msg->payload_len == 0)
            continue;
        uint8_t frame[WIRE_ERROR_MAX_LEN];
        size_t frame_len = conn_model_error_frame(frame, msg->id, WIRE_ERR_NO_MEMORY);
        const uint8_t *rest = kernel.sent + msg->answer_at;
        size_t rest_len = kernel.sent_len - msg->answer_at;
        if (prefix_only ? fuzz_starts_with(rest, rest_len, frame, frame_len)
                        : rest_len == frame_len && memcmp(rest, frame, frame_len) == 0)
            return true;
    }
    return false;
}

/* Whole sockperf messages the model saw (answered or not to be answered). */
static uint64_t fuzz_model_sockperf_messages(const struct conn_model *m)
{
    uint64_t whole = 0;
    for (size_t k = 0; m->mode == CONN_MODE_SOCKPERF && k < m->message_count; k++)
        whole += m->messages[k].fate == CONN_MODEL_ANSWERED;
    return whole;
}

/*
 * What holds however the run ended: nothing counted that did not happen.
 * The engine produced everything the peer got, was handed no more than was
 * read, answered no more than the model, and counts text as text only.
 */
static void fuzz_check_counter_bounds(const struct conn_counters *cnt, const struct conn_model *m)
{
    FUZZ_CHECK(cnt->bytes_out >= kernel.sent_len, "bytes_out %llu, but %zu bytes were sent",
               (unsigned long long)cnt->bytes_out, kernel.sent_len);
    /* A failed allocation may answer a stored frame with error 8 instead of its reply. */
    size_t out_max = m->expected_len + (heap.failed ? WIRE_ERROR_MAX_LEN : 0);
    FUZZ_CHECK(cnt->bytes_out <= out_max, "bytes_out %llu, over the model's %zu",
               (unsigned long long)cnt->bytes_out, m->expected_len);
    FUZZ_CHECK(cnt->bytes_in <= kernel.fed, "bytes_in %llu, but %zu bytes were handed over",
               (unsigned long long)cnt->bytes_in, kernel.fed);
    FUZZ_CHECK(cnt->bytes_discarded <= cnt->bytes_in, "bytes_discarded %llu over bytes_in %llu",
               (unsigned long long)cnt->bytes_discarded, (unsigned long long)cnt->bytes_in);
    uint64_t answers = m->mode == CONN_MODE_SOCKPERF ? cnt->sockperf_replies : cnt->requests;
    FUZZ_CHECK(answers <= m->answers, "%llu answers counted, the model gave only %llu",
               (unsigned long long)answers, (unsigned long long)m->answers);
    uint64_t whole = fuzz_model_sockperf_messages(m);
    FUZZ_CHECK(cnt->sockperf_messages <= whole, "sockperf_messages %llu, the model saw %llu whole",
               (unsigned long long)cnt->sockperf_messages, (unsigned long long)whole);
    uint64_t text = m->mode == CONN_MODE_TEXT ? cnt->bytes_out : 0;
    FUZZ_CHECK(cnt->text_bytes == text, "text_bytes %llu, want %llu",
               (unsigned long long)cnt->text_bytes, (unsigned long long)text);
}

/* Without faults the counters must agree with the model exactly. */
static void fuzz_check_counters(const struct conn_counters *cnt, const struct conn_model *m,
                                bool shutdown_frame)
{
    FUZZ_CHECK(cnt->bytes_in == kernel.fed, "bytes_in %llu, but %zu bytes were read and answered",
               (unsigned long long)cnt->bytes_in, kernel.fed);
    FUZZ_CHECK(m->fails || cnt->bytes_discarded == 0,
               "bytes_discarded %llu without a framing error",
               (unsigned long long)cnt->bytes_discarded);
    uint64_t whole = fuzz_model_sockperf_messages(m);
    FUZZ_CHECK(cnt->sockperf_messages == whole, "sockperf_messages %llu, the model saw %llu whole",
               (unsigned long long)cnt->sockperf_messages, (unsigned long long)whole);
    FUZZ_CHECK(cnt->errors[WIRE_ERR_SHUTTING_DOWN] == shutdown_frame, "error 7 counted %llu times",
               (unsigned long long)cnt->errors[WIRE_ERR_SHUTTING_DOWN]);
    FUZZ_CHECK(cnt->bytes_out == m->expected_len, "bytes_out %llu, the model sent %zu",
               (unsigned long long)cnt->bytes_out, m->expected_len);
    uint64_t answers = m->mode == CONN_MODE_SOCKPERF ? cnt->sockperf_replies : cnt->requests;
    FUZZ_CHECK(answers == m->answers, "%llu answers counted, the model gave %llu",
               (unsigned long long)answers, (unsigned long long)m->answers);
    if (m->fails && m->mode == CONN_MODE_FRAMED)
        FUZZ_CHECK(cnt->errors[m->error] == 1, "error %d counted %llu times", (int)m->error,
                   (unsigned long long)cnt->errors[m->error]);
    if (m->fails && m->mode == CONN_MODE_SOCKPERF)
        FUZZ_CHECK(cnt->sockperf_bad_length == 1, "sockperf_bad_length %llu",
                   (unsigned long long)cnt->sockperf_bad_length);
}

/* What the peer received against the model of what it must receive. */
static void fuzz_check_answer(enum fuzz_end end, enum conn_state final_state,
                              enum conn_mode init_mode, const struct conn_limits *limits,
                              const struct conn_counters *counters)
{
    struct conn_model m;
    FUZZ_CHECK(conn_model_run(&m, init_mode, limits->max_payload, kernel.stream, kernel.fed) == 0,
               "out of memory for the model");
    /* A drained framed connection's last frame: error 7, id 0 (conn.h, conn_shut_down). */
    bool shutdown_frame = kernel.drained && m.mode == CONN_MODE_FRAMED && !m.fails;
    if (shutdown_frame) {
        uint8_t *grown = realloc(m.expected, m.expected_len + WIRE_ERROR_MAX_LEN);
        FUZZ_CHECK(grown != NULL, "out of memory for the model");
        m.expected = grown;
        m.expected_len += conn_model_error_frame(grown + m.expected_len, 0, WIRE_ERR_SHUTTING_DOWN);
    }
    /* Only the fake kernel resets a connection, reports an EOF, or runs out of memory. */
    FUZZ_CHECK(end != FUZZ_RESET || kernel.reset,
               "the pump reset a connection the kernel never reset");
    FUZZ_CHECK(final_state != CONN_BROKEN || heap.failed,
               "the engine broke without a failed allocation");
    FUZZ_CHECK(final_state != CONN_PEER_DONE || kernel.peer_eof || kernel.drained,
               "the engine saw an EOF the kernel never reported");
    fuzz_check_counter_bounds(counters, &m);
    bool fault_closed = end == FUZZ_RESET || final_state == CONN_BROKEN;
    FUZZ_TRACE("end %d, engine state %d, %zu bytes read, %zu sent, the model says %zu%s\n",
               (int)end, (int)final_state, kernel.fed, kernel.sent_len, m.expected_len,
               heap.failed ? ", an allocation failed" : "");
    bool exact =
        kernel.sent_len == m.expected_len && memcmp(kernel.sent, m.expected, m.expected_len) == 0;
    bool no_memory = heap.failed && !exact && fuzz_is_no_memory_answer(&m, fault_closed);
    /* Where the answers part is for the messages only: worked out only when a check fails. */
    if (fault_closed) {
        FUZZ_CHECK(no_memory ||
                       fuzz_starts_with(kernel.sent, kernel.sent_len, m.expected, m.expected_len),
                   "closed by a fault, the %zu bytes sent are not a prefix of the model's %zu "
                   "(first difference at byte %zu; mode %d, max_payload %u, max_output %zu)",
                   kernel.sent_len, m.expected_len, fuzz_sent_differs_at(&m), (int)m.mode,
                   limits->max_payload, limits->max_output);
    } else {
        FUZZ_CHECK(exact || no_memory,
                   "sent %zu bytes, the model says %zu%s (first difference at byte %zu; mode %d, "
                   "max_payload %u, max_output %zu, %zu bytes read)",
                   kernel.sent_len, m.expected_len,
                   heap.failed ? " or its replies up to a stored frame then error 8" : "",
                   fuzz_sent_differs_at(&m), (int)m.mode, limits->max_payload, limits->max_output,
                   kernel.fed);
        bool must_linger = no_memory || m.fails || shutdown_frame;
        FUZZ_CHECK(must_linger == (end == FUZZ_LINGERED),
                   must_linger ? "the framing was lost but the close did not linger"
                               : "a lingering close without a framing error (end %d)",
                   (int)end);
        FUZZ_CHECK(end == FUZZ_LINGERED || kernel.peer_eof || kernel.drained,
                   "a healthy connection closed before the peer's EOF or a drain");
        if (!heap.failed)
            fuzz_check_counters(counters, &m, shutdown_frame);
    }
    conn_model_free(&m);
}

/* One connection: the script's decisions against the peer's stream, every oracle checked. */
static void fuzz_conn_run(const uint8_t *script, size_t script_len, const uint8_t *stream,
                          size_t stream_len)
{
    size_t size = 2 + script_len + stream_len;
    kernel = (struct fuzz_kernel){
        .script = {.bytes = script, .len = script_len},
        .stream = stream,
        .stream_len = stream_len,
        .serving = true,
        /* The longest right answer: every byte echoed, plus one error frame. */
        .sent_cap = stream_len + WIRE_ERROR_MAX_LEN,
    };
    kernel.sent = malloc(kernel.sent_cap);
    FUZZ_CHECK(kernel.sent != NULL, "out of memory for the harness");

    struct conn_limits limits = {
        .max_payload = FUZZ_PAYLOAD_LIMITS[fuzz_next_or_zero(&kernel.script) & 15],
        .max_output = FUZZ_OUTPUT_LIMITS[fuzz_next_or_zero(&kernel.script) & 15],
    };
    uint8_t mode_byte = fuzz_next_or_zero(&kernel.script);
    enum conn_mode mode = (mode_byte & 3) == 3 ? CONN_MODE_SOCKPERF : CONN_MODE_UNDECIDED;
    kernel.drain_step = (mode_byte >> 2) != 0 ? (size_t)(mode_byte >> 2) - 1 : SIZE_MAX;
    uint8_t alloc_byte = fuzz_next_or_zero(&kernel.script);
    heap = (struct fuzz_heap){.fail_at = alloc_byte & 0x7f, .fail_after = alloc_byte & 0x80};
    FUZZ_TRACE("stream %zu bytes, script %zu; max_payload %u, max_output %zu, mode %d, "
               "allocation %u fails%s, drain before step %zu\n",
               stream_len, script_len, limits.max_payload, limits.max_output, (int)mode,
               heap.fail_at, heap.fail_after ? " and after" : "", kernel.drain_step);

    buf_set_allocator(fuzz_alloc, fuzz_release);
    size_t moved = 0;
    buf_count_moves(&moved);
    struct conn_counters counters = {0};
    struct conn engine;
    /* shoutd's main port uses conn_init_mode(UNDECIDED), the same as conn_init. */
    if (mode == CONN_MODE_UNDECIDED)
        conn_init(&engine, &limits, &counters);
    else
        conn_init_mode(&engine, &limits, &counters, mode);
    kernel.engine = &engine;

    /*
     * Every step consumes a script byte, delivers a stream byte or an EOF,
     * or drains all output (which the next step cannot repeat): twice the
     * input plus a little is a bound no healthy connection comes near.
     */
    enum fuzz_end end = fuzz_drive(&engine, 2 * size + 16);
    enum conn_state final_state = engine.state;
    if (kernel.fed > 0 && mode == CONN_MODE_UNDECIDED)
        FUZZ_CHECK(engine.mode ==
                       (kernel.stream[0] == WIRE_MAGIC_0 ? CONN_MODE_FRAMED : CONN_MODE_TEXT),
                   "first byte 0x%02x chose mode %d", kernel.stream[0], (int)engine.mode);
    conn_free(&engine);
    buf_count_moves(NULL);
    /*
     * The cost oracle: copies inside the buffers are paid for by the bytes
     * that came in and went out, a few times over at most. A buffer that
     * slides a near-full queue to make room for every small reply does
     * work quadratic in them and fails here.
     */
    size_t traffic = kernel.received + kernel.sent_len;
    FUZZ_CHECK(moved <= FUZZ_MOVES_PER_BYTE * traffic + FUZZ_MOVES_SLACK,
               "the buffers copied %zu bytes inside themselves for %zu bytes of traffic", moved,
               traffic);
    FUZZ_CHECK(heap.live == 0 && heap.live_bytes == 0,
               "%zu allocations (%zu bytes) not released by conn_free", heap.live, heap.live_bytes);
    buf_set_allocator(NULL, NULL);

    fuzz_check_answer(end, final_state, mode, &limits, &counters);
    free(kernel.sent);
}

/* The input once without faults, then with each one fault at each position it can go. */
static void fuzz_torture(const uint8_t *script, size_t script_len, const uint8_t *stream,
                         size_t stream_len)
{
    static uint8_t faulty[4 + FUZZ_TORTURE_MAX + 1];
    /* The limits, the mode and the drain from the input; no allocation fails. */
    size_t header = script_len < 3 ? script_len : 3;
    memcpy(faulty, script, header);
    memset(faulty + header, 0, 4 - header);
    torture.recording = true;
    torture.count = 0;
    fuzz_conn_run(faulty, 4, stream, stream_len);
    torture.recording = false;
    size_t decisions = torture.count, allocations = heap.calls;
    size_t positions = torture.cap != 0 && decisions > torture.cap ? torture.cap : decisions;
    for (size_t k = 0; k < positions; k++) {
        faulty[4 + k] = FUZZ_SUCCESS[torture.sites[k]];
        for (size_t c = 0; c < 5 && FUZZ_FAULTS[torture.sites[k]][c].name != NULL; c++) {
            faulty[4 + k] = FUZZ_FAULTS[torture.sites[k]][c].byte;
            fuzz_conn_run(faulty, 4 + k + 1, stream, stream_len);
            torture.runs[torture.sites[k]][c]++;
        }
        faulty[4 + k] = FUZZ_SUCCESS[torture.sites[k]];
    }
    /* The script's allocation byte names allocations 1 to 127. */
    size_t failing = allocations < 0x7f ? allocations : 0x7f;
    if (torture.cap != 0 && torture.cap < failing)
        failing = torture.cap;
    for (size_t n = 1; n <= failing; n++) {
        for (size_t c = 0; c < 2; c++) {
            faulty[3] = (uint8_t)(n | FUZZ_FAULTS[FUZZ_SITE_ALLOC][c].byte);
            fuzz_conn_run(faulty, 4, stream, stream_len);
            torture.runs[FUZZ_SITE_ALLOC][c]++;
        }
    }
    torture.inputs++;
}

/* At exit of a torture run: the matrix, and a failure for a fault never injected. */
__attribute__((destructor)) static void fuzz_torture_report(void)
{
    if (!torture.on)
        return;
    bool missing = false;
    fprintf(stderr, "torture: %llu inputs; runs per call and fault:\n",
            (unsigned long long)torture.inputs);
    for (int site = 0; site < FUZZ_SITES; site++) {
        fprintf(stderr, "torture:   %-8s", FUZZ_SITE_NAMES[site]);
        for (int c = 0; c < 5 && FUZZ_FAULTS[site][c].name != NULL; c++) {
            fprintf(stderr, "  %s %llu", FUZZ_FAULTS[site][c].name,
                    (unsigned long long)torture.runs[site][c]);
            missing = missing || torture.runs[site][c] == 0;
        }
        fputc('\n', stderr);
    }
    if (missing) {
        fprintf(stderr, "torture: a call was never given a fault it can return\n");
        _exit(1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    trace = getenv("FUZZ_CONN_TRACE") != NULL;
    const char *torture_cap = getenv("FUZZ_CONN_TORTURE");
    torture.on = torture_cap != NULL;
    torture.cap = torture.on ? (size_t)strtoul(torture_cap, NULL, 10) : 0;
    size_t header = size < 2 ? size : 2;
    size_t claimed = size < 2 ? 0 : (size_t)data[0] << 8 | data[1];
    size_t script_len = claimed < size - header ? claimed : size - header;
    const uint8_t *script = data + header, *stream = script + script_len;
    size_t stream_len = size - header - script_len;
    if (torture.on)
        fuzz_torture(script, script_len, stream, stream_len);
    else
        fuzz_conn_run(script, script_len, stream, stream_len);
    return 0;
}
