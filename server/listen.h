/*
 * listen: opens a set of shoutd's sockets, a TCP listener and (optionally) a
 * UDP socket on every address given, all on one port: the main port, the
 * sockperf port, and the stats port (TCP only) are each one set. With port 0
 * it picks a port that is free for TCP and UDP on every address at once. The
 * caller owns the descriptors in struct listeners and closes them with
 * listeners_close.
 */
#ifndef SHOUTD_LISTEN_H
#define SHOUTD_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "kernel.h"
#include "options.h"

struct listeners {
    const struct kernel *kernel; /* what opened them, and closes them */
    bool quiet;                  /* a failure is the caller's to tell (it will try again) */
    /* What these sockets are for, named in a failure's message (the stats port's flags), or NULL.
     */
    const char *role;
    int tcp_fds[OPTIONS_MAX_LISTEN];
    int udp_fds[OPTIONS_MAX_LISTEN];
    size_t count;
    uint16_t port;
};

/*
 * Listen on port at addrs[0..count), writing the port into each address;
 * backlog is listen(2)'s; every call goes through kernel. 0, or a negative errno with a message
 * already written to stderr.
 */
int listeners_open(struct listeners *ls, const struct kernel *kernel, struct listen_addr *addrs,
                   size_t count, uint16_t port, bool with_udp, int backlog);
void listeners_close(struct listeners *ls);

/*
 * The stats port's addresses, into out[0..OPTIONS_MAX_LISTEN): --stats-listen
 * alone when given; else 127.0.0.1, then every --listen address that is
 * loopback, and ::1 for a --listen ::, each once. So the counters are on the
 * host a client measures (--host ::1, --listen 127.0.0.2) and never beyond
 * loopback. Returns how many. Pure.
 */
size_t listen_stats_addrs(const struct options *opts, struct listen_addr *out);

#endif
