/*
 * fuzz_flow: the reply judge of `shout ping` and `shout load`
 * (client/flow_rx.h: flow_tcp_take, flow_udp_take) against a server that
 * lies, breaks and cuts its replies anywhere. It protects the client's
 * central promise: every reply is checked, a right one is taken once, and a
 * wrong one is never taken for right.
 *
 * Input (fuzz_split.h): flags (bit 0 UDP, bit 1 framed, else text), the
 * request size (be16, up to FLOW_FUZZ_SIZE_MAX), the window (a byte, 0 is
 * 1), the cuts of the TCP stream, then a script of events, each an opcode
 * byte (low nibble) and its arguments:
 *   0 send a measured request due 1 us before it goes out, 1 send one not
 *   measured due when sent (each only when flow_can_send says so);
 *   2 deliver the next piece of the server's TCP stream (the cuts);
 *   3 let the UDP timeout pass (flow_expire: all in flight are lost);
 *   4..12 the server replies: a target byte picks the request (0: the next
 *   in order; 1..127 that many before it, a duplicate; 128..255 past it,
 *   out of order or never sent), then the reply kind: 4 right, 5 one byte
 *   xored (be16 offset, xor byte, 0 a case flip), 6 another request's id or
 *   tag, 7 a length off by the argument (framed: a consistent frame of that
 *   length), 8 cut short, 9 followed by input bytes, 10 an error frame
 *   (code, then a reason of input bytes, possibly over 64), 11 another
 *   frame type, 12 input bytes as they are; 13..15 right again.
 * Over TCP replies queue in the server's stream and arrive in the cuts'
 * pieces (and all at the end); over UDP each is one datagram, at once.
 *
 * The model (fuzz/flow_model.c, from docs/protocol.md and flow.h, sharing
 * no code with client/) plays the same events. Oracles, after every event:
 * - the take returns what the model says (requests completed; -EPROTO
 *   exactly when the model says the stream broke, and then the flow stops);
 * - on_sample is called for exactly the requests the model says were
 *   answered rightly by that call, in order, each with its intended and
 *   sent times as tracked and done = the time passed in; never twice for a
 *   request over the whole run;
 * - every count (sent, received, mismatches, lost, duplicates, reordered,
 *   error frames, bytes both ways, late) and the requests in flight equal
 *   the model's, and flow_can_send agrees with it;
 * - flow_why is set exactly when a mismatch or an error frame was counted,
 *   and is one line of printable ASCII whatever the server sent;
 * - flow_payload, the client's request, is the model's, byte for byte.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "flow_model.h"
#include "flow_rx.h"
#include "fuzz_check.h"
#include "fuzz_model.h"
#include "fuzz_split.h"

#define FLOW_FUZZ_SIZE_MAX   1024
#define FLOW_FUZZ_TIMEOUT_NS UINT64_C(1000000)
/* The server's TCP stream stops growing here, so an input's work stays bounded. */
#define FLOW_FUZZ_STREAM_MAX (1u << 20)

/* What on_sample saw during one take. */
struct flow_fuzz_samples {
    struct flow_sample *got;
    size_t len, cap;
    uint8_t *seen; /* per sequence: sampled over the whole run */
    uint64_t seen_cap;
};

struct flow_fuzz {
    struct flow flow;
    struct flow_model model;
    struct flow_fuzz_samples samples;
    uint64_t now_ns;
    uint64_t server_next; /* the next request an honest server answers */
    uint8_t *stream;      /* TCP: what the server sent and the client has not read */
    size_t stream_len, stream_off, stream_cap;
    uint8_t *reply; /* one reply being made */
    size_t reply_cap;
    bool dead;
};

