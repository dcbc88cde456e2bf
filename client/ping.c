#include "ping.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "interval.h"
#include "measure.h"
#include "pin.h"
#include "report.h"
#include "send.h"

#define PING_NS_PER_S 1000000000.0
/* Look at which CPU the client runs on this often (round trips): sched_getcpu is cheap, not free.
 */
#define PING_CPU_EVERY 1024

struct ping_state {
    struct flow flow;
    struct run_result *r;
    uint64_t deadline_ns; /* a reply later than this: lost (UDP) or the run fails (TCP) */
    int failure;          /* enum send_exit */
    bool closed;          /* TCP: the server closed or reset the connection */
    char why[FLOW_WHY_MAX];
    struct hist interval_latency; /* this interval's round trips (interval.h) */
};

/* A failed round trip ends the run; a mismatch is only counted, unless the stream is lost. */
static void ping_fail(struct ping_state *p, int rc)
{
    p->failure = rc == -ETIMEDOUT ? SEND_EXIT_TIMEOUT
                 : rc == -EPROTO  ? SEND_EXIT_MISMATCH
                                  : SEND_EXIT_NETWORK;
    p->closed = rc == -ECONNRESET;
    snprintf(p->why, sizeof p->why, "%s", flow_why(&p->flow));
}

/* One round trip; records it when measured. Returns 0, or -1 when the run must stop. */
static int ping_once(struct ping_state *p, bool measured)
{
    struct flow_sample s;
    flow_set_measuring(&p->flow, measured);
    int rc = flow_roundtrip(&p->flow, p->deadline_ns, &s);
    if (rc < 0) {
        ping_fail(p, rc);
        return -1;
    }
    if (rc == 1 && measured) {
        hist_record(&p->r->latency, s.done_ns - s.sent_ns);
        hist_record(&p->r->service, s.done_ns - s.sent_ns);
        hist_record(&p->interval_latency, s.done_ns - s.sent_ns);
    }
    return 0;
}

static void ping_note_cpu(struct run_env *env)
{
    pin_note(env->client_cpus_seen, &env->client_cpus_seen_count, RESULT_MAX_CPUS,
             pin_current_cpu());
}

/* The warm-up: round trips that are not recorded, for warmup_s. */
static int ping_warm_up(struct ping_state *p, double warmup_s)
{
    uint64_t until = flow_now_ns() + (uint64_t)(warmup_s * PING_NS_PER_S);
    while (flow_now_ns() < until && !measure_interrupted())
        if (ping_once(p, false) != 0)
            return -1;
    return 0;
}

/* Close the interval that ends at now: into the result, and onto stderr with progress on. */
static void ping_interval(struct ping_state *p, struct interval_clock *clock, uint64_t now,
                          const struct measure_frame *fr)
{
    const struct run_counts *c = flow_counts(&p->flow);
    double from_s = (double)(clock->last_ns - clock->start_ns) / PING_NS_PER_S;
    struct run_interval e = interval_close(clock, now, c->received, c->lost,
                                           c->mismatches + c->error_frames, &p->interval_latency);
    interval_keep(p->r, &e);
    if (fr->progress)
        interval_print(stderr, from_s, &e);
    hist_init(&p->interval_latency);
}

/* The measured phase: count round trips, or as many as duration_s allows. */
static void ping_measure(struct ping_state *p, const struct measure_options *opt,
                         struct measure_frame *fr)
{
    const struct run_config *cfg = &opt->cfg;
    uint64_t start = flow_now_ns();
    uint64_t end = start + (uint64_t)(cfg->duration_s * PING_NS_PER_S);
    struct interval_clock clock;
    interval_start(&clock, start, opt->interval_s);
    hist_init(&p->interval_latency);
    if (fr->progress)
        interval_print_head(stderr);
    uint64_t now = start;
    for (uint64_t n = 0; cfg->count > 0 ? n < cfg->count : now < end; n++) {
        /* Ctrl-C: the round trip in flight has ended; what was measured is the result. */
        if (measure_interrupted() || ping_once(p, true) != 0)
            break;
        now = flow_now_ns();
        if (n % PING_CPU_EVERY == 0)
            ping_note_cpu(&p->r->env);
        if (interval_due(&clock, now))
            ping_interval(p, &clock, now, fr);
    }
    /* The last, shorter interval up to the end, so the last line says the run's full length. */
    if (now > clock.last_ns)
        ping_interval(p, &clock, now, fr);
    p->r->elapsed_s = (double)(now - start) / PING_NS_PER_S;
}

