#include "stats_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An address as 16 bytes, IPv4 mapped into ::ffff:0:0/96 so that one compare serves both. */
static bool stats_addr_bytes(const struct sockaddr_storage *addr, uint8_t out[16])
{
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &in->sin_addr, 4);
        return true;
    }
    if (addr->ss_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
        return true;
    }
    return false;
}

static bool stats_prefix_matches(const uint8_t a[16], const uint8_t b[16], unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool stats_addr_is_loopback(const struct sockaddr_storage *addr)
{
    static const uint8_t v6_loopback[16] = {[15] = 1};
    static const uint8_t v4_loopback[16] = {[10] = 0xff, [11] = 0xff, [12] = 127};
    uint8_t bytes[16];
    if (!stats_addr_bytes(addr, bytes))
        return false;
    return memcmp(bytes, v6_loopback, 16) == 0 || stats_prefix_matches(bytes, v4_loopback, 104);
}

int stats_allow_parse(const char *text, struct stats_allow *out)
{
    char host[64];
    const char *slash = strchr(text, '/');
    size_t host_len = slash ? (size_t)(slash - text) : strlen(text);
    if (host_len == 0 || host_len >= sizeof host)
        return -1;
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    struct stats_allow allow = {0};
    unsigned max_bits, offset_bits;
    struct in_addr v4;
    if (inet_pton(AF_INET, host, &v4) == 1) {
        allow.addr[10] = allow.addr[11] = 0xff;
        memcpy(allow.addr + 12, &v4, 4);
        max_bits = 32;
        offset_bits = 96;
    } else if (inet_pton(AF_INET6, host, allow.addr) == 1) {
        max_bits = 128;
        offset_bits = 0;
    } else {
        return -1;
    }
    unsigned long bits = max_bits;
    if (slash) {
        char *end;
        if (slash[1] < '0' || slash[1] > '9')
            return -1;
        bits = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || bits > max_bits)
            return -1;
    }
    allow.prefix_bits = (uint8_t)(bits + offset_bits);
    /* Clear the host bits, so that 10.1.2.3/8 means 10.0.0.0/8 and compares as one. */
    for (unsigned i = allow.prefix_bits; i < 128; i++)
        allow.addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
    *out = allow;
    return 0;
}

bool stats_addr_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    uint8_t a_bytes[16], b_bytes[16];
    return stats_addr_bytes(a, a_bytes) && stats_addr_bytes(b, b_bytes) &&
           memcmp(a_bytes, b_bytes, 16) == 0;
}

bool stats_policy_admits(const struct stats_allow *allow, size_t count,
                         const struct sockaddr_storage *peer)
{
    if (stats_addr_is_loopback(peer))
        return true;
    uint8_t bytes[16];
    if (!stats_addr_bytes(peer, bytes))
        return false;
    for (size_t i = 0; i < count; i++)
        if (stats_prefix_matches(bytes, allow[i].addr, allow[i].prefix_bits))
            return true;
    return false;
}

void stats_allow_format(const struct stats_allow *allow, char *out, size_t cap)
{
    static const uint8_t v4_mapped[12] = {[10] = 0xff, [11] = 0xff};
    char host[INET6_ADDRSTRLEN];
    unsigned bits = allow->prefix_bits;
    if (bits >= 96 && memcmp(allow->addr, v4_mapped, 12) == 0) {
        inet_ntop(AF_INET, allow->addr + 12, host, sizeof host);
        bits -= 96;
    } else {
        inet_ntop(AF_INET6, allow->addr, host, sizeof host);
    }
    snprintf(out, cap, "%s/%u", host, bits);
}
