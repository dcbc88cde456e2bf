#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>

#include "memlimit.h"

/* --port 0 with the stats port at its + 1: tries at a pair of free ports (listen.c tries each 32
 * times). */
#define SERVER_PORT_PAIR_TRIES 16

/*
 * The memory budget: --max-buffered, or derived from the limit shoutd runs
 * under. Read here, before the sandbox, which would refuse the files.
 */
static void server_init_budget(struct server *server)
{
    const struct options *opts = &server->opts;
    uint64_t total = opts->max_buffered;
    server->budget_given = total != 0;
    if (!server->budget_given) {
        server->cgroup_max = memlimit_cgroup_max(server->kernel);
        server->physical = memlimit_physical();
        total = budget_default(server->cgroup_max, server->physical, &server->budget_origin);
    }
    uint64_t per_source = opts->max_buffered_per_ip_given ? opts->max_buffered_per_ip
                                                          : budget_default_per_source(total);
    server->streams.held.limits =
        (struct budget_limits){.max_total = total, .max_per_source = per_source};
    server->trim_retry_ms = UINT64_MAX;
    /*
     * glibc's malloc initialises itself on first use, and that asks
     * getrandom for its tcache key: a call the sandbox kills. A shoutd whose
     * malloc is glibc's has used it long before the sandbox, but under ASan
     * malloc is the sanitizer's, and the first call into glibc's allocator
     * would be a trim in the running loop. One trim now initialises it.
     */
    malloc_trim(0);
}

void server_init(struct server *server, const struct kernel *kernel)
{
    const struct options *opts = &server->opts;
    server->kernel = kernel;
    server->signal_source.fd = -1;
    /* Room for at least one whole reply, and never less than 1 MiB. */
    size_t default_max_output = opts->max_frame + WIRE_HEADER_LEN > 1024 * 1024
                                    ? opts->max_frame + WIRE_HEADER_LEN
                                    : 1024 * 1024;
    struct streams *streams = &server->streams;
    streams->kernel = kernel;
    streams->loop = &server->loop;
    streams->acceptor = &server->acceptor;
    streams->opts = opts;
    streams->secret = &server->source_secret;
    streams->limits = (struct conn_limits){
        .max_payload = opts->max_frame,
        .max_output = opts->max_output != 0 ? opts->max_output : default_max_output,
    };
    streams->counters = &server->counters;
    streams->allocate = calloc;
    stream_init(streams);
    struct dgrams *dgrams = &server->dgrams;
    dgrams->kernel = kernel;
    dgrams->opts = opts;
    dgrams->secret = &server->source_secret;
    dgrams->max_payload = opts->max_frame;
    dgrams->counters = &server->counters;
    dgrams->rate_slot_count = DGRAM_RATE_SLOTS;
    server->stats_port = (struct stats_port){
        .kernel = kernel,
        .acceptor = &server->acceptor,
        .loop = &server->loop,
        .gather = server_gather,
        .context = server,
        .allow = opts->stats_allow,
        .allow_count = opts->stats_allow_count,
    };
    stats_port_init(&server->stats_port);
    server_init_budget(server);
}

/* A size for a log line: whole MiB, or KiB under one MiB. */
static void server_format_size(char *out, size_t cap, uint64_t bytes)
{
    if (bytes >= 1024 * 1024)
        snprintf(out, cap, "%" PRIu64 " MiB", bytes / (1024 * 1024));
    else
        snprintf(out, cap, "%" PRIu64 " KiB", bytes / 1024);
}

