/*
 * stats_policy: who may read shoutd's counters. The stats port tells
 * anyone who can connect how loaded the server is and which limits it is
 * hitting, so by default it answers loopback sources only (127.0.0.0/8,
 * ::1, and IPv4-mapped 127/8), and it may be bound to a non-loopback
 * address only when the operator names the networks allowed to read it
 * (--stats-allow CIDR, repeatable). A peer outside loopback and every
 * allowed network is refused at accept, before it can send a byte.
 *
 * Pure: no syscalls, no allocation; the caller owns every struct.
 */
#ifndef SHOUTD_STATS_POLICY_H
#define SHOUTD_STATS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* --stats-allow may be given this many times. */
#define STATS_ALLOW_MAX 8

/* One allowed network, IPv4 held as ::ffff:a.b.c.d with its prefix plus 96. */
struct stats_allow {
    uint8_t addr[16];
    uint8_t prefix_bits; /* 0..128 */
};

/*
 * Parse "ADDR" or "ADDR/BITS" (IPv4 or IPv6; no bits: the address alone).
 * Host bits past the prefix are cleared. Returns 0, or -1 if it is not one.
 */
int stats_allow_parse(const char *text, struct stats_allow *out);

/* Room for the text of one: an IPv6 address, a slash, three digits, a NUL. */
#define STATS_ALLOW_TEXT_MAX 64

/* "ADDR/BITS" as stats_allow_parse reads it back, in out[0..cap). */
void stats_allow_format(const struct stats_allow *allow, char *out, size_t cap);

/* Whether addr (AF_INET or AF_INET6) is a loopback address. */
bool stats_addr_is_loopback(const struct sockaddr_storage *addr);

/* Whether a and b are the same host, the port aside (IPv4 and its mapped IPv6 alike). */
bool stats_addr_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* Whether peer may read the counters: loopback, or inside one of allow[0..count). */
bool stats_policy_admits(const struct stats_allow *allow, size_t count,
                         const struct sockaddr_storage *peer);

#endif
