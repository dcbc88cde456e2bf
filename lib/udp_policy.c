#include "udp_policy.h"

#include <netinet/in.h>

int udp_policy_init(struct udp_policy *policy, struct ratelimit_slot *slots, size_t slot_count,
                    uint64_t rate_per_source, uint64_t burst_per_source, uint64_t global_rate,
                    const struct source_secret *secret, uint64_t now_ns)
{
    int err = ratelimit_init(&policy->per_source, slots, slot_count, rate_per_source,
                             burst_per_source, secret);
    if (err != 0)
        return err;
    ratelimit_bucket_init(&policy->global, global_rate, now_ns);
    policy->global_rate = global_rate;
    return 0;
}

enum udp_policy_verdict udp_policy_source_port(const struct sockaddr_storage *peer,
                                               uint16_t own_port)
{
    uint16_t port;
    if (peer->ss_family == AF_INET)
        port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
    else if (peer->ss_family == AF_INET6)
        port = ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);
    else
        return UDP_POLICY_DROP_SOURCE_PORT;
    return port >= 1024 && port != own_port ? UDP_POLICY_SEND : UDP_POLICY_DROP_SOURCE_PORT;
}

enum udp_policy_verdict udp_policy_allow(struct udp_policy *policy,
                                         const struct sockaddr_storage *peer, uint64_t now_ns)
{
    if (!policy->limit_loopback && source_is_loopback(peer))
        return UDP_POLICY_SEND;
    struct source_key key;
    source_key_of(peer, policy->ipv6_prefix, &key);
    if (!ratelimit_allow(&policy->per_source, &key, now_ns))
        return UDP_POLICY_DROP_RATE;
    if (!ratelimit_bucket_take(&policy->global, policy->global_rate, policy->global_rate, now_ns))
        return UDP_POLICY_DROP_GLOBAL_RATE;
    return UDP_POLICY_SEND;
}
