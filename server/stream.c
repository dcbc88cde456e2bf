#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connections accepted per wakeup, so that a flood cannot starve the others. */
#define STREAM_ACCEPT_BATCH 64

enum stream_phase {
    STREAM_SERVING,   /* the engine decides what is sent */
    STREAM_LINGERING, /* write side shut down; input discarded until EOF or the deadline */
};

struct stream {
    struct loop_source source;
    struct server *server;
    struct conn engine;
    enum stream_phase phase;
    uint64_t deadline_ms;
    struct list_node all;      /* in server->streams */
    struct list_node deadline; /* in server->lingering while lingering */
};

static void stream_on_ready(struct loop_source *source, uint32_t events);

static void stream_close(struct stream *s)
{
    struct server *server = s->server;
    list_remove(&s->deadline);
    list_remove(&s->all);
    loop_del(&server->loop, &s->source);
    close(s->source.fd);
    conn_free(&s->engine);
    server->stats.closed++;
    free(s);
}

/* A hard error on the socket: the peer is gone, nothing more can be delivered. */
static void stream_reset(struct stream *s)
{
    s->server->stats.resets++;
    stream_close(s);
}

/*
 * close() with unread input makes the kernel send RST, and an RST destroys
 * replies the peer has not read yet, the error frame among them. Shutting
 * down the write side first delivers everything queued plus a FIN; reading
 * until the peer's EOF (or a deadline) then lets the close be clean.
 */
static void stream_start_linger(struct stream *s)
{
    struct server *server = s->server;
    if (shutdown(s->source.fd, SHUT_WR) != 0) {
        stream_reset(s);
        return;
    }
    s->phase = STREAM_LINGERING;
    s->deadline_ms = loop_now_ms() + STREAM_LINGER_MS;
    list_append(&server->lingering, &s->deadline);
    if (loop_set_events(&server->loop, &s->source, EPOLLIN) != 0)
        stream_reset(s);
}

static void stream_discard_input(struct stream *s)
{
    ssize_t n = recv(s->source.fd, s->server->read_buf, sizeof s->server->read_buf, 0);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
        return;
    stream_close(s);
}

/* Read once, if the engine wants input; returns -1 if the stream was closed. */
static int stream_read(struct stream *s)
{
    if (!conn_wants_input(&s->engine))
        return 0;
    struct server *server = s->server;
    ssize_t n = recv(s->source.fd, server->read_buf, sizeof server->read_buf, 0);
    if (n > 0) {
        conn_feed(&s->engine, server->read_buf, (size_t)n);
        return 0;
    }
    if (n == 0) {
        conn_peer_closed(&s->engine);
        return 0;
    }
    if (errno == EAGAIN || errno == EINTR)
        return 0;
    stream_reset(s);
    return -1;
}

/* Send queued replies until the socket is full or nothing is left; -1 if closed. */
static int stream_write(struct stream *s)
{
    for (;;) {
        size_t len;
        const uint8_t *out = conn_output(&s->engine, &len);
        if (len == 0)
            return 0;
        ssize_t n = send(s->source.fd, out, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            stream_reset(s);
            return -1;
        }
        /* Sending may let the engine answer input it was holding back. */
        conn_output_sent(&s->engine, (size_t)n);
    }
}

/* After a read or a write: close, linger, or ask epoll for what the engine needs next. */
static void stream_settle(struct stream *s)
{
    struct conn *engine = &s->engine;
    if (conn_finished(engine)) {
        if (engine->state == CONN_FAILED)
            stream_start_linger(s);
        else
            stream_close(s);
        return;
    }
    size_t pending;
    conn_output(engine, &pending);
    uint32_t events = (conn_wants_input(engine) ? EPOLLIN : 0) | (pending ? EPOLLOUT : 0);
    if (loop_set_events(&s->server->loop, &s->source, events) != 0)
        stream_reset(s);
}

static void stream_on_ready(struct loop_source *source, uint32_t events)
{
    struct stream *s = LIST_ENTRY(source, struct stream, source);
    if (s->phase == STREAM_LINGERING) {
        stream_discard_input(s);
        return;
    }
    /* EPOLLERR and EPOLLHUP surface as errors or EOF from recv and send themselves. */
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && stream_read(s) != 0)
        return;
    if (stream_write(s) != 0)
        return;
    stream_settle(s);
}

static void stream_open(struct server *server, int fd, enum conn_mode mode)
{
    struct stream *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        return;
    }
    int one = 1;
    /* Replies go out as soon as they are ready: latency is what is measured here. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->server = server;
    s->source = (struct loop_source){.fd = fd, .on_ready = stream_on_ready, .owner = s};
    s->phase = STREAM_SERVING;
    conn_init_mode(&s->engine, &server->limits, &server->counters, mode);
    list_init(&s->deadline);
    list_append(&server->streams, &s->all);
    server->stats.accepted++;
    if (loop_add(&server->loop, &s->source, EPOLLIN) != 0)
        stream_close(s);
}

/*
 * Out of descriptors, a listener stays readable and a plain accept loop
 * spins. The spare descriptor is given up to accept the waiting connection
 * and close it at once (the peer sees a clean close), then taken back.
 */
void stream_refuse_no_fds(struct server *server, int listener_fd)
{
    if (server->spare_fd >= 0)
        close(server->spare_fd);
    int fd = accept4(listener_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        server->stats.refused_no_fds++;
    }
    server->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void stream_accept(struct server *server, int listener_fd, enum conn_mode mode)
{
    for (int i = 0; i < STREAM_ACCEPT_BATCH; i++) {
        int fd = accept4(listener_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            stream_open(server, fd, mode);
            continue;
        }
        if (errno == EMFILE || errno == ENFILE)
            stream_refuse_no_fds(server, listener_fd);
        else if (errno == EINTR || errno == ECONNABORTED)
            continue;
        /* EAGAIN: drained; anything else is the peer's trouble, not the listener's. */
        return;
    }
}

void stream_on_listener_ready(struct loop_source *listener, uint32_t events)
{
    (void)events;
    /* The first byte of each connection chooses text or framed. */
    stream_accept(listener->owner, listener->fd, CONN_MODE_UNDECIDED);
}

void stream_on_sockperf_listener_ready(struct loop_source *listener, uint32_t events)
{
    (void)events;
    stream_accept(listener->owner, listener->fd, CONN_MODE_SOCKPERF);
}

int stream_expire(struct server *server, uint64_t now_ms)
{
    while (!list_empty(&server->lingering)) {
        struct stream *s = LIST_ENTRY(server->lingering.next, struct stream, deadline);
        if (s->deadline_ms > now_ms) {
            uint64_t wait_ms = s->deadline_ms - now_ms;
            return wait_ms > 60000 ? 60000 : (int)wait_ms;
        }
        server->stats.lingers_expired++;
        stream_close(s);
    }
    return -1;
}

void stream_close_all(struct server *server)
{
    while (!list_empty(&server->streams))
        stream_close(LIST_ENTRY(server->streams.next, struct stream, all));
}
