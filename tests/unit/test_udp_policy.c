/* Unit tests for lib/udp_policy.c: source ports, the per-source and global budgets, loopback. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "udp_policy.h"

#define SLOTS  64
#define SECOND 1000000000ull

static struct sockaddr_storage v4(const char *text, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
    return ss;
}

static void test_source_ports(void **state)
{
    (void)state;
    struct sockaddr_storage dns = v4("192.0.2.1", 53), zero = v4("192.0.2.1", 0),
                            own = v4("192.0.2.1", 7000), client = v4("192.0.2.1", 1024);
    assert_int_equal(udp_policy_source_port(&dns, 7000), UDP_POLICY_DROP_SOURCE_PORT);
    assert_int_equal(udp_policy_source_port(&zero, 7000), UDP_POLICY_DROP_SOURCE_PORT);
    assert_int_equal(udp_policy_source_port(&own, 7000), UDP_POLICY_DROP_SOURCE_PORT);
    assert_int_equal(udp_policy_source_port(&client, 7000), UDP_POLICY_SEND);
    struct sockaddr_storage unknown = {.ss_family = AF_UNIX};
    assert_int_equal(udp_policy_source_port(&unknown, 7000), UDP_POLICY_DROP_SOURCE_PORT);
}

static struct udp_policy policy;
static struct ratelimit_slot slots[SLOTS];
static const struct source_secret secret = {.k0 = 1, .k1 = 2};

/* A source gets its burst, then rate per second; another source is not charged for it. */
static void test_per_source_budget(void **state)
{
    (void)state;
    assert_int_equal(udp_policy_init(&policy, slots, SLOTS, 10, 5, 0, &secret, 0), 0);
    policy.ipv6_prefix = 64;
    struct sockaddr_storage a = v4("192.0.2.1", 40000), b = v4("192.0.2.2", 40000);
    unsigned sent = 0;
    for (int i = 0; i < 20; i++)
        sent += udp_policy_allow(&policy, &a, 0) == UDP_POLICY_SEND;
    assert_int_equal(sent, 5);
    assert_int_equal(udp_policy_allow(&policy, &a, 0), UDP_POLICY_DROP_RATE);
    assert_int_equal(udp_policy_allow(&policy, &b, 0), UDP_POLICY_SEND);
    /* 10 per second: a tenth of a second later, one more. */
    assert_int_equal(udp_policy_allow(&policy, &a, SECOND / 10), UDP_POLICY_SEND);
    assert_int_equal(udp_policy_allow(&policy, &a, SECOND / 10), UDP_POLICY_DROP_RATE);
}

/* The global budget binds all sources together, after their own. */
static void test_global_budget(void **state)
{
    (void)state;
    assert_int_equal(udp_policy_init(&policy, slots, SLOTS, 0, 0, 3, &secret, 0), 0);
    unsigned sent = 0, dropped_global = 0;
    for (int i = 0; i < 10; i++) {
        char text[32];
        snprintf(text, sizeof text, "198.51.100.%d", i + 1);
        struct sockaddr_storage peer = v4(text, 50000);
        enum udp_policy_verdict v = udp_policy_allow(&policy, &peer, 0);
        sent += v == UDP_POLICY_SEND;
        dropped_global += v == UDP_POLICY_DROP_GLOBAL_RATE;
    }
    assert_int_equal(sent, 3);
    assert_int_equal(dropped_global, 7);
}

/* Loopback is exempt unless asked for. */
static void test_loopback_exempt_unless_limited(void **state)
{
    (void)state;
    struct sockaddr_storage lo = v4("127.0.0.1", 40000);
    assert_int_equal(udp_policy_init(&policy, slots, SLOTS, 1, 1, 1, &secret, 0), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(udp_policy_allow(&policy, &lo, 0), UDP_POLICY_SEND);
    policy.limit_loopback = true;
    assert_int_equal(udp_policy_allow(&policy, &lo, 0), UDP_POLICY_SEND);
    assert_int_equal(udp_policy_allow(&policy, &lo, 0), UDP_POLICY_DROP_RATE);
}

static void test_bad_table_is_refused(void **state)
{
    (void)state;
    assert_int_not_equal(udp_policy_init(&policy, slots, 3, 1, 1, 1, &secret, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_ports),
        cmocka_unit_test(test_per_source_budget),
        cmocka_unit_test(test_global_budget),
        cmocka_unit_test(test_loopback_exempt_unless_limited),
        cmocka_unit_test(test_bad_table_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
