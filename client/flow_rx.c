/*
 * flow_rx: the reading side of a flow. TCP replies are followed as a
 * stream, in request order, header by header and byte by byte, and checked
 * as they arrive without being stored; UDP replies are matched to their
 * request by sequence (a tag, a frame id or sockperf's header) and checked
 * whole. flow.h says what counts as what.
 */
#include "flow_rx.h"

#include "flow_impl.h"
#include "judge.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Request seq is over: rightly (a sample), wrongly, or by an error frame. */
static void flow_complete(struct flow *f, struct flow_slot *slot, bool right, size_t reply_len,
                          uint64_t done_ns, flow_sample_fn on_sample, void *ctx)
{
    slot->state = FLOW_SLOT_DONE;
    f->in_flight--;
    if (slot->measured)
        f->counts.bytes_received += reply_len;
    if (right && slot->measured)
        f->counts.received++;
    if (right && on_sample) {
        struct flow_sample s = {
            .seq = slot->seq,
            .intended_ns = slot->intended_ns,
            .sent_ns = slot->sent_ns,
            .done_ns = done_ns,
            .measured = slot->measured,
        };
        on_sample(ctx, &s);
    }
    flow_advance_oldest(f);
}

static void flow_mismatch(struct flow *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Count a mismatch and keep the first one's description. */
static void flow_mismatch(struct flow *f, const char *fmt, ...)
{
    f->counts.mismatches++;
    if (f->counts.mismatches > 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->why, sizeof f->why, fmt, ap);
    va_end(ap);
}

/*
 * The offset within [0, len) of the first byte of got that differs from
 * bytes off..off+len of request seq's payload as the server should return it
 * (uppercased, or echoed for a sockperf server that echoes); len if none.
 */
static size_t flow_payload_diff(const struct flow *f, uint64_t seq, size_t off, const uint8_t *got,
                                size_t len)
{
    bool echo = f->cfg.format == FLOW_SOCKPERF && f->sockperf_upper == 0;
    size_t i = 0;
    if (off < FLOW_TAG_LEN) {
        /* The tag is made, not stored: a few letters of it on the stack. */
        uint8_t tag[FLOW_TAG_LEN] = {0}; /* all set below; gcc -O2 cannot tell */
        size_t n = FLOW_TAG_LEN - off < len ? FLOW_TAG_LEN - off : len;
        for (size_t k = 0; k < n; k++)
            tag[k] = (uint8_t)flow_tag_char(seq, off + k, echo ? 'a' : 'A');
        i = judge_first_difference(tag, got, n);
        if (i < n)
            return i;
    }
    if (i == len)
        return len;
    const uint8_t *want = (echo ? f->pattern : f->pattern_up) + seq % 26 + off + i;
    return i + judge_first_difference(want, got + i, len - i);
}

/* sockperf: the first payload byte tells an echoing server from an uppercasing one. */
static void flow_sockperf_learn(struct flow *f, uint64_t seq, const uint8_t *body, size_t len)
{
    if (f->sockperf_upper >= 0 || len == 0)
        return;
    f->sockperf_upper = body[0] == (uint8_t)flow_tag_char(seq, 0, 'A') ? 1 : 0;
}

/* An error frame's payload as one line: "server error CODE (REASON)", made printable. */
static void flow_note_error_frame(struct flow *f, uint64_t seq, const uint8_t *body, size_t len)
{
    f->counts.error_frames++;
    if (f->why[0] != '\0')
        return;
    char reason[WIRE_REASON_MAX + 1];
    int code = judge_error_reason(body, len, reason);
    snprintf(f->why, sizeof f->why, "server error %d (%s) for request %" PRIu64,
             code < 0 ? 0 : code, reason, seq);
}

/*
 * TCP framed: judge the header of the reply to request seq. Returns 0 and
 * sets rx_kind and rx_body_len, or -EPROTO when the stream cannot be
 * followed past it.
 */
static int flow_tcp_framed_header(struct flow *f, uint64_t seq)
{
    uint32_t payload_len = flow_payload_len(&f->cfg);
    struct wire_header h;
    enum wire_error err = wire_parse_header(f->rx_header, judge_frame_limit(payload_len), &h);
    if (err != WIRE_OK) {
        flow_mismatch(f, "reply to request %" PRIu64 ": not a reply frame (%s)", seq,
                      wire_error_reason(err));
        return -EPROTO;
    }
    f->rx_body_len = h.length;
    enum judge_header verdict = judge_header(&h, seq, payload_len);
    if (verdict == JUDGE_HEADER_REPLY) {
        f->rx_kind = FLOW_RX_BODY;
    } else if (verdict == JUDGE_HEADER_ERROR_FRAME) {
        f->rx_kind = FLOW_RX_ERROR;
    } else {
        char what[JUDGE_WHY_MAX];
        judge_header_why(what, sizeof what, verdict, &h, seq, payload_len);
        flow_mismatch(f, "reply to request %" PRIu64 ": %s", seq, what);
        f->rx_kind = FLOW_RX_WRONG;
    }
    return 0;
}

/* TCP sockperf: the same for sockperf's header (sequence, flags, total length). */
static int flow_tcp_sockperf_header(struct flow *f, uint64_t seq)
{
    struct sockperf_header h;
    if (sockperf_parse_header(f->rx_header, flow_payload_len(&f->cfg), &h) != SOCKPERF_OK) {
        flow_mismatch(
            f, "reply to request %" PRIu64 ": sockperf length %" PRIu32 ", expected %" PRIu32, seq,
            h.length, f->cfg.size);
        return -EPROTO;
    }
    uint64_t got_seq = h.seq;
    unsigned flags = h.flags;
    uint32_t total = h.length;
    f->rx_body_len = total - FLOW_SOCKPERF_HEADER_LEN;
    f->rx_kind = FLOW_RX_WRONG;
    if (got_seq != seq)
        flow_mismatch(f, "reply to request %" PRIu64 ": sockperf sequence %" PRIu64, seq, got_seq);
    else if (flags != SOCKPERF_FLAG_REPLY_REQUEST)
        flow_mismatch(f, "reply to request %" PRIu64 ": sockperf flags 0x%x, expected 0x%x", seq,
                      flags, SOCKPERF_FLAG_REPLY_REQUEST);
    else if (total != f->cfg.size)
        flow_mismatch(
            f, "reply to request %" PRIu64 ": sockperf length %" PRIu32 ", expected %" PRIu32, seq,
            total, f->cfg.size);
    else
        f->rx_kind = FLOW_RX_BODY;
    return 0;
}

/* Check body bytes of the head reply; a wrong byte turns the reply into one to skip. */
static void flow_tcp_check_body(struct flow *f, uint64_t seq, const uint8_t *in, size_t take)
{
    if (f->cfg.format == FLOW_SOCKPERF && f->rx_off == 0)
        flow_sockperf_learn(f, seq, in, take);
    size_t diff = flow_payload_diff(f, seq, f->rx_off, in, take);
    if (diff == take)
        return;
    flow_mismatch(f, "reply to request %" PRIu64 " mismatch at byte %zu: got 0x%02X", seq,
                  f->rx_off + diff, in[diff]);
    f->rx_kind = FLOW_RX_WRONG;
}

/* Take TCP bytes in[0..len) as the replies, in order, of the requests in flight. */
int flow_tcp_take(struct flow *f, const uint8_t *in, size_t len, uint64_t now_ns,
                  flow_sample_fn on_sample, void *ctx)
{
    uint32_t header_len = flow_header_len(f->cfg.format);
    int completed = 0;
    while (len > 0) {
        if (f->in_flight == 0) {
            flow_mismatch(f, "%zu bytes came with no request in flight", len);
            return -EPROTO;
        }
        struct flow_slot *slot = flow_slot_of(f, f->oldest_seq);
        if (f->rx_kind == FLOW_RX_HEADER) {
            size_t take = header_len - f->rx_header_len;
            take = take < len ? take : len;
            memcpy(f->rx_header + f->rx_header_len, in, take);
            f->rx_header_len += take;
            in += take, len -= take;
            if (f->rx_header_len < header_len)
                break;
            int rc = f->cfg.format == FLOW_FRAMED ? flow_tcp_framed_header(f, slot->seq)
                                                  : flow_tcp_sockperf_header(f, slot->seq);
            if (rc < 0)
                return rc;
        } else {
            size_t want = f->rx_body_len - f->rx_off;
            size_t take = want < len ? want : len;
            if (f->rx_kind == FLOW_RX_BODY)
                flow_tcp_check_body(f, slot->seq, in, take);
            else if (f->rx_kind == FLOW_RX_ERROR && f->rx_off < sizeof f->rx_error) {
                size_t keep = sizeof f->rx_error - f->rx_off;
                memcpy(f->rx_error + f->rx_off, in, keep < take ? keep : take);
            }
            f->rx_off += take;
            in += take, len -= take;
        }
        if (f->rx_kind == FLOW_RX_HEADER || f->rx_off < f->rx_body_len)
            continue;
        /* The head reply is whole. */
        if (f->rx_kind == FLOW_RX_ERROR)
            flow_note_error_frame(f, slot->seq, f->rx_error,
                                  f->rx_body_len < sizeof f->rx_error ? f->rx_body_len
                                                                      : sizeof f->rx_error);
        flow_complete(f, slot, f->rx_kind == FLOW_RX_BODY, header_len + f->rx_body_len, now_ns,
                      on_sample, ctx);
        completed++;
        f->rx_off = 0;
        f->rx_header_len = 0;
        if (f->cfg.format == FLOW_TEXT) {
            f->rx_kind = FLOW_RX_BODY;
            f->rx_body_len = f->cfg.size;
        } else {
            f->rx_kind = FLOW_RX_HEADER;
        }
    }
    return completed;
}

/* The request a UDP reply answers, from its tag or header; -1 (counted) if it names none. */
static int flow_udp_sequence(struct flow *f, const uint8_t *d, size_t n, uint64_t *seq,
                             const uint8_t **body, size_t *body_len)
{
    uint32_t payload_len = flow_payload_len(&f->cfg);
    if (f->cfg.format == FLOW_TEXT) {
        if (n != payload_len) {
            flow_mismatch(f, "a reply datagram of %zu bytes, expected %" PRIu32, n, payload_len);
            return -1;
        }
        uint64_t v = 0;
        for (size_t i = 0; i < FLOW_TAG_LEN; i++) {
            if (d[i] < 'A' || d[i] > 'P') {
                flow_mismatch(f, "a reply datagram without a sequence tag (byte %zu is 0x%02X)", i,
                              d[i]);
                return -1;
            }
            v |= (uint64_t)(d[i] - 'A') << (4 * i);
        }
        *seq = v, *body = d, *body_len = n;
        return 0;
    }
    if (f->cfg.format == FLOW_SOCKPERF) {
        if (n != f->cfg.size) {
            flow_mismatch(f, "a reply datagram of %zu bytes, expected %" PRIu32, n, f->cfg.size);
            return -1;
        }
        struct sockperf_header h;
        sockperf_parse_header(d, UINT32_MAX, &h);
        *seq = h.seq;
        if (h.flags != SOCKPERF_FLAG_REPLY_REQUEST || h.length != n) {
            flow_mismatch(f, "reply to request %" PRIu64 ": sockperf flags 0x%x length %" PRIu32,
                          *seq, (unsigned)h.flags, h.length);
            return -1;
        }
        *body = d + FLOW_SOCKPERF_HEADER_LEN, *body_len = n - FLOW_SOCKPERF_HEADER_LEN;
        return 0;
    }
    struct wire_header h;
    enum wire_error err =
        n < WIRE_HEADER_LEN ? WIRE_ERR_LENGTH_MISMATCH : wire_parse_header(d, UINT32_MAX, &h);
    /* The id names the request, so only its type and length are judged here. */
    enum judge_header verdict =
        err == WIRE_OK ? judge_header(&h, h.id, payload_len) : JUDGE_HEADER_WRONG_TYPE;
    if (verdict == JUDGE_HEADER_ERROR_FRAME) {
        flow_note_error_frame(f, h.id, d + WIRE_HEADER_LEN, n - WIRE_HEADER_LEN);
        return -1;
    }
    if (verdict != JUDGE_HEADER_REPLY || h.length != n - WIRE_HEADER_LEN) {
        flow_mismatch(f, "a reply datagram of %zu bytes that is not a %" PRIu32 "-byte reply frame",
                      n, payload_len);
        return -1;
    }
    *seq = h.id, *body = d + WIRE_HEADER_LEN, *body_len = h.length;
    return 0;
}

/* Take one UDP datagram d of n bytes (n over rx_cap: it was cut short). */
int flow_udp_take(struct flow *f, const uint8_t *d, size_t n, uint64_t now_ns,
                  flow_sample_fn on_sample, void *ctx)
{
    if (n > f->rx_cap - 1) {
        flow_mismatch(f, "a reply datagram of %zu bytes, expected %zu", n,
                      flow_request_len(&f->cfg));
        return 0;
    }
    uint64_t seq;
    const uint8_t *body;
    size_t body_len;
    if (flow_udp_sequence(f, d, n, &seq, &body, &body_len) != 0)
        return 0;
    if (seq >= f->next_seq) {
        flow_mismatch(f, "a reply to request %" PRIu64 ", which was never sent", seq);
        return 0;
    }
    if (f->next_seq - seq > (uint64_t)f->slot_mask + 1) {
        f->late++;
        return 0;
    }
    struct flow_slot *slot = flow_slot_of(f, seq);
    if (slot->state == FLOW_SLOT_LOST) {
        f->late++;
        return 0;
    }
    if (slot->state != FLOW_SLOT_IN_FLIGHT) {
        if (slot->measured)
            f->counts.duplicates++;
        return 0;
    }
    if (f->cfg.format == FLOW_SOCKPERF)
        flow_sockperf_learn(f, seq, body, body_len);
    size_t diff = flow_payload_diff(f, seq, 0, body, body_len);
    if (diff != body_len)
        flow_mismatch(f, "reply to request %" PRIu64 " mismatch at byte %zu: got 0x%02X", seq, diff,
                      body[diff]);
    if (seq + 1 < f->newest_done && slot->measured)
        f->counts.reordered++;
    if (seq + 1 > f->newest_done)
        f->newest_done = seq + 1;
    flow_complete(f, slot, diff == body_len, n, now_ns, on_sample, ctx);
    return 1;
}

static int flow_receive_failed(struct flow *f, int err)
{
    if (f->why[0] == '\0' || f->counts.mismatches == 0)
        snprintf(f->why, sizeof f->why, "receive: %s", strerror(err));
    return -err;
}

/*
 * recvmmsg of vlen datagrams; for one (a ping, which may spin on this), a
 * plain recv, the shorter way through the kernel. Returns how many, or -1.
 */
static int flow_udp_read(struct flow *f, unsigned vlen, int flags)
{
    if (vlen > 1)
        return recvmmsg(f->fd, f->udp_msgs, vlen, flags, NULL);
    ssize_t n = recv(f->fd, f->rx, f->rx_cap, flags & ~MSG_WAITFORONE);
    if (n < 0)
        return -1;
    f->udp_msgs[0].msg_len = (unsigned)n;
    return 1;
}

/*
 * UDP: up to FLOW_UDP_BATCH datagrams per recvmmsg, each into its own
 * rx_cap bytes of f->rx; MSG_TRUNC makes a datagram longer than that show
 * its real length, so that it is reported, not cut. With wait, the call
 * blocks for the first datagram (MSG_WAITFORONE) and takes what else has
 * come with it.
 */
static int flow_udp_receive(struct flow *f, flow_sample_fn on_sample, void *ctx, bool wait)
{
    int completed = 0;
    /*
     * No more replies than the window can be due at once (a duplicate is
     * read by the next call): a ping (window 1) that spins on this does not
     * set up 64 messages per try.
     */
    unsigned vlen = f->cfg.window < FLOW_UDP_BATCH ? f->cfg.window : FLOW_UDP_BATCH;
    for (int batch = 0; batch < FLOW_RX_BATCH; batch++) {
        for (unsigned i = 0; i < vlen; i++) {
            f->udp_iovs[i] =
                (struct iovec){.iov_base = f->rx + i * f->rx_cap, .iov_len = f->rx_cap};
            f->udp_msgs[i] =
                (struct mmsghdr){.msg_hdr = {.msg_iov = &f->udp_iovs[i], .msg_iovlen = 1}};
        }
        int flags = MSG_TRUNC | (wait && batch == 0 ? MSG_WAITFORONE : MSG_DONTWAIT);
        int got;
        do
            got = flow_udp_read(f, vlen, flags);
        while (got < 0 && errno == EINTR);
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return flow_receive_failed(f, errno);
        }
        uint64_t now_ns = flow_now_ns();
        for (int i = 0; i < got; i++)
            completed += flow_udp_take(f, f->rx + (size_t)i * f->rx_cap, f->udp_msgs[i].msg_len,
                                       now_ns, on_sample, ctx);
        /* Fewer than asked for: the socket is empty, and one more call would only say so. */
        if (f->in_flight == 0 || (unsigned)got < vlen)
            break;
    }
    return completed;
}

