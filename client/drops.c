#include "drops.h"

#include <jansson.h>
#include <stddef.h>
#include <string.h>

/* Names as the stats port spells them ("section.member"), and where each goes. */
static const struct {
    const char *name;
    size_t offset;
} drops_table[DROPS_REASONS] = {
    {"udp.dropped_rate", offsetof(struct server_drops, udp_dropped_rate)},
    {"udp.dropped_global_rate", offsetof(struct server_drops, udp_dropped_global_rate)},
    {"udp.dropped_source_port", offsetof(struct server_drops, udp_dropped_source_port)},
    {"tcp.refused_max_conns", offsetof(struct server_drops, tcp_refused_max_conns)},
    {"tcp.refused_per_ip", offsetof(struct server_drops, tcp_refused_per_ip)},
    {"tcp.refused_no_fds", offsetof(struct server_drops, tcp_refused_no_fds)},
    {"tcp.refused_no_memory", offsetof(struct server_drops, tcp_refused_no_memory)},
    {"tcp.timeouts_frame", offsetof(struct server_drops, tcp_timeouts_frame)},
    {"tcp.timeouts_idle", offsetof(struct server_drops, tcp_timeouts_idle)},
    {"tcp.timeouts_write", offsetof(struct server_drops, tcp_timeouts_write)},
    {"tcp.closed_memory", offsetof(struct server_drops, tcp_closed_memory)},
    {"tcp.closed_memory_per_ip", offsetof(struct server_drops, tcp_closed_memory_per_ip)},
};

const char *drops_name(unsigned i)
{
    return i < DROPS_REASONS ? drops_table[i].name : NULL;
}

uint64_t *drops_field(struct server_drops *d, unsigned i)
{
    return (uint64_t *)((char *)d + drops_table[i].offset);
}

uint64_t drops_value(const struct server_drops *d, unsigned i)
{
    return *(const uint64_t *)((const char *)d + drops_table[i].offset);
}

void drops_read(const struct json_t *root, struct server_drops *out)
{
    memset(out, 0, sizeof *out);
    out->known = true;
    for (unsigned i = 0; i < DROPS_REASONS; i++) {
        const char *name = drops_table[i].name;
        const char *dot = strchr(name, '.');
        char section[8];
        size_t len = (size_t)(dot - name);
        memcpy(section, name, len);
        section[len] = '\0';
        const json_t *value = json_object_get(json_object_get(root, section), dot + 1);
        if (!value)
            continue;
        if (!json_is_integer(value) || json_integer_value(value) < 0) {
            out->known = false;
            return;
        }
        *drops_field(out, i) = (uint64_t)json_integer_value(value);
    }
}

void drops_delta(const struct server_drops *before, const struct server_drops *after,
                 struct server_drops *delta)
{
    struct server_drops d = {0};
    *delta = d;
    if (!before->known || !after->known)
        return;
    for (unsigned i = 0; i < DROPS_REASONS; i++) {
        if (drops_value(after, i) < drops_value(before, i))
            return;
        *drops_field(&d, i) = drops_value(after, i) - drops_value(before, i);
    }
    d.known = true;
    *delta = d;
}

/* The reason in [first, last] with the most drops. */
static struct drops_verdict drops_top(const struct server_drops *d, unsigned first, unsigned last)
{
    struct drops_verdict v = {0};
    for (unsigned i = first; i <= last; i++)
        if (drops_value(d, i) > v.count) {
            v.count = drops_value(d, i);
            v.reason = drops_table[i].name;
        }
    return v;
}

struct drops_verdict drops_judge(const struct run_result *r)
{
    const struct server_drops *d = &r->server.drops;
    struct drops_verdict none = {0};
    if (!r->server.known || !d->known)
        return none;
    if (r->config.udp) {
        /* The rate limiters only: a source-port drop is a policy, not a benchmark's limit. */
        struct drops_verdict v = drops_top(d, 0, 1);
        /*
         * Other clients' datagrams count in the same counters: "mostly" is at
         * least half of our losses, so that a stranger's drop cannot take
         * the blame for a run that lost by itself.
         */
        v.limited = r->counts.lost > 0 && v.count * 2 >= r->counts.lost;
        return v;
    }
    struct drops_verdict v = drops_top(d, 3, DROPS_REASONS - 1);
    v.limited = r->counts.refused > 0 && v.count > 0;
    return v;
}

void drops_print(const struct server_drops *d, bool udp, FILE *out)
{
    if (!d->known)
        return;
    bool any = false;
    for (unsigned i = 0; i < DROPS_REASONS; i++) {
        bool is_udp = strncmp(drops_table[i].name, "udp.", 4) == 0;
        if (drops_value(d, i) == 0 || is_udp != udp)
            continue;
        fprintf(out, "%s%s %llu", any ? ", " : "server drops  ", drops_table[i].name,
                (unsigned long long)drops_value(d, i));
        any = true;
    }
    if (any)
        fprintf(out, " (on purpose, over the run, all clients)\n");
}
