#include "accept.h"

#include <errno.h>
#include <fcntl.h>

static bool acceptor_hold_spare(struct acceptor *a)
{
    if (a->spare_fd < 0)
        a->spare_fd = a->kernel->open("/dev/null", O_RDONLY | O_CLOEXEC);
    return a->spare_fd >= 0;
}

void acceptor_init(struct acceptor *a, const struct kernel *kernel, struct loop *loop)
{
    *a = (struct acceptor){.kernel = kernel, .loop = loop, .spare_fd = -1};
    acceptor_hold_spare(a);
}

bool acceptor_watch(struct acceptor *a, struct loop_source *listener)
{
    if (a->listener_count == ACCEPT_MAX_LISTENERS)
        return false;
    a->listeners[a->listener_count++] = listener;
    return true;
}

void acceptor_forget(struct acceptor *a, const struct loop_source *listener)
{
    for (size_t i = 0; i < a->listener_count; i++) {
        if (a->listeners[i] == listener) {
            a->listeners[i] = a->listeners[--a->listener_count];
            return;
        }
    }
}

/* Watch (EPOLLIN) or stop watching (0) every listener. */
static void acceptor_watch_listeners(struct acceptor *a, uint32_t events)
{
    for (size_t i = 0; i < a->listener_count; i++)
        loop_set_events(a->loop, a->listeners[i], events);
}

static void acceptor_pause(struct acceptor *a)
{
    if (a->resume_ms != 0)
        return;
    a->stats.accept_pauses++;
    a->resume_ms = a->loop->now_ms + ACCEPT_PAUSE_MS;
    acceptor_watch_listeners(a, 0);
}

/*
 * Out of descriptors: give up the spare to accept the waiting connection and
 * close it at once. If the spare cannot be taken back (the system's table is
 * full: ENFILE, and another process took the slot), there is none for the
 * next one: pause instead.
 */
static void acceptor_refuse_no_fds(struct acceptor *a, int listener_fd)
{
    const struct kernel *k = a->kernel;
    if (a->spare_fd >= 0)
        k->close(a->spare_fd);
    a->spare_fd = -1;
    int fd = k->accept4(listener_fd, NULL, NULL, SOCK_CLOEXEC);
    /* Even the spare's slot did not help: another process took it. */
    bool still_no_fds = fd < 0 && (errno == EMFILE || errno == ENFILE);
    if (fd >= 0) {
        k->close(fd);
        a->stats.refused_no_fds++;
    }
    if (!acceptor_hold_spare(a) || still_no_fds)
        acceptor_pause(a);
}

int acceptor_take(struct acceptor *a, int listener_fd, struct sockaddr_storage *peer)
{
    socklen_t peer_len = sizeof *peer;
    if (peer != NULL)
        peer->ss_family = AF_UNSPEC;
    int fd = a->kernel->accept4(listener_fd, (struct sockaddr *)peer, peer ? &peer_len : NULL,
                                SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0)
        return fd;
    if (errno == EMFILE || errno == ENFILE) {
        acceptor_refuse_no_fds(a, listener_fd);
        return ACCEPT_DONE;
    }
    if (errno == EINTR || errno == ECONNABORTED)
        return ACCEPT_AGAIN;
    /* EAGAIN: drained; anything else is the peer's trouble, not the listener's. */
    return ACCEPT_DONE;
}

uint64_t acceptor_tick(struct acceptor *a, uint64_t now_ms)
{
    if (a->resume_ms == 0)
        return UINT64_MAX;
    if (now_ms < a->resume_ms)
        return a->resume_ms;
    a->resume_ms = 0;
    acceptor_hold_spare(a);
    acceptor_watch_listeners(a, EPOLLIN);
    return UINT64_MAX;
}

void acceptor_close(struct acceptor *a)
{
    if (a->spare_fd >= 0)
        a->kernel->close(a->spare_fd);
    a->spare_fd = -1;
}
