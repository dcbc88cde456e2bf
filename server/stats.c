#include "stats.h"

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
    stats_put(&json,
              "{\"shoutd\":\"%s\",\"pid\":%ld,\"uptime_s\":%.6f,\"cpu\":%d,\"pinned_cpu\":%d,"
              "\"rusage\":{\"user_s\":%.6f,\"system_s\":%.6f},\"loop_wakeups\":%" PRIu64
              ",\"malloc_trims\":%" PRIu64 ",\"busy_poll_us\":%" PRIu32 ",\"loop_spins\":%" PRIu64
              ",",
              SHOUT_VERSION, process->pid, process->uptime_s, process->cpu, process->pinned_cpu,
              process->user_s, process->system_s, counters->loop_wakeups, counters->malloc_trims,
              counters->busy_poll_us, counters->loop_spins);
    stats_put_tcp(&json, counters);
    stats_put_udp(&json, counters);
    stats_put(&json,
              "\"sockperf\":{\"messages\":%" PRIu64 ",\"replies\":%" PRIu64
              ",\"bad_length\":%" PRIu64 "},",
              c->sockperf_messages, c->sockperf_replies, c->sockperf_bad_length);
    stats_put(&json, "\"shutdown\":{\"clean\":%" PRIu64 ",\"cut\":%" PRIu64 "},",
              counters->tcp.shutdown_clean, counters->tcp.shutdown_cut);
    stats_put_errors(&json, c->errors);
    stats_put(&json, "}\n");
    return json.overflow ? 0 : json.len;
}

static void stats_answer(const struct stats_port *port, int fd)
{
    char json[STATS_JSON_MAX];
    struct stats_process process;
    struct stats_counters counters;
    port->gather(port->context, &counters, &process);
    size_t len = stats_format(&counters, &process, json, sizeof json);
    /* One try: a short or failed write only costs this client its answer, never a wait. */
    if (len > 0)
        (void)port->kernel->send(fd, json, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    port->kernel->close(fd);
}

void stats_on_listener_ready(struct loop_source *listener, uint32_t events)
{
    (void)events;
    const struct stats_port *port = listener->owner;
    for (int i = 0; i < STATS_ACCEPT_BATCH; i++) {
        int fd = acceptor_take(port->acceptor, listener->fd, NULL);
        if (fd == ACCEPT_DONE)
            return;
        if (fd >= 0)
            stats_answer(port, fd);
    }
}
