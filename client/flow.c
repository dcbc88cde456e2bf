#include "flow.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "flow_impl.h"
#include "flow_rx.h"
#include "gso.h"
#include "net.h"
#include "upper.h"

/* The largest UDP payload over IPv4: 65535 less the IP and UDP headers. */
#define FLOW_UDP_MAX 65507
uint64_t flow_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

size_t flow_request_len(const struct flow_config *cfg)
{
    return cfg->format == FLOW_SOCKPERF ? cfg->size
                                        : (size_t)cfg->size + flow_header_len(cfg->format);
}

void flow_payload(uint64_t seq, uint32_t size, uint8_t *out)
{
    for (uint32_t i = 0; i < size; i++)
        out[i] = i < FLOW_TAG_LEN ? (uint8_t)flow_tag_char(seq, i, 'a')
                                  : (uint8_t)('a' + (i + seq % 26) % 26);
}

int flow_config_check(const struct flow_config *cfg, char *why, size_t why_cap)
{
    size_t len = flow_request_len(cfg);
    if (cfg->window < 1 || cfg->window > FLOW_WINDOW_MAX)
        snprintf(why, why_cap, "the window (requests in flight) must be 1 to %u", FLOW_WINDOW_MAX);
    else if (cfg->format == FLOW_SOCKPERF && cfg->size < FLOW_SOCKPERF_HEADER_LEN)
        snprintf(why, why_cap,
                 "size %" PRIu32
                 " is too small: a sockperf message is at least %u bytes, its header",
                 cfg->size, FLOW_SOCKPERF_HEADER_LEN);
    else if (cfg->udp && cfg->format == FLOW_TEXT && cfg->size < FLOW_TAG_LEN)
        snprintf(
            why, why_cap,
            "size %" PRIu32 " is too small for UDP text: each request starts with a %u-letter "
            "sequence tag so that its reply can be matched; use --size %u or more, or --framed",
            cfg->size, FLOW_TAG_LEN, FLOW_TAG_LEN);
    else if (cfg->format == FLOW_TEXT && cfg->size == 0)
        snprintf(why, why_cap, "an empty text request gets no reply: use --size 1 or more");
    else if (cfg->udp && len > FLOW_UDP_MAX)
        snprintf(why, why_cap, "size %" PRIu32 " does not fit in one UDP datagram (%zu > %u bytes)",
                 cfg->size, len, FLOW_UDP_MAX);
    else if (cfg->size > FLOW_SIZE_MAX)
        snprintf(why, why_cap, "size %" PRIu32 " is over the limit of %u bytes", cfg->size,
                 FLOW_SIZE_MAX);
    else if (cfg->udp && cfg->timeout_ns == 0)
        snprintf(why, why_cap, "a UDP flow needs a reply timeout over 0");
    else
        return 0;
    return -EINVAL;
}

