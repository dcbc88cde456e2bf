/*
 * report: the human side of a run's result: the table printed at the end and
 * the progress lines are interval.c. The JSON file is report_json.c
 * and report_parse.c, the environment env.c, the server's counters
 * report_stats.c, and shout merge merge.c; report.h is the one header.
 */
#include "report.h"

#include "drops.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

uint64_t report_server_messages(const struct run_result *r)
{
    const struct server_counters *s = &r->server;
    uint64_t messages = s->requests + s->udp_replies;
    /* Text over TCP is a byte stream: the server cannot count requests, only bytes. */
    if (r->config.size > 0)
        messages += s->text_bytes / r->config.size;
    return messages;
}

static const char *report_framing(const struct run_config *c)
{
    if (c->sockperf)
        return "sockperf format";
    return c->framed ? "framed" : "text";
}

static const char *report_plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

static void report_print_config(const struct run_result *r, FILE *out)
{
    const struct run_config *c = &r->config;
    fprintf(out,
            "shout %s to %s port %u: %s, %s, %" PRIu32 " B requests, %" PRIu32
            " connection%s, %" PRIu32 " thread%s, pipeline %" PRIu32 ", ",
            c->command, c->host, (unsigned)c->port, c->udp ? "UDP" : "TCP", report_framing(c),
            c->size, c->connections, report_plural(c->connections), c->threads,
            report_plural(c->threads), c->pipeline);
    if (c->rate > 0)
        fprintf(out, "paced at %.0f requests/s\n", c->rate);
    else
        fprintf(out, "closed loop\n");
    fprintf(out, "measured %.2f s%s", r->elapsed_s,
            r->interrupted ? " (interrupted: Ctrl-C or SIGTERM ended the run early)" : "");
    if (c->warmup_s > 0)
        fprintf(out, " after a %.2f s warm-up", c->warmup_s);
    if (c->udp)
        fprintf(out, ", UDP reply timeout %.3f s", c->timeout_s);
    if (r->merged_from > 1)
        fprintf(out, "; merged from %" PRIu32 " runs", r->merged_from);
    fprintf(out, "\n\n");
}

static const double report_row_percentiles[] = {50, 90, 99, 99.9, 99.99};

/* One latency row: min p50 p90 p99 p99.9 p99.99 max mean stdev, in µs. */
static void report_print_latency_row(const char *label, const struct hist *h, FILE *out)
{
    fprintf(out, "%-18s", label);
    if (h->count == 0) {
        fprintf(out, "  (no replies)\n");
        return;
    }
    fprintf(out, " %9.2f", (double)h->min_ns / 1e3);
    for (size_t i = 0; i < sizeof report_row_percentiles / sizeof report_row_percentiles[0]; i++)
        fprintf(out, " %9.2f", (double)hist_percentile(h, report_row_percentiles[i]) / 1e3);
    fprintf(out, " %9.2f %9.2f %9.2f\n", (double)h->max_ns / 1e3, hist_mean(h) / 1e3,
            hist_stdev(h) / 1e3);
    if (h->clamped)
        fprintf(out, "%18s %" PRIu64 " values over %.0f s were recorded as %.0f s\n", "",
                h->clamped, (double)HIST_MAX_NS / 1e9, (double)HIST_MAX_NS / 1e9);
}

static void report_print_latency(const struct run_result *r, FILE *out)
{
    bool paced = r->config.rate > 0;
    /* "µs" is two bytes: padded by hand so the columns stay aligned. */
    fprintf(out, "latency (µs)        %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", "min", "p50", "p90",
            "p99", "p99.9", "p99.99", "max", "mean", "stdev");
    report_print_latency_row("round trip (RTT)", &r->latency, out);
    if (paced) {
        report_print_latency_row("service time", &r->service, out);
        fprintf(out, "round trip is from each request's intended send time (so a stall shows "
                     "in it);\nservice time is from its actual send.\n");
    }
    fprintf(out, "\n");
}

/*
 * An open-loop run whose requests went out slower than --rate asked: each
 * request waited for a free slot (pipeline x connections), so the latency
 * from intended send times is mostly the backlog. The numbers are still
 * right; this line says what they measure. 10% of slack for timer noise.
 */
static void report_print_behind(const struct run_result *r, FILE *out)
{
    if (!(r->config.rate > 0) || !(r->elapsed_s > 0) || !isfinite(r->elapsed_s))
        return;
    double sent_per_s = (double)r->counts.sent / r->elapsed_s;
    if (sent_per_s >= 0.9 * r->config.rate)
        return;
    fprintf(out,
            "rate          behind: %.0f requests/s sent of the %.0f asked; latency includes the\n"
            "              backlog: more --connections or --pipeline, unless the server is full\n",
            sent_per_s, r->config.rate);
}

