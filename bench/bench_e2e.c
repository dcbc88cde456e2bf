/*
 * bench_e2e: end-to-end benchmarks on loopback, against a shoutd that
 * shout-bench starts itself (bench_server.c) on first use. The requests,
 * the replies and their checking are the client's measuring flow
 * (client/flow.h), the same code as `shout ping` and `shout load`.
 *
 *   e2e/<tcp|udp>/<size>/pingpong/<text|framed>     one request in flight;
 *       manual time: each iteration is one round trip, timed by the flow,
 *       so real_time is the mean round trip.
 *   e2e/tcp/<size>/pipeline16/<text|framed>         16 requests in flight;
 *   e2e/udp/<size>/window<N>/<text|framed>          16 in flight, 4 at 16 KiB;
 *       real time: an iteration is one request answered (or lost), so
 *       real_time is 1/throughput.
 *
 * Every right reply's round trip (first byte sent to last byte read) goes
 * into a struct hist; p50_ns, p99_ns, p999_ns and max_ns are set from it
 * (and the shim turns p50/p99 into rows of their own), msgs_per_s is a rate
 * counter of right replies, lost counts UDP requests without a reply. A
 * wrong reply or an error frame fails the run. Placement: shout-bench pins
 * itself and the server (SHOUT_BENCH_CLIENT_CPU, SHOUT_BENCH_SERVER_CPU;
 * by default both on the first CPU it may use) and records it as context.
 *
 * With SHOUT_BENCH_HISTOGRAMS=DIR (bench_hist.h) every call keeps its
 * histogram (gbench_keep), and the shim hands each reported run's to
 * e2e_write_histogram, which writes it into DIR. An iteration is one
 * request answered or lost and only answers are recorded, so a run's
 * histogram holds its iterations minus its lost requests (always all of
 * them over TCP).
 */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_hist.h"
#include "bench_server.h"
#include "flow.h"
#include "gbench.h"
#include "hist.h"
#include "net.h"

#ifndef SHOUT_BENCH_SHOUTD
#error "SHOUT_BENCH_SHOUTD must be the path of the shoutd to measure"
#endif

#define E2E_HOST       "127.0.0.1"
#define E2E_CONNECT_MS 2000
#define E2E_WINDOW     16
/*
 * UDP's window is cut so that it stays under 64 KiB of datagrams: a loopback
 * datagram costs the receiver about twice its size of socket buffer, and a
 * window of 16 x 16 KiB overflowed the default 208 KiB and lost replies, so
 * the run measured the loss timeout instead of the server.
 */
#define E2E_UDP_WINDOW_BYTES 65536
/* One in flight: a reply this late is lost (UDP) or the run fails (TCP). */
#define E2E_PINGPONG_TIMEOUT_NS (UINT64_C(1000) * 1000 * 1000)
/* Many in flight: a lost datagram holds a window slot this long. */
#define E2E_WINDOW_TIMEOUT_NS (UINT64_C(100) * 1000 * 1000)
/* No reply at all for this long fails a throughput run instead of hanging it. */
#define E2E_STALL_NS (UINT64_C(10) * 1000 * 1000 * 1000)
/* Requests before the clock starts: connection set-up, caches, the server's buffers. */
#define E2E_WARMUP 64
/* Ask the shim for the whole run at once: a throughput run needs its total up front. */
#define E2E_WHOLE_RUN INT64_MAX

static const uint32_t e2e_sizes[] = {16, 64, 1024, 16384};
#define E2E_COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum e2e_pattern {
    E2E_PINGPONG,
    E2E_STREAM, /* E2E_WINDOW in flight: TCP pipelined, UDP windowed */
};

struct e2e_case {
    bool udp;
    enum flow_format format;
    uint32_t size;
    enum e2e_pattern pattern;
    uint32_t window; /* requests in flight */
};

static struct e2e_case e2e_cases[2 * 2 * 2 * E2E_COUNT(e2e_sizes)];

