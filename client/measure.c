#include "measure.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "drops.h"
#include "flow.h"
#include "interval.h"
#include "pin.h"
#include "report.h"
#include "send.h"

#define MEASURE_NS_PER_S 1000000000.0

void measure_flow_config(const struct run_config *cfg, struct flow_config *fc)
{
    *fc = (struct flow_config){
        .udp = cfg->udp,
        .format = cfg->sockperf ? FLOW_SOCKPERF
                  : cfg->framed ? FLOW_FRAMED
                                : FLOW_TEXT,
        .size = cfg->size,
        .window = cfg->pipeline ? cfg->pipeline : 1,
        .timeout_ns = (uint64_t)(cfg->timeout_s * MEASURE_NS_PER_S),
        .family = cfg->family,
    };
}

uint64_t measure_deadline_ns(const struct run_config *cfg)
{
    return (uint64_t)(cfg->timeout_s * MEASURE_NS_PER_S);
}

/* Which failure the exit status reports when there are several: a wrong reply first. */
int measure_failure_rank(int status)
{
    switch (status) {
    case SEND_EXIT_USAGE:
        return 5;
    case SEND_EXIT_MISMATCH:
        return 4;
    case SEND_EXIT_SERVER_ERROR:
        return 3;
    case SEND_EXIT_NETWORK:
        return 2;
    case SEND_EXIT_TIMEOUT:
        return 1;
    default:
        return 0;
    }
}

/* Lock-free, so the handler may store it and every load thread read it. */
static atomic_int measure_stop_signal;

static void measure_on_signal(int sig)
{
    atomic_store(&measure_stop_signal, sig);
}

bool measure_interrupted(void)
{
    return atomic_load(&measure_stop_signal) != 0;
}

FILE *measure_table_stream(const struct measure_options *opt)
{
    return opt->json_path && strcmp(opt->json_path, "-") == 0 ? stderr : stdout;
}