static void flow_fuzz_on_sample(void *ctx, const struct flow_sample *s)
{
    struct flow_fuzz_samples *fs = ctx;
    FUZZ_CHECK(s->seq < fs->seen_cap, "a sample for request %llu, never sent",
               (unsigned long long)s->seq);
    FUZZ_CHECK(!fs->seen[s->seq], "request %llu accepted twice", (unsigned long long)s->seq);
    fs->seen[s->seq] = 1;
    if (fs->len == fs->cap) {
        fs->cap = fs->cap ? fs->cap * 2 : 16;
        fs->got = realloc(fs->got, fs->cap * sizeof *fs->got);
        FUZZ_CHECK(fs->got != NULL, "out of memory");
    }
    fs->got[fs->len++] = *s;
}

static void flow_fuzz_check_why(const struct flow *f, bool want)
{
    const char *why = flow_why(f);
    size_t n = strnlen(why, FLOW_WHY_MAX);
    FUZZ_CHECK(n < FLOW_WHY_MAX, "why is not terminated");
    FUZZ_CHECK((n > 0) == want, "why is %s: \"%s\"", n ? "set" : "empty", why);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(why[i] >= 0x20 && why[i] < 0x7F, "why has byte 0x%02X at %zu",
                   (unsigned)(uint8_t)why[i], i);
}

/* Everything the client concluded, against the model, after one event. */
static void flow_fuzz_compare(struct flow_fuzz *z, bool took)
{
    const struct run_counts *c = flow_counts(&z->flow);
    const struct flow_model_counts *m = &z->model.counts;
    FUZZ_CHECK(c->sent == m->sent, "sent %llu, model %llu", (unsigned long long)c->sent,
               (unsigned long long)m->sent);
    FUZZ_CHECK(c->received == m->received, "received %llu, model %llu",
               (unsigned long long)c->received, (unsigned long long)m->received);
    FUZZ_CHECK(c->mismatches == m->mismatches, "mismatches %llu, model %llu (%s)",
               (unsigned long long)c->mismatches, (unsigned long long)m->mismatches,
               flow_why(&z->flow));
    FUZZ_CHECK(c->error_frames == m->error_frames, "error frames %llu, model %llu",
               (unsigned long long)c->error_frames, (unsigned long long)m->error_frames);
    FUZZ_CHECK(c->lost == m->lost, "lost %llu, model %llu", (unsigned long long)c->lost,
               (unsigned long long)m->lost);
    FUZZ_CHECK(c->duplicates == m->duplicates, "duplicates %llu, model %llu",
               (unsigned long long)c->duplicates, (unsigned long long)m->duplicates);
    FUZZ_CHECK(c->reordered == m->reordered, "reordered %llu, model %llu",
               (unsigned long long)c->reordered, (unsigned long long)m->reordered);
    FUZZ_CHECK(c->bytes_sent == m->bytes_sent, "bytes sent %llu, model %llu",
               (unsigned long long)c->bytes_sent, (unsigned long long)m->bytes_sent);
    FUZZ_CHECK(c->bytes_received == m->bytes_received, "bytes received %llu, model %llu",
               (unsigned long long)c->bytes_received, (unsigned long long)m->bytes_received);
    FUZZ_CHECK(z->flow.late == m->late, "late %llu, model %llu", (unsigned long long)z->flow.late,
               (unsigned long long)m->late);
    FUZZ_CHECK(flow_in_flight(&z->flow) == z->model.in_flight, "in flight %u, model %u",
               flow_in_flight(&z->flow), z->model.in_flight);
    flow_fuzz_check_why(&z->flow, m->mismatches + m->error_frames > 0);
    if (!took)
        return;
    /* The right replies of this take: the model's, in its order, with their own times. */
    FUZZ_CHECK(z->samples.len == z->model.rights_len, "%zu replies accepted, model %zu",
               z->samples.len, z->model.rights_len);
    for (size_t i = 0; i < z->samples.len; i++) {
        const struct flow_sample *s = &z->samples.got[i];
        uint64_t seq = z->model.rights[i];
        const struct flow_model_request *r = &z->model.req[seq];
        FUZZ_CHECK(s->seq == seq, "accepted request %llu, model %llu", (unsigned long long)s->seq,
                   (unsigned long long)seq);
        FUZZ_CHECK(s->intended_ns == r->intended_ns && s->sent_ns == r->sent_ns &&
                       s->done_ns == r->done_ns && s->measured == r->measured,
                   "request %llu's timings differ from the model's", (unsigned long long)seq);
    }
    z->samples.len = 0;
}

