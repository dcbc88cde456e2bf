/*
 * stream: shoutd's TCP connections. Admits what the acceptor (accept.h)
 * takes off a listener (the --max-conns caps, per source), has the pump
 * (pump.h) move bytes between each socket and its connection engine
 * (lib/conn.h) when epoll says the socket is ready, and turns the pump's
 * outcome into epoll interest, a deadline (lib/deadline.h chooses which), a
 * close, or a lingering close that keeps replies: after an error frame the
 * write side is shut down and input discarded until EOF or a deadline, so
 * the peer reads the error instead of a reset. After every round it keeps
 * the memory budget's ledger and, past --max-buffered or a source's share,
 * closes the largest holders. Every kernel call goes through streams->kernel.
 *
 * struct streams is this module's whole state, owned by the server for the
 * run; its configuration fields are set before stream_init and not changed
 * after. Each connection is allocated here and freed when it closes;
 * stream_close_all frees what is left at exit.
 */
#ifndef SHOUTD_STREAM_H
#define SHOUTD_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "accept.h"
#include "budget.h"
#include "conn.h"
#include "deadline.h"
#include "kernel.h"
#include "list.h"
#include "loop.h"
#include "options.h"
#include "source.h"

/* How long a closing connection may keep sending before it is cut off. */
#define STREAM_LINGER_MS 2000

/*
 * Open connections per source (lib/source.h), counted in a slot chosen by
 * the keyed hash of the source: O(1) per accept and close, 256 KiB whatever
 * the sources. Sources that share a slot share its count (and so the cap):
 * with at most --max-conns sources in 65536 slots that is rare, and the
 * secret keeps anyone from aiming at another source's slot.
 */
#define STREAM_SOURCE_SLOTS 65536

struct stream_stats {
    uint64_t accepted;
    uint64_t closed;
    /* Over --max-conns, or --max-conns-per-ip for their source: accepted and closed at once. */
    uint64_t refused_max_conns;
    uint64_t refused_per_ip;
    uint64_t refused_no_memory; /* accepted, but no memory for the connection: closed at once */
    uint64_t resets;            /* connections closed on a socket error */
    uint64_t lingers_expired;   /* lingering closes cut off by their deadline */
    uint64_t timeouts_frame;    /* closed by --frame-timeout (slowloris) */
    uint64_t timeouts_idle;     /* closed by --idle-timeout */
    uint64_t timeouts_write;    /* reset by --write-timeout (a client that does not read) */
    uint64_t shutdown_clean;    /* connections closed during shutdown, before --grace ran out */
    uint64_t shutdown_cut;      /* connections still open when --grace ran out, closed anyway */
    /* Closed as the largest holders when the buffers were over --max-buffered, or their source
     * over --max-buffered-per-ip. */
    uint64_t closed_memory;
    uint64_t closed_memory_per_ip;
};

/*
 * The memory budget's ledger: the bytes every connection's engine holds
 * (conn_bytes_held, as allocated), in total and per source slot (parallel to
 * streams.per_slot), and the connections that hold any filed by size class
 * (lib/budget.h), so that the largest holder is at the head of the highest
 * non-empty class: finding a victim to close costs no scan.
 */
struct stream_held {
    struct budget_limits limits;
    size_t total;
    size_t per_slot[STREAM_SOURCE_SLOTS];
    struct list_node by_class[BUDGET_SIZE_CLASSES];
};

struct streams {
    /* Configuration, set by the server before stream_init. */
    const struct kernel *kernel;
    struct loop *loop;
    struct acceptor *acceptor;
    const struct options *opts;
    const struct source_secret *secret; /* the per-source slots' hash key */
    struct conn_limits limits;          /* what every engine gets */
    struct conn_counters *counters;     /* the engines' counters (shared with the UDP side) */
    /* How a connection's memory is had: calloc in shoutd; a fake that can fail, in a fuzzer. */
    void *(*allocate)(size_t count, size_t size);
    /* State. */
    struct stream_stats stats;
    bool draining; /* stream_drain_all was called: nothing new is read */
    uint32_t open; /* every open connection, lingering ones included */
    uint32_t per_slot[STREAM_SOURCE_SLOTS];
    struct stream_held held;
    struct list_node all;                       /* every open connection */
    struct list_node deadlines[DEADLINE_KINDS]; /* each kind's connections, soonest first */
    uint8_t read_buf[CONN_FEED_MAX];            /* every connection reads into it in turn */
};

/* Empty lists and counts; the configuration fields must be set. */
void stream_init(struct streams *streams);

/*
 * A listener's source: its callback is stream_on_listener_ready (or the
 * sockperf one) and its owner the struct streams.
 */
void stream_on_listener_ready(struct loop_source *listener, uint32_t events);
/* The same for a sockperf port: its connections speak sockperf's format from the start. */
void stream_on_sockperf_listener_ready(struct loop_source *listener, uint32_t events);

/*
 * Act on every deadline passed by now_ms (close, or reset); returns the
 * soonest deadline still ahead (loop.now_ms's clock), UINT64_MAX if none.
 */
uint64_t stream_expire(struct streams *streams, uint64_t now_ms);

/*
 * SIGTERM/SIGINT: every serving connection stops reading and answers what
 * it holds; a framed one then gets the shutting-down error frame. Idle ones
 * close at once, the rest the orderly way (write side shut down, input
 * discarded until EOF) as the loop runs.
 */
void stream_drain_all(struct streams *streams);

/* Close every connection now, however far it got; returns how many there were. */
size_t stream_close_all(struct streams *streams);

/*
 * What a checker (a test, the whole-server fuzz target) can see of the
 * internal lists without knowing a connection's layout: counts that must
 * agree with streams->open and the ledger.
 */
struct stream_audit {
    uint32_t listed;                      /* connections on streams->all */
    uint32_t on_deadline[DEADLINE_KINDS]; /* connections on each deadline list */
    uint32_t misplaced;                   /* on a deadline list not of the kind they are under */
    uint32_t out_of_order; /* deadline list entries due before the entry ahead of them */
    size_t held_sum;       /* every connection's held bytes, summed */
    size_t held_max;       /* the most one connection holds */
    uint32_t misfiled;     /* connections in the wrong size class's list */
};

void stream_audit(const struct streams *streams, struct stream_audit *audit);

#endif
