/*
 * options: shoutd's command line. options_parse fills a struct from argv
 * and reports a bad option with a one-line message; options_format writes
 * a struct back as arguments. Every option is one entry of a table in
 * options.c (name, short name, argument kind, default, range, help), from
 * which getopt's tables, the defaults and --help (and so the man page) are
 * made. Sizes and durations are read by lib/units.h. Nothing is allocated: the listen addresses
 * are copied into the struct itself, and the caller owns every buffer.
 */
#ifndef SHOUTD_OPTIONS_H
#define SHOUTD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "stats_policy.h"

#define OPTIONS_MAX_LISTEN        16
#define OPTIONS_DEFAULT_PORT      7680
#define OPTIONS_DEFAULT_MAX_FRAME (1024 * 1024)
/* Larger frames would let a handful of clients claim gigabytes. */
#define OPTIONS_MAX_MAX_FRAME (256 * 1024 * 1024)
/* The counters tell who is being measured: loopback only unless asked. */
#define OPTIONS_DEFAULT_STATS_LISTEN "127.0.0.1"
/* DNS response rate limiting's scale: far above any real client, far below a reflector's need. */
#define OPTIONS_DEFAULT_UDP_RATE_PER_IP 1000
/* All sources together: bounds what a spoofed flood from many addresses can make shoutd send. */
#define OPTIONS_DEFAULT_UDP_RATE 100000
/* Long enough to flush replies to a slow client, short enough for a service manager's stop. */
#define OPTIONS_DEFAULT_GRACE_S 5
#define OPTIONS_MAX_GRACE_S     3600
/* Redis's maxclients: far above what one shoutd needs, far below the descriptors it may get. */
#define OPTIONS_DEFAULT_MAX_CONNS 10000
#define OPTIONS_MAX_MAX_CONNS     10000000
/* HAProxy's advised `timeout http-request`: ample for any real client to finish a frame. */
#define OPTIONS_DEFAULT_FRAME_TIMEOUT_S 10
/* nginx keepalive's scale: a client between requests may think a while. */
#define OPTIONS_DEFAULT_IDLE_TIMEOUT_S 60
/* nginx `send_timeout`, shorter: a reader that takes nothing for 10 s is not reading. */
#define OPTIONS_DEFAULT_WRITE_TIMEOUT_S 10
#define OPTIONS_MAX_TIMEOUT_S           86400
/* Redis and nginx: the kernel caps it further at net.core.somaxconn. */
#define OPTIONS_DEFAULT_BACKLOG 511
#define OPTIONS_MAX_BACKLOG     65535
/* A second of spinning: beyond that, sleeping costs nothing worth saving. */
#define OPTIONS_MAX_BUSY_POLL_US 1000000
/* Queued replies per connection: past 1 GiB one slow reader could take the host. */
#define OPTIONS_MAX_MAX_OUTPUT (1024 * 1024 * 1024)
/* Bytes buffered by every connection together: 1 TiB is past any machine shoutd runs on. */
#define OPTIONS_MAX_MAX_BUFFERED (1024ull * 1024 * 1024 * 1024)

struct listen_addr {
    struct sockaddr_storage addr; /* port filled in once known */
    socklen_t addr_len;           /* 0: text is a host name, for resolve_listen (resolve.h) */
    char text[64];                /* as the user wrote it, for logs */
};

struct options {
    struct listen_addr listen[OPTIONS_MAX_LISTEN];
    size_t listen_count;
    uint16_t port;
    uint32_t max_frame;
    bool stats_enabled;
    uint16_t stats_port; /* 0: a free port */
    struct listen_addr stats_listen;
    /*
     * --stats-port not given: the stats port is the main port + 1, with
     * --port 0 too (shoutd then picks a port whose next one is free), so
     * that a client finds it from the main port alone.
     */
    bool stats_port_follows;
    /* --stats-listen not given: 127.0.0.1 and every loopback --listen address (server.c). */
    bool stats_listen_default;
    struct stats_allow stats_allow[STATS_ALLOW_MAX]; /* --stats-allow: who else may read it */
    size_t stats_allow_count;
    bool sockperf_enabled;
    uint16_t sockperf_port;   /* 0: a free port */
    int cpu;                  /* the CPU to pin to, or -1 */
    uint32_t udp_rate_per_ip; /* UDP replies/s per source address; 0: no limit */
    uint32_t udp_rate_burst;  /* per-source burst; 0: twice udp_rate_per_ip */
    bool udp_rate_loopback;   /* limit loopback sources too (exempt by default) */
    uint32_t udp_rate;        /* UDP replies/s for all sources together (burst: 1 s); 0: none */
    uint32_t grace_s;         /* SIGTERM/SIGINT: seconds to finish connections before cutting */
    /* Open TCP connections, all sources together; and per source address (0: no limit). */
    uint32_t max_conns;
    uint32_t max_conns_per_ip;
    /* IPv6 sources are counted by their first ipv6_prefix bits (1..128), TCP and UDP alike. */
    uint32_t ipv6_prefix;
    /* Deadlines in seconds (0: off): see stream.c for what each one watches. */
    uint32_t frame_timeout_s;
    uint32_t idle_timeout_s;
    uint32_t write_timeout_s;
    uint32_t max_output; /* queued reply bytes per connection at which reading stops; 0: default */
    /*
     * Bytes the connections' buffers may hold, all together (0: derived at
     * start-up from the cgroup's memory.max or the machine's memory, see
     * lib/budget.h) and per source address (0: no per-source share; unless
     * given, a quarter of the total).
     */
    uint64_t max_buffered;
    uint64_t max_buffered_per_ip;
    bool max_buffered_per_ip_given;
    int backlog;           /* listen(2)'s backlog for the TCP listeners */
    uint32_t busy_poll_us; /* spin on epoll this long before sleeping; 0: sleep at once */
    char user[64];         /* --user: drop to this user after binding; empty: stay */
    bool sandbox;          /* apply the seccomp allow-list after start-up (--no-sandbox: off) */
};

enum options_result {
    OPTIONS_RUN,
    OPTIONS_EXIT_OK,    /* --help or --version was printed */
    OPTIONS_EXIT_USAGE, /* a bad option was reported on stderr */
};

enum options_result options_parse(struct options *opts, int argc, char **argv);

/*
 * The command line that gives opts back: every field, spelled out (defaults
 * included), as arguments one after another in out, each ending in a NUL,
 * without the program's name. Parsing them gives a struct that formats the
 * same (fuzz_options checks it). Returns how many arguments were written,
 * or -ENOSPC when out is too small; OPTIONS_FORMAT_MAX is always enough.
 */
#define OPTIONS_FORMAT_MAX 4096
int options_format(const struct options *opts, char *out, size_t cap);

#endif