/* Where the budget came from, so an operator can see what bounds shoutd. */
static void server_log_budget(const struct server *server)
{
    const struct budget_limits *limits = &server->streams.held.limits;
    const uint64_t mib = 1024 * 1024;
    char why[96];
    if (server->budget_given)
        snprintf(why, sizeof why, "--max-buffered");
    else if (server->budget_origin == BUDGET_FROM_CGROUP)
        snprintf(why, sizeof why, "half of the cgroup's memory.max, %" PRIu64 " MiB",
                 server->cgroup_max / mib);
    else if (server->budget_origin == BUDGET_FROM_PHYSICAL)
        snprintf(why, sizeof why, "a quarter of the machine's %" PRIu64 " MiB, no cgroup limit",
                 server->physical / mib);
    else
        snprintf(why, sizeof why, "a fixed figure, the memory available unknown");
    char total[32], share[32] = "no";
    server_format_size(total, sizeof total, limits->max_total);
    if (limits->max_per_source != 0)
        server_format_size(share, sizeof share, limits->max_per_source);
    fprintf(stderr, "shoutd: connection buffers held at most %s (%s), %s per source address\n",
            total, why, share);
}

/*
 * After a large release (an attack's buffers freed), hand the freed memory
 * back to the kernel: glibc keeps freed chunks for reuse, and after an
 * attack that keeps RSS tens of MiB above where it was. Rate-limited by
 * lib/budget.h, so that no pattern of traffic can make it run per event;
 * malloc_trim makes only brk and madvise calls, both on the sandbox's list.
 */
static void server_trim_memory(struct server *server)
{
    if (budget_trim_due(&server->trim, server->streams.held.total, server->loop.now_ms,
                        &server->trim_retry_ms)) {
        malloc_trim(0);
        server->malloc_trims++;
    }
}

void server_gather(const void *context, struct stats_counters *counters,
                   struct stats_process *process)
{
    const struct server *server = context;
    const struct streams *streams = &server->streams;
    *counters = (struct stats_counters){
        .tcp = streams->stats,
        .accept = server->acceptor.stats,
        .udp = server->dgrams.stats,
        .port = server->stats_port.stats,
        .engine = server->counters,
        .malloc_trims = server->malloc_trims,
        .open = streams->open,
        .buffered = streams->held.total,
        .rate_evictions = server->dgrams.policy.per_source.evictions,
        .loop_wakeups = server->loop.wakeups,
        .loop_spins = server->loop.spins,
        .busy_poll_us = server->opts.busy_poll_us,
    };
    stats_sample_process(server->kernel, &server->started, server->opts.cpu, process);
}

/* SIGUSR1: the stats port's JSON on one stderr line, so counters can be read without it. */
static void server_dump_counters(const struct server *server)
{
    char json[STATS_JSON_MAX];
    struct stats_process process;
    struct stats_counters counters;
    server_gather(server, &counters, &process);
    size_t len = stats_format(&counters, &process, json, sizeof json);
    if (len > 0)
        fprintf(stderr, "shoutd: counters %.*s", (int)len, json);
}

/*
 * Close one set of listeners, out of the loop first: an event of theirs may
 * still be further down the batch in progress (loop.h).
 */
static void server_close_set(struct server *server, struct listeners *ls,
                             struct loop_source *tcp_sources, struct dgram_socket *udp_sockets)
{
    for (size_t i = 0; i < ls->count; i++) {
        acceptor_forget(&server->acceptor, &tcp_sources[i]);
        loop_del(&server->loop, &tcp_sources[i]);
        if (udp_sockets != NULL && ls->udp_fds[i] >= 0)
            loop_del(&server->loop, &udp_sockets[i].source);
    }
    listeners_close(ls);
}

/*
 * SIGTERM/SIGINT: stop accepting (the listeners close, so new connections
 * are refused by the kernel), then let every connection answer what it has
 * read and close; server_run ends when none is left or --grace runs out.
 */
static void server_start_drain(struct server *server)
{
    server->draining = true;
    server->grace_deadline_ms = server->loop.now_ms + (uint64_t)server->opts.grace_s * 1000;
    server_close_set(server, &server->listeners, server->tcp_sources, server->udp_sockets);
    server_close_set(server, &server->sockperf_listeners, server->sockperf_tcp_sources,
                     server->sockperf_udp_sockets);
    stream_drain_all(&server->streams);
}

