#include "stats.h"

#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

/* Stats clients answered per wakeup, so that a flood of them cannot starve the others. */
#define STATS_ACCEPT_BATCH 16

/* A fixed buffer that formatted pieces are appended to; overflow sticks. */
struct stats_json {
    char *at;
    size_t len;
    size_t cap;
    bool overflow;
};

__attribute__((format(printf, 2, 3))) static void stats_put(struct stats_json *json,
                                                            const char *format, ...)
{
    if (json->overflow)
        return;
    va_list args;
    va_start(args, format);
    int n = vsnprintf(json->at + json->len, json->cap - json->len, format, args);
    va_end(args);
    if (n < 0 || (size_t)n >= json->cap - json->len) {
        json->overflow = true;
        return;
    }
    json->len += (size_t)n;
}

static double stats_seconds(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double stats_uptime_s(const struct kernel *k, const struct timespec *started)
{
    struct timespec now;
    k->clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - started->tv_sec) + (double)(now.tv_nsec - started->tv_nsec) / 1e9;
}

void stats_sample_process(const struct kernel *k, const struct timespec *started, int pinned_cpu,
                          struct stats_process *process)
{
    struct rusage usage = {0};
    k->getrusage(RUSAGE_SELF, &usage);
    *process = (struct stats_process){
        .pid = (long)k->getpid(),
        .uptime_s = stats_uptime_s(k, started),
        .cpu = k->sched_getcpu(),
        .pinned_cpu = pinned_cpu,
        .user_s = stats_seconds(usage.ru_utime),
        .system_s = stats_seconds(usage.ru_stime),
    };
    if (process->cpu < 0)
        process->cpu = -1;
}

static void stats_put_tcp(struct stats_json *json, const struct stats_counters *counters)
{
    const struct stream_stats *st = &counters->tcp;
    const struct accept_stats *ac = &counters->accept;
    const struct conn_counters *c = &counters->engine;
    stats_put(json,
              "\"tcp\":{\"open\":%" PRIu32 ",\"accepted\":%" PRIu64 ",\"closed\":%" PRIu64
              ",\"resets\":%" PRIu64 ",\"refused_no_fds\":%" PRIu64 ",\"accept_pauses\":%" PRIu64
              ",\"refused_max_conns\":%" PRIu64 ",\"refused_per_ip\":%" PRIu64
              ",\"refused_no_memory\":%" PRIu64 ",\"lingers_expired\":%" PRIu64
              ",\"timeouts_frame\":%" PRIu64 ",\"timeouts_idle\":%" PRIu64
              ",\"timeouts_write\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"text_bytes\":%" PRIu64
              ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"bytes_discarded\":%" PRIu64
              ",\"buffered\":%zu,\"closed_memory\":%" PRIu64 ",\"closed_memory_per_ip\":%" PRIu64
              "},",
              counters->open, st->accepted, st->closed, st->resets, ac->refused_no_fds,
              ac->accept_pauses, st->refused_max_conns, st->refused_per_ip, st->refused_no_memory,
              st->lingers_expired, st->timeouts_frame, st->timeouts_idle, st->timeouts_write,
              c->requests, c->text_bytes, c->bytes_in, c->bytes_out, c->bytes_discarded,
              counters->buffered, st->closed_memory, st->closed_memory_per_ip);
}

static void stats_put_udp(struct stats_json *json, const struct stats_counters *counters)
{
    const struct dgram_stats *st = &counters->udp;
    stats_put(json,
              "\"udp\":{\"datagrams\":%" PRIu64 ",\"replies\":%" PRIu64 ",\"bytes_in\":%" PRIu64
              ",\"bytes_out\":%" PRIu64 ",\"dropped_empty\":%" PRIu64 ",\"dropped_short\":%" PRIu64
              ",\"dropped_source_port\":%" PRIu64 ",\"dropped_rate\":%" PRIu64
              ",\"dropped_global_rate\":%" PRIu64 ",\"error_replies\":%" PRIu64
              ",\"send_failed\":%" PRIu64 ",\"rate_evictions\":%" PRIu64 "},",
              st->datagrams, st->replies, st->bytes_in, st->bytes_out, st->dropped_empty,
              st->dropped_short, st->dropped_source_port, st->dropped_rate, st->dropped_global_rate,
              st->error_replies, st->send_failed, counters->rate_evictions);
}