static void flow_fuzz_send(struct flow_fuzz *z, bool measured)
{
    bool can = flow_can_send(&z->flow);
    FUZZ_CHECK(can == flow_model_can_send(&z->model), "flow_can_send says %d, model %d", can, !can);
    if (!can)
        return;
    uint64_t seq = z->model.next_seq;
    uint64_t intended = measured ? z->now_ns - 1000 : 0;
    flow_set_measuring(&z->flow, measured);
    flow_track_request(&z->flow, intended, z->now_ns);
    FUZZ_CHECK(flow_model_send(&z->model, measured, intended, z->now_ns) == 0, "out of memory");
    if (seq >= z->samples.seen_cap) {
        uint64_t cap = z->samples.seen_cap ? z->samples.seen_cap * 2 : 256;
        z->samples.seen = realloc(z->samples.seen, cap);
        FUZZ_CHECK(z->samples.seen != NULL, "out of memory");
        memset(z->samples.seen + z->samples.seen_cap, 0, cap - z->samples.seen_cap);
        z->samples.seen_cap = cap;
    }
    /* The request the client sends is the one the model answers. */
    uint8_t *mine = z->reply, *theirs = z->reply + z->model.size;
    flow_model_payload(seq, z->model.size, mine);
    flow_payload(seq, z->model.size, theirs);
    FUZZ_CHECK(memcmp(mine, theirs, z->model.size) == 0, "request %llu's payload differs",
               (unsigned long long)seq);
}

/* Hand the client (and the model) the next len bytes of the server's TCP stream. */
static void flow_fuzz_deliver(struct flow_fuzz *z, size_t len)
{
    if (z->dead || len == 0)
        return;
    /* Its own heap block, exactly len bytes, so that ASan sees a read past it. */
    uint8_t *piece = malloc(len);
    FUZZ_CHECK(piece != NULL, "out of memory");
    memcpy(piece, z->stream + z->stream_off, len);
    z->stream_off += len;
    int rc = flow_tcp_take(&z->flow, piece, len, z->now_ns, flow_fuzz_on_sample, &z->samples);
    int want = flow_model_tcp_take(&z->model, piece, len, z->now_ns);
    free(piece);
    FUZZ_CHECK(rc == (want < 0 ? -EPROTO : want), "flow_tcp_take returned %d, model %d", rc, want);
    z->dead = rc < 0;
    flow_fuzz_compare(z, true);
}

static void flow_fuzz_datagram(struct flow_fuzz *z, const uint8_t *d, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    FUZZ_CHECK(copy != NULL, "out of memory");
    if (n)
        memcpy(copy, d, n);
    int rc = flow_udp_take(&z->flow, copy, n, z->now_ns, flow_fuzz_on_sample, &z->samples);
    int want = flow_model_udp_take(&z->model, copy, n, z->now_ns);
    free(copy);
    FUZZ_CHECK(rc == want, "flow_udp_take returned %d, model %d", rc, want);
    flow_fuzz_compare(z, true);
}

/* The target request of a reply: the next in order, an older one, or one past it. */
static uint64_t flow_fuzz_target(struct flow_fuzz *z, uint8_t t)
{
    if (t == 0)
        return z->server_next++;
    if (t < 128)
        return z->server_next - t;
    return z->server_next + (uint64_t)(t - 127);
}

/*
 * Make one reply of the given kind into z->reply; returns its length. Bytes
 * it needs beyond its fixed arguments come from r.
 */
