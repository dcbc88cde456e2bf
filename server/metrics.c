#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

struct metrics_text {
    char *at;
    size_t len;
    size_t cap;
    bool overflow;
};

__attribute__((format(printf, 2, 3))) static void metrics_put(struct metrics_text *text,
                                                              const char *format, ...)
{
    if (text->overflow)
        return;
    va_list args;
    va_start(args, format);
    int n = vsnprintf(text->at + text->len, text->cap - text->len, format, args);
    va_end(args);
    if (n < 0 || (size_t)n >= text->cap - text->len) {
        text->overflow = true;
        return;
    }
    text->len += (size_t)n;
}

static void metrics_family(struct metrics_text *text, const char *name, const char *type,
                           const char *help)
{
    metrics_put(text, "# HELP shoutd_%s %s\n# TYPE shoutd_%s %s\n", name, help, name, type);
}

/* One family with one sample and no labels. */
static void metrics_one(struct metrics_text *text, const char *name, const char *type,
                        const char *help, uint64_t value)
{
    metrics_family(text, name, type, help);
    metrics_put(text, "shoutd_%s %" PRIu64 "\n", name, value);
}

struct metrics_label {
    const char *value;
    uint64_t count;
};

/* One family whose samples differ by one label. */
static void metrics_labelled(struct metrics_text *text, const char *name, const char *help,
                             const char *label, const struct metrics_label *samples, size_t n)
{
    metrics_family(text, name, "counter", help);
    for (size_t i = 0; i < n; i++)
        metrics_put(text, "shoutd_%s{%s=\"%s\"} %" PRIu64 "\n", name, label, samples[i].value,
                    samples[i].count);
}

#define METRICS_COUNT(array) (sizeof(array) / sizeof((array)[0]))

static void metrics_tcp(struct metrics_text *text, const struct stats_counters *c)
{
    const struct stream_stats *st = &c->tcp;
    metrics_one(text, "tcp_open_connections", "gauge", "TCP connections open now.", c->open);
    metrics_one(text, "tcp_buffered_bytes", "gauge", "Bytes the connections' buffers hold now.",
                c->buffered);
    metrics_one(text, "tcp_accepted_total", "counter", "TCP connections accepted and kept.",
                st->accepted);
    metrics_one(text, "tcp_closed_total", "counter", "TCP connections closed, for any reason.",
                st->closed);
    const struct metrics_label refused[] = {
        {"max_conns", st->refused_max_conns},
        {"per_ip", st->refused_per_ip},
        {"no_memory", st->refused_no_memory},
        {"no_fds", c->accept.refused_no_fds},
    };
    metrics_labelled(text, "tcp_refused_total", "TCP connections refused at accept, by reason.",
                     "reason", refused, METRICS_COUNT(refused));
    const struct metrics_label closed[] = {
        {"reset", st->resets},
        {"frame_timeout", st->timeouts_frame},
        {"idle_timeout", st->timeouts_idle},
        {"write_timeout", st->timeouts_write},
        {"linger_expired", st->lingers_expired},
        {"memory", st->closed_memory},
        {"memory_per_ip", st->closed_memory_per_ip},
        {"shutdown_clean", st->shutdown_clean},
        {"shutdown_cut", st->shutdown_cut},
    };
    metrics_labelled(text, "tcp_closed_by_reason_total",
                     "TCP connections closed by the server or by an error, by reason.", "reason",
                     closed, METRICS_COUNT(closed));
    metrics_one(text, "accept_pauses_total", "counter",
                "Times accepting paused with no descriptor to spare.", c->accept.accept_pauses);
}

static void metrics_udp(struct metrics_text *text, const struct stats_counters *c)
{
    const struct dgram_stats *st = &c->udp;
    metrics_one(text, "udp_datagrams_total", "counter", "UDP datagrams received.", st->datagrams);
    metrics_one(text, "udp_replies_total", "counter", "UDP replies sent.", st->replies);
    metrics_one(text, "udp_error_replies_total", "counter",
                "Malformed UDP datagrams answered with an error frame.", st->error_replies);
    metrics_one(text, "udp_send_failed_total", "counter", "UDP replies the kernel refused.",
                st->send_failed);
    const struct metrics_label dropped[] = {
        {"empty", st->dropped_empty},
        {"short", st->dropped_short},
        {"source_port", st->dropped_source_port},
        {"rate", st->dropped_rate},
        {"global_rate", st->dropped_global_rate},
    };
    metrics_labelled(text, "udp_dropped_total", "UDP datagrams dropped unanswered, by reason.",
                     "reason", dropped, METRICS_COUNT(dropped));
    metrics_one(text, "udp_rate_evictions_total", "counter",
                "UDP sources forgotten by the per-source budget.", c->rate_evictions);
}

