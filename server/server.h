/*
 * server: the state shoutd's parts share, owned by main for the whole run:
 * the loop, the listening sockets (the main port, the sockperf port, the
 * stats port), the limits every connection gets, the counters, the kernel
 * calls connections go through (sockio.h: the real syscalls in shoutd), and
 * one read buffer that every connection reads into in turn (the engine keeps
 * what it cannot answer yet, so nothing is lost when the buffer is reused).
 * The functions below start, run and stop it: options in, sockets up, the
 * loop until SIGINT or SIGTERM, everything closed.
 *
 * The counters cover both serving ports: tcp and udp by transport, the
 * engine's counters (struct conn_counters) by protocol. The stats port's own
 * connections are not counted anywhere.
 */
#ifndef SHOUTD_SERVER_H
#define SHOUTD_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "budget.h"
#include "conn.h"
#include "list.h"
#include "listen.h"
#include "loop.h"
#include "options.h"
#include "ratelimit.h"
#include "sockio.h"
#include "source.h"
#include "udp_pace.h"

struct server_stats {
    uint64_t accepted;
    uint64_t closed;
    /* Over --max-conns, or --max-conns-per-ip for their source: accepted and closed at once. */
    uint64_t refused_max_conns;
    uint64_t refused_per_ip;
    uint64_t refused_no_fds;  /* connections turned away on EMFILE/ENFILE */
    uint64_t accept_pauses;   /* no spare descriptor to be had: accepting paused briefly */
    uint64_t resets;          /* connections closed on a socket error */
    uint64_t lingers_expired; /* lingering closes cut off by their deadline */
    uint64_t timeouts_frame;  /* closed by --frame-timeout (slowloris) */
    uint64_t timeouts_idle;   /* closed by --idle-timeout */
    uint64_t timeouts_write;  /* reset by --write-timeout (a client that does not read) */
    uint64_t shutdown_clean;  /* connections closed during shutdown, before --grace ran out */
    uint64_t shutdown_cut;    /* connections still open when --grace ran out, closed anyway */
    /* Closed as the largest holders when the buffers were over --max-buffered, or their source
     * over --max-buffered-per-ip. */
    uint64_t closed_memory;
    uint64_t closed_memory_per_ip;
    uint64_t malloc_trims; /* freed memory handed back to the kernel after a large release */
    uint64_t udp_datagrams;
    uint64_t udp_replies;
    uint64_t udp_bytes_in;  /* bytes of the datagrams received */
    uint64_t udp_bytes_out; /* bytes of the replies sent */
    uint64_t udp_dropped_empty;
    uint64_t udp_dropped_short;       /* malformed, too short to hold an error frame */
    uint64_t udp_dropped_source_port; /* from port 0, below 1024, or our own port */
    uint64_t udp_dropped_rate;        /* over --udp-rate-per-ip for their source */
    uint64_t udp_dropped_global_rate; /* over --udp-rate, all sources together */
    uint64_t udp_error_replies;       /* malformed, answered with an error frame */
    uint64_t udp_send_failed;
};

/*
 * Open TCP connections per source (lib/source.h), counted in a slot chosen
 * by the keyed hash of the source under server->source_secret: O(1) per
 * accept and close, 256 KiB whatever the sources. Sources that share a slot
 * share its count (and so the cap): with at most --max-conns sources in
 * 65536 slots that is rare, and the secret keeps anyone from aiming at
 * another source's slot.
 */
#define SERVER_CONN_SLOTS 65536

struct server_conn_table {
    uint32_t open; /* every open connection, lingering ones included */
    uint32_t per_slot[SERVER_CONN_SLOTS];
};

/*
 * The memory budget's ledger, kept by stream.c: the bytes every TCP
 * connection's engine holds (conn_bytes_held, as allocated), in total and
 * per source slot (the slots of server->conns, this array parallel to its
 * per_slot), and the connections that hold any filed by size class
 * (lib/budget.h), so that the largest holder is at the head of the highest
 * non-empty class: finding a victim to close costs no scan.
 */
struct server_held {
    struct budget_limits limits; /* --max-buffered, --max-buffered-per-ip or their defaults */
    bool limit_given;            /* --max-buffered was given; else derived at start-up: */
    enum budget_origin origin;
    uint64_t cgroup_max; /* what it was derived from: memory.max (0: none) ... */
    uint64_t physical;   /* ... or the machine's memory */
    size_t total;
    size_t per_slot[SERVER_CONN_SLOTS];
    struct list_node by_class[BUDGET_SIZE_CLASSES];
    struct budget_trim trim;
    uint64_t trim_retry_ms; /* when a release seen too soon after a trim is due; UINT64_MAX: none */
};