static void report_print_counts(const struct run_result *r, FILE *out)
{
    const struct run_counts *c = &r->counts;
    /* TCP cannot lose a request; what it can have is a connection the server closed. */
    if (r->config.udp)
        fprintf(out,
                "requests      sent %" PRIu64 ", received %" PRIu64 ", mismatches %" PRIu64
                ", lost %" PRIu64 ", duplicates %" PRIu64 ", reordered %" PRIu64
                ", error frames %" PRIu64 "\n",
                c->sent, c->received, c->mismatches, c->lost, c->duplicates, c->reordered,
                c->error_frames);
    else
        fprintf(out,
                "requests      sent %" PRIu64 ", received %" PRIu64 ", mismatches %" PRIu64
                ", unanswered %" PRIu64 ", error frames %" PRIu64 "\n",
                c->sent, c->received, c->mismatches, c->unanswered, c->error_frames);
    if (c->refused > 0)
        fprintf(out, "connections   refused (closed by the server) %" PRIu64 "\n", c->refused);
    if (r->server.known)
        drops_print(&r->server.drops, r->config.udp, out);
    if (r->elapsed_s > 0 && isfinite(r->elapsed_s))
        fprintf(out, "throughput    %.2f round trips/s, %.3f MB/s sent, %.3f MB/s received\n",
                (double)c->received / r->elapsed_s, (double)c->bytes_sent / r->elapsed_s / 1e6,
                (double)c->bytes_received / r->elapsed_s / 1e6);
    else
        fprintf(out, "throughput    n/a (no measured time)\n");
    report_print_behind(r, out);
}

/* "client 1.23 µs (0.010 s user + 0.020 s system over 1000 requests sent)" */
static void report_print_cpu_cost(const char *who, const struct run_cpu *cpu, uint64_t messages,
                                  const char *messages_are, FILE *out)
{
    double us = report_us_per_message(cpu, messages);
    if (isnan(us))
        fprintf(out, "%s n/a", who);
    else
        fprintf(out, "%s %.2f µs (%.3f s user + %.3f s system over %" PRIu64 " %s)", who, us,
                cpu->user_s, cpu->system_s, messages, messages_are);
}

/* "CPU/core      client thread 97%, server 45% (client-bound: ...)" */
static void report_print_shares(const struct run_result *r, FILE *out)
{
    fprintf(out, "CPU/core      busiest client thread ");
    if (r->client_thread_share >= 0)
        fprintf(out, "%.0f%%", r->client_thread_share * 100);
    else
        fprintf(out, "n/a");
    fprintf(out, ", server ");
    if (r->server_share >= 0)
        fprintf(out, "%.0f%%", r->server_share * 100);
    else
        fprintf(out, "n/a");
    if (r->client_bound)
        fprintf(out, " (client-bound: these figures are the client's limit, not the server's)");
    fprintf(out, "\n");
}

static void report_print_cpu(const struct run_result *r, FILE *out)
{
    fprintf(out, "CPU/message   ");
    report_print_cpu_cost("client", &r->client_cpu, r->counts.sent, "requests sent", out);
    fprintf(out, "\n              ");
    if (!r->server.known)
        fprintf(out, "server n/a (%s)",
                r->config.stats_port ? "the stats port did not answer" : "no stats port");
    else
        report_print_cpu_cost("server", &r->server.cpu, report_server_messages(r),
                              "messages answered", out);
    fprintf(out, "\n");
    report_print_shares(r, out);
    if (r->server.known && r->merged_from > 1)
        fprintf(out, "              (server counters from one run only: every run measured "
                     "the same server at the same time)\n");
}

static void report_print_cpu_list(const int *cpus, uint32_t count, FILE *out)
{
    for (uint32_t i = 0; i < count && i < RESULT_MAX_CPUS; i++)
        fprintf(out, "%s%d", i ? "," : "", cpus[i]);
}

static void report_print_placement(const struct run_result *r, FILE *out)
{
    const struct run_env *e = &r->env;
    fprintf(out, "CPU placement client ");
    if (r->config.client_cpu_count) {
        fprintf(out, "pinned to ");
        report_print_cpu_list(r->config.client_cpus, r->config.client_cpu_count, out);
    } else {
        fprintf(out, "not pinned");
    }
    if (e->client_cpus_seen_count) {
        fprintf(out, ", ran on ");
        report_print_cpu_list(e->client_cpus_seen, e->client_cpus_seen_count, out);
    }
    fprintf(out, "; server ");
    if (e->server_pinned >= 0)
        fprintf(out, "pinned to %d", e->server_pinned);
    else if (e->server_cpu >= 0)
        fprintf(out, "not pinned");
    else
        fprintf(out, "unknown");
    if (e->server_cpu >= 0)
        fprintf(out, ", last ran on %d", e->server_cpu);
    fprintf(out, "; shared CPU: %s\n",
            e->shared_cpu < 0 ? "unknown"
            : e->shared_cpu   ? "yes"
                              : "no");
    if (r->config.busy_poll)
        fprintf(out, "waiting       spinning (--busy-poll): the client polled for its replies, "
                     "it never slept\n");
}

void report_print_table(const struct run_result *r, FILE *out)
{
    report_print_config(r, out);
    report_print_latency(r, out);
    report_print_counts(r, out);
    report_print_cpu(r, out);
    report_print_placement(r, out);
}
