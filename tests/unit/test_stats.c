/*
 * Unit tests for the stats port's pure parts: server/stats.c's stats_format
 * (the answer, from counters alone), server/metrics.c's Prometheus text,
 * server/stats_http.c's request parser and server/stats_policy.c's sources.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "metrics.h"
#include "stats.h"
#include "stats_http.h"
#include "stats_policy.h"

/* Every counter at its widest still fits STATS_JSON_MAX, as one JSON object and a newline. */
static void widest_counters_fit_and_stay_json(void **state)
{
    (void)state;
    struct stats_counters c;
    memset(&c, 0xFF, sizeof c);
    struct stats_process process = {
        .pid = 2147483647,
        .uptime_s = 1e12,
        .cpu = 1 << 20,
        .pinned_cpu = -1,
        .user_s = 1e12,
        .system_s = 1e12,
    };
    char out[STATS_JSON_MAX];
    size_t len = stats_format(&c, &process, out, sizeof out);
    assert_true(len > 0 && len < sizeof out);
    assert_int_equal(out[len - 1], '\n');
    assert_null(memchr(out, '\n', len - 1));
    /* jansson reads integers as int64: it refuses 2^64 - 1, but the text must still be JSON. */
    json_error_t error;
    json_t *root = json_loadb(out, len, JSON_DECODE_INT_AS_REAL, &error);
    assert_non_null(root);
    assert_true(json_is_object(json_object_get(root, "tcp")));
    assert_true(json_is_object(json_object_get(root, "errors")));
    json_decref(root);
    assert_non_null(strstr(out, "\"requests\":18446744073709551615"));
}

/* Too small a buffer gives 0, never a cut answer; the answer needs one byte more, for a NUL. */
static void a_short_buffer_gives_nothing(void **state)
{
    (void)state;
    struct stats_counters c = {0};
    struct stats_process process = {.pid = 1, .cpu = -1, .pinned_cpu = -1};
    char out[STATS_JSON_MAX];
    size_t len = stats_format(&c, &process, out, sizeof out);
    assert_true(len > 0);
    assert_int_equal(stats_format(&c, &process, out, len), 0);
    assert_int_equal(stats_format(&c, &process, out, len + 1), len);
    assert_int_equal(out[len], '\0');
}

/* Every family at its widest still fits the reply buffer, each with HELP and TYPE. */
static void widest_metrics_fit_with_help_and_type(void **state)
{
    (void)state;
    struct stats_counters c;
    memset(&c, 0xFF, sizeof c);
    struct stats_process process = {.pid = 1, .uptime_s = 1e12, .user_s = 1e12, .system_s = 1e12};
    static char out[METRICS_TEXT_MAX];
    size_t len = metrics_format(&c, &process, out, sizeof out);
    assert_true(len > 0 && len < sizeof out);
    assert_non_null(strstr(out, "# TYPE shoutd_udp_dropped_total counter\n"));
    assert_non_null(
        strstr(out, "shoutd_udp_dropped_total{reason=\"rate\"} 18446744073709551615\n"));
    assert_non_null(strstr(out, "shoutd_error_frames_total{code=\"4\",name=\"too_large\"}"));
    assert_int_equal(metrics_format(&c, &process, out, len), 0);
}

static enum stats_http_verdict parse(const char *text)
{
    int head_only;
    return stats_http_parse(text, strlen(text), &head_only);
}

static void http_requests_are_judged_by_their_line(void **state)
{
    (void)state;
    assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), STATS_HTTP_METRICS);
    assert_int_equal(parse("GET /metrics?x=1 HTTP/1.0\n\n"), STATS_HTTP_METRICS);
    assert_int_equal(parse("GET /stats.json HTTP/1.1\r\n\r\n"), STATS_HTTP_JSON);
    assert_int_equal(parse("GET / HTTP/1.1\r\n\r\n"), STATS_HTTP_JSON);
    assert_int_equal(parse("GET /nope HTTP/1.1\r\n\r\n"), STATS_HTTP_NOT_FOUND);
    assert_int_equal(parse("POST /metrics HTTP/1.1\r\n\r\n"), STATS_HTTP_BAD_METHOD);
    assert_int_equal(parse("GET /metrics\r\n\r\n"), STATS_HTTP_BAD);
    assert_int_equal(parse("GET /metrics HTTP/2.0\r\n\r\n"), STATS_HTTP_BAD);
    int head_only;
    assert_int_equal(stats_http_parse("HEAD / HTTP/1.1\r\n\r\n", 19, &head_only), STATS_HTTP_JSON);
    assert_true(head_only);
}