static void stats_put_errors(struct stats_json *json, const uint64_t *errors)
{
    /* The names of lib/wire.h's codes 1..8, in order. */
    static const char *const names[WIRE_ERROR_CODE_MAX + 1] = {
        NULL,        "bad_magic",       "bad_version",     "bad_type",
        "too_large", "unexpected_type", "length_mismatch", "shutting_down",
        "no_memory",
    };
    stats_put(json, "\"errors\":{");
    for (int code = 1; code <= WIRE_ERROR_CODE_MAX; code++)
        stats_put(json, "%s\"%s\":%" PRIu64, code > 1 ? "," : "", names[code], errors[code]);
    stats_put(json, "}");
}

size_t stats_format(const struct stats_counters *counters, const struct stats_process *process,
                    char *out, size_t cap)
{
    struct stats_json json = {.at = out, .cap = cap};
    const struct conn_counters *c = &counters->engine;
    stats_put(
        &json,
        "{\"format\":%d,\"shoutd\":\"%s\",\"pid\":%ld,\"uptime_s\":%.6f,\"cpu\":%d,\"pinned_cpu\":%d,"
        "\"rusage\":{\"user_s\":%.6f,\"system_s\":%.6f},\"loop_wakeups\":%" PRIu64
        ",\"malloc_trims\":%" PRIu64 ",\"busy_poll_us\":%" PRIu32 ",\"loop_spins\":%" PRIu64 ",",
        STATS_FORMAT, SHOUT_VERSION, process->pid, process->uptime_s, process->cpu,
        process->pinned_cpu, process->user_s, process->system_s, counters->loop_wakeups,
        counters->malloc_trims, counters->busy_poll_us, counters->loop_spins);
    stats_put_tcp(&json, counters);
    stats_put_udp(&json, counters);
    stats_put(&json,
              "\"sockperf\":{\"messages\":%" PRIu64 ",\"replies\":%" PRIu64
              ",\"bad_length\":%" PRIu64 "},",
              c->sockperf_messages, c->sockperf_replies, c->sockperf_bad_length);
    stats_put(&json, "\"shutdown\":{\"clean\":%" PRIu64 ",\"cut\":%" PRIu64 "},",
              counters->tcp.shutdown_clean, counters->tcp.shutdown_cut);
    const struct stats_port_stats *port = &counters->port;
    stats_put(&json,
              "\"stats_port\":{\"answered_line\":%" PRIu64 ",\"answered_http\":%" PRIu64
              ",\"refused_source\":%" PRIu64 ",\"cut_slow\":%" PRIu64 ",\"cut_large\":%" PRIu64
              ",\"bad_requests\":%" PRIu64 ",\"busy\":%" PRIu64 "},",
              port->answered_line, port->answered_http, port->refused_source, port->cut_slow,
              port->cut_large, port->bad_requests, port->busy);
    stats_put_errors(&json, c->errors);
    stats_put(&json, "}\n");
    return json.overflow ? 0 : json.len;
}

/* Free the slot: out of the loop first (loop.h), then the descriptor. */
static void stats_client_close(struct stats_port *port, struct stats_client *client)
{
    loop_del(port->loop, &client->source);
    port->kernel->close(client->source.fd);
    client->source.fd = -1;
}

/* The JSON line into out; its length, 0 if it did not fit (it always does). */
static size_t stats_line(const struct stats_port *port, char *out, size_t cap)
{
    struct stats_process process;
    struct stats_counters counters;
    port->gather(port->context, &counters, &process);
    return stats_format(&counters, &process, out, cap);
}