static uint32_t flow_pow2_at_least(uint32_t n)
{
    uint32_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

int flow_open(struct flow *f, const struct flow_config *cfg, int fd)
{
    memset(f, 0, sizeof *f);
    f->cfg = *cfg;
    f->fd = fd;
    f->sockperf_upper = -1;
    if (flow_config_check(cfg, f->why, sizeof f->why) != 0) {
        flow_close(f);
        return -EINVAL;
    }
    uint32_t slots = flow_pow2_at_least(cfg->udp ? FLOW_UDP_HISTORY(cfg->window) : cfg->window);
    size_t req_len = flow_request_len(cfg);
    uint32_t payload_len = flow_payload_len(cfg);
    /* UDP: room for a datagram and a byte more, so a longer reply shows as one. */
    size_t rx_cap = cfg->udp ? req_len + 1 : (size_t)cfg->window * req_len;
    size_t rx_alloc = cfg->udp ? rx_cap * FLOW_UDP_BATCH : rx_cap;
    if (!cfg->udp && rx_cap < FLOW_RX_MIN)
        rx_cap = FLOW_RX_MIN;
    if (!cfg->udp && rx_cap > FLOW_RX_MAX)
        rx_cap = FLOW_RX_MAX;
    f->slots = calloc(slots, sizeof *f->slots);
    f->pattern = malloc((size_t)payload_len + 26);
    f->pattern_up = malloc((size_t)payload_len + 26);
    /* UDP: one sendmmsg's worth of datagrams. */
    size_t tx_cap = (size_t)(cfg->udp ? FLOW_UDP_BATCH : cfg->window) * req_len;
    if (tx_cap > FLOW_TX_MAX)
        tx_cap = FLOW_TX_MAX;
    if (tx_cap < req_len)
        tx_cap = req_len;
    f->tx = malloc(tx_cap ? tx_cap : 1);
    f->tx_cap = tx_cap;
    f->rx = malloc(rx_alloc);
    if (cfg->udp) {
        f->udp_msgs = calloc(FLOW_UDP_BATCH, sizeof *f->udp_msgs);
        f->udp_iovs = calloc(FLOW_UDP_BATCH, sizeof *f->udp_iovs);
    }
    if (!f->slots || !f->pattern || !f->pattern_up || !f->tx || !f->rx ||
        (cfg->udp && (!f->udp_msgs || !f->udp_iovs))) {
        snprintf(f->why, sizeof f->why, "out of memory");
        flow_close(f);
        return -ENOMEM;
    }
    f->slot_mask = slots - 1;
    f->rx_cap = rx_cap;
    f->rx_kind = cfg->format == FLOW_TEXT ? FLOW_RX_BODY : FLOW_RX_HEADER;
    f->rx_body_len = cfg->format == FLOW_TEXT ? cfg->size : 0;
    for (size_t i = 0; i < (size_t)payload_len + 26; i++)
        f->pattern[i] = (uint8_t)('a' + i % 26);
    upper_ascii(f->pattern_up, f->pattern, (size_t)payload_len + 26);
    return 0;
}

int flow_connect(struct flow *f, const struct flow_config *cfg, const char *host, const char *port,
                 int connect_timeout_ms)
{
    struct addrinfo *list;
    char why[FLOW_WHY_MAX];
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (net_resolve(host, port, cfg->udp, cfg->family, &list, why, sizeof why) != 0) {
        snprintf(f->why, sizeof f->why, "%s", why);
        return -EHOSTUNREACH;
    }
    int fd = -ENOENT;
    char where[NI_MAXHOST + 16] = "";
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        fd = net_connect(ai, connect_timeout_ms);
        net_describe(ai, where, sizeof where);
        /* A UDP connect cannot fail for want of a listener, so the first address is it. */
        if (fd >= 0 || cfg->udp)
            break;
    }
    freeaddrinfo(list);
    if (fd < 0) {
        snprintf(f->why, sizeof f->why, "connect to %.100s: %s", where, strerror(-fd));
        return fd;
    }
    return flow_open(f, cfg, fd);
}

void flow_close(struct flow *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    free(f->slots);
    free(f->pattern);
    free(f->pattern_up);
    free(f->tx);
    free(f->rx);
    free(f->udp_msgs);
    free(f->udp_iovs);
    f->udp_msgs = NULL;
    f->udp_iovs = NULL;
    f->slots = NULL;
    f->pattern = f->pattern_up = f->tx = f->rx = NULL;
}

void flow_set_measuring(struct flow *f, bool on)
{
    f->measuring = on;
}

int flow_fd(const struct flow *f)
{
    return f->fd;
}

uint32_t flow_in_flight(const struct flow *f)
{
    return f->in_flight;
}

const struct run_counts *flow_counts(const struct flow *f)
{
    return &f->counts;
}

const char *flow_why(const struct flow *f)
{
    return f->why;
}

bool flow_wants_write(const struct flow *f)
{
    return f->tx_off < f->tx_len;
}

/* Room in the send buffer for one more request, counting what compaction would free. */
static bool flow_tx_has_room(const struct flow *f)
{
    return f->tx_cap - (f->tx_len - f->tx_off) >= flow_request_len(&f->cfg);
}

bool flow_can_send(const struct flow *f)
{
    if (f->in_flight >= f->cfg.window)
        return false;
    /* UDP: the slot next_seq needs must no longer hold a request that may still be answered. */
    if (f->cfg.udp && f->next_seq - f->oldest_seq > f->slot_mask)
        return false;
    return flow_tx_has_room(f);
}

/*
 * Where request seq goes in f->tx: at the end, once what has already been
 * written is moved out of the way (at most one buffer's copy per buffer
 * written, and only when a write was short).
 */
static uint8_t *flow_tx_append(struct flow *f, size_t len)
{
    if (f->tx_len + len > f->tx_cap && f->tx_off > 0) {
        memmove(f->tx, f->tx + f->tx_off, f->tx_len - f->tx_off);
        f->tx_len -= f->tx_off;
        f->tx_unstamped_off -= f->tx_off;
        f->tx_off = 0;
    }
    uint8_t *at = f->tx + f->tx_len;
    f->tx_len += len;
    return at;
}