static void metrics_bytes(struct metrics_text *text, const struct stats_counters *c)
{
    const struct metrics_label in[] = {{"tcp", c->engine.bytes_in}, {"udp", c->udp.bytes_in}};
    metrics_labelled(text, "received_bytes_total", "Bytes received, by protocol.", "proto", in,
                     METRICS_COUNT(in));
    const struct metrics_label out[] = {{"tcp", c->engine.bytes_out}, {"udp", c->udp.bytes_out}};
    metrics_labelled(text, "sent_bytes_total", "Bytes sent, by protocol.", "proto", out,
                     METRICS_COUNT(out));
    metrics_one(text, "requests_total", "counter", "Framed requests answered over TCP.",
                c->engine.requests);
    metrics_one(text, "text_bytes_total", "counter", "Text-mode bytes uppercased over TCP.",
                c->engine.text_bytes);
    metrics_one(text, "discarded_bytes_total", "counter",
                "Input bytes ignored after an error frame.", c->engine.bytes_discarded);
}

static void metrics_errors(struct metrics_text *text, const uint64_t *errors)
{
    /* lib/wire.h's codes 1..8, in order, as stats.c names them. */
    static const char *const names[WIRE_ERROR_CODE_MAX + 1] = {
        NULL,        "bad_magic",       "bad_version",     "bad_type",
        "too_large", "unexpected_type", "length_mismatch", "shutting_down",
        "no_memory",
    };
    metrics_family(text, "error_frames_total", "counter", "Error frames sent, by code.");
    for (int code = 1; code <= WIRE_ERROR_CODE_MAX; code++)
        metrics_put(text, "shoutd_error_frames_total{code=\"%d\",name=\"%s\"} %" PRIu64 "\n", code,
                    names[code], errors[code]);
}

static void metrics_port(struct metrics_text *text, const struct stats_port_stats *st)
{
    const struct metrics_label answered[] = {
        {"json_line", st->answered_line},
        {"http", st->answered_http},
    };
    metrics_labelled(text, "stats_answered_total", "Stats port answers, by kind.", "kind", answered,
                     METRICS_COUNT(answered));
    const struct metrics_label refused[] = {
        {"source", st->refused_source},    {"slow", st->cut_slow}, {"too_large", st->cut_large},
        {"bad_request", st->bad_requests}, {"busy", st->busy},
    };
    metrics_labelled(text, "stats_refused_total",
                     "Stats port clients refused or cut off, by reason.", "reason", refused,
                     METRICS_COUNT(refused));
}

size_t metrics_format(const struct stats_counters *counters, const struct stats_process *process,
                      char *out, size_t cap)
{
    struct metrics_text text = {.at = out, .cap = cap};
    metrics_family(&text, "build_info", "gauge", "The running shoutd's version.");
    metrics_put(&text, "shoutd_build_info{version=\"%s\"} 1\n", SHOUT_VERSION);
    metrics_family(&text, "uptime_seconds", "gauge", "Seconds since shoutd started.");
    metrics_put(&text, "shoutd_uptime_seconds %.3f\n", process->uptime_s);
    metrics_family(&text, "cpu_seconds_total", "counter", "CPU time used, by mode (getrusage).");
    metrics_put(&text, "shoutd_cpu_seconds_total{mode=\"user\"} %.6f\n", process->user_s);
    metrics_put(&text, "shoutd_cpu_seconds_total{mode=\"system\"} %.6f\n", process->system_s);
    metrics_one(&text, "loop_wakeups_total", "counter", "Event loop wake-ups.",
                counters->loop_wakeups);
    metrics_tcp(&text, counters);
    metrics_udp(&text, counters);
    metrics_bytes(&text, counters);
    metrics_errors(&text, counters->engine.errors);
    metrics_port(&text, &counters->port);
    return text.overflow ? 0 : text.len;
}