static size_t flow_fuzz_make(struct flow_fuzz *z, unsigned kind, uint64_t seq,
                             struct fuzz_reader *r)
{
    const struct flow_model *m = &z->model;
    uint8_t *p = z->reply;
    size_t len = flow_model_right_reply(m, seq, p);
    size_t header = m->framed ? FLOW_MODEL_HEADER : 0;
    switch (kind) {
    case 5: { /* one byte xored */
        size_t at = fuzz_read_be16(r);
        uint8_t x = fuzz_read_u8(r);
        if (len)
            p[at % len] ^= x ? x : 0x20;
        break;
    }
    case 6: { /* another request's id (or tag) */
        uint64_t other = seq + 1 + fuzz_read_u8(r);
        if (m->framed)
            fuzz_model_store_be(p + 8, other, 8);
        else
            for (size_t i = 0; i < len && i < FLOW_MODEL_TAG_LEN; i++)
                p[i] = (uint8_t)('A' + ((other >> (4 * i)) & 15));
        break;
    }
    case 7: { /* a length off by d, -128..127 */
        int d = (int)fuzz_read_u8(r) - 128;
        long want = (long)m->size + (d == 0 ? 1 : d);
        if (want < 0)
            want = 0;
        if ((size_t)want > m->size + 127)
            want = (long)m->size + 127;
        if ((size_t)want > m->size)
            memset(p + len, 'X', (size_t)want - m->size);
        if (m->framed)
            fuzz_model_store_be(p + 4, (uint64_t)want, 4);
        len = header + (size_t)want;
        break;
    }
    case 8: { /* cut short */
        size_t cut = 1 + fuzz_read_u8(r);
        len = cut < len ? len - cut : 0;
        break;
    }
    case 9: { /* more bytes after it */
        size_t extra = 1 + fuzz_read_u8(r) % 64;
        extra = extra < r->left ? extra : r->left;
        memcpy(p + len, r->bytes, extra);
        r->bytes += extra, r->left -= extra;
        len += extra;
        break;
    }
    case 10: { /* an error frame, its reason up to 80 bytes, so past the 64 allowed */
        uint16_t code = fuzz_read_be16(r);
        size_t reason = fuzz_read_u8(r) % 81;
        reason = reason < r->left ? reason : r->left;
        p[0] = 0xF5, p[1] = 0x55, p[2] = 1, p[3] = 3;
        fuzz_model_store_be(p + 4, 2 + reason, 4);
        fuzz_model_store_be(p + 8, seq, 8);
        fuzz_model_store_be(p + 16, code, 2);
        memcpy(p + 18, r->bytes, reason);
        r->bytes += reason, r->left -= reason;
        len = 18 + reason;
        break;
    }
    case 11: { /* another frame type, or (text) the reply as it was sent, not uppercased */
        uint8_t type = fuzz_read_u8(r);
        if (m->framed)
            p[3] = type == 2 ? 1 : type;
        else
            flow_model_payload(seq, m->size, p);
        break;
    }
    case 12: { /* whatever the input holds */
        size_t n = fuzz_read_u8(r);
        if (n & 0x80)
            n = (n & 0x7F) << 4; /* up to 2032 bytes, past one reply */
        n = n < r->left ? n : r->left;
        memcpy(p, r->bytes, n);
        r->bytes += n, r->left -= n;
        len = n;
        break;
    }
    default:
        break;
    }
    return len;
}

