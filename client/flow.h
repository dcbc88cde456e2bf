/*
 * flow: one measuring flow, a TCP connection or a connected UDP socket, of
 * `shout ping`, `shout load` and shout-bench's end-to-end benchmarks. It
 * sends requests of a fixed size, stamps each with its intended and its
 * actual send time (CLOCK_MONOTONIC, ns), reads the replies, checks every
 * one of them, and hands each right reply's timings to the caller. It does
 * no waiting of its own except in flow_roundtrip: the same flow serves a
 * simple ping-pong loop and a non-blocking epoll loop with many flows and
 * many requests in flight per flow.
 *
 * Requests. Request number seq (0, 1, 2, ... per flow) carries a payload
 * that is a pure function of seq and size (flow_payload): lowercase letters,
 * so the uppercasing is checked, starting with a tag of FLOW_TAG_LEN letters
 * 'a'..'p' that spell seq in base 16 (least significant digit first), then a
 * run of 'a'..'z' that starts at a letter depending on seq. A stale or duplicated reply cannot pass
 * for another request's. The wire format is one of:
 *  - FLOW_TEXT: the payload alone. Over TCP the replies are a byte stream in
 *    request order and a reply is complete when its size bytes have come;
 *    over UDP one datagram each way, matched to its request by the tag, so
 *    the size must be at least FLOW_TAG_LEN (flow_config_check says so).
 *  - FLOW_FRAMED: a type-1 frame with id seq; the reply must be a type-2
 *    frame with the same id and length and the payload uppercased. An error
 *    frame is counted in error_frames.
 *  - FLOW_SOCKPERF: sockperf's message (14-byte big-endian header: u64
 *    sequence, u16 flags, u32 total length), sent with the client and
 *    reply-requested flags; size is then the whole message with its header,
 *    as sockperf's --msg-size, at least FLOW_SOCKPERF_HEADER_LEN. The reply
 *    must be the message with the client flag cleared and the payload either
 *    echoed (a `sockperf server`) or uppercased (shoutd's sockperf port):
 *    the first reply decides which, and every later one must agree.
 *
 * Checking and counting. Over TCP replies must come in request order; over
 * UDP they are matched by sequence: a reply to a request already answered
 * is a duplicate, a reply with a lower sequence than one already received is
 * reordered (and still counted as received), a request with no reply
 * within timeout_ns of its actual send is lost (flow_expire). A reply that
 * is not the right one is a mismatch; flow_why says what the first one was.
 * Over TCP a mismatch that leaves the stream's framing intact is counted
 * and the flow goes on; one that does not (a bad frame header) ends the
 * flow with -EPROTO. Counts (struct run_counts, result.h) cover only the
 * requests sent while flow_set_measuring(true) was in force (so a warm-up
 * is not counted), except mismatches and error frames, which always count.
 * UDP requests are never sent again.
 *
 * Windows and batches. At most window requests are in flight. Over TCP
 * flow_queue only writes a request into the flow's send buffer (sized once,
 * up to FLOW_TX_MAX bytes), and flow_flush hands everything queued to the
 * kernel in one send(): a window of small requests costs one syscall, not
 * one each. A request's sent time is when the send() that carried its
 * first byte began (one clock read for the whole batch, so requests of one
 * batch share it); a request the kernel had no room for keeps waiting in
 * the buffer and is stamped by the flush that gets its first byte out.
 * flow_send is flow_queue then flow_flush. Over UDP likewise up to
 * FLOW_UDP_BATCH datagrams wait in the buffer and go in one sendmsg that
 * the kernel cuts into datagrams (UDP_SEGMENT; sendmmsg where it will not), and
 * replies are read up to FLOW_UDP_BATCH at a time with recvmmsg (those of
 * one read share its done time). Over UDP a request whose
 * sequence is FLOW_UDP_HISTORY(window) or more past the oldest unanswered
 * one also waits (it would need that one's bookkeeping slot) until the old
 * one is answered or lost.
 *
 * Errors are negative errno values: -EAGAIN (cannot send now: window full,
 * bytes still to flush, or the socket buffer is full), -EPROTO (the TCP
 * stream can no longer be read as replies), -ECONNRESET, -EPIPE,
 * -ECONNREFUSED (UDP: ICMP port unreachable), -ENOMEM, -ETIMEDOUT
 * (flow_roundtrip over TCP: no reply within the timeout), -EINVAL.
 *
 * Threads: a flow belongs to one thread at a time; flows share nothing.
 * Memory: a flow owns its socket, its request and receive buffers and its
 * bookkeeping, all sized once by flow_open/flow_connect; flow_close frees
 * them. The caller owns the struct flow itself and the config it passed.
 */