/* An HTTP response to verdict into out: the body is formatted in place after the head's room. */
static size_t stats_http_answer(const struct stats_port *port, enum stats_http_verdict verdict,
                                int head_only, char *out, size_t cap)
{
    char body[STATS_REPLY_MAX - 512];
    size_t body_len = 0;
    if (verdict == STATS_HTTP_JSON || verdict == STATS_HTTP_METRICS) {
        struct stats_process process;
        struct stats_counters counters;
        port->gather(port->context, &counters, &process);
        body_len = verdict == STATS_HTTP_JSON
                       ? stats_format(&counters, &process, body, sizeof body)
                       : metrics_format(&counters, &process, body, sizeof body);
    }
    return stats_http_reply(verdict, head_only, body, body_len, out, cap);
}

/*
 * Send what is left of the reply; done (or failed): close. A reply that
 * does not fit the socket's buffer waits for EPOLLOUT, within the deadline.
 */
static void stats_client_flush(struct stats_port *port, struct stats_client *client)
{
    while (client->out_sent < client->out_len) {
        ssize_t n =
            port->kernel->send(client->source.fd, client->out + client->out_sent,
                               client->out_len - client->out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (loop_set_events(port->loop, &client->source, EPOLLOUT) != 0)
                break;
            return;
        }
        if (n <= 0)
            break;
        client->out_sent += (size_t)n;
    }
    /*
     * Sent: a client whose request is still partly unread (a 431, a 400)
     * would get a reset from close, and a reset can destroy the answer
     * before it is read. So shut down the write side (the client sees EOF
     * after the answer) and read to the client's EOF, within the deadline.
     */
    if (client->out_sent == client->out_len && client->in_len > 0 &&
        port->kernel->shutdown(client->source.fd, SHUT_WR) == 0 &&
        loop_set_events(port->loop, &client->source, EPOLLIN | EPOLLRDHUP) == 0) {
        client->lingering = true;
        return;
    }
    stats_client_close(port, client);
}

/* After the answer: discard what the client still sends, and close at its EOF. */
static void stats_client_linger(struct stats_port *port, struct stats_client *client)
{
    char discard[1024];
    for (;;) {
        ssize_t n = port->kernel->recv(client->source.fd, discard, sizeof discard, 0);
        if (n > 0 || (n < 0 && errno == EINTR))
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        stats_client_close(port, client);
        return;
    }
}

static void stats_client_reply_line(struct stats_port *port, struct stats_client *client)
{
    client->out_len = stats_line(port, client->out, sizeof client->out);
    port->stats.answered_line++;
    stats_client_flush(port, client);
}

static void stats_client_reply_http(struct stats_port *port, struct stats_client *client,
                                    enum stats_http_verdict verdict, int head_only)
{
    if (verdict == STATS_HTTP_TOO_LARGE)
        port->stats.cut_large++;
    else if (verdict != STATS_HTTP_JSON && verdict != STATS_HTTP_METRICS)
        port->stats.bad_requests++;
    port->stats.answered_http++;
    client->out_len = stats_http_answer(port, verdict, head_only, client->out, sizeof client->out);
    stats_client_flush(port, client);
}

/* Read what the client sent, and answer once it says what it wants. */
static void stats_client_read(struct stats_port *port, struct stats_client *client)
{
    for (;;) {
        size_t room = sizeof client->in - client->in_len;
        ssize_t n = port->kernel->recv(client->source.fd, client->in + client->in_len, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            stats_client_close(port, client);
            return;
        }
        if (n == 0) {
            /* Shut down without a byte: the first stats port's client, answered at once. */
            if (client->in_len == 0)
                stats_client_reply_line(port, client);
            else
                stats_client_reply_http(port, client, STATS_HTTP_BAD, 0);
            return;
        }
        client->in_len += (size_t)n;
        int head_only;
        enum stats_http_verdict verdict = stats_http_parse(client->in, client->in_len, &head_only);
        if (verdict != STATS_HTTP_NEED_MORE) {
            stats_client_reply_http(port, client, verdict, head_only);
            return;
        }
    }
}

