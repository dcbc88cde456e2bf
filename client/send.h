/*
 * send: the `shout send` subcommand. It turns the TEXT arguments (one
 * request) or each line of standard input (one request per line) into
 * requests, exchanges them one at a time with the server through a peer
 * (peer.h), and prints each reply once check.h has found it right. Every
 * failure ends the run with one "shout: " line on stderr and the exit
 * status below.
 *
 * Memory: send owns the requests it builds (the joined arguments, the line
 * buffer) and frees them before it returns; the caller owns the options.
 */
#ifndef SHOUT_SEND_H
#define SHOUT_SEND_H

#include <stdbool.h>
#include <stddef.h>

#include "peer.h"

/* The exit statuses of shout; --help documents them and scripts rely on them. */
enum send_exit {
    SEND_EXIT_OK = 0,
    SEND_EXIT_LOCAL = 1,        /* out of memory, stdin or stdout failed */
    SEND_EXIT_USAGE = 2,        /* bad command line, or a request the transport cannot carry */
    SEND_EXIT_NETWORK = 3,      /* resolve, connect, reset, closed before the whole reply */
    SEND_EXIT_TIMEOUT = 4,      /* connect or exchange idle for the timeout */
    SEND_EXIT_SERVER_ERROR = 5, /* the server sent an error frame */
    SEND_EXIT_MISMATCH = 6,     /* a reply that is not the uppercased request */
    /* ping, load: most of the loss was the server's limiter or caps, on purpose (drops.h) */
    SEND_EXIT_SERVER_LIMITED = 7,
    /* ping, load: Ctrl-C or SIGTERM ended the run; what was measured is still reported */
    SEND_EXIT_INTERRUPTED = 130,
    /* send: standard output was closed (EPIPE); quiet, 128 + SIGPIPE like a filter */
    SEND_EXIT_STDOUT_CLOSED = 141,
};

/* The largest UDP payload over IPv4: 65535 less the IP and UDP headers. */
#define SEND_UDP_MAX 65507

struct send_options {
    struct peer_options peer;
    bool framed;
};

/*
 * Run `shout send`: with n_texts > 0, texts joined by single spaces are one
 * request and its reply is printed with a newline; with none, each line of
 * standard input is a request. Returns an enum send_exit.
 */
int send_run(const struct send_options *opt, char *const *texts, size_t n_texts);

#endif
