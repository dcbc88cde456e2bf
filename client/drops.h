/*
 * drops: what shoutd dropped or refused on purpose during a run, and what
 * that means for the run's own losses. The stats port's answer carries the
 * counters (tcp.refused_*, tcp.timeouts_*, tcp.closed_memory*, udp.dropped_*);
 * drops_read takes them from the parsed answer, drops_delta subtracts two
 * snapshots, and drops_verdict decides, purely, whether the run measured the
 * server's limiter rather than the server.
 *
 * Memory: plain structs that the caller owns; nothing is allocated.
 */
#ifndef SHOUT_DROPS_H
#define SHOUT_DROPS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "result.h"

struct json_t; /* jansson's, as parsed by report_stats.c */

/*
 * The drop counters of a stats answer into *out. A server from before a
 * counter existed leaves it out: then that counter reads 0. Members of the
 * wrong type make out->known false.
 */
void drops_read(const struct json_t *root, struct server_drops *out);

/* after - before; known only if both are and no counter went back (a restart). */
void drops_delta(const struct server_drops *before, const struct server_drops *after,
                 struct server_drops *delta);

/* What drops_verdict found: the reason that names the most drops, and how many. */
struct drops_verdict {
    bool limited;       /* the run's loss is mostly the server's doing on purpose */
    const char *reason; /* a stats name such as "udp.dropped_rate", or NULL */
    uint64_t count;     /* drops by that reason */
};

/*
 * UDP: the run lost requests and the rate limiters (per source and global)
 * dropped at least half as many datagrams as were lost. TCP: the server
 * closed connections during the run and counted a refusal or a deadline or
 * memory close. Pure.
 */
struct drops_verdict drops_judge(const struct run_result *r);

/* One table line per non-zero reason ("server dropped ..."); nothing when none. */
void drops_print(const struct server_drops *d, bool udp, FILE *out);

/* The reasons' names and counts in order, for the JSON writer and reader. */
#define DROPS_REASONS 12
const char *drops_name(unsigned i);
uint64_t *drops_field(struct server_drops *d, unsigned i);
uint64_t drops_value(const struct server_drops *d, unsigned i);

#endif