static void stats_on_client_ready(struct loop_source *source, uint32_t events)
{
    (void)events;
    struct stats_port *port = source->owner;
    /* source is a client's first member: the slot is where it is. */
    struct stats_client *client = (struct stats_client *)source;
    if (client->lingering)
        stats_client_linger(port, client);
    else if (client->out_len != 0)
        stats_client_flush(port, client);
    else
        stats_client_read(port, client);
}

void stats_port_init(struct stats_port *port)
{
    for (size_t i = 0; i < STATS_CLIENTS; i++)
        port->clients[i].source = (struct loop_source){.fd = -1};
}

/* Every slot taken: the answer the first stats port gave, one try, then close. */
static void stats_answer_at_once(struct stats_port *port, int fd)
{
    char json[STATS_JSON_MAX];
    size_t len = stats_line(port, json, sizeof json);
    port->stats.busy++;
    port->stats.answered_line++;
    /* One try: a short or failed write only costs this client its answer, never a wait. */
    if (len > 0)
        (void)port->kernel->send(fd, json, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    port->kernel->close(fd);
}

static void stats_take(struct stats_port *port, int fd, const struct sockaddr_storage *peer)
{
    if (!stats_policy_admits(port->allow, port->allow_count, peer)) {
        port->stats.refused_source++;
        port->kernel->close(fd);
        return;
    }
    struct stats_client *client = NULL;
    for (size_t i = 0; i < STATS_CLIENTS && client == NULL; i++)
        if (port->clients[i].source.fd < 0)
            client = &port->clients[i];
    if (client == NULL) {
        stats_answer_at_once(port, fd);
        return;
    }
    uint64_t now_ms = port->loop->now_ms;
    client->source =
        (struct loop_source){.fd = fd, .on_ready = stats_on_client_ready, .owner = port};
    client->quiet_ms = now_ms + STATS_QUIET_MS;
    client->deadline_ms = now_ms + STATS_DEADLINE_MS;
    client->in_len = client->out_len = client->out_sent = 0;
    client->lingering = false;
    if (loop_add(port->loop, &client->source, EPOLLIN | EPOLLRDHUP) != 0 ||
        loop_wake_by(port->loop, client->quiet_ms) != 0) {
        /* Not watched: answer as the first stats port did rather than leave it hanging. */
        loop_del(port->loop, &client->source);
        client->source.fd = -1;
        stats_answer_at_once(port, fd);
    }
}

void stats_on_listener_ready(struct loop_source *listener, uint32_t events)
{
    (void)events;
    struct stats_port *port = listener->owner;
    for (int i = 0; i < STATS_ACCEPT_BATCH; i++) {
        struct sockaddr_storage peer = {0};
        int fd = acceptor_take(port->acceptor, listener->fd, &peer);
        if (fd == ACCEPT_DONE)
            return;
        if (fd >= 0)
            stats_take(port, fd, &peer);
    }
}

uint64_t stats_port_tick(struct stats_port *port, uint64_t now_ms)
{
    uint64_t wake_ms = UINT64_MAX;
    for (size_t i = 0; i < STATS_CLIENTS; i++) {
        struct stats_client *client = &port->clients[i];
        if (client->source.fd < 0)
            continue;
        if (now_ms >= client->deadline_ms) {
            /* Lingering, it has its answer: only a request never finished is cut off. */
            if (!client->lingering)
                port->stats.cut_slow++;
            stats_client_close(port, client);
            continue;
        }
        if (client->out_len == 0 && client->in_len == 0 && now_ms >= client->quiet_ms) {
            stats_client_reply_line(port, client);
            if (client->source.fd < 0)
                continue;
        }
        uint64_t next_ms =
            client->out_len == 0 && client->in_len == 0 ? client->quiet_ms : client->deadline_ms;
        if (next_ms < wake_ms)
            wake_ms = next_ms;
    }
    return wake_ms;
}

void stats_port_close_all(struct stats_port *port)
{
    for (size_t i = 0; i < STATS_CLIENTS; i++)
        if (port->clients[i].source.fd >= 0)
            stats_client_close(port, &port->clients[i]);
}