/*
 * flow_receive, with the first read blocking (up to the socket's receive
 * timeout) when wait is set: flow_roundtrip's wait for a reply is then one
 * recv instead of a poll and a recv.
 */
int flow_receive_some(struct flow *f, flow_sample_fn on_sample, void *ctx, bool wait)
{
    if (f->cfg.udp)
        return flow_udp_receive(f, on_sample, ctx, wait);
    int completed = 0;
    for (int batch = 0; batch < FLOW_RX_BATCH; batch++) {
        ssize_t n;
        do
            n = recv(f->fd, f->rx, f->rx_cap, wait && batch == 0 ? 0 : MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return flow_receive_failed(f, errno);
        }
        if (n == 0) {
            if (f->why[0] == '\0')
                snprintf(f->why, sizeof f->why,
                         "the server closed the connection with %" PRIu32 " requests in flight",
                         f->in_flight);
            return -ECONNRESET;
        }
        int rc = flow_tcp_take(f, f->rx, (size_t)n, flow_now_ns(), on_sample, ctx);
        if (rc < 0)
            return rc;
        completed += rc;
        /*
         * Nothing more is expected, or a short read says the socket is
         * empty: save the syscall that would say EAGAIN. Anything that still
         * comes (stray bytes) is read and counted next time.
         */
        if (f->in_flight == 0 || (size_t)n < f->rx_cap)
            break;
    }
    return completed;
}

int flow_receive(struct flow *f, flow_sample_fn on_sample, void *ctx)
{
    return flow_receive_some(f, on_sample, ctx, false);
}