#ifndef SHOUT_FLOW_H
#define SHOUT_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"
#include "sockperf.h"
#include "wire.h"

#define FLOW_TAG_LEN             12u /* letters of the sequence tag at the start of a payload */
#define FLOW_SOCKPERF_HEADER_LEN ((uint32_t)SOCKPERF_HEADER_LEN)
#define FLOW_WHY_MAX             192
/* Requests over UDP a flow keeps track of: a reply older than that counts as late. */
#define FLOW_UDP_HISTORY(window) ((window)*4 > 1024 ? (window)*4 : 1024)
#define FLOW_WINDOW_MAX          65536u
#define FLOW_SIZE_MAX            (64u << 20) /* TCP; UDP is bounded by the datagram */
/* TCP send buffer: a window of requests, but never more than this (at least one request). */
#define FLOW_TX_MAX (1u << 20)

enum flow_format {
    FLOW_TEXT,
    FLOW_FRAMED,
    FLOW_SOCKPERF,
};

struct flow_config {
    bool udp;
    enum flow_format format;
    uint32_t size;       /* payload bytes (FLOW_SOCKPERF: the whole message) */
    uint32_t window;     /* requests in flight at most, 1 to FLOW_WINDOW_MAX */
    uint64_t timeout_ns; /* UDP: a request unanswered this long after its send is lost */
    int family;          /* flow_connect's address family; 0 (AF_UNSPEC) for either */
};

/* The timings of one request that got its right reply. */
struct flow_sample {
    uint64_t seq;
    uint64_t intended_ns; /* when it was due (the schedule) */
    uint64_t sent_ns;     /* when its first byte went to the kernel */
    uint64_t done_ns;     /* when the last byte of its reply was read */
    bool measured;        /* sent while measuring was on */
};

typedef void (*flow_sample_fn)(void *ctx, const struct flow_sample *sample);

struct flow_slot; /* one request's bookkeeping (flow.c) */
struct mmsghdr;
struct iovec;

struct flow {
    struct flow_config cfg;
    int fd;
    bool measuring;
    uint64_t next_seq;
    uint32_t in_flight;
    struct run_counts counts;
    uint64_t late; /* UDP: replies to requests already counted lost, or beyond the history */
    uint64_t read_timeout_ns; /* 0, or flow_roundtrip made reads block this long at most */
    bool busy_poll;           /* flow_roundtrip spins on non-blocking reads instead */
    bool udp_no_gso;          /* the kernel refused UDP_SEGMENT once: sendmmsg from then on */
    /* What follows is flow.c's own; read it through the functions below. */
    struct flow_slot *slots;
    uint32_t slot_mask;   /* slots - 1, a power of two */
    uint64_t oldest_seq;  /* TCP: the head of the in-order queue; UDP: oldest maybe unanswered */
    uint64_t newest_done; /* UDP: highest sequence answered + 1, for reordering */
    uint8_t *pattern;     /* lowercase run, size + 26 bytes */
    uint8_t *pattern_up;  /* the same, uppercased */
    uint8_t *tx;          /* TCP: requests queued; [tx_off, tx_len) still to write */
    size_t tx_len, tx_off, tx_cap;
    uint64_t tx_unstamped_seq; /* TCP: the first queued request none of whose bytes went yet */
    size_t tx_unstamped_off;   /* ... and where it starts in tx */
    uint8_t *rx;
    size_t rx_cap;            /* TCP: bytes per read; UDP: bytes per datagram */
    struct mmsghdr *udp_msgs; /* UDP: FLOW_UDP_BATCH of them, for sendmmsg and recvmmsg */
    struct iovec *udp_iovs;
    size_t rx_off;                      /* TCP: bytes of the head reply taken so far */
    uint8_t rx_header[WIRE_HEADER_LEN]; /* TCP: a reply header gathered across reads */
    size_t rx_header_len;
    uint32_t rx_body_len;                  /* TCP: the current reply's body length */
    int rx_kind;                           /* TCP: what the current reply is (flow.c) */
    uint8_t rx_error[2 + WIRE_REASON_MAX]; /* TCP: an error frame's code and reason */
    int sockperf_upper; /* -1 not known yet, 0 the server echoes, 1 it uppercases */
    char why[FLOW_WHY_MAX];
};

/*
 * Whether cfg can be run: 0, or -EINVAL with a one-line reason in why (a
 * size below what the format needs, a UDP request over the datagram limit,
 * a window of 0 ...). flow_open calls it too.
 */
int flow_config_check(const struct flow_config *cfg, char *why, size_t why_cap);