static void server_on_signal(struct loop_source *source, uint32_t events)
{
    (void)events;
    struct server *server = source->owner;
    struct signalfd_siginfo info;
    while (server->kernel->read(source->fd, &info, sizeof info) == (ssize_t)sizeof info) {
        if (info.ssi_signo == SIGUSR1) {
            server_dump_counters(server);
            continue;
        }
        if (info.ssi_signo == SIGHUP) {
            /*
             * nginx and HAProxy reload their configuration on SIGHUP; shoutd
             * has none (every setting is a flag), so there is nothing to
             * reload. Dying would turn a closed terminal or a reflexive
             * `kill -HUP` into a cut benchmark, so say so and keep serving.
             */
            fprintf(stderr, "shoutd: caught SIGHUP, nothing to reload (no configuration file), "
                            "still serving\n");
            continue;
        }
        if (server->draining)
            continue;
        fprintf(stderr, "shoutd: caught SIG%s, finishing connections (--grace %u s)\n",
                sigabbrev_np((int)info.ssi_signo), server->opts.grace_s);
        server_start_drain(server);
    }
}

/*
 * SIGINT, SIGTERM, SIGUSR1 and SIGHUP arrive as events on a signalfd, so they
 * are handled in the loop like any other input, never in the middle of a
 * send. SIGPIPE is ignored: a peer that went away is an error return, not a
 * death.
 */
static int server_watch_signals(struct server *server)
{
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGUSR1);
    sigaddset(&stop_signals, SIGHUP);
    if (server->kernel->block_signals(&stop_signals) != 0)
        return -errno;
    int fd = server->kernel->signalfd(&stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    server->signal_source =
        (struct loop_source){.fd = fd, .on_ready = server_on_signal, .owner = server};
    return loop_add(&server->loop, &server->signal_source, EPOLLIN);
}

int server_pin_cpu(int cpu)
{
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || !CPU_ISSET(cpu, &allowed)) {
        fprintf(stderr, "shoutd: --cpu %d: not a CPU this process may run on (%d allowed)\n", cpu,
                CPU_COUNT(&allowed));
        return -EINVAL;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) {
        fprintf(stderr, "shoutd: --cpu %d: %s\n", cpu, strerror(errno));
        return -EINVAL;
    }
    return 0;
}

/* Register one set of listeners: TCP with on_tcp, UDP (when open) with on_udp. */
static int server_watch_set(struct server *server, const struct listeners *ls,
                            const struct listen_addr *addrs, struct loop_source *tcp_sources,
                            struct dgram_socket *udp_sockets, loop_callback *on_tcp,
                            void *tcp_owner, loop_callback *on_udp, const char *what)
{
    for (size_t i = 0; i < ls->count; i++) {
        tcp_sources[i] =
            (struct loop_source){.fd = ls->tcp_fds[i], .on_ready = on_tcp, .owner = tcp_owner};
        int err = loop_add(&server->loop, &tcp_sources[i], EPOLLIN);
        if (err == 0 && !acceptor_watch(&server->acceptor, &tcp_sources[i]))
            err = -ENOSPC;
        if (err == 0 && ls->udp_fds[i] >= 0) {
            udp_sockets[i].source = (struct loop_source){
                .fd = ls->udp_fds[i], .on_ready = on_udp, .owner = &server->dgrams};
            udp_pace_init(&udp_sockets[i].pace);
            err = loop_add(&server->loop, &udp_sockets[i].source, EPOLLIN);
        }
        if (err != 0)
            return err;
        bool v6 = strchr(addrs[i].text, ':') != NULL;
        fprintf(stderr, "shoutd: %s on %s%s%s port %u (%s)\n", what, v6 ? "[" : "", addrs[i].text,
                v6 ? "]" : "", ls->port, ls->udp_fds[i] >= 0 ? "tcp, udp" : "tcp");
    }
    return 0;
}

/*
 * Open the main port's set and the stats port's. A stats port that follows
 * the main port is its port + 1: with --port 0 that is a second port that
 * must be free too, so a taken one sends both back to be picked again.
 */
