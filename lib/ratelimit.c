#include "ratelimit.h"

#include <errno.h>
#include <string.h>

#define NANO 1000000000u

void ratelimit_bucket_init(struct ratelimit_bucket *bucket, uint64_t burst, uint64_t now_ns)
{
    *bucket = (struct ratelimit_bucket){.nano_tokens = burst * NANO, .last_ns = now_ns};
}

bool ratelimit_bucket_take(struct ratelimit_bucket *bucket, uint64_t rate_per_s, uint64_t burst,
                           uint64_t now_ns)
{
    if (rate_per_s == 0)
        return true;
    uint64_t cap = burst * NANO;
    /* A clock that steps back refills nothing rather than wrapping. */
    uint64_t elapsed_ns = now_ns > bucket->last_ns ? now_ns - bucket->last_ns : 0;
    bucket->last_ns = now_ns > bucket->last_ns ? now_ns : bucket->last_ns;
    /* Long enough to fill the bucket whatever it held: skip the product, which could overflow. */
    if (elapsed_ns >= cap / rate_per_s + 1)
        bucket->nano_tokens = cap;
    else
        bucket->nano_tokens += elapsed_ns * rate_per_s;
    if (bucket->nano_tokens > cap)
        bucket->nano_tokens = cap;
    if (bucket->nano_tokens < NANO)
        return false;
    bucket->nano_tokens -= NANO;
    return true;
}

int ratelimit_init(struct ratelimit_table *table, struct ratelimit_slot *slots, size_t slot_count,
                   uint64_t rate_per_s, uint64_t burst, const struct source_secret *secret)
{
    size_t set_count = slot_count / RATELIMIT_WAYS;
    if (set_count == 0 || (set_count & (set_count - 1)) != 0 ||
        set_count * RATELIMIT_WAYS != slot_count || rate_per_s > RATELIMIT_MAX_RATE ||
        burst > RATELIMIT_MAX_BURST)
        return -EINVAL;
    memset(slots, 0, slot_count * sizeof *slots);
    *table = (struct ratelimit_table){.slots = slots,
                                      .set_count = set_count,
                                      .rate_per_s = rate_per_s,
                                      .burst = burst,
                                      .secret = *secret};
    return 0;
}

size_t ratelimit_set_of(const struct ratelimit_table *table, const struct source_key *key)
{
    return (size_t)(source_hash(&table->secret, key) & (table->set_count - 1));
}

bool ratelimit_allow(struct ratelimit_table *table, const struct source_key *key, uint64_t now_ns)
{
    if (table->rate_per_s == 0)
        return true;
    struct ratelimit_slot *ways = table->slots + ratelimit_set_of(table, key) * RATELIMIT_WAYS;
    struct ratelimit_slot *victim = NULL;
    for (size_t i = 0; i < RATELIMIT_WAYS; i++) {
        struct ratelimit_slot *slot = &ways[i];
        if (slot->used && memcmp(&slot->key, key, sizeof *key) == 0)
            return ratelimit_bucket_take(&slot->bucket, table->rate_per_s, table->burst, now_ns);
        if (victim == NULL ||
            (victim->used && (!slot->used || slot->bucket.last_ns < victim->bucket.last_ns)))
            victim = slot;
    }
    /*
     * A slot taken from another source keeps its bucket: were it refilled,
     * sources that share a set could take turns evicting each other and
     * every datagram would arrive to a full burst.
     */
    if (victim->used)
        table->evictions++;
    else
        ratelimit_bucket_init(&victim->bucket, table->burst, now_ns);
    victim->key = *key;
    victim->used = true;
    return ratelimit_bucket_take(&victim->bucket, table->rate_per_s, table->burst, now_ns);
}
