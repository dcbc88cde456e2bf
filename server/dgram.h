/*
 * dgram: shoutd's UDP side. Reads datagrams in batches (recvmmsg) while
 * they queue up, one at a time (recvfrom) while they come one by one
 * (lib/udp_pace.h chooses, per socket), answers each in place with the
 * datagram handler (lib/udp.h on the main port, lib/sockperf.h on the
 * sockperf port), lets lib/udp_policy.h judge its source port and budgets,
 * and sends the answers the way they were read: a batch with one sendmmsg,
 * one with sendto. Every kernel call goes through dgrams->kernel.
 *
 * struct dgrams is this module's whole state, owned by the server for the
 * run; its configuration fields are set before the first datagram and not
 * changed after. The datagram buffers are static: UDP costs no per-client
 * memory.
 */
#ifndef SHOUTD_DGRAM_H
#define SHOUTD_DGRAM_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "list.h"
#include "kernel.h"
#include "loop.h"
#include "options.h"
#include "source.h"
#include "udp_pace.h"
#include "udp_policy.h"

/* Per-source UDP buckets: 16384 slots, ~640 KiB, a fixed cost whatever the sources. */
#define DGRAM_RATE_SLOTS 16384

struct dgram_stats {
    uint64_t datagrams;
    uint64_t replies;
    uint64_t bytes_in;  /* bytes of the datagrams received */
    uint64_t bytes_out; /* bytes of the replies sent */
    uint64_t dropped_empty;
    uint64_t dropped_short;       /* malformed, too short to hold an error frame */
    uint64_t dropped_source_port; /* from port 0, below 1024, or our own port */
    uint64_t dropped_rate;        /* over --udp-rate-per-ip for their source */
    uint64_t dropped_global_rate; /* over --udp-rate, all sources together */
    uint64_t error_replies;       /* malformed, answered with an error frame */
    uint64_t send_failed;
};

struct dgrams {
    /* Configuration, set by the server before the first datagram. */
    const struct kernel *kernel;
    const struct options *opts;
    const struct source_secret *secret; /* the per-source budget's hash key */
    uint32_t max_payload;
    struct conn_counters *counters; /* the engines' counters: errors and sockperf's */
    uint16_t port;                  /* the main port's number: never answered */
    uint16_t sockperf_port;
    /* Slots of the per-source budget in use: DGRAM_RATE_SLOTS, or fewer (a power of two). */
    size_t rate_slot_count;
    /* State. */
    struct dgram_stats stats;
    bool policy_ready; /* the budgets are sized on the first datagram */
    struct udp_policy policy;
    struct ratelimit_slot rate_slots[DGRAM_RATE_SLOTS];
};

/* A UDP socket in the loop (its owner the struct dgrams), and its read pace. */
struct dgram_socket {
    struct loop_source source;
    struct udp_pace pace;
};

/* The UDP socket's callback. */
void dgram_on_ready(struct loop_source *socket_source, uint32_t events);
/* The same for a sockperf port's UDP socket. */
void dgram_on_sockperf_ready(struct loop_source *socket_source, uint32_t events);

#endif