static int server_open_main_and_stats(struct server *server, size_t stats_count)
{
    struct options *opts = &server->opts;
    const struct kernel *k = server->kernel;
    bool pick_pair = opts->stats_enabled && opts->stats_port_follows && opts->port == 0;
    int err = 0;
    for (int tries = 0; tries < SERVER_PORT_PAIR_TRIES; tries++) {
        err = listeners_open(&server->listeners, k, opts->listen, opts->listen_count, opts->port,
                             true, opts->backlog);
        if (err != 0 || !opts->stats_enabled)
            return err;
        uint16_t stats_port = opts->stats_port;
        if (opts->stats_port_follows)
            stats_port = server->listeners.port == 65535 ? 0 : server->listeners.port + 1;
        bool last = !pick_pair || tries + 1 == SERVER_PORT_PAIR_TRIES;
        /* A taken port + 1 is the stats port's: say so, and which flags move it or drop it. */
        server->stats_listener.role =
            opts->stats_port_follows
                ? "the stats port (--port + 1): give --stats-port N for another, or --no-stats"
                : "the stats port (--stats-port): give another, or --no-stats";
        server->stats_listener.quiet = !last;
        /*
         * The stats port answers quickly, but a connect flood (a scraper per
         * core, a loop in a script) overflowed a queue of 64: connects then
         * waited a second for SYN retransmission. The main port's backlog, then.
         */
        err = stats_port == 0 && pick_pair
                  ? -EADDRINUSE
                  : listeners_open(&server->stats_listener, k, server->stats_addrs, stats_count,
                                   stats_port, false, opts->backlog);
        if (err == 0 || last)
            break;
        listeners_close(&server->listeners);
    }
    if (err != 0 && pick_pair)
        fprintf(stderr, "shoutd: found no free port whose next port was free too (stats): %s\n",
                strerror(-err));
    return err;
}

/* Open and register every socket: 0, or a negative errno with a message on stderr. */
static int server_listen(struct server *server)
{
    struct options *opts = &server->opts;
    const struct kernel *k = server->kernel;
    size_t stats_count = listen_stats_addrs(opts, server->stats_addrs);
    int err = server_open_main_and_stats(server, stats_count);
    if (err != 0)
        return err;
    server->dgrams.port = server->listeners.port;
    err = server_watch_set(server, &server->listeners, opts->listen, server->tcp_sources,
                           server->udp_sockets, stream_on_listener_ready, &server->streams,
                           dgram_on_ready, "listening");
    if (err == 0 && opts->sockperf_enabled) {
        err = listeners_open(&server->sockperf_listeners, k, opts->listen, opts->listen_count,
                             opts->sockperf_port, true, opts->backlog);
        if (err != 0)
            return err;
        server->dgrams.sockperf_port = server->sockperf_listeners.port;
        err = server_watch_set(server, &server->sockperf_listeners, opts->listen,
                               server->sockperf_tcp_sources, server->sockperf_udp_sockets,
                               stream_on_sockperf_listener_ready, &server->streams,
                               dgram_on_sockperf_ready, "sockperf format");
    }
    if (err == 0 && opts->stats_enabled)
        err = server_watch_set(server, &server->stats_listener, server->stats_addrs,
                               server->stats_port.sources, NULL, stats_on_listener_ready,
                               &server->stats_port, NULL, "stats");
    if (err != 0)
        fprintf(stderr, "shoutd: cannot watch the sockets: %s\n", strerror(-err));
    return err;
}

/* Line 1 is the port alone (scripts read just that); the others say what they are. */
static void server_print_ports(const struct server *server)
{
    printf("%u\n", server->listeners.port);
    if (server->opts.stats_enabled)
        printf("stats %u\n", server->stats_listener.port);
    if (server->opts.sockperf_enabled)
        printf("sockperf %u\n", server->sockperf_listeners.port);
    fflush(stdout);
}