int measure_prepare(const struct measure_options *opt, struct measure_frame *fr)
{
    memset(fr, 0, sizeof *fr);
    fr->json.fd = -1;
    if (opt->json_path && report_json_open(opt->json_path, &fr->json) != 0)
        return SEND_EXIT_USAGE;
    /* No answer: the drops stay unknown; measure_begin warns about the stats port. */
    if (opt->server_stats && opt->cfg.stats_port != 0)
        report_fetch_server(opt->cfg.host, opt->cfg.stats_port, &fr->before_traffic, NULL, NULL);
    /*
     * SA_RESETHAND: the first signal asks the run to stop and restores the
     * default action, so a second Ctrl-C kills shout at once. No SA_RESTART:
     * a blocked wait returns EINTR and its loop looks at the flag.
     */
    struct sigaction sa = {.sa_handler = measure_on_signal, .sa_flags = SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return 0;
}

void measure_abandon(struct measure_frame *fr)
{
    report_json_discard(&fr->json);
}

void measure_setup(const struct measure_options *opt, struct run_result *r,
                   struct measure_frame *fr)
{
    struct report_json_file json = fr->json;
    struct server_counters before_traffic = fr->before_traffic;
    memset(fr, 0, sizeof *fr);
    fr->json = json;
    fr->before_traffic = before_traffic;
    /* Unique enough to tell runs apart in shout merge; 0 only if the kernel has no getrandom. */
    if (getrandom(&r->run_id, sizeof r->run_id, 0) != sizeof r->run_id)
        r->run_id = 0;
    r->ids[0] = r->run_id;
    r->id_count = 1;
    r->config = opt->cfg;
    report_capture_env(&r->env);
    hist_init(&r->latency);
    hist_init(&r->service);
    r->merged_from = 1;
    r->client_thread_share = r->server_share = -1;
    /*
     * A progress line is worth it only for a run longer than 2 s (a count run
     * may be), unless --interval asked for lines of its own length.
     */
    bool long_run = opt->cfg.count > 0 || opt->cfg.warmup_s + opt->cfg.duration_s > 2.0;
    fr->progress = !opt->quiet &&
                   (opt->interval_s > 0 || (long_run && (opt->progress || isatty(STDERR_FILENO))));
    /* The warm-up sends traffic too: say so, so a silent first second is not a hang. */
    if (fr->progress && opt->cfg.warmup_s > 0)
        interval_print_warmup(stderr, opt->cfg.warmup_s);
}

void measure_begin(const struct measure_options *opt, struct run_result *r,
                   struct measure_frame *fr)
{
    fr->cpu_before = report_cpu_now();
    fr->server_asked = false;
    if (!opt->server_stats || opt->cfg.stats_port == 0)
        return;
    int rc = report_fetch_server(opt->cfg.host, opt->cfg.stats_port, &fr->server_before,
                                 &r->env.server_cpu, &r->env.server_pinned);
    if (rc != 0) {
        fprintf(stderr,
                "shout: warning: no answer from the server's stats port, %s port %u (%s); going "
                "on without server figures\n",
                opt->cfg.host, (unsigned)opt->cfg.stats_port, strerror(-rc));
        return;
    }
    fr->server_asked = true;
}

/* Did the client and the server share a CPU? From where each was pinned or last seen. */
static int measure_shared_cpu(const struct run_env *env)
{
    int server = env->server_pinned >= 0 ? env->server_pinned : env->server_cpu;
    if (server < 0 || env->client_cpus_seen_count == 0)
        return -1;
    return pin_contains(env->client_cpus_seen, env->client_cpus_seen_count, server);
}

static void measure_cpu_delta(const struct run_cpu *before, const struct run_cpu *after,
                              struct run_cpu *delta)
{
    delta->known = before->known && after->known;
    delta->user_s = delta->known ? after->user_s - before->user_s : 0;
    delta->system_s = delta->known ? after->system_s - before->system_s : 0;
}

int measure_check_busy_poll(const struct measure_options *opt)
{
    const struct run_config *cfg = &opt->cfg;
    if (!cfg->busy_poll || cfg->client_cpu_count == 0 || !opt->server_stats || cfg->stats_port == 0)
        return 0;
    struct server_counters snapshot;
    int server_cpu = -1, server_pinned = -1;
    if (report_fetch_server(cfg->host, cfg->stats_port, &snapshot, &server_cpu, &server_pinned) !=
            0 ||
        server_pinned < 0 || !pin_contains(cfg->client_cpus, cfg->client_cpu_count, server_pinned))
        return 0;
    fprintf(stderr,
            "shout: --busy-poll on CPU %d, the CPU shoutd is pinned to: two spinning ends on "
            "one CPU livelock; pin the client elsewhere (--cpu)\n",
            server_pinned);
    return SEND_EXIT_USAGE;
}

bool measure_client_bound(double client_thread_share, double server_share)
{
    return client_thread_share > MEASURE_BOUND_SHARE && server_share >= 0 &&
           server_share < MEASURE_BOUND_SHARE;
}

static double measure_share(const struct run_cpu *cpu, double elapsed_s)
{
    return cpu->known && elapsed_s > 0 ? (cpu->user_s + cpu->system_s) / elapsed_s : -1;
}

/*
 * The shares of a core, and the client-bound verdict with its warning.
 * load has set the busiest thread's share already (load_gather); ping's
 * one thread is its process.
 */
static void measure_judge_cpu(struct run_result *r)
{
    if (r->client_thread_share < 0 && r->config.threads <= 1)
        r->client_thread_share = measure_share(&r->client_cpu, r->elapsed_s);
    r->server_share = r->server.known ? measure_share(&r->server.cpu, r->elapsed_s) : -1;
    /* A spinning client is at 100% by design: its share says nothing about its limit. */
    r->client_bound =
        !r->config.busy_poll && measure_client_bound(r->client_thread_share, r->server_share);
    if (r->client_bound)
        fprintf(stderr,
                "shout: client-bound: the busiest client thread used %.0f%% of a core while the "
                "server used %.0f%%, so this measures the client, not the server (add --threads "
                "or client CPUs)\n",
                r->client_thread_share * 100, r->server_share * 100);
}

/*
 * The server's limiter or caps made most of the loss: say so, and how to
 * measure the server instead. Returns SEND_EXIT_SERVER_LIMITED, or -1.
 */
static int measure_limited(const struct run_result *r)
{
    struct drops_verdict v = drops_judge(r);
    if (!v.limited)
        return -1;
    if (r->config.udp)
        fprintf(stderr,
                "shout: server rate-limited %llu datagrams (%s): start shoutd with "
                "--udp-rate-per-ip 0 --udp-rate 0 to benchmark from another machine\n",
                (unsigned long long)v.count, v.reason);
    else
        fprintf(stderr,
                "shout: the server refused or closed %llu connections on purpose (%s); %llu "
                "requests were in flight on them\n",
                (unsigned long long)r->counts.refused, v.reason,
                (unsigned long long)r->counts.unanswered);
    return SEND_EXIT_SERVER_LIMITED;
}

/* The exit status for what was counted, or failure if that ranks higher. */
static int measure_status(const struct run_result *r, int failure, const char *why)
{
    const struct run_counts *c = &r->counts;
    if (r->interrupted) {
        fprintf(stderr, "shout: interrupted after %.2f s of measuring; the results cover that\n",
                r->elapsed_s);
        return SEND_EXIT_INTERRUPTED;
    }
    if (c->mismatches > 0) {
        fprintf(stderr, "shout: wrong replies (not the uppercased request): %llu; the first: %s\n",
                (unsigned long long)c->mismatches, why);
        return SEND_EXIT_MISMATCH;
    }
    int limited = measure_limited(r);
    if (limited >= 0 && failure != SEND_EXIT_USAGE)
        return limited;
    if (failure == SEND_EXIT_USAGE || failure == SEND_EXIT_NETWORK) {
        fprintf(stderr, "shout: %s\n", why);
        return failure;
    }
    if (c->error_frames > 0) {
        fprintf(stderr, "shout: the server sent %llu error frames; %s\n",
                (unsigned long long)c->error_frames, why);
        return SEND_EXIT_SERVER_ERROR;
    }
    if (failure == SEND_EXIT_TIMEOUT || (!r->config.udp && c->unanswered > 0)) {
        fprintf(stderr, "shout: %s (%llu requests unanswered)\n",
                failure == SEND_EXIT_TIMEOUT ? why : "TCP replies did not come in time",
                (unsigned long long)c->unanswered);
        return SEND_EXIT_TIMEOUT;
    }
    return failure;
}

int measure_end(const struct measure_options *opt, struct run_result *r, struct measure_frame *fr,
                int failure, const char *why)
{
    struct run_cpu cpu_after = report_cpu_now();
    measure_cpu_delta(&fr->cpu_before, &cpu_after, &r->client_cpu);
    if (fr->server_asked) {
        struct server_counters after;
        int rc = report_fetch_server(opt->cfg.host, opt->cfg.stats_port, &after, &r->env.server_cpu,
                                     &r->env.server_pinned);
        if (rc == 0) {
            report_server_delta(&fr->server_before, &after, &r->server);
            drops_delta(&fr->before_traffic.drops, &after.drops, &r->server.drops);
        } else
            fprintf(stderr, "shout: warning: the server's stats port stopped answering (%s)\n",
                    strerror(-rc));
    }
    r->env.shared_cpu = measure_shared_cpu(&r->env);
    /* TCP cannot lose a request: one without a reply was on a connection that ended. */
    if (!r->config.udp) {
        r->counts.unanswered += r->counts.lost;
        r->counts.lost = 0;
    }
    r->interrupted = measure_interrupted();
    measure_judge_cpu(r);
    FILE *table = measure_table_stream(opt);
    report_print_table(r, table);
    fflush(table);
    int status = measure_status(r, failure, why);
    if (opt->json_path && report_write_json_file(r, &fr->json) != 0 && status == SEND_EXIT_OK)
        status = SEND_EXIT_LOCAL;
    return status;
}
