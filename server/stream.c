#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pump.h"

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

static void stream_close(struct stream *s)
{
    struct server *server = s->server;
    list_remove(&s->deadline);
    list_remove(&s->all);
    loop_del(&server->loop, &s->source);
    server->io->close(s->source.fd);
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
 * The pump has shut down the write side: everything queued and a FIN are on
 * their way. Reading until the peer's EOF (or a deadline) then lets the
 * close be clean instead of an RST that would destroy the error frame.
 */
static void stream_start_linger(struct stream *s)
{
    struct server *server = s->server;
    s->phase = STREAM_LINGERING;
    s->deadline_ms = loop_now_ms() + STREAM_LINGER_MS;
    list_append(&server->lingering, &s->deadline);
    if (loop_set_events(&server->loop, &s->source, EPOLLIN) != 0)
        stream_reset(s);
}

/* Ask epoll for what the engine needs next. */
static void stream_wait(struct stream *s, const struct pump_outcome *outcome)
{
    uint32_t events = (outcome->want_read ? EPOLLIN : 0) | (outcome->want_write ? EPOLLOUT : 0);
    if (loop_set_events(&s->server->loop, &s->source, events) != 0)
        stream_reset(s);
}

static void stream_on_ready(struct loop_source *source, uint32_t events)
{
    struct stream *s = LIST_ENTRY(source, struct stream, source);
    struct server *server = s->server;
    struct pump pump = {
        .engine = &s->engine,
        .fd = source->fd,
        .io = server->io,
        .scratch = server->read_buf,
        .scratch_len = sizeof server->read_buf,
    };
    if (s->phase == STREAM_LINGERING) {
        if (pump_discard(&pump) == PUMP_CLOSE)
            stream_close(s);
        return;
    }
    /* EPOLLERR and EPOLLHUP surface as errors or EOF from recv and send themselves. */
    struct pump_outcome outcome = pump_serve(&pump, events & (EPOLLIN | EPOLLERR | EPOLLHUP));
    switch (outcome.next) {
    case PUMP_WAIT:
        stream_wait(s, &outcome);
        return;
    case PUMP_LINGER:
        stream_start_linger(s);
        return;
    case PUMP_CLOSE:
        stream_close(s);
        return;
    case PUMP_RESET:
        stream_reset(s);
        return;
    }
}

static void stream_open(struct server *server, int fd, enum conn_mode mode)
{
    struct stream *s = calloc(1, sizeof *s);
    if (!s) {
        server->io->close(fd);
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
    int fd = server->io->accept4(listener_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) {
        server->io->close(fd);
        server->stats.refused_no_fds++;
    }
    server->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void stream_accept(struct server *server, int listener_fd, enum conn_mode mode)
{
    for (int i = 0; i < STREAM_ACCEPT_BATCH; i++) {
        int fd = server->io->accept4(listener_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