/*
 * The deadlines a TCP connection can be under; it is under one at a time
 * (stream.c says which). Each kind has one fixed timeout, so a list of the
 * connections under it, appended as deadlines are set, is in deadline
 * order: setting, moving and expiring a deadline are O(1), and nothing
 * ever scans the connections.
 */
enum server_deadline {
    SERVER_DEADLINE_FRAME,  /* --frame-timeout: a request begun, or none yet since accept */
    SERVER_DEADLINE_IDLE,   /* --idle-timeout: nothing in flight */
    SERVER_DEADLINE_WRITE,  /* --write-timeout: replies queued, the socket full */
    SERVER_DEADLINE_LINGER, /* lingering close: 2 s (STREAM_LINGER_MS), or --grace's end */
    SERVER_DEADLINES,
};

/* Per-source UDP buckets: 16384 slots, ~640 KiB, a fixed cost whatever the sources. */
#define SERVER_UDP_RATE_SLOTS 16384

/* UDP reply budgets (lib/ratelimit.h), set up by dgram.c on the first datagram. */
struct server_udp_rate {
    bool ready;
    struct ratelimit_table per_ip;
    struct ratelimit_bucket global;
    struct ratelimit_slot slots[SERVER_UDP_RATE_SLOTS];
};

/* A UDP socket in the loop, and how many datagrams its next read asks for (lib/udp_pace.h). */
struct dgram_socket {
    struct loop_source source;
    struct udp_pace pace;
};

struct server {
    struct options opts;
    struct loop loop;
    struct listeners listeners;
    struct loop_source tcp_sources[OPTIONS_MAX_LISTEN];
    struct dgram_socket udp_sockets[OPTIONS_MAX_LISTEN];
    struct listeners sockperf_listeners;
    struct loop_source sockperf_tcp_sources[OPTIONS_MAX_LISTEN];
    struct dgram_socket sockperf_udp_sockets[OPTIONS_MAX_LISTEN];
    struct listeners stats_listener; /* one TCP socket */
    struct loop_source stats_source;
    struct loop_source signal_source;
    struct timespec started;   /* CLOCK_MONOTONIC at start, for the uptime */
    int spare_fd;              /* held back so that EMFILE can still turn a connection away */
    uint64_t accept_resume_ms; /* accepting is paused until then (loop.now_ms); 0: not paused */
    struct conn_limits limits;
    const struct sockio *io; /* how connections talk to the kernel */
    struct conn_counters counters;
    struct server_stats stats;
    struct server_udp_rate udp_rate;
    struct server_conn_table conns;
    /* The per-source tables' hash key (TCP and UDP): taken once, in server_start. */
    struct source_secret source_secret;
    struct server_held held;
    bool draining;              /* SIGTERM/SIGINT: finishing connections, accepting none */
    uint64_t grace_deadline_ms; /* when draining: loop_now_ms() at which the rest are cut */
    struct list_node streams;   /* every open connection, for shutdown */
    struct list_node deadlines[SERVER_DEADLINES]; /* each kind's connections, soonest first */
    uint8_t read_buf[CONN_FEED_MAX];
};

/* What follows from the options: the limits every connection gets; and the real syscalls. */
void server_init(struct server *server);

/*
 * Pin the whole process to one CPU before anything is served, so that every
 * message is handled there. 0, or a one-line usage message and -EINVAL when
 * the CPU is not one this process may run on.
 */
int server_pin_cpu(int cpu);

/*
 * Take the per-source tables' secret (getrandom, before the sandbox, whose
 * allow-list does not have it; or SHOUTD_TEST_SEED, for tests only), set up
 * the loop, the signals and every socket, then print the ports on standard
 * output (the port alone on line 1). 0, or a negative errno with a message
 * on stderr.
 */
int server_start(struct server *server);

/*
 * Serve until SIGINT or SIGTERM, then drain: stop accepting, answer what was
 * read, close every connection the orderly way, cutting what is left after
 * --grace seconds. 0, or a negative errno if the loop failed. SIGUSR1 writes
 * the counters to stderr and serving goes on.
 */
int server_run(struct server *server);

/*
 * Out of descriptors with no spare to turn connections away with: stop
 * watching every listener for SERVER_ACCEPT_PAUSE_MS, so that a listener
 * that stays readable cannot spin the loop; server_run resumes them (and
 * retries the spare). Connections wait in the kernel's backlog meanwhile.
 */
#define SERVER_ACCEPT_PAUSE_MS 100
void server_pause_accepting(struct server *server);

/* Open the spare descriptor (/dev/null) unless it is held; whether it is held now. */
bool server_hold_spare_fd(struct server *server);

/* Close every connection and socket. */
void server_stop(struct server *server);

#endif