int ping_run(const struct measure_options *opt)
{
    const struct run_config *cfg = &opt->cfg;
    struct flow_config fc;
    char why[FLOW_WHY_MAX];
    measure_flow_config(cfg, &fc);
    fc.window = 1;
    if (flow_config_check(&fc, why, sizeof why) != 0) {
        fprintf(stderr, "shout: %s\n", why);
        return SEND_EXIT_USAGE;
    }
    if (cfg->client_cpu_count > 0 && pin_thread(cfg->client_cpus[0]) != 0) {
        fprintf(stderr, "shout: cannot pin to CPU %d: no such CPU online\n", cfg->client_cpus[0]);
        return SEND_EXIT_USAGE;
    }
    if (measure_check_busy_poll(opt) != 0)
        return SEND_EXIT_USAGE;
    struct ping_state *p = calloc(1, sizeof *p);
    struct run_result *r = calloc(1, sizeof *r);
    if (!p || !r) {
        free(p);
        free(r);
        fprintf(stderr, "shout: out of memory\n");
        return SEND_EXIT_LOCAL;
    }
    p->r = r;
    p->deadline_ns = measure_deadline_ns(cfg);
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)cfg->port);
    int connect_ms = cfg->timeout_s < 1 ? 1000 : (int)(cfg->timeout_s * 1000);
    int status;
    struct measure_frame fr;
    status = measure_prepare(opt, &fr);
    if (status != SEND_EXIT_OK)
        goto out;
    if (flow_connect(&p->flow, &fc, cfg->host, port, connect_ms) != 0) {
        fprintf(stderr, "shout: %s\n", flow_why(&p->flow));
        status = SEND_EXIT_NETWORK;
        measure_abandon(&fr);
        goto out;
    }
    flow_set_busy_poll(&p->flow, cfg->busy_poll);
    measure_setup(opt, r, &fr);
    ping_note_cpu(&r->env);
    if (ping_warm_up(p, cfg->warmup_s) != 0) {
        /* Nothing was measured: no table, only why. */
        fprintf(stderr, "shout: %s (during the warm-up)\n", p->why);
        status = p->failure;
        measure_abandon(&fr);
        goto out;
    }
    if (measure_interrupted()) {
        fprintf(stderr, "shout: interrupted during the warm-up: nothing was measured\n");
        status = SEND_EXIT_INTERRUPTED;
        measure_abandon(&fr);
        goto out;
    }
    measure_begin(opt, r, &fr);
    ping_measure(p, opt, &fr);
    ping_note_cpu(&r->env);
    /* Count what came after the last reply (a duplicate, stray bytes) before the books close. */
    int rc = flow_receive(&p->flow, NULL, NULL);
    if (rc < 0 && p->failure == SEND_EXIT_OK)
        ping_fail(p, rc);
    flow_abandon(&p->flow);
    r->counts = *flow_counts(&p->flow);
    r->counts.refused = !cfg->udp && p->closed;
    status = measure_end(opt, r, &fr, p->failure, p->why[0] ? p->why : flow_why(&p->flow));
    if (p->flow.late > 0)
        fprintf(measure_table_stream(opt),
                "late replies (after their request was counted lost): %llu\n",
                (unsigned long long)p->flow.late);
out:
    flow_close(&p->flow);
    free(r);
    free(p);
    return status;
}
