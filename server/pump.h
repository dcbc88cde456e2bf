/*
 * pump: moves the bytes of one TCP connection between its socket and its
 * connection engine (lib/conn.h), and decides what the connection needs
 * next. It is the part of shoutd's TCP side that talks to the kernel about a
 * connection, so it makes its calls through a struct kernel (kernel.h):
 * stream.c passes the real syscalls and turns the outcome into epoll
 * interest, timers and closes; fuzz/fuzz_conn.c passes a fake kernel and
 * drives exactly this code without a socket or epoll.
 *
 * One round (pump_serve): read once if the socket is readable and the
 * engine wants input, send queued output until the socket is full or
 * nothing is left (sending lets the engine answer input it held back), then
 * settle: wait (for reading, writing or both), linger after an error (the
 * write side is shut down here, so that every queued byte and then a FIN
 * reach the peer before anything is closed), close, or reset on a socket
 * error. While lingering, pump_discard reads and throws away input until the
 * peer's EOF.
 *
 * Memory: the pump owns nothing. The engine, the descriptor and the kernel
 * table are the caller's; scratch is where reads land, and its contents are
 * not needed after a call returns, so one buffer can serve every connection.
 * The pump never closes the descriptor: the outcome says when to.
 */
#ifndef SHOUTD_PUMP_H
#define SHOUTD_PUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "kernel.h"

struct pump {
    struct conn *engine;
    int fd;
    const struct kernel *kernel;
    uint8_t *scratch;   /* where reads land */
    size_t scratch_len; /* bytes read at most per call (capped at CONN_FEED_MAX) */
};

enum pump_next {
    PUMP_WAIT,   /* still serving: wait until the socket is ready as want_read/want_write say */
    PUMP_LINGER, /* the engine failed and its output is sent, the write side is shut down:
                    discard input (pump_discard) until the peer's EOF or a deadline */
    PUMP_CLOSE,  /* nothing more to send or to wait for: close */
    PUMP_RESET,  /* the socket failed (reset by the peer, ...): close, counted as a reset */
};

struct pump_outcome {
    enum pump_next next;
    bool want_read;    /* PUMP_WAIT: the engine wants input */
    bool want_write;   /* PUMP_WAIT: output is queued */
    size_t bytes_read; /* this round: what the deadlines call progress */
    size_t bytes_sent;
};

/*
 * One round for a serving connection; readable says whether the socket
 * reported input, EOF or an error (epoll's EPOLLIN, EPOLLHUP, EPOLLERR).
 */
struct pump_outcome pump_serve(const struct pump *p, bool readable);

/* One read while lingering: PUMP_LINGER to keep going, PUMP_CLOSE at EOF or on an error. */
enum pump_next pump_discard(const struct pump *p);

#endif