/* The placement and the server, shared by every e2e benchmark. */
static struct {
    cpu_set_t allowed; /* the CPUs shout-bench could use before pinning itself */
    int client_cpu;    /* -1: not pinned */
    int server_cpu;
    const char *placement; /* "same-cpu", "cross-cpu" or "unpinned" */
    int port;              /* 0 until the server is started */
    char port_text[16];
    bool start_failed;
    char why[256];
} e2e;

/* One run's flow and what it measured. */
struct e2e_run {
    struct flow flow;
    struct hist *latency;
};

/* What a call keeps for its histogram file, should it be a reported run. */
struct e2e_kept {
    const struct e2e_case *ec;
    int port;
    struct run_counts counts;
    struct hist latency;
};

static void e2e_on_sample(void *ctx, const struct flow_sample *s)
{
    struct e2e_run *run = ctx;
    if (s->measured)
        hist_record(run->latency, s->done_ns - s->sent_ns);
}

/* The server's port, starting it on first use; 0 after a failed start. */
static int e2e_server_port(void)
{
    if (e2e.port == 0 && !e2e.start_failed) {
        int port = bench_server_start(SHOUT_BENCH_SHOUTD, &e2e.allowed, e2e.server_cpu, e2e.why,
                                      sizeof e2e.why);
        if (port < 0) {
            e2e.start_failed = true;
            return 0;
        }
        e2e.port = port;
        snprintf(e2e.port_text, sizeof e2e.port_text, "%d", port);
    }
    return e2e.port;
}

static void e2e_fail(gbench_state *st, const char *what, int err, const struct flow *f)
{
    char message[320];
    const char *why = f ? flow_why(f) : "";
    snprintf(message, sizeof message, "%s: %s%s%s", what, strerror(-err), *why ? ": " : "", why);
    gbench_skip_with_error(st, message);
}

/*
 * Keep up to the window in flight until count requests are answered or
 * lost. Closed loop: a request is due when it is sent.
 */