/* Draining: whether to stop, and the next wake-up trimmed to the grace deadline. */
static bool server_drained(struct server *server, uint64_t *wake_ms)
{
    struct streams *streams = &server->streams;
    if (streams->open == 0) {
        fprintf(stderr, "shoutd: every connection closed, exiting\n");
        return true;
    }
    if (server->loop.now_ms >= server->grace_deadline_ms) {
        server->draining = streams->draining = false;
        size_t cut = stream_close_all(streams);
        streams->stats.shutdown_cut += cut;
        fprintf(stderr, "shoutd: --grace %u s over, cut %zu connection%s, exiting\n",
                server->opts.grace_s, cut, cut == 1 ? "" : "s");
        return true;
    }
    if (*wake_ms > server->grace_deadline_ms)
        *wake_ms = server->grace_deadline_ms;
    return false;
}

static uint64_t server_sooner(uint64_t a_ms, uint64_t b_ms)
{
    return a_ms < b_ms ? a_ms : b_ms;
}

/*
 * Tell what the limits turned away since the last look, at most one line
 * per reason per second (droplog.h). Read straight from the modules'
 * counters, not server_gather: that samples the process with syscalls.
 */
static uint64_t server_log_drops(struct server *server)
{
    const struct stream_stats *st = &server->streams.stats;
    const struct dgram_stats *udp = &server->dgrams.stats;
    const uint64_t totals[DROPLOG_REASONS] = {
        [DROPLOG_UDP_RATE] = udp->dropped_rate,
        [DROPLOG_UDP_GLOBAL_RATE] = udp->dropped_global_rate,
        [DROPLOG_UDP_SOURCE_PORT] = udp->dropped_source_port,
        [DROPLOG_TCP_PER_IP] = st->refused_per_ip,
        [DROPLOG_TCP_MAX_CONNS] = st->refused_max_conns,
        [DROPLOG_TCP_NO_FDS] = server->acceptor.stats.refused_no_fds,
        [DROPLOG_TCP_NO_MEMORY] = st->refused_no_memory,
        [DROPLOG_TIMEOUT_FRAME] = st->timeouts_frame,
        [DROPLOG_TIMEOUT_IDLE] = st->timeouts_idle,
        [DROPLOG_TIMEOUT_WRITE] = st->timeouts_write,
        [DROPLOG_MEMORY] = st->closed_memory + st->closed_memory_per_ip,
        [DROPLOG_STATS_SOURCE] = server->stats_port.stats.refused_source,
    };
    struct droplog_line lines[DROPLOG_REASONS];
    size_t count;
    uint64_t wake_ms = droplog_check(&server->droplog, totals, server->loop.now_ms, lines, &count);
    for (size_t i = 0; i < count; i++)
        fprintf(stderr, "shoutd: %" PRIu64 " %s; %" PRIu64 " since start\n", lines[i].count,
                droplog_what(lines[i].reason), lines[i].total);
    return wake_ms;
}

int server_run_once(struct server *server)
{
    struct loop *loop = &server->loop;
    if (loop->stop)
        return 1;
    uint64_t wake_ms = stream_expire(&server->streams, loop->now_ms);
    wake_ms = server_sooner(wake_ms, acceptor_tick(&server->acceptor, loop->now_ms));
    wake_ms = server_sooner(wake_ms, stats_port_tick(&server->stats_port, loop->now_ms));
    wake_ms = server_sooner(wake_ms, server_log_drops(server));
    if (server->draining && server_drained(server, &wake_ms))
        return 1;
    wake_ms = server_sooner(wake_ms, server->trim_retry_ms);
    int err = wake_ms == UINT64_MAX ? 0 : loop_wake_by(loop, wake_ms);
    if (err != 0) {
        fprintf(stderr, "shoutd: timerfd_settime: %s\n", strerror(-err));
        return err;
    }
    err = loop_run_once(loop);
    if (err != 0) {
        fprintf(stderr, "shoutd: epoll_wait: %s\n", strerror(-err));
        return err;
    }
    server_trim_memory(server);
    return 0;
}

int server_run(struct server *server)
{
    int result;
    do
        result = server_run_once(server);
    while (result == 0);
    return result < 0 ? result : 0;
}

