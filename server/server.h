/*
 * server: the state shoutd's parts share, owned by main for the whole run:
 * the loop, the listening sockets, the limits every connection gets, the
 * counters, and one read buffer that every connection reads into in turn
 * (the engine keeps what it cannot answer yet, so nothing is lost when the
 * buffer is reused).
 */
#ifndef SHOUTD_SERVER_H
#define SHOUTD_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "list.h"
#include "listen.h"
#include "loop.h"
#include "options.h"

struct server_stats {
    uint64_t accepted;
    uint64_t closed;
    uint64_t refused_no_fds;  /* connections turned away on EMFILE/ENFILE */
    uint64_t resets;          /* connections closed on a socket error */
    uint64_t lingers_expired; /* lingering closes cut off by their deadline */
    uint64_t udp_datagrams;
    uint64_t udp_replies;
    uint64_t udp_dropped_empty;
    uint64_t udp_dropped_short;
    uint64_t udp_send_failed;
};

struct server {
    struct options opts;
    struct loop loop;
    struct listeners listeners;
    struct loop_source tcp_sources[OPTIONS_MAX_LISTEN];
    struct loop_source udp_sources[OPTIONS_MAX_LISTEN];
    struct loop_source signal_source;
    int spare_fd; /* held back so that EMFILE can still turn a connection away */
    struct conn_limits limits;
    struct conn_counters counters;
    struct server_stats stats;
    struct list_node streams;   /* every open connection, for shutdown */
    struct list_node lingering; /* closing connections, soonest deadline first */
    uint8_t read_buf[CONN_FEED_MAX];
};

#endif
