/*
 * udp_policy: whether shoutd may send a UDP reply to a peer. Two questions,
 * asked at two moments:
 * - before the datagram is answered, whether its source port can be a real
 *   client: ports below 1024 are services (DNS, NTP, chargen...) that a
 *   spoofed source would aim the reply at, port 0 cannot be sent from, and
 *   shoutd's own port would start an echo loop between two shoutds;
 * - once there is a reply, whether the budgets allow it: the source's own
 *   (lib/ratelimit.h, per --ipv6-prefix source), then the global one, so
 *   that a flooding source does not spend the tokens every source shares.
 *   Loopback is exempt unless limit_loopback: a spoofed 127/8 or ::1 source
 *   cannot arrive from outside, and loopback is where the load generator
 *   and the benchmarks run at hundreds of thousands of replies a second.
 *
 * Pure: time comes in as nanoseconds; no syscalls, no allocation. The
 * caller owns the policy and the slot array behind its table.
 */
#ifndef SHOUT_UDP_POLICY_H
#define SHOUT_UDP_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ratelimit.h"
#include "source.h"

struct udp_policy {
    struct ratelimit_table per_source;
    struct ratelimit_bucket global;
    uint64_t global_rate; /* replies per second, all sources together (its burst too); 0: off */
    bool limit_loopback;
    unsigned ipv6_prefix;
};

enum udp_policy_verdict {
    UDP_POLICY_SEND,
    UDP_POLICY_DROP_SOURCE_PORT, /* port 0, below 1024, or the port it came in on */
    UDP_POLICY_DROP_RATE,        /* over the source's budget */
    UDP_POLICY_DROP_GLOBAL_RATE, /* over the global budget */
};

/*
 * Set the budgets up over slots[0..slot_count) (a power of two, at least
 * RATELIMIT_WAYS; rates and burst within ratelimit.h's caps), full at now_ns.
 * 0, or -EINVAL.
 */
int udp_policy_init(struct udp_policy *policy, struct ratelimit_slot *slots, size_t slot_count,
                    uint64_t rate_per_source, uint64_t burst_per_source, uint64_t global_rate,
                    const struct source_secret *secret, uint64_t now_ns);

/* UDP_POLICY_SEND, or UDP_POLICY_DROP_SOURCE_PORT: asked of every datagram, whatever it holds. */
enum udp_policy_verdict udp_policy_source_port(const struct sockaddr_storage *peer,
                                               uint16_t own_port);

/* UDP_POLICY_SEND (and a token taken), UDP_POLICY_DROP_RATE or UDP_POLICY_DROP_GLOBAL_RATE. */
enum udp_policy_verdict udp_policy_allow(struct udp_policy *policy,
                                         const struct sockaddr_storage *peer, uint64_t now_ns);

#endif
