/*
 * report_stats: the client side of shoutd's stats port. The client connects,
 * sends nothing (it shuts down its write side, so the answer comes at once),
 * and reads one JSON object up to EOF; it then maps the server's counters
 * onto struct server_counters. Part of report.h.
 *
 * The protocol is the contract in shoutd's documentation ("stats port"): one
 * object with "cpu", "pinned_cpu", "rusage", "tcp", "udp", "sockperf" and
 * "errors" members, followed by a newline.
 */
#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drops.h"
#include "net.h"

/* A loopback server answers in microseconds; a busy one still well within this. */
#define STATS_TIMEOUT_MS 2000
/* The object is under 1 KiB; the cap keeps a wrong port from feeding us forever. */
#define STATS_MAX_BYTES (64 * 1024)

/* Read until EOF into buf (cap bytes), by deadline_ms. 0, or a negative errno. */
static int stats_read_all(int fd, char *buf, size_t cap, size_t *len, int64_t deadline_ms)
{
    *len = 0;
    for (;;) {
        int64_t left_ms = deadline_ms - net_now_ms();
        if (left_ms <= 0)
            return -ETIMEDOUT;
        short revents;
        int rc = net_wait(fd, POLLIN, (int)left_ms, &revents);
        if (rc == 0)
            return -ETIMEDOUT;
        if (rc < 0)
            return rc;
        if (*len == cap)
            return -EMSGSIZE; /* readable with the buffer full: more than the cap is coming */
        ssize_t n = recv(fd, buf + *len, cap - *len, 0);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        *len += (size_t)n;
    }
}

/* Connect to host:port (each address in turn) and read the whole answer. */
static int stats_download(const char *host, uint16_t port, char *buf, size_t cap, size_t *len)
{
    char port_text[8];
    snprintf(port_text, sizeof port_text, "%u", (unsigned)port);
    struct addrinfo *list;
    char why[256];
    if (net_resolve(host, port_text, false, AF_UNSPEC, &list, why, sizeof why) != 0)
        return -EHOSTUNREACH;
    int64_t deadline_ms = net_now_ms() + STATS_TIMEOUT_MS;
    int rc = -ECONNREFUSED;
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        int64_t left_ms = deadline_ms - net_now_ms();
        if (left_ms <= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        int fd = net_connect(ai, (int)left_ms);
        if (fd < 0) {
            rc = fd;
            continue;
        }
        /*
         * Nothing to send: say so, and shoutd answers the JSON line at once
         * rather than after its quiet time (docs/protocol.md, the stats port).
         */
        (void)shutdown(fd, SHUT_WR);
        rc = stats_read_all(fd, buf, cap, len, deadline_ms);
        close(fd);
        break; /* it answered: another address is another server */
    }
    freeaddrinfo(list);
    return rc;
}

/* A non-negative integer member; false when missing or of another type. */
static bool stats_u64(const json_t *obj, const char *key, uint64_t *out)
{
    const json_t *value = json_object_get(obj, key);
    if (!json_is_integer(value) || json_integer_value(value) < 0)
        return false;
    *out = (uint64_t)json_integer_value(value);
    return true;
}

static bool stats_seconds(const json_t *obj, const char *key, double *out)
{
    const json_t *value = json_object_get(obj, key);
    if (!json_is_number(value) || json_number_value(value) < 0)
        return false;
    *out = json_number_value(value);
    return true;
}

/* A CPU number, -1 for "none" or "unknown". */
static bool stats_cpu(const json_t *obj, const char *key, int *out)
{
    const json_t *value = json_object_get(obj, key);
    if (!json_is_integer(value) || json_integer_value(value) < -1 ||
        json_integer_value(value) > 1 << 20)
        return false;
    *out = (int)json_integer_value(value);
    return true;
}

/* Every member of "errors" is one error code's count; new codes add up without a client change. */
static bool stats_error_total(const json_t *errors, uint64_t *total)
{
    if (!json_is_object(errors))
        return false;
    *total = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)errors, key, value)
    {
        uint64_t count;
        if (!stats_u64(errors, key, &count) || count > UINT64_MAX - *total)
            return false;
        *total += count;
    }
    return true;
}

