#include "source.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t source_v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* The first bits of bytes[0..16) kept, the rest zeroed. */
static void source_keep_prefix(uint8_t bytes[SOURCE_KEY_LEN], unsigned bits)
{
    if (bits >= SOURCE_KEY_LEN * 8)
        return;
    size_t whole = bits / 8;
    unsigned partial = bits % 8;
    if (partial != 0)
        bytes[whole++] &= (uint8_t)(0xff << (8 - partial));
    memset(bytes + whole, 0, SOURCE_KEY_LEN - whole);
}

void source_key_of(const struct sockaddr_storage *addr, unsigned ipv6_prefix,
                   struct source_key *key)
{
    memset(key, 0, sizeof *key);
    if (addr->ss_family == AF_INET) {
        memcpy(key->bytes, source_v4_mapped, sizeof source_v4_mapped);
        memcpy(key->bytes + 12, &((const struct sockaddr_in *)addr)->sin_addr, 4);
        return;
    }
    if (addr->ss_family != AF_INET6)
        return;
    memcpy(key->bytes, &((const struct sockaddr_in6 *)addr)->sin6_addr, SOURCE_KEY_LEN);
    /* An IPv4 client of a dual-stack socket is the same source as over IPv4: never cut. */
    if (memcmp(key->bytes, source_v4_mapped, sizeof source_v4_mapped) != 0)
        source_keep_prefix(key->bytes, ipv6_prefix);
}

bool source_is_loopback(const struct sockaddr_storage *addr)
{
    static const uint8_t v6_loopback[SOURCE_KEY_LEN] = {0, 0, 0, 0, 0, 0, 0, 0,
                                                        0, 0, 0, 0, 0, 0, 0, 1};
    if (addr->ss_family != AF_INET && addr->ss_family != AF_INET6)
        return false;
    struct source_key key;
    source_key_of(addr, SOURCE_MAX_IPV6_PREFIX, &key);
    if (memcmp(key.bytes, source_v4_mapped, sizeof source_v4_mapped) == 0)
        return key.bytes[12] == 127;
    return memcmp(key.bytes, v6_loopback, SOURCE_KEY_LEN) == 0;
}

static uint64_t source_load_le64(const uint8_t *bytes)
{
    uint64_t word = 0;
    for (int i = 7; i >= 0; i--)
        word = word << 8 | bytes[i];
    return word;
}

static uint64_t source_rotl(uint64_t word, unsigned bits)
{
    return word << bits | word >> (64 - bits);
}

/*
 * SipHash-2-4 (Aumasson and Bernstein), the keyed hash that hash-flooding
 * defences use (Redis's dict, CPython's str hash). Written here rather than
 * taken from libsodium (crypto_shorthash): it is forty lines, and the pure
 * core, every fuzz build and the OSS-Fuzz image would otherwise all need a
 * crypto library for one function. test_source.c checks it against the
 * reference vector of the paper.
 */
struct source_sip {
    uint64_t v0, v1, v2, v3;
};

static void source_sip_rounds(struct source_sip *s, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        s->v0 += s->v1;
        s->v1 = source_rotl(s->v1, 13) ^ s->v0;
        s->v0 = source_rotl(s->v0, 32);
        s->v2 += s->v3;
        s->v3 = source_rotl(s->v3, 16) ^ s->v2;
        s->v0 += s->v3;
        s->v3 = source_rotl(s->v3, 21) ^ s->v0;
        s->v2 += s->v1;
        s->v1 = source_rotl(s->v1, 17) ^ s->v2;
        s->v2 = source_rotl(s->v2, 32);
    }
}

static void source_sip_absorb(struct source_sip *s, uint64_t word)
{
    s->v3 ^= word;
    source_sip_rounds(s, 2);
    s->v0 ^= word;
}

uint64_t source_siphash(const struct source_secret *secret, const uint8_t *bytes, size_t len)
{
    struct source_sip s = {
        .v0 = secret->k0 ^ 0x736f6d6570736575u,
        .v1 = secret->k1 ^ 0x646f72616e646f6du,
        .v2 = secret->k0 ^ 0x6c7967656e657261u,
        .v3 = secret->k1 ^ 0x7465646279746573u,
    };
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8)
        source_sip_absorb(&s, source_load_le64(bytes + i));
    /* The last word: the leftover bytes, and the length's low byte on top. */
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = whole; i < len; i++)
        last |= (uint64_t)bytes[i] << (8 * (i - whole));
    source_sip_absorb(&s, last);
    s.v2 ^= 0xff;
    source_sip_rounds(&s, 4);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t source_hash(const struct source_secret *secret, const struct source_key *key)
{
    return source_siphash(secret, key->bytes, sizeof key->bytes);
}

void source_secret_from_bytes(const uint8_t bytes[16], struct source_secret *secret)
{
    secret->k0 = source_load_le64(bytes);
    secret->k1 = source_load_le64(bytes + 8);
}

static int source_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int source_secret_parse(const char *hex, struct source_secret *secret)
{
    uint8_t bytes[16];
    for (size_t i = 0; i < sizeof bytes; i++) {
        if (hex[2 * i] == '\0' || hex[2 * i + 1] == '\0')
            return -EINVAL;
        int high = source_hex_digit(hex[2 * i]);
        int low = source_hex_digit(hex[2 * i + 1]);
        if (high < 0 || low < 0)
            return -EINVAL;
        bytes[i] = (uint8_t)(high << 4 | low);
    }
    if (hex[2 * sizeof bytes] != '\0')
        return -EINVAL;
    source_secret_from_bytes(bytes, secret);
    return 0;
}