/* An unfinished head waits; one that cannot be a request is refused at its first wrong byte. */
static void http_parser_waits_or_refuses_early(void **state)
{
    (void)state;
    assert_int_equal(parse(""), STATS_HTTP_NEED_MORE);
    assert_int_equal(parse("GE"), STATS_HTTP_NEED_MORE);
    assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost"), STATS_HTTP_NEED_MORE);
    assert_int_equal(parse("\x16\x03\x01"), STATS_HTTP_BAD);
    assert_int_equal(parse("get "), STATS_HTTP_BAD);
    assert_int_equal(parse("\n"), STATS_HTTP_BAD);
    char big[STATS_HTTP_REQUEST_MAX];
    memset(big, 'x', sizeof big);
    memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
    int head_only;
    assert_int_equal(stats_http_parse(big, sizeof big - 1, &head_only), STATS_HTTP_NEED_MORE);
    assert_int_equal(stats_http_parse(big, sizeof big, &head_only), STATS_HTTP_TOO_LARGE);
}

static void http_reply_has_its_length_and_closes(void **state)
{
    (void)state;
    char out[512];
    size_t len = stats_http_reply(STATS_HTTP_JSON, 0, "{}\n", 3, out, sizeof out);
    assert_true(len > 0);
    out[len] = '\0';
    assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(out, "Content-Length: 3\r\n"));
    assert_non_null(strstr(out, "Connection: close\r\n"));
    assert_memory_equal(out + len - 7, "\r\n\r\n{}\n", 7);
    len = stats_http_reply(STATS_HTTP_TOO_LARGE, 0, NULL, 0, out, sizeof out);
    out[len] = '\0';
    assert_non_null(strstr(out, "HTTP/1.1 431 "));
    assert_int_equal(stats_http_reply(STATS_HTTP_JSON, 0, "{}\n", 3, out, 20), 0);
}

static struct sockaddr_storage addr(const char *text)
{
    struct sockaddr_storage ss = {0};
    if (strchr(text, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
    }
    return ss;
}

static bool admits(const struct stats_allow *allow, size_t n, const char *text)
{
    struct sockaddr_storage ss = addr(text);
    return stats_policy_admits(allow, n, &ss);
}

static void loopback_is_admitted_and_others_only_when_allowed(void **state)
{
    (void)state;
    assert_true(admits(NULL, 0, "127.0.0.1"));
    assert_true(admits(NULL, 0, "127.9.8.7"));
    assert_true(admits(NULL, 0, "::1"));
    assert_true(admits(NULL, 0, "::ffff:127.0.0.1"));
    assert_false(admits(NULL, 0, "192.0.2.1"));
    assert_false(admits(NULL, 0, "::"));
    struct stats_allow allow[2];
    assert_int_equal(stats_allow_parse("192.0.2.77/24", &allow[0]), 0);
    assert_int_equal(stats_allow_parse("2001:db8::/32", &allow[1]), 0);
    assert_true(admits(allow, 2, "192.0.2.1"));
    assert_true(admits(allow, 2, "::ffff:192.0.2.200"));
    assert_false(admits(allow, 2, "192.0.3.1"));
    assert_true(admits(allow, 2, "2001:db8:1::5"));
    assert_false(admits(allow, 2, "2001:db9::5"));
    char text[STATS_ALLOW_TEXT_MAX];
    stats_allow_format(&allow[0], text, sizeof text);
    assert_string_equal(text, "192.0.2.0/24");
    stats_allow_format(&allow[1], text, sizeof text);
    assert_string_equal(text, "2001:db8::/32");
}

static void bad_allow_texts_are_refused(void **state)
{
    (void)state;
    struct stats_allow a;
    static const char *const bad[] = {"",          "/8",           "10.0.0.0/33",
                                      "10.0.0.0/", "10.0.0.0/x",   "::/129",
                                      "nowhere",   "10.0.0.0/8/8", "10.0.0.0/-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(stats_allow_parse(bad[i], &a), -1);
    assert_int_equal(stats_allow_parse("10.1.2.3", &a), 0);
    assert_int_equal(a.prefix_bits, 128);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(widest_metrics_fit_with_help_and_type),
        cmocka_unit_test(http_requests_are_judged_by_their_line),
        cmocka_unit_test(http_parser_waits_or_refuses_early),
        cmocka_unit_test(http_reply_has_its_length_and_closes),
        cmocka_unit_test(loopback_is_admitted_and_others_only_when_allowed),
        cmocka_unit_test(bad_allow_texts_are_refused),
        cmocka_unit_test(widest_counters_fit_and_stay_json),
        cmocka_unit_test(a_short_buffer_gives_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