static void flow_fuzz_reply(struct flow_fuzz *z, unsigned kind, struct fuzz_reader *r)
{
    uint64_t seq = flow_fuzz_target(z, fuzz_read_u8(r));
    size_t len = flow_fuzz_make(z, kind, seq, r);
    if (z->model.udp) {
        flow_fuzz_datagram(z, z->reply, len);
        return;
    }
    /* An empty reply adds nothing to a stream. */
    if (len == 0 || z->stream_len + len > FLOW_FUZZ_STREAM_MAX)
        return;
    if (z->stream_len + len > z->stream_cap) {
        size_t cap = z->stream_cap ? z->stream_cap : 4096;
        while (cap < z->stream_len + len)
            cap *= 2;
        z->stream = realloc(z->stream, cap);
        FUZZ_CHECK(z->stream != NULL, "out of memory");
        z->stream_cap = cap;
    }
    memcpy(z->stream + z->stream_len, z->reply, len);
    z->stream_len += len;
}

static void flow_fuzz_event(struct flow_fuzz *z, struct fuzz_reader *r, struct fuzz_split *split)
{
    unsigned op = fuzz_read_u8(r) & 15;
    z->now_ns += 1000;
    switch (op) {
    case 0:
    case 1:
        flow_fuzz_send(z, op == 0);
        flow_fuzz_compare(z, false);
        break;
    case 2:
        if (!z->model.udp)
            flow_fuzz_deliver(z, fuzz_split_next(split, z->stream_len - z->stream_off));
        break;
    case 3: {
        z->now_ns += FLOW_FUZZ_TIMEOUT_NS;
        uint32_t lost = flow_expire(&z->flow, z->now_ns);
        uint32_t want = flow_model_expire_all(&z->model);
        FUZZ_CHECK(lost == want, "flow_expire lost %u, model %u", lost, want);
        flow_fuzz_compare(z, false);
        break;
    }
    default:
        flow_fuzz_reply(z, op > 12 ? 4 : op, r);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    struct fuzz_reader r = fuzz_reader_init(size ? data : empty, size);
    uint8_t flags = fuzz_read_u8(&r);
    uint32_t req_size = fuzz_read_be16(&r) % (FLOW_FUZZ_SIZE_MAX + 1);
    uint8_t window = fuzz_read_u8(&r);
    struct fuzz_split split = fuzz_read_split(&r);

    struct flow_config cfg = {
        .udp = flags & 1,
        .format = flags & 2 ? FLOW_FRAMED : FLOW_TEXT,
        .size = req_size,
        .window = window ? window : 1,
        .timeout_ns = FLOW_FUZZ_TIMEOUT_NS,
    };
    /* The smallest sizes the client takes (flow_config_check): a tag over UDP text, 1 over TCP. */
    if (cfg.format == FLOW_TEXT && cfg.size < (cfg.udp ? FLOW_TAG_LEN : 1))
        cfg.size = cfg.udp ? FLOW_TAG_LEN : 1;

    struct flow_fuzz *z = calloc(1, sizeof *z);
    FUZZ_CHECK(z != NULL, "out of memory");
    FUZZ_CHECK(flow_open(&z->flow, &cfg, -1) == 0, "flow_open: %s", flow_why(&z->flow));
    FUZZ_CHECK(
        flow_model_init(&z->model, cfg.udp, cfg.format == FLOW_FRAMED, cfg.size, cfg.window) == 0,
        "out of memory");
    /* Room for any reply made: the request, 127 bytes more, or 2032 input bytes. */
    z->reply_cap = 2 * flow_model_request_len(&z->model) + 4096;
    z->reply = malloc(z->reply_cap);
    FUZZ_CHECK(z->reply != NULL, "out of memory");
    z->now_ns = UINT64_C(1000000000);

    while (r.left > 0 && !z->dead)
        flow_fuzz_event(z, &r, &split);
    /* Whatever the server sent and the client has not read yet arrives now. */
    while (!z->model.udp && !z->dead && z->stream_off < z->stream_len) {
        z->now_ns += 1000;
        flow_fuzz_deliver(z, fuzz_split_next(&split, z->stream_len - z->stream_off));
    }

    flow_close(&z->flow);
    flow_model_free(&z->model);
    free(z->samples.got);
    free(z->samples.seen);
    free(z->stream);
    free(z->reply);
    free(z);
    return 0;
}
