#include "interval.h"

#include <inttypes.h>

#define INTERVAL_NS_PER_S 1e9

void interval_start(struct interval_clock *c, uint64_t start_ns, double period_s)
{
    *c = (struct interval_clock){.start_ns = start_ns, .last_ns = start_ns};
    c->period_ns = (uint64_t)((period_s > 0 ? period_s : INTERVAL_DEFAULT_S) * INTERVAL_NS_PER_S);
    c->next_ns = start_ns + c->period_ns;
}

/* A counter that went backwards (it cannot, but a race in a reader could) reads as 0. */
static uint64_t interval_delta(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

struct run_interval interval_close(struct interval_clock *c, uint64_t now_ns, uint64_t received,
                                   uint64_t lost, uint64_t errors, const struct hist *latency)
{
    struct run_interval e = {0};
    uint64_t span_ns = interval_delta(now_ns, c->last_ns);
    e.t_s = (double)interval_delta(now_ns, c->start_ns) / INTERVAL_NS_PER_S;
    e.span_s = (double)span_ns / INTERVAL_NS_PER_S;
    e.replies = interval_delta(received, c->received);
    e.replies_per_s = span_ns > 0 ? (double)e.replies / e.span_s : 0;
    /* An interval without replies has no latency: -1, written as null. */
    e.p50_us = latency->count > 0 ? (double)hist_percentile(latency, 50) / 1e3 : -1;
    e.p99_us = latency->count > 0 ? (double)hist_percentile(latency, 99) / 1e3 : -1;
    e.lost = interval_delta(lost, c->lost);
    e.errors = interval_delta(errors, c->errors);
    c->received = received;
    c->lost = lost;
    c->errors = errors;
    c->last_ns = now_ns;
    /* A clock that interval_start never set has no period: no loop without a bound. */
    while (c->period_ns > 0 && c->next_ns <= now_ns)
        c->next_ns += c->period_ns;
    return e;
}

void interval_keep(struct run_result *r, const struct run_interval *e)
{
    if (r->interval_count < RESULT_MAX_INTERVALS)
        r->intervals[r->interval_count++] = *e;
}

void interval_print_warmup(FILE *out, double warmup_s)
{
    fprintf(out, "warming up for %.1fs (not measured)\n", warmup_s);
    fflush(out);
}

void interval_print_head(FILE *out)
{
    fprintf(out, "%-15s %12s %11s %11s %8s %8s\n", "interval", "replies/s", "p50", "p99", "lost",
            "errors");
    fflush(out);
}

static void interval_format_us(char *buf, size_t cap, double us)
{
    if (us < 0)
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%.1fus", us);
}

void interval_print(FILE *out, double from_s, const struct run_interval *e)
{
    char span[32], p50[24], p99[24];
    /* As iperf3: a 10 s run ends on "10.00s", never on the last whole second before it. */
    snprintf(span, sizeof span, "%.2f-%.2fs", from_s, e->t_s);
    interval_format_us(p50, sizeof p50, e->p50_us);
    interval_format_us(p99, sizeof p99, e->p99_us);
    fprintf(out, "%-15s %12.0f %11s %11s %8" PRIu64 " %8" PRIu64 "\n", span, e->replies_per_s, p50,
            p99, e->lost, e->errors);
    fflush(out);
}