/*
 * Take ownership of fd (a connected, non-blocking TCP or UDP socket of the
 * kind cfg says) and set the flow up. 0, or a negative errno (fd is then
 * closed and flow_why says why). fd -1 makes a flow without a socket, for
 * its reply judge alone (flow_rx.h: tests and fuzzing).
 */
int flow_open(struct flow *f, const struct flow_config *cfg, int fd);

/*
 * Resolve host and port (decimal) and connect, trying each address in turn
 * over TCP (the first over UDP), at most connect_timeout_ms each, then
 * flow_open. 0, or a negative errno with the reason in flow_why.
 */
int flow_connect(struct flow *f, const struct flow_config *cfg, const char *host, const char *port,
                 int connect_timeout_ms);

/* Requests sent from now on are counted (true) or not (false, the warm-up). */
void flow_set_measuring(struct flow *f, bool on);

/* True when flow_queue would take a request now (window, and room in the send buffer). */
bool flow_can_send(const struct flow *f);

/*
 * Take the next request, due at intended_ns (0: due when it is sent). It
 * waits in the send buffer for flow_flush, which stamps its sent time. 0,
 * or -EAGAIN if it cannot be taken now (nothing was: the window or the
 * buffer is full; flush, or wait for replies).
 */
int flow_queue(struct flow *f, uint64_t intended_ns);

/* flow_queue, then flow_flush: one request out now. -EAGAIN only if it was not taken. */
int flow_send(struct flow *f, uint64_t intended_ns);

/*
 * Write what is queued: over TCP in one send() while the socket takes it
 * all, over UDP in one segmented sendmsg. 0 when nothing is left, -EAGAIN when the
 * socket is full (wait for EPOLLOUT), or an error.
 */
int flow_flush(struct flow *f);

/* True when the flow has bytes waiting to be written: poll for POLLOUT/EPOLLOUT. */
bool flow_wants_write(const struct flow *f);

/*
 * Read every reply that has arrived (until the socket would block, or at
 * most a bounded batch so that one flow cannot starve the others), check
 * each, and call on_sample (may be NULL) for each right one. Returns the
 * number of requests completed (right, mismatched or error frames), or a
 * negative errno: the flow is then dead (EOF is -ECONNRESET).
 */
int flow_receive(struct flow *f, flow_sample_fn on_sample, void *ctx);

/*
 * UDP: count every request sent more than timeout_ns before now_ns and still
 * unanswered as lost, freeing its place in the window. Returns how many.
 * TCP: 0.
 */
uint32_t flow_expire(struct flow *f, uint64_t now_ns);

/* The monotonic time when the oldest request in flight will be lost (UDP); UINT64_MAX if none. */
uint64_t flow_next_expiry_ns(const struct flow *f);

/* When the oldest request still in flight was sent; UINT64_MAX if none (TCP stall checks). */
uint64_t flow_oldest_sent_ns(const struct flow *f);

/* Give up on every request still in flight (the run is over): counted lost. Returns how many. */
uint32_t flow_abandon(struct flow *f);

/*
 * Ping-pong: send one request due now, wait (poll) for its reply at most
 * timeout_ns, and fill *sample. 1: a right reply; 0: no right reply (it was
 * lost over UDP, or mismatched, or an error frame: see the counts); or a
 * negative errno (-ETIMEDOUT over TCP when no reply came in time). The
 * window must be empty when it is called. It makes the socket's reads block
 * (with a receive timeout) so that a wait is one recv; every other call
 * passes MSG_DONTWAIT, so the flow can still go into an event loop.
 */
int flow_roundtrip(struct flow *f, uint64_t timeout_ns, struct flow_sample *sample);

/*
 * flow_roundtrip waits by spinning (true): non-blocking reads in a loop
 * until the reply or the timeout, never a sleep, so no wake-up is paid.
 * It keeps a CPU at 100% meanwhile.
 */
void flow_set_busy_poll(struct flow *f, bool on);

int flow_fd(const struct flow *f);
uint32_t flow_in_flight(const struct flow *f);
const struct run_counts *flow_counts(const struct flow *f);
/* The first mismatch, or the last error, in one line; "" if none. */
const char *flow_why(const struct flow *f);

void flow_close(struct flow *f);

/* Bytes on the wire per request (payload and any header), for sizing buffers. */
size_t flow_request_len(const struct flow_config *cfg);

/*
 * Write request seq's payload (size bytes; FLOW_SOCKPERF: the bytes after
 * the header) into out. Pure; exposed for tests and fake servers.
 */
void flow_payload(uint64_t seq, uint32_t size, uint8_t *out);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t flow_now_ns(void);

#endif
