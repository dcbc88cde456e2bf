/*
 * accept: shoutd's accept side, shared by every TCP listener (the main
 * port, the sockperf port, the stats port). It takes connections off a
 * listener, and keeps a listener that stays readable from spinning the loop
 * when the process is out of descriptors: one descriptor (/dev/null) is held
 * back, given up to accept the waiting connection and close it at once (the
 * peer sees a clean close), then taken back. Without a spare to be had,
 * accepting pauses for ACCEPT_PAUSE_MS (every listener unwatched), as nginx
 * does; connections wait in the kernel's backlog meanwhile.
 *
 * The acceptor owns the spare descriptor (closed by acceptor_close) and
 * nothing else: the listeners' sources are the caller's, and must be
 * forgotten (acceptor_forget) before they are freed or closed.
 */
#ifndef SHOUTD_ACCEPT_H
#define SHOUTD_ACCEPT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "kernel.h"
#include "loop.h"

#define ACCEPT_PAUSE_MS 100
/* The main and sockperf ports on up to OPTIONS_MAX_LISTEN addresses, and the stats port. */
#define ACCEPT_MAX_LISTENERS 17

struct accept_stats {
    uint64_t refused_no_fds; /* connections turned away on EMFILE/ENFILE */
    uint64_t accept_pauses;  /* no spare descriptor to be had: accepting paused briefly */
};

struct acceptor {
    const struct kernel *kernel;
    struct loop *loop;
    int spare_fd;       /* -1 when not held */
    uint64_t resume_ms; /* accepting is paused until then (loop.now_ms); 0: not paused */
    struct loop_source *listeners[ACCEPT_MAX_LISTENERS];
    size_t listener_count;
    struct accept_stats stats;
};

/* Set up, and try to take the spare descriptor. */
void acceptor_init(struct acceptor *a, const struct kernel *kernel, struct loop *loop);

/* A listener to pause and resume with the others; false if there is no room for it. */
bool acceptor_watch(struct acceptor *a, struct loop_source *listener);
/* Stop pausing and resuming it: before it is closed. */
void acceptor_forget(struct acceptor *a, const struct loop_source *listener);

enum {
    ACCEPT_AGAIN = -1, /* nothing to serve this time; try the next connection */
    ACCEPT_DONE = -2,  /* the listener is drained, or accepting paused: stop for this wakeup */
};

/*
 * Take one connection off the listener: its descriptor (non-blocking,
 * close-on-exec), with its address in *peer when peer is not NULL; or
 * ACCEPT_AGAIN or ACCEPT_DONE. Out of descriptors, the waiting connection
 * is refused with the spare (counted in refused_no_fds) and ACCEPT_DONE.
 */
int acceptor_take(struct acceptor *a, int listener_fd, struct sockaddr_storage *peer);

/*
 * Resume accepting if the pause is over at now_ms; returns when the loop
 * must wake next for it, UINT64_MAX if it need not.
 */
uint64_t acceptor_tick(struct acceptor *a, uint64_t now_ms);

/* Release the spare descriptor. */
void acceptor_close(struct acceptor *a);

#endif