/* Write request seq, as it goes on the wire, at p. */
static void flow_build_request(const struct flow *f, uint64_t seq, uint8_t *p)
{
    uint32_t header_len = flow_header_len(f->cfg.format);
    uint32_t payload_len = flow_payload_len(&f->cfg);
    if (f->cfg.format == FLOW_FRAMED) {
        struct wire_header h = {
            .version = WIRE_VERSION, .type = WIRE_TYPE_REQUEST, .length = payload_len, .id = seq};
        wire_encode_header(p, &h);
    } else if (f->cfg.format == FLOW_SOCKPERF) {
        struct sockperf_header h = {.seq = seq,
                                    .flags = SOCKPERF_FLAG_CLIENT | SOCKPERF_FLAG_REPLY_REQUEST,
                                    .length = f->cfg.size};
        sockperf_encode_header(p, &h);
    }
    p += header_len;
    uint32_t tag = payload_len < FLOW_TAG_LEN ? payload_len : FLOW_TAG_LEN;
    for (uint32_t i = 0; i < tag; i++)
        p[i] = (uint8_t)flow_tag_char(seq, i, 'a');
    if (payload_len > tag)
        memcpy(p + tag, f->pattern + seq % 26 + tag, payload_len - tag);
}

/*
 * send() that never raises SIGPIPE, never blocks (flow_roundtrip makes the
 * socket itself blocking) and retries EINTR.
 */
static ssize_t flow_write(int fd, const uint8_t *p, size_t len)
{
    ssize_t n;
    do
        n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n;
}

void flow_track_request(struct flow *f, uint64_t intended_ns, uint64_t sent_ns)
{
    uint64_t seq = f->next_seq;
    struct flow_slot *slot = flow_slot_of(f, seq);
    *slot = (struct flow_slot){
        .seq = seq,
        .intended_ns = intended_ns ? intended_ns : sent_ns,
        .sent_ns = sent_ns,
        .state = FLOW_SLOT_IN_FLIGHT,
        .measured = f->measuring,
        .due_at_send = intended_ns == 0,
    };
    if (f->in_flight == 0)
        f->oldest_seq = seq;
    f->next_seq++;
    f->in_flight++;
    if (f->measuring) {
        f->counts.sent++;
        f->counts.bytes_sent += flow_request_len(&f->cfg);
    }
}

int flow_queue(struct flow *f, uint64_t intended_ns)
{
    if (!flow_can_send(f))
        return -EAGAIN;
    size_t len = flow_request_len(&f->cfg);
    if (f->tx_unstamped_seq == f->next_seq)
        f->tx_unstamped_off = f->tx_len; /* everything before it has gone */
    flow_build_request(f, f->next_seq, flow_tx_append(f, len));
    /* Stamped for real by the flush that sends its first byte; until then, no later than now. */
    flow_track_request(f, intended_ns, flow_now_ns());
    return 0;
}

/* The write that began at sent_ns got the first byte of every request before tx_off out. */
static void flow_stamp_sent(struct flow *f, uint64_t sent_ns)
{
    size_t len = flow_request_len(&f->cfg);
    while (f->tx_unstamped_seq < f->next_seq && f->tx_unstamped_off < f->tx_off) {
        struct flow_slot *slot = flow_slot_of(f, f->tx_unstamped_seq);
        slot->sent_ns = sent_ns;
        if (slot->due_at_send)
            slot->intended_ns = sent_ns;
        f->tx_unstamped_seq++;
        f->tx_unstamped_off += len;
    }
}

/* TCP: one send() of everything queued, again while the socket takes it all. */
static int flow_flush_stream(struct flow *f)
{
    while (f->tx_off < f->tx_len) {
        uint64_t sent_ns = flow_now_ns();
        ssize_t n = flow_write(f->fd, f->tx + f->tx_off, f->tx_len - f->tx_off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
                return -EAGAIN;
            snprintf(f->why, sizeof f->why, "send: %s", strerror(errno));
            return -errno;
        }
        f->tx_off += (size_t)n;
        flow_stamp_sent(f, sent_ns);
    }
    f->tx_off = f->tx_len = f->tx_unstamped_off = 0;
    return 0;
}

/*
 * Several equal datagrams in one sendmsg, segmented by the kernel
 * (lib/gso.h), so each costs a fraction of a send of its own; the peer
 * still receives count separate datagrams. Returns how many were sent, or
 * -1 with errno (EIO and the like when the kernel or the route cannot
 * segment).
 */
