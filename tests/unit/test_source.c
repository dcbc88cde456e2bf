/* Unit tests for lib/source.c: what a source key keeps of an address, and its keyed hash. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "source.h"

static struct sockaddr_storage addr_of(const char *text)
{
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&addr;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(4000);
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &v6->sin6_addr), 1);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(4000);
    }
    return addr;
}

/* The key of `text` with that prefix, as an address written the usual way. */
static void assert_key(const char *text, unsigned prefix, const char *want)
{
    struct sockaddr_storage addr = addr_of(text);
    struct source_key key;
    source_key_of(&addr, prefix, &key);
    uint8_t want_bytes[16];
    assert_int_equal(inet_pton(AF_INET6, want, want_bytes), 1);
    assert_memory_equal(key.bytes, want_bytes, 16);
}

static void ipv6_is_cut_to_its_prefix(void **state)
{
    (void)state;
    assert_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::");
    assert_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 48, "2001:db8:1::");
    assert_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 128, "2001:db8:1:2:aaaa:bbbb:cccc:dddd");
    /* 2001 is 0010 0000 ...: the first bit is 0. */
    assert_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 1, "::");
    assert_key("ffff:db8::1", 1, "8000::");
    /* A prefix that ends inside a byte keeps that byte's high bits only. */
    assert_key("2001:db8:1:2ff::1", 60, "2001:db8:1:2f0::");
}

static void addresses_of_one_prefix_share_a_key_and_others_do_not(void **state)
{
    (void)state;
    struct sockaddr_storage a = addr_of("2001:db8:1:2::11");
    struct sockaddr_storage b = addr_of("2001:db8:1:2:ffff:ffff:ffff:ffff");
    struct sockaddr_storage c = addr_of("2001:db8:1:3::11");
    struct source_key ka, kb, kc;
    source_key_of(&a, 64, &ka);
    source_key_of(&b, 64, &kb);
    source_key_of(&c, 64, &kc);
    assert_memory_equal(ka.bytes, kb.bytes, 16);
    assert_memory_not_equal(ka.bytes, kc.bytes, 16);
    source_key_of(&a, 128, &ka);
    source_key_of(&b, 128, &kb);
    assert_memory_not_equal(ka.bytes, kb.bytes, 16);
}

static void ipv4_mapped_is_the_ipv4_address_whatever_the_prefix(void **state)
{
    (void)state;
    struct sockaddr_storage v4 = addr_of("192.0.2.7");
    struct sockaddr_storage mapped = addr_of("::ffff:192.0.2.7");
    struct sockaddr_storage other = addr_of("::ffff:192.0.2.8");
    for (unsigned prefix = 1; prefix <= 128; prefix++) {
        struct source_key k4, km, ko;
        source_key_of(&v4, prefix, &k4);
        source_key_of(&mapped, prefix, &km);
        source_key_of(&other, prefix, &ko);
        assert_memory_equal(k4.bytes, km.bytes, 16);
        /* Never cut: two IPv4 clients of a dual-stack socket stay two sources. */
        assert_memory_not_equal(km.bytes, ko.bytes, 16);
    }
    assert_key("192.0.2.7", 1, "::ffff:192.0.2.7");
}

static void other_families_get_the_zero_key(void **state)
{
    (void)state;
    struct sockaddr_storage addr;
    memset(&addr, 0xa5, sizeof addr);
    addr.ss_family = AF_UNIX;
    struct source_key key;
    memset(&key, 0x5a, sizeof key);
    source_key_of(&addr, 64, &key);
    static const uint8_t zero[16];
    assert_memory_equal(key.bytes, zero, 16);
    assert_false(source_is_loopback(&addr));
}

static void loopback_is_127_8_and_ipv6_one_only(void **state)
{
    (void)state;
    const char *loopback[] = {"127.0.0.1", "127.255.3.4", "::ffff:127.0.0.9", "::1"};
    const char *not_loopback[] = {"128.0.0.1", "10.127.0.1",  "::ffff:10.0.0.1", "::",
                                  "::2",       "::127.0.0.1", "2001:db8::1",     "fe80::1"};
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) {
        struct sockaddr_storage addr = addr_of(loopback[i]);
        assert_true(source_is_loopback(&addr));
    }
    for (size_t i = 0; i < sizeof not_loopback / sizeof not_loopback[0]; i++) {
        struct sockaddr_storage addr = addr_of(not_loopback[i]);
        assert_false(source_is_loopback(&addr));
    }
}

static void siphash_matches_the_reference_vector(void **state)
{
    (void)state;
    /* The SipHash paper's example (Aumasson and Bernstein, appendix A). */
    uint8_t key[16], message[15];
    for (uint8_t i = 0; i < 16; i++)
        key[i] = i;
    for (uint8_t i = 0; i < 15; i++)
        message[i] = i;
    struct source_secret secret;
    source_secret_from_bytes(key, &secret);
    assert_int_equal(secret.k0, 0x0706050403020100u);
    assert_int_equal(secret.k1, 0x0f0e0d0c0b0a0908u);
    assert_int_equal(source_siphash(&secret, message, sizeof message), 0xa129ca6149be45e5u);
}

static void hash_depends_on_the_secret(void **state)
{
    (void)state;
    struct sockaddr_storage addr = addr_of("192.0.2.7");
    struct source_key key;
    source_key_of(&addr, 64, &key);
    struct source_secret a = {1, 2}, b = {1, 3}, c = {1, 2};
    assert_int_not_equal(source_hash(&a, &key), source_hash(&b, &key));
    assert_int_equal(source_hash(&a, &key), source_hash(&c, &key));
}

static void secret_parses_32_hex_digits_and_nothing_else(void **state)
{
    (void)state;
    struct source_secret secret;
    assert_int_equal(source_secret_parse("000102030405060708090a0B0c0D0e0F", &secret), 0);
    assert_int_equal(secret.k0, 0x0706050403020100u);
    assert_int_equal(secret.k1, 0x0f0e0d0c0b0a0908u);
    assert_int_equal(source_secret_parse("", &secret), -EINVAL);
    assert_int_equal(source_secret_parse("000102030405060708090a0b0c0d0e0", &secret), -EINVAL);
    assert_int_equal(source_secret_parse("000102030405060708090a0b0c0d0e0f0", &secret), -EINVAL);
    assert_int_equal(source_secret_parse("000102030405060708090a0b0c0d0e0g", &secret), -EINVAL);
    assert_int_equal(source_secret_parse("0x0102030405060708090a0b0c0d0e0f", &secret), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ipv6_is_cut_to_its_prefix),
        cmocka_unit_test(addresses_of_one_prefix_share_a_key_and_others_do_not),
        cmocka_unit_test(ipv4_mapped_is_the_ipv4_address_whatever_the_prefix),
        cmocka_unit_test(other_families_get_the_zero_key),
        cmocka_unit_test(loopback_is_127_8_and_ipv6_one_only),
        cmocka_unit_test(siphash_matches_the_reference_vector),
        cmocka_unit_test(hash_depends_on_the_secret),
        cmocka_unit_test(secret_parses_32_hex_digits_and_nothing_else),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
