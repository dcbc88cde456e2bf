/*
 * shoutd: the shout server. main wires the parts together: options, the
 * listening sockets, signals as events, and the loop that runs until
 * SIGINT or SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "dgram.h"
#include "server.h"
#include "stream.h"

static void server_on_signal(struct loop_source *source, uint32_t events)
{
    (void)events;
    struct server *server = source->owner;
    struct signalfd_siginfo info;
    while (read(source->fd, &info, sizeof info) == (ssize_t)sizeof info) {
        fprintf(stderr, "shoutd: caught SIG%s, exiting\n", sigabbrev_np((int)info.ssi_signo));
        server->loop.stop = true;
    }
}

/*
 * SIGINT and SIGTERM arrive as events on a signalfd, so they are handled in
 * the loop like any other input, never in the middle of a send. SIGPIPE is
 * ignored: a peer that went away is an error return, not a death.
 */
static int server_watch_signals(struct server *server)
{
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop_signals, NULL) != 0)
        return -errno;
    int fd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    server->signal_source =
        (struct loop_source){.fd = fd, .on_ready = server_on_signal, .owner = server};
    return loop_add(&server->loop, &server->signal_source, EPOLLIN);
}

static int server_watch_sockets(struct server *server)
{
    struct listeners *ls = &server->listeners;
    for (size_t i = 0; i < ls->count; i++) {
        server->tcp_sources[i] = (struct loop_source){
            .fd = ls->tcp_fds[i], .on_ready = stream_on_listener_ready, .owner = server};
        server->udp_sources[i] =
            (struct loop_source){.fd = ls->udp_fds[i], .on_ready = dgram_on_ready, .owner = server};
        int err = loop_add(&server->loop, &server->tcp_sources[i], EPOLLIN);
        if (err == 0)
            err = loop_add(&server->loop, &server->udp_sources[i], EPOLLIN);
        if (err != 0)
            return err;
        fprintf(stderr, "shoutd: listening on %s%s%s port %u (tcp, udp)\n",
                strchr(server->opts.listen[i].text, ':') ? "[" : "", server->opts.listen[i].text,
                strchr(server->opts.listen[i].text, ':') ? "]" : "", ls->port);
    }
    return 0;
}

static int server_run(struct server *server)
{
    while (!server->loop.stop) {
        int timeout_ms = stream_expire(server, loop_now_ms());
        int err = loop_run_once(&server->loop, timeout_ms);
        if (err != 0) {
            fprintf(stderr, "shoutd: epoll_wait: %s\n", strerror(-err));
            return err;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct server server;
    switch (options_parse(&server.opts, argc, argv)) {
    case OPTIONS_EXIT_OK:
        return 0;
    case OPTIONS_EXIT_USAGE:
        return 2;
    case OPTIONS_RUN:
        break;
    }
    server.limits = (struct conn_limits){
        .max_payload = server.opts.max_frame,
        /* Room for at least one whole reply, and never less than 1 MiB. */
        .max_output = server.opts.max_frame + WIRE_HEADER_LEN > 1024 * 1024
                          ? server.opts.max_frame + WIRE_HEADER_LEN
                          : 1024 * 1024,
    };
    list_init(&server.streams);
    list_init(&server.lingering);
    server.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    fprintf(stderr, "shoutd %s starting (max frame %u bytes)\n", SHOUT_VERSION,
            server.opts.max_frame);

    int err = loop_init(&server.loop);
    if (err == 0)
        err = server_watch_signals(&server);
    if (err != 0) {
        fprintf(stderr, "shoutd: cannot set up the event loop: %s\n", strerror(-err));
        return 1;
    }
    if (listeners_open(&server.listeners, &server.opts) != 0)
        return 1;
    err = server_watch_sockets(&server);
    if (err != 0) {
        fprintf(stderr, "shoutd: cannot watch the sockets: %s\n", strerror(-err));
        return 1;
    }
    printf("%u\n", server.listeners.port);
    fflush(stdout);

    err = server_run(&server);
    stream_close_all(&server);
    listeners_close(&server.listeners);
    close(server.signal_source.fd);
    if (server.spare_fd >= 0)
        close(server.spare_fd);
    loop_free(&server.loop);
    return err == 0 ? 0 : 1;
}
