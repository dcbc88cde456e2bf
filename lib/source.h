/*
 * source: who a peer is, for the per-source limits (the TCP connection cap
 * in server/stream.c, the UDP reply budget in lib/ratelimit.c). A source
 * key is what those limits count by: an IPv4 address as itself (held as
 * ::ffff:a.b.c.d), an IPv4-mapped IPv6 peer (a dual-stack socket's view of
 * an IPv4 client) as that same IPv4 address, and an IPv6 address cut to its
 * first N bits, because one holder of a /64 has 2^64 addresses to choose
 * from and counting each one alone would give it 2^64 budgets.
 *
 * The tables index keys by a keyed hash (SipHash-2-4) under a secret taken
 * once at start-up, so that nobody who does not know the secret can choose
 * addresses that share a slot.
 *
 * Pure: no syscalls, no allocation; every result is written into memory the
 * caller owns.
 */
#ifndef SHOUT_SOURCE_H
#define SHOUT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SOURCE_KEY_LEN 16
/* The default IPv6 prefix: a /64 is what one subscriber or host is usually given. */
#define SOURCE_DEFAULT_IPV6_PREFIX 64
#define SOURCE_MAX_IPV6_PREFIX     128

struct source_key {
    uint8_t bytes[SOURCE_KEY_LEN];
};

/* The hash's 128-bit key: SipHash's k0 and k1 (little-endian halves of 16 bytes). */
struct source_secret {
    uint64_t k0;
    uint64_t k1;
};

/*
 * The source key of a peer address. IPv6 keeps its first ipv6_prefix bits
 * (at most 128) and zeroes the rest; IPv4 and IPv4-mapped IPv6 are never
 * cut. Any other family gets the all-zero key.
 */
void source_key_of(const struct sockaddr_storage *addr, unsigned ipv6_prefix,
                   struct source_key *key);

/* Whether the peer is loopback: 127.0.0.0/8 (also IPv4-mapped) or ::1. */
bool source_is_loopback(const struct sockaddr_storage *addr);

/* SipHash-2-4 of bytes[0..len) under secret. */
uint64_t source_siphash(const struct source_secret *secret, const uint8_t *bytes, size_t len);

/* The keyed hash a table indexes a key by. */
uint64_t source_hash(const struct source_secret *secret, const struct source_key *key);

/* A secret from 32 hex digits (the 16 key bytes in order): 0, or -EINVAL. */
int source_secret_parse(const char *hex, struct source_secret *secret);

/* The secret from 16 bytes (what getrandom gave). */
void source_secret_from_bytes(const uint8_t bytes[16], struct source_secret *secret);

#endif
