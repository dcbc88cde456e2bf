#include "peer.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net.h"

/*
 * One read's worth. It is also more than any UDP reply can rightly be (a
 * request is at most 65507 bytes), so a datagram too long for it is still
 * seen as too long, not quietly cut to size.
 */
#define PEER_RX_CAP 65536

/* The request bytes not yet sent: the rest of the header, then the rest of the payload. */
struct peer_outq {
    struct iovec iov[2];
    size_t left;
};

static void peer_outq_init(struct peer_outq *q, const struct peer_request *req)
{
    q->iov[0] = (struct iovec){.iov_base = (void *)req->header, .iov_len = req->header_len};
    q->iov[1] = (struct iovec){.iov_base = (void *)req->payload, .iov_len = req->payload_len};
    q->left = req->header_len + req->payload_len;
}

static void peer_outq_sent(struct peer_outq *q, size_t n)
{
    q->left -= n;
    for (int i = 0; i < 2 && n > 0; i++) {
        size_t take = n < q->iov[i].iov_len ? n : q->iov[i].iov_len;
        q->iov[i].iov_base = (uint8_t *)q->iov[i].iov_base + take;
        q->iov[i].iov_len -= take;
        n -= take;
    }
}

/* sendmsg on what is left; MSG_NOSIGNAL so a closed peer is EPIPE, never SIGPIPE. */
static ssize_t peer_outq_send(int fd, struct peer_outq *q)
{
    int first = q->iov[0].iov_len ? 0 : 1;
    struct msghdr msg = {.msg_iov = q->iov + first, .msg_iovlen = (size_t)(2 - first)};
    return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

static enum peer_status peer_fail(struct peer *p, enum peer_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum peer_status peer_fail(struct peer *p, enum peer_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->why, sizeof p->why, fmt, ap);
    va_end(ap);
    return status;
}

/* An errno from the socket as a status and a message naming the address. */
static enum peer_status peer_fail_errno(struct peer *p, const char *what, int err)
{
    char where[NI_MAXHOST + 32];
    net_describe(p->addr, where, sizeof where);
    if (err == ETIMEDOUT)
        return peer_fail(p, PEER_TIMEOUT, "%s %s: timed out after %g s", what, where,
                         p->opt.timeout_s);
    return peer_fail(p, PEER_NETWORK, "%s %s: %s", what, where, strerror(err));
}

/* Connect to start or, failing that, each address after it; the last failure is reported. */
static enum peer_status peer_connect_from(struct peer *p, const struct addrinfo *start)
{
    int err = EDESTADDRREQ;
    for (const struct addrinfo *ai = start; ai; ai = ai->ai_next) {
        p->addr = ai;
        int fd = net_connect(ai, p->opt.timeout_ms);
        if (fd >= 0) {
            p->fd = fd;
            p->answered = false;
            return PEER_OK;
        }
        err = -fd;
    }
    return peer_fail_errno(p, "connect to", err);
}

enum peer_status peer_open(struct peer *p, const struct peer_options *opt)
{
    *p = (struct peer){.opt = *opt, .fd = -1};
    if (net_resolve(opt->host, opt->port, opt->udp, opt->family, &p->addrs, p->why,
                    sizeof p->why) != 0)
        return PEER_NETWORK;
    enum peer_status status = PEER_NO_MEMORY;
    p->rx_cap = PEER_RX_CAP;
    p->rx = malloc(p->rx_cap);
    if (!p->rx)
        peer_fail(p, PEER_NO_MEMORY, "out of memory");
    else
        status = peer_connect_from(p, p->addrs);
    if (status != PEER_OK)
        peer_close(p);
    return status;
}

/* Leaves why alone: after a failed open it still says what went wrong. */
void peer_close(struct peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    if (p->addrs)
        freeaddrinfo(p->addrs);
    p->addrs = NULL;
    p->addr = NULL;
    free(p->rx);
    p->rx = NULL;
    p->rx_cap = 0;
}

const char *peer_why(const struct peer *p)
{
    return p->why;
}

/* The check has its verdict: turn it into the exchange's status. */
static enum peer_status peer_verdict(struct peer *p, struct check *chk)
{
    switch (check_status(chk)) {
    case CHECK_DONE:
        return PEER_OK;
    case CHECK_SERVER_ERROR:
        return peer_fail(p, PEER_SERVER_ERROR, "%s", check_why(chk));
    case CHECK_MISMATCH:
    case CHECK_NEED_MORE:
        break;
    }
    return peer_fail(p, PEER_MISMATCH, "%s", check_why(chk));
}

/*
 * Read what has arrived into the check. Returns the bytes read, 0 at the end
 * of the stream, -EAGAIN when none were waiting, or another negative errno.
 */
static ssize_t peer_tcp_read(struct peer *p, struct check *chk)
{
    ssize_t n = recv(p->fd, p->rx, p->rx_cap, 0);
    if (n > 0)
        check_feed(chk, p->rx, (size_t)n);
    if (n >= 0)
        return n;
    if (errno == EWOULDBLOCK || errno == EINTR)
        return -EAGAIN;
    return -errno;
}

/* The server closed its side: fine only if the verdict is already in. */
static enum peer_status peer_tcp_closed(struct peer *p, struct check *chk, size_t sent,
                                        size_t request_len, int send_err)
{
    if (check_status(chk) == CHECK_MISMATCH || check_status(chk) == CHECK_SERVER_ERROR)
        return peer_verdict(p, chk);
    return peer_fail(p, PEER_NETWORK,
                     "the server closed the connection after %zu reply bytes, before the whole "
                     "reply came (sent %zu of %zu request bytes%s%s)",
                     chk->received, sent, request_len, send_err ? ": " : "",
                     send_err ? strerror(send_err) : "");
}

static enum peer_status peer_exchange_tcp(struct peer *p, const struct peer_request *req,
                                          struct check *chk)
{
    struct peer_outq q;
    peer_outq_init(&q, req);
    size_t request_len = q.left;
    int send_err = 0;
    int64_t deadline = net_now_ms() + p->opt.timeout_ms;

    /* Bounded: every turn moves bytes (pushing the deadline) or waits towards the deadline. */
    for (;;) {
        if (check_status(chk) == CHECK_DONE && q.left == 0)
            return PEER_OK;
        if (check_status(chk) == CHECK_MISMATCH || check_status(chk) == CHECK_SERVER_ERROR)
            return peer_verdict(p, chk);

        int64_t left_ms = deadline - net_now_ms();
        short events = POLLIN | (q.left && !send_err ? POLLOUT : 0);
        short revents = 0;
        int rc = left_ms > 0 ? net_wait(p->fd, events, (int)left_ms, &revents) : 0;
        if (rc < 0)
            return peer_fail_errno(p, "poll on", -rc);
        if (rc == 0)
            return peer_fail(p, PEER_TIMEOUT,
                             "timed out: nothing moved for %g s (sent %zu of %zu request bytes, "
                             "received %zu reply bytes)",
                             p->opt.timeout_s, request_len - q.left, request_len, chk->received);

        bool moved = false;
        if (q.left && !send_err && (revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = peer_outq_send(p->fd, &q);
            if (n > 0) {
                peer_outq_sent(&q, (size_t)n);
                moved = true;
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                /*
                 * Stop sending but keep reading: a server that refuses a
                 * frame sends an error frame and closes, and that frame
                 * explains the failure better than EPIPE does.
                 */
                send_err = errno;
            }
        }
        if (revents & (POLLIN | POLLERR | POLLHUP)) {
            ssize_t n = peer_tcp_read(p, chk);
            if (n > 0)
                moved = true;
            else if (n == 0)
                return peer_tcp_closed(p, chk, request_len - q.left, request_len, send_err);
            else if (n != -EAGAIN)
                return peer_fail_errno(p, "receive from", (int)-n);
        }
        if (moved)
            deadline = net_now_ms() + p->opt.timeout_ms;
    }
}

/*
 * One UDP attempt on the current address: send the datagram, wait for the
 * reply and judge it whole. Returns 0 when the check has its verdict, or a
 * negative errno (-ETIMEDOUT when no reply came).
 */
static int peer_udp_attempt(struct peer *p, const struct peer_request *req, struct check *chk)
{
    struct peer_outq q;
    peer_outq_init(&q, req);
    ssize_t sent;
    do
        sent = peer_outq_send(p->fd, &q);
    while (sent < 0 && errno == EINTR);
    if (sent < 0)
        return -errno;
    if ((size_t)sent != q.left)
        return -EMSGSIZE; /* a datagram goes whole or not at all; this cannot happen */

    int64_t deadline = net_now_ms() + p->opt.timeout_ms;
    /* Bounded by the deadline: each turn waits for what is left of it. */
    for (;;) {
        int64_t left_ms = deadline - net_now_ms();
        short revents;
        int rc = left_ms > 0 ? net_wait(p->fd, POLLIN, (int)left_ms, &revents) : 0;
        if (rc == 0)
            return -ETIMEDOUT;
        if (rc < 0)
            return rc;
        ssize_t n = recv(p->fd, p->rx, p->rx_cap, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        if (n < 0)
            return -errno;
        p->answered = true;
        check_feed(chk, p->rx, (size_t)n);
        check_end(chk);
        return 0;
    }
}

static enum peer_status peer_exchange_udp(struct peer *p, const struct peer_request *req,
                                          struct check *chk)
{
    /* Bounded by the address list: each retry moves to a later address. */
    for (;;) {
        int rc = peer_udp_attempt(p, req, chk);
        if (rc == 0)
            return peer_verdict(p, chk);
        if (rc == -ETIMEDOUT)
            return peer_fail(p, PEER_TIMEOUT, "timed out: no reply within %g s", p->opt.timeout_s);
        /*
         * Refused before this address ever answered: nothing listens there
         * (say ::1 when the server is bound to 127.0.0.1), so the request
         * never reached a server and can go to the next address.
         */
        if (rc == -ECONNREFUSED && !p->answered && p->addr->ai_next) {
            close(p->fd);
            p->fd = -1;
            enum peer_status status = peer_connect_from(p, p->addr->ai_next);
            if (status != PEER_OK)
                return status;
            continue;
        }
        return peer_fail_errno(p, "exchange with", -rc);
    }
}

enum peer_status peer_exchange(struct peer *p, const struct peer_request *req, struct check *chk)
{
    if (p->fd < 0)
        return peer_fail(p, PEER_NETWORK, "not connected");
    return p->opt.udp ? peer_exchange_udp(p, req, chk) : peer_exchange_tcp(p, req, chk);
}