static int flow_send_segmented(struct flow *f, size_t len, unsigned count)
{
    struct iovec iov = {.iov_base = f->tx, .iov_len = len * count};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    union gso_control control;
    gso_attach(&msg, &control, (uint16_t)len);
    ssize_t n;
    do
        n = sendmsg(f->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : (int)count;
}

/* One datagram per message, in one sendmmsg: where segmentation cannot be had. */
static int flow_send_each(struct flow *f, size_t len, unsigned count)
{
    /* One datagram (a ping): send() is the shorter way through the kernel. */
    if (count == 1)
        return flow_write(f->fd, f->tx, len) < 0 ? -1 : 1;
    for (unsigned i = 0; i < count; i++) {
        f->udp_iovs[i] = (struct iovec){.iov_base = f->tx + (size_t)i * len, .iov_len = len};
        f->udp_msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &f->udp_iovs[i], .msg_iovlen = 1}};
    }
    int sent;
    do
        sent = sendmmsg(f->fd, f->udp_msgs, count, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (sent < 0 && errno == EINTR);
    return sent;
}

/* The next datagrams of tx out, segmented where the kernel can: how many went, or -1 and errno. */
static int flow_send_datagrams(struct flow *f, size_t len, unsigned count)
{
    unsigned segments = count < GSO_MAX_SEGMENTS ? count : GSO_MAX_SEGMENTS;
    if (segments > GSO_MAX_BYTES / len)
        segments = (unsigned)(GSO_MAX_BYTES / len);
    if (f->udp_no_gso || segments <= 1)
        return flow_send_each(f, len, count);
    int sent = flow_send_segmented(f, len, segments);
    /* Anything but a full socket buffer or the peer's refusal: this kernel or route cannot. */
    if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS &&
        errno != ECONNREFUSED) {
        f->udp_no_gso = true;
        return flow_send_each(f, len, count);
    }
    return sent;
}

/*
 * UDP: the queued datagrams (all of them unsent, from tx's start), as few
 * sends as the kernel allows; those it did not take move to the front and
 * wait for the next flush.
 */
static int flow_flush_datagrams(struct flow *f)
{
    size_t len = flow_request_len(&f->cfg);
    while (f->tx_len > 0) {
        uint64_t sent_ns = flow_now_ns();
        int sent = flow_send_datagrams(f, len, (unsigned)(f->tx_len / len));
        if (sent < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
                return -EAGAIN;
            snprintf(f->why, sizeof f->why, "send: %s", strerror(errno));
            return -errno;
        }
        f->tx_off = (size_t)sent * len;
        flow_stamp_sent(f, sent_ns);
        memmove(f->tx, f->tx + f->tx_off, f->tx_len - f->tx_off);
        f->tx_len -= f->tx_off;
        f->tx_unstamped_off = f->tx_off = 0;
    }
    return 0;
}

int flow_flush(struct flow *f)
{
    if (f->tx_len == 0)
        return 0;
    return f->cfg.udp ? flow_flush_datagrams(f) : flow_flush_stream(f);
}

int flow_send(struct flow *f, uint64_t intended_ns)
{
    int rc = flow_queue(f, intended_ns);
    if (rc != 0)
        return rc;
    rc = flow_flush(f);
    /* Taken: what the socket could not take yet goes out with the next flush. */
    return rc == -EAGAIN ? 0 : rc;
}

void flow_advance_oldest(struct flow *f)
{
    while (f->oldest_seq < f->next_seq &&
           flow_slot_of(f, f->oldest_seq)->state != FLOW_SLOT_IN_FLIGHT)
        f->oldest_seq++;
}

uint64_t flow_oldest_sent_ns(const struct flow *f)
{
    return f->in_flight ? flow_slot_of(f, f->oldest_seq)->sent_ns : UINT64_MAX;
}

uint64_t flow_next_expiry_ns(const struct flow *f)
{
    if (!f->cfg.udp || f->in_flight == 0)
        return UINT64_MAX;
    return flow_oldest_sent_ns(f) + f->cfg.timeout_ns;
}

static void flow_lose(struct flow *f, struct flow_slot *slot)
{
    slot->state = FLOW_SLOT_LOST;
    f->in_flight--;
    if (slot->measured)
        f->counts.lost++;
}

uint32_t flow_expire(struct flow *f, uint64_t now_ns)
{
    uint32_t lost = 0;
    /* Sent times grow with the sequence, so the oldest request in flight expires first. */
    while (f->cfg.udp && f->in_flight > 0 && flow_next_expiry_ns(f) <= now_ns) {
        flow_lose(f, flow_slot_of(f, f->oldest_seq));
        flow_advance_oldest(f);
        lost++;
    }
    return lost;
}