/*
 * Every connection is a descriptor: raise the soft limit to the hard one
 * (the only raise that needs no privilege), so that --max-conns, not a
 * distribution's default of 1024, decides how many are served. Short of
 * descriptors anyway, say so: the connections past them are refused and
 * counted (refused_no_fds), not lost.
 */
static void server_raise_fd_limit(const struct server *server)
{
    const struct options *opts = &server->opts;
    struct rlimit limit;
    if (server->kernel->getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return;
    if (limit.rlim_cur < limit.rlim_max) {
        rlim_t was = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        if (server->kernel->setrlimit(RLIMIT_NOFILE, &limit) != 0)
            limit.rlim_cur = was;
    }
    /* The listeners, the stats port, epoll, the signalfd, the spare, stdio: a few dozen. */
    rlim_t needed = (rlim_t)opts->max_conns + 64;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed)
        fprintf(stderr,
                "shoutd: warning: %llu descriptors (RLIMIT_NOFILE hard limit) is short of the "
                "%llu that --max-conns %u needs; connections past it are refused\n",
                (unsigned long long)limit.rlim_cur, (unsigned long long)needed, opts->max_conns);
}

/*
 * The secret both per-source tables hash with, so that nobody can compute
 * which addresses share a slot. A test can fix it (SHOUTD_TEST_SEED, 32 hex
 * digits) to aim addresses at one slot on purpose; that is loud, because a
 * known secret makes the tables' collisions anyone's to choose.
 */
static int server_take_source_secret(struct server *server)
{
    const char *test_seed = getenv("SHOUTD_TEST_SEED");
    if (test_seed != NULL) {
        if (source_secret_parse(test_seed, &server->source_secret) != 0) {
            fprintf(stderr, "shoutd: SHOUTD_TEST_SEED needs 32 hex digits\n");
            return -EINVAL;
        }
        fprintf(stderr, "shoutd: warning: SHOUTD_TEST_SEED is set: the per-source tables' "
                        "hash is known; for tests only\n");
        return 0;
    }
    uint8_t bytes[16];
    ssize_t got;
    /* Blocks only until the kernel's pool is first initialised, early in boot. */
    do
        got = server->kernel->getrandom(bytes, sizeof bytes, 0);
    while (got < 0 && errno == EINTR);
    if (got != (ssize_t)sizeof bytes) {
        int err = got < 0 ? errno : EIO;
        fprintf(stderr, "shoutd: getrandom: %s\n", strerror(err));
        return -err;
    }
    source_secret_from_bytes(bytes, &server->source_secret);
    return 0;
}

int server_start(struct server *server)
{
    int err = server_take_source_secret(server);
    if (err != 0)
        return err;
    server_raise_fd_limit(server);
    server->kernel->clock_gettime(CLOCK_MONOTONIC, &server->started);
    fprintf(stderr, "shoutd %s starting (max frame %u bytes)\n", SHOUT_VERSION,
            server->opts.max_frame);
    server_log_budget(server);

    err = loop_init(&server->loop, server->kernel);
    acceptor_init(&server->acceptor, server->kernel, &server->loop);
    server->loop.busy_poll_ns = (uint64_t)server->opts.busy_poll_us * 1000;
    if (err == 0)
        err = server_watch_signals(server);
    if (err != 0) {
        fprintf(stderr, "shoutd: cannot set up the event loop: %s\n", strerror(-err));
        return err;
    }
    err = server_listen(server);
    if (err != 0)
        return err;
    server_print_ports(server);
    return 0;
}

void server_stop(struct server *server)
{
    stream_close_all(&server->streams);
    stats_port_close_all(&server->stats_port);
    listeners_close(&server->listeners);
    listeners_close(&server->sockperf_listeners);
    listeners_close(&server->stats_listener);
    if (server->signal_source.fd >= 0)
        server->kernel->close(server->signal_source.fd);
    acceptor_close(&server->acceptor);
    loop_free(&server->loop);
}
