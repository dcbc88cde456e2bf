/*
 * ratelimit: token buckets that bound how many UDP replies a source address
 * (and all sources together) can draw from shoutd, the way DNS servers'
 * response rate limiting bounds reflection. A bucket holds up to `burst`
 * tokens and refills at `rate_per_s`; each reply takes one token.
 *
 * The per-source table has a fixed number of slots, set once: memory never
 * grows with the number of sources. A source (lib/source.h: an IPv6 source
 * is its prefix) maps by a keyed hash to one set of RATELIMIT_WAYS slots. A
 * new source takes a never-used slot in its set with a full bucket (so a
 * fresh client's first datagram is answered), or else evicts the set's
 * least recently seen source and inherits its bucket as it stands: a slot's
 * tokens are never renewed by a change of owner, so sources that collide
 * and take turns share their set's buckets instead of each getting a fresh
 * burst. O(1) per datagram.
 *
 * The bound, whatever addresses are chosen and whatever the secret: over
 * any T seconds, one source is allowed at most
 *     RATELIMIT_WAYS x (burst + rate_per_s x T)
 * replies, and so are all the sources of one set together (each of the
 * set's slots holds at most `burst` at the start and refills at most
 * rate_per_s x T). A source that keeps its slot throughout (its set sees no
 * eviction) is allowed at most burst + rate_per_s x T.
 *
 * Pure: time comes in as nanoseconds on any monotonic clock; no syscalls, no
 * allocation. The caller owns the slot array for the table's lifetime.
 */
#ifndef SHOUT_RATELIMIT_H
#define SHOUT_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h"

/* Slots per hash set: a few sources that collide keep their own buckets. */
#define RATELIMIT_WAYS 4
/* Rates and bursts are capped so that tokens in nano-units fit in 64 bits. */
#define RATELIMIT_MAX_RATE  100000000u
#define RATELIMIT_MAX_BURST 1000000000u

struct ratelimit_bucket {
    uint64_t nano_tokens; /* tokens x 1e9: refills stay exact at any rate */
    uint64_t last_ns;     /* when the bucket was last refilled */
};

struct ratelimit_slot {
    struct source_key key;
    bool used;
    struct ratelimit_bucket bucket;
};

struct ratelimit_table {
    struct ratelimit_slot *slots;
    size_t set_count; /* slots / RATELIMIT_WAYS, a power of two */
    uint64_t rate_per_s;
    uint64_t burst;
    struct source_secret secret; /* the hash's key: which sources share a set */
    uint64_t evictions;          /* sources forgotten to make room */
};

/* A bucket that starts full at now_ns. */
void ratelimit_bucket_init(struct ratelimit_bucket *bucket, uint64_t burst, uint64_t now_ns);

/*
 * Refill the bucket for the time since its last refill, then take one token:
 * true if there was one. A rate of 0 means no limit (always true).
 */
bool ratelimit_bucket_take(struct ratelimit_bucket *bucket, uint64_t rate_per_s, uint64_t burst,
                           uint64_t now_ns);

/*
 * Set up a table over slots[0..slot_count); slot_count must be a power of two
 * and at least RATELIMIT_WAYS, rate_per_s and burst at most the caps above;
 * the secret is copied. 0, or -EINVAL.
 */
int ratelimit_init(struct ratelimit_table *table, struct ratelimit_slot *slots, size_t slot_count,
                   uint64_t rate_per_s, uint64_t burst, const struct source_secret *secret);

/* The set (0 .. slot_count / RATELIMIT_WAYS - 1) a source's slot is found in. */
size_t ratelimit_set_of(const struct ratelimit_table *table, const struct source_key *key);

/* Take one token from the source's bucket: true if the reply may be sent. */
bool ratelimit_allow(struct ratelimit_table *table, const struct source_key *key, uint64_t now_ns);

#endif
