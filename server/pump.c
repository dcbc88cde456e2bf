#include "pump.h"

#include <errno.h>
#include <sys/socket.h>

/* A failed call that only means "not now": the socket is still good. */
static bool pump_try_later(void)
{
    return errno == EAGAIN || errno == EINTR;
}

static size_t pump_read_len(const struct pump *p)
{
    /* The engine takes at most one feed of CONN_FEED_MAX bytes at a time. */
    return p->scratch_len < CONN_FEED_MAX ? p->scratch_len : CONN_FEED_MAX;
}

/* Read once, if the engine wants input: the bytes read, or -1 on a socket error. */
static ssize_t pump_read(const struct pump *p)
{
    if (!conn_wants_input(p->engine))
        return 0;
    ssize_t n = p->kernel->recv(p->fd, p->scratch, pump_read_len(p), 0);
    if (n > 0) {
        conn_feed(p->engine, p->scratch, (size_t)n);
        return n;
    }
    if (n == 0) {
        conn_peer_closed(p->engine);
        return 0;
    }
    return pump_try_later() ? 0 : -1;
}

/*
 * Send queued output until the socket is full or nothing is left: the bytes
 * sent, or -1 on a socket error.
 */
static ssize_t pump_write(const struct pump *p)
{
    ssize_t sent = 0;
    for (;;) {
        size_t len;
        const uint8_t *out = conn_output(p->engine, &len);
        if (len == 0)
            return sent;
        /* MSG_NOSIGNAL: a peer that went away is EPIPE here, never a SIGPIPE. */
        ssize_t n = p->kernel->send(p->fd, out, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
            return pump_try_later() ? sent : -1;
        /* A short write leaves the rest queued; sending may let the engine answer held input. */
        conn_output_sent(p->engine, (size_t)n);
        sent += n;
    }
}

/*
 * After a read and a write: close, linger, or wait. close() with unread
 * input makes the kernel send RST, and an RST destroys replies the peer has
 * not read yet, the error frame among them; shutting down the write side
 * first delivers everything queued plus a FIN.
 */
static struct pump_outcome pump_settle(const struct pump *p)
{
    const struct conn *engine = p->engine;
    if (conn_finished(engine)) {
        if (engine->state != CONN_FAILED)
            return (struct pump_outcome){.next = PUMP_CLOSE};
        if (p->kernel->shutdown(p->fd, SHUT_WR) != 0)
            return (struct pump_outcome){.next = PUMP_RESET};
        return (struct pump_outcome){.next = PUMP_LINGER};
    }
    size_t queued;
    conn_output(engine, &queued);
    return (struct pump_outcome){
        .next = PUMP_WAIT,
        .want_read = conn_wants_input(engine),
        .want_write = queued > 0,
    };
}

struct pump_outcome pump_serve(const struct pump *p, bool readable)
{
    ssize_t got = readable ? pump_read(p) : 0;
    if (got < 0)
        return (struct pump_outcome){.next = PUMP_RESET};
    ssize_t sent = pump_write(p);
    if (sent < 0)
        return (struct pump_outcome){.next = PUMP_RESET};
    struct pump_outcome outcome = pump_settle(p);
    outcome.bytes_read = (size_t)got;
    outcome.bytes_sent = (size_t)sent;
    return outcome;
}

enum pump_next pump_discard(const struct pump *p)
{
    ssize_t n = p->kernel->recv(p->fd, p->scratch, pump_read_len(p), 0);
    if (n > 0 || (n < 0 && pump_try_later()))
        return PUMP_LINGER;
    return PUMP_CLOSE;
}