static int e2e_stream(struct e2e_run *run, uint64_t count)
{
    struct flow *f = &run->flow;
    uint64_t sent = 0;
    uint64_t resolved = 0;
    uint64_t last_progress = flow_now_ns();
    while (resolved < count) {
        int rc = 0;
        /* Over TCP the whole window goes in one send(): flow_flush. */
        while (sent < count && flow_can_send(f)) {
            rc = flow_queue(f, 0);
            if (rc == -EAGAIN)
                break;
            if (rc < 0)
                return rc;
            sent++;
        }
        rc = flow_wants_write(f) ? flow_flush(f) : 0;
        if (rc < 0 && rc != -EAGAIN)
            return rc;
        int got = flow_receive(f, e2e_on_sample, run);
        if (got < 0)
            return got;
        uint64_t now = flow_now_ns();
        uint32_t lost = flow_expire(f, now);
        resolved += (uint64_t)got + lost;
        if (got > 0 || lost > 0) {
            last_progress = now;
            continue;
        }
        if (now - last_progress > E2E_STALL_NS)
            return -ETIMEDOUT;
        /* Nothing ready: sleep until a reply, room to write, or the next loss is due. */
        int wait_ms = 100;
        uint64_t expiry = flow_next_expiry_ns(f);
        if (expiry != UINT64_MAX)
            wait_ms = expiry <= now ? 0 : (int)((expiry - now) / 1000000 + 1);
        short revents;
        short events = (short)(POLLIN | (flow_wants_write(f) ? POLLOUT : 0));
        rc = net_wait(flow_fd(f), events, wait_ms < 100 ? wait_ms : 100, &revents);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Connect, warm up unmeasured, and start measuring; 0, or the run is failed. */
static int e2e_open(gbench_state *st, const struct e2e_case *ec, struct e2e_run *run)
{
    *run = (struct e2e_run){.latency = NULL};
    run->flow.fd = -1;
    if (e2e_server_port() == 0) {
        gbench_skip_with_error(st, e2e.why);
        return -1;
    }
    struct flow_config cfg = {
        .udp = ec->udp,
        .format = ec->format,
        .size = ec->size,
        .window = ec->window,
        .timeout_ns = ec->pattern == E2E_PINGPONG ? E2E_PINGPONG_TIMEOUT_NS : E2E_WINDOW_TIMEOUT_NS,
    };
    run->latency = malloc(sizeof *run->latency);
    if (!run->latency) {
        gbench_skip_with_error(st, "out of memory");
        return -1;
    }
    hist_init(run->latency);
    int rc = flow_connect(&run->flow, &cfg, E2E_HOST, e2e.port_text, E2E_CONNECT_MS);
    if (rc < 0) {
        e2e_fail(st, "connect", rc, &run->flow);
        return -1;
    }
    flow_set_measuring(&run->flow, false);
    if (ec->pattern == E2E_PINGPONG) {
        for (int i = 0; i < E2E_WARMUP && rc >= 0; i++) {
            struct flow_sample s;
            rc = flow_roundtrip(&run->flow, E2E_PINGPONG_TIMEOUT_NS, &s);
        }
    } else {
        rc = e2e_stream(run, E2E_WARMUP);
    }
    if (rc < 0) {
        e2e_fail(st, "warm-up", rc, &run->flow);
        return -1;
    }
    flow_set_measuring(&run->flow, true);
    return 0;
}

/* Check the counts, set the counters, and close. */
static void e2e_close(gbench_state *st, const struct e2e_case *ec, struct e2e_run *run)
{
    const struct run_counts *c = flow_counts(&run->flow);
    if (c->mismatches || c->error_frames) {
        char message[320];
        snprintf(message, sizeof message, "%" PRIu64 " wrong replies, %" PRIu64 " error frames: %s",
                 c->mismatches, c->error_frames, flow_why(&run->flow));
        gbench_skip_with_error(st, message);
    }
    if (run->latency) {
        const struct hist *h = run->latency;
        gbench_set_counter(st, "p50_ns", (double)hist_percentile(h, 50), GBENCH_COUNTER_DEFAULT);
        gbench_set_counter(st, "p99_ns", (double)hist_percentile(h, 99), GBENCH_COUNTER_DEFAULT);
        gbench_set_counter(st, "p999_ns", (double)hist_percentile(h, 99.9), GBENCH_COUNTER_DEFAULT);
        gbench_set_counter(st, "max_ns", (double)(h->count ? h->max_ns : 0),
                           GBENCH_COUNTER_DEFAULT);
        gbench_set_counter(st, "msgs_per_s", (double)c->received, GBENCH_COUNTER_RATE);
        gbench_set_counter(st, "lost", (double)c->lost, GBENCH_COUNTER_DEFAULT);
        gbench_set_bytes_processed(st, (int64_t)(c->received * ec->size));
        if (bench_hist_enabled()) {
            struct e2e_kept *kept = malloc(sizeof *kept);
            if (kept) {
                kept->ec = ec;
                kept->port = e2e.port;
                kept->counts = *c;
                kept->latency = *h;
                gbench_keep(st, kept, free);
            } else {
                gbench_skip_with_error(st, "out of memory keeping the histogram");
            }
        }
    }
    flow_close(&run->flow);
    free(run->latency);
}

/* The shim's sink: a reported run's histogram, into SHOUT_BENCH_HISTOGRAMS. */
static int e2e_write_histogram(const struct gbench_run *run, void *value, void *user)
{
    (void)user;
    const struct e2e_kept *kept = value;
    const struct e2e_case *ec = kept->ec;
    /* A failed run's histogram stops where it failed: nothing to compare. */
    if (run->error_occurred)
        return 0;
    const struct bench_hist_config config = {
        .pattern = ec->pattern == E2E_PINGPONG ? "pingpong"
                   : ec->udp                   ? "window"
                                               : "pipeline",
        .udp = ec->udp,
        .framed = ec->format == FLOW_FRAMED,
        .size = ec->size,
        .in_flight = ec->window,
        .warmup = E2E_WARMUP,
        .timeout_s = (double)(ec->pattern == E2E_PINGPONG ? E2E_PINGPONG_TIMEOUT_NS
                                                          : E2E_WINDOW_TIMEOUT_NS) *
                     1e-9,
        .host = E2E_HOST,
        .port = kept->port,
        .client_cpu = e2e.client_cpu,
        .server_cpu = e2e.server_cpu,
        .placement = e2e.placement,
        .shoutd = SHOUT_BENCH_SHOUTD,
    };
    return bench_hist_write(run, &config, &kept->latency, &kept->counts);
}

static void e2e_bench_pingpong(gbench_state *st, void *user)
{
    const struct e2e_case *ec = user;
    struct e2e_run run;
    if (e2e_open(st, ec, &run) == 0) {
        int64_t n;
        while ((n = gbench_next_batch(st, E2E_WHOLE_RUN)) > 0) {
            uint64_t waited_ns = 0;
            for (int64_t i = 0; i < n; i++) {
                struct flow_sample s;
                uint64_t start_ns = flow_now_ns();
                int rc = flow_roundtrip(&run.flow, E2E_PINGPONG_TIMEOUT_NS, &s);
                if (rc < 0) {
                    e2e_fail(st, "round trip", rc, &run.flow);
                    break;
                }
                /* A lost datagram's iteration lasted as long as it was waited for. */
                uint64_t rtt_ns = rc == 1 ? s.done_ns - s.sent_ns : flow_now_ns() - start_ns;
                if (rc == 1)
                    hist_record(run.latency, rtt_ns);
                waited_ns += rtt_ns;
            }
            gbench_set_iteration_time(st, (double)waited_ns * 1e-9);
        }
    }
    e2e_close(st, ec, &run);
}

static void e2e_bench_stream(gbench_state *st, void *user)
{
    const struct e2e_case *ec = user;
    struct e2e_run run;
    if (e2e_open(st, ec, &run) == 0) {
        int64_t n;
        while ((n = gbench_next_batch(st, E2E_WHOLE_RUN)) > 0) {
            int rc = e2e_stream(&run, (uint64_t)n);
            if (rc < 0)
                e2e_fail(st, "stream", rc, &run.flow);
        }
    }
    e2e_close(st, ec, &run);
}

/* The CPU from env ("none": not pinned), else fallback; -2 after a message if it is bad. */
static int e2e_cpu_setting(const char *env, int fallback, const cpu_set_t *allowed)
{
    const char *text = getenv(env);
    if (!text || !*text)
        return fallback;
    if (strcmp(text, "none") == 0)
        return -1;
    char *end;
    long cpu = strtol(text, &end, 10);
    if (*end != '\0' || cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET((int)cpu, allowed)) {
        fprintf(stderr, "shout-bench: %s=%s: not \"none\" or a CPU this process may use\n", env,
                text);
        return -2;
    }
    return (int)cpu;
}

/* Pin shout-bench to the client CPU and decide the server's; records both as context. */
static int e2e_place(void)
{
    cpu_set_t *allowed = &e2e.allowed;
    if (sched_getaffinity(0, sizeof *allowed, allowed) != 0) {
        perror("shout-bench: sched_getaffinity");
        return -1;
    }
    int first = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE && first < 0; cpu++)
        if (CPU_ISSET(cpu, allowed))
            first = cpu;
    e2e.client_cpu = e2e_cpu_setting("SHOUT_BENCH_CLIENT_CPU", first, allowed);
    e2e.server_cpu = e2e_cpu_setting("SHOUT_BENCH_SERVER_CPU", e2e.client_cpu, allowed);
    if (e2e.client_cpu == -2 || e2e.server_cpu == -2)
        return -1;
    if (e2e.client_cpu >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(e2e.client_cpu, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0) {
            perror("shout-bench: sched_setaffinity");
            return -1;
        }
    }
    char text[16];
    snprintf(text, sizeof text, "%d", e2e.client_cpu);
    gbench_add_context("e2e_client_cpu", e2e.client_cpu >= 0 ? text : "none");
    snprintf(text, sizeof text, "%d", e2e.server_cpu);
    gbench_add_context("e2e_server_cpu", e2e.server_cpu >= 0 ? text : "none");
    e2e.placement = e2e.client_cpu < 0 || e2e.server_cpu < 0 ? "unpinned"
                    : e2e.client_cpu == e2e.server_cpu       ? "same-cpu"
                                                             : "cross-cpu";
    gbench_add_context("e2e_placement", e2e.placement);
    gbench_add_context("e2e_shoutd", SHOUT_BENCH_SHOUTD);
    return 0;
}

/* SHOUT_BENCH_E2E_ITERATIONS=N: run every e2e benchmark exactly N iterations; 0 if unset. */
static int64_t e2e_fixed_iterations(void)
{
    const char *text = getenv("SHOUT_BENCH_E2E_ITERATIONS");
    if (!text || !*text)
        return 0;
    char *end;
    long long n = strtoll(text, &end, 10);
    if (*end != '\0' || n <= 0) {
        fprintf(stderr, "shout-bench: SHOUT_BENCH_E2E_ITERATIONS=%s: not a positive count\n", text);
        return -1;
    }
    return n;
}

static uint32_t e2e_window(bool udp, enum e2e_pattern pattern, uint32_t size)
{
    if (pattern == E2E_PINGPONG)
        return 1;
    if (udp && size * E2E_WINDOW > E2E_UDP_WINDOW_BYTES)
        return E2E_UDP_WINDOW_BYTES / size > 0 ? E2E_UDP_WINDOW_BYTES / size : 1;
    return E2E_WINDOW;
}

static void e2e_register_case(struct e2e_case *ec, int64_t iterations)
{
    char name[96];
    const char *proto = ec->udp ? "udp" : "tcp";
    const char *format = ec->format == FLOW_FRAMED ? "framed" : "text";
    if (ec->pattern == E2E_PINGPONG)
        snprintf(name, sizeof name, "e2e/%s/%" PRIu32 "/pingpong/%s", proto, ec->size, format);
    else
        snprintf(name, sizeof name, "e2e/%s/%" PRIu32 "/%s%" PRIu32 "/%s", proto, ec->size,
                 ec->udp ? "window" : "pipeline", ec->window, format);
    gbench_bench *b;
    if (ec->pattern == E2E_PINGPONG)
        b = gbench_use_manual_time(gbench_register(name, e2e_bench_pingpong, ec));
    else
        b = gbench_use_real_time(gbench_register(name, e2e_bench_stream, ec));
    gbench_unit(b, GBENCH_US);
    if (iterations > 0)
        gbench_iterations(b, iterations);
}

int bench_e2e_register(void)
{
    int64_t iterations = e2e_fixed_iterations();
    if (iterations < 0 || e2e_place() != 0)
        return -1;
    /* Nothing is kept unless SHOUT_BENCH_HISTOGRAMS is set (e2e_close). */
    gbench_set_kept_sink(e2e_write_histogram, NULL);
    size_t k = 0;
    for (int udp = 0; udp <= 1; udp++) {
        for (int pattern = E2E_PINGPONG; pattern <= E2E_STREAM; pattern++) {
            for (size_t i = 0; i < E2E_COUNT(e2e_sizes); i++) {
                for (int framed = 0; framed <= 1; framed++, k++) {
                    e2e_cases[k] = (struct e2e_case){
                        .udp = udp,
                        .format = framed ? FLOW_FRAMED : FLOW_TEXT,
                        .size = e2e_sizes[i],
                        .pattern = (enum e2e_pattern)pattern,
                        .window = e2e_window(udp, (enum e2e_pattern)pattern, e2e_sizes[i]),
                    };
                    e2e_register_case(&e2e_cases[k], iterations);
                }
            }
        }
    }
    return 0;
}

void bench_e2e_stop(void)
{
    bench_server_stop();
    e2e.port = 0;
}