static int stats_parse(const json_t *root, struct server_counters *out, int *cpu, int *pinned)
{
    const json_t *tcp = json_object_get(root, "tcp");
    const json_t *udp = json_object_get(root, "udp");
    const json_t *rusage = json_object_get(root, "rusage");
    uint64_t tcp_requests, tcp_in, tcp_out, udp_in, udp_out;
    /* Servers built without the sockperf port may leave it out: no such replies. */
    uint64_t sockperf_replies = 0;
    const json_t *sockperf = json_object_get(root, "sockperf");
    if (sockperf && !stats_u64(sockperf, "replies", &sockperf_replies))
        return -EPROTO;
    if (!stats_u64(tcp, "requests", &tcp_requests) ||
        !stats_u64(tcp, "text_bytes", &out->text_bytes) || !stats_u64(tcp, "bytes_in", &tcp_in) ||
        !stats_u64(tcp, "bytes_out", &tcp_out) || !stats_u64(udp, "replies", &out->udp_replies) ||
        !stats_u64(udp, "bytes_in", &udp_in) || !stats_u64(udp, "bytes_out", &udp_out) ||
        !stats_error_total(json_object_get(root, "errors"), &out->errors) ||
        !stats_seconds(rusage, "user_s", &out->cpu.user_s) ||
        !stats_seconds(rusage, "system_s", &out->cpu.system_s) || !stats_cpu(root, "cpu", cpu) ||
        !stats_cpu(root, "pinned_cpu", pinned))
        return -EPROTO;
    out->requests = tcp_requests + sockperf_replies;
    out->bytes_in = tcp_in + udp_in;
    out->bytes_out = tcp_out + udp_out;
    out->cpu.known = true;
    out->known = true;
    drops_read(root, &out->drops);
    return 0;
}

int report_parse_stats(const char *text, size_t len, struct server_counters *snapshot,
                       int *server_cpu, int *server_pinned)
{
    json_error_t error;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    if (!json_is_object(root)) {
        json_decref(root);
        return -EBADMSG;
    }
    /* Parse into copies so that a half-read answer leaves the caller's values alone. */
    struct server_counters counters = {0};
    int cpu = -1, pinned = -1;
    int rc = stats_parse(root, &counters, &cpu, &pinned);
    json_decref(root);
    if (rc < 0)
        return rc;
    *snapshot = counters;
    if (server_cpu)
        *server_cpu = cpu;
    if (server_pinned)
        *server_pinned = pinned;
    return 0;
}

int report_fetch_server(const char *host, uint16_t stats_port, struct server_counters *snapshot,
                        int *server_cpu, int *server_pinned)
{
    char *text = malloc(STATS_MAX_BYTES);
    if (!text)
        return -ENOMEM;
    size_t len = 0;
    int rc = stats_download(host, stats_port, text, STATS_MAX_BYTES, &len);
    if (rc == 0)
        rc = report_parse_stats(text, len, snapshot, server_cpu, server_pinned);
    free(text);
    return rc;
}

/* b - a into *out; false when b < a (the server restarted between the two reads). */
static bool stats_sub(uint64_t a, uint64_t b, uint64_t *out)
{
    if (b < a)
        return false;
    *out = b - a;
    return true;
}

void report_server_delta(const struct server_counters *before, const struct server_counters *after,
                         struct server_counters *delta)
{
    struct server_counters d = {0};
    *delta = d;
    if (!before->known || !after->known)
        return;
    if (!stats_sub(before->requests, after->requests, &d.requests) ||
        !stats_sub(before->text_bytes, after->text_bytes, &d.text_bytes) ||
        !stats_sub(before->udp_replies, after->udp_replies, &d.udp_replies) ||
        !stats_sub(before->bytes_in, after->bytes_in, &d.bytes_in) ||
        !stats_sub(before->bytes_out, after->bytes_out, &d.bytes_out) ||
        !stats_sub(before->errors, after->errors, &d.errors))
        return;
    d.known = true;
    drops_delta(&before->drops, &after->drops, &d.drops);
    if (before->cpu.known && after->cpu.known && after->cpu.user_s >= before->cpu.user_s &&
        after->cpu.system_s >= before->cpu.system_s) {
        d.cpu.known = true;
        /* rusage counts whole microseconds: round away the subtraction's binary noise. */
        d.cpu.user_s = round((after->cpu.user_s - before->cpu.user_s) * 1e6) / 1e6;
        d.cpu.system_s = round((after->cpu.system_s - before->cpu.system_s) * 1e6) / 1e6;
    }
    *delta = d;
}