uint32_t flow_abandon(struct flow *f)
{
    uint32_t lost = 0;
    for (uint64_t seq = f->oldest_seq; seq < f->next_seq; seq++) {
        struct flow_slot *slot = flow_slot_of(f, seq);
        if (slot->state == FLOW_SLOT_IN_FLIGHT) {
            flow_lose(f, slot);
            lost++;
        }
    }
    f->oldest_seq = f->next_seq;
    /* A TCP reply cut off halfway can no longer be matched to anything. */
    f->tx_off = f->tx_len = f->tx_unstamped_off = 0;
    f->tx_unstamped_seq = f->next_seq;
    return lost;
}

struct flow_one {
    struct flow_sample *sample;
    int got;
};

static void flow_take_one(void *ctx, const struct flow_sample *sample)
{
    struct flow_one *one = ctx;
    *one->sample = *sample;
    one->got = 1;
}

/*
 * flow_roundtrip's reads block, at most timeout_ns each (SO_RCVTIMEO), so
 * that waiting for a reply costs one recv, not a poll and a recv. Every
 * other read and write passes MSG_DONTWAIT, so the flow stays usable from
 * an event loop.
 */
static int flow_block_reads(struct flow *f, uint64_t timeout_ns)
{
    if (f->read_timeout_ns == timeout_ns)
        return 0;
    int fl = fcntl(f->fd, F_GETFL);
    if (fl < 0 || fcntl(f->fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
        return -errno;
    /* Rounded up to a microsecond: a zero timeval would mean "wait for ever". */
    struct timeval tv = {.tv_sec = (time_t)(timeout_ns / 1000000000),
                         .tv_usec = (suseconds_t)(timeout_ns % 1000000000 / 1000 + 1)};
    if (setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        return -errno;
    f->read_timeout_ns = timeout_ns;
    return 0;
}

/* Wait for the socket to take the rest of the request or to bring reply bytes, at most until
 * deadline. */
static int flow_wait_poll(struct flow *f, uint64_t deadline, struct flow_one *one)
{
    short revents = 0;
    short events = (short)(POLLIN | (flow_wants_write(f) ? POLLOUT : 0));
    uint64_t now = flow_now_ns();
    uint64_t left = deadline > now ? deadline - now : 0;
    /* Round up to whole milliseconds, poll's unit; the caller checks the deadline in ns. */
    int w = net_wait(f->fd, events, (int)((left + 999999) / 1000000), &revents);
    if (w <= 0)
        return w;
    if (revents & POLLOUT) {
        int rc = flow_flush(f);
        if (rc < 0 && rc != -EAGAIN)
            return rc;
    }
    if (revents & (POLLIN | POLLERR | POLLHUP))
        return flow_receive(f, flow_take_one, one);
    return 0;
}

void flow_set_busy_poll(struct flow *f, bool on)
{
    f->busy_poll = on;
}

int flow_roundtrip(struct flow *f, uint64_t timeout_ns, struct flow_sample *sample)
{
    if (f->in_flight != 0 || timeout_ns == 0)
        return -EINVAL;
    int rc = f->busy_poll ? 0 : flow_block_reads(f, timeout_ns);
    if (rc < 0)
        return rc;
    uint64_t deadline = flow_now_ns() + timeout_ns;
    struct flow_one one = {.sample = sample};
    while ((rc = flow_send(f, 0)) == -EAGAIN) {
        /* Only a full socket buffer can refuse it: wait until it drains. */
        short revents;
        uint64_t now = flow_now_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        int w = net_wait(f->fd, POLLOUT, (int)((deadline - now) / 1000000 + 1), &revents);
        if (w < 0)
            return w;
    }
    if (rc < 0)
        return rc;
    while (f->in_flight > 0) {
        if (flow_now_ns() >= deadline) {
            if (f->cfg.udp) {
                flow_expire(f, UINT64_MAX);
                return 0;
            }
            snprintf(f->why, sizeof f->why, "no reply within the timeout");
            return -ETIMEDOUT;
        }
        /*
         * A request the socket has not taken whole yet needs poll to write
         * the rest; otherwise one read, blocking, or when spinning a
         * non-blocking one, again and again until the reply or the deadline.
         */
        rc = flow_wants_write(f) ? flow_wait_poll(f, deadline, &one)
                                 : flow_receive_some(f, flow_take_one, &one, !f->busy_poll);
        if (rc < 0)
            return rc;
    }
    return one.got;
}
