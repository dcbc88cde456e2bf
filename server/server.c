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
#include <unistd.h>

#include "dgram.h"
#include "memlimit.h"
#include "stats.h"
#include "stream.h"

/*
 * The memory budget: --max-buffered, or derived from the limit shoutd runs
 * under. Read here, before the sandbox, which would refuse the files.
 */
static void server_init_budget(struct server *server)
{
    const struct options *opts = &server->opts;
    struct server_held *ledger = &server->held;
    uint64_t total = opts->max_buffered;
    ledger->limit_given = total != 0;
    if (!ledger->limit_given) {
        ledger->cgroup_max = memlimit_cgroup_max();
        ledger->physical = memlimit_physical();
        total = budget_default(ledger->cgroup_max, ledger->physical, &ledger->origin);
    }
    uint64_t per_source = opts->max_buffered_per_ip_given ? opts->max_buffered_per_ip
                                                          : budget_default_per_source(total);
    ledger->limits = (struct budget_limits){.max_total = total, .max_per_source = per_source};
    ledger->trim_retry_ms = UINT64_MAX;
    /*
     * glibc's malloc initialises itself on first use, and that asks
     * getrandom for its tcache key: a call the sandbox kills. A shoutd whose
     * malloc is glibc's has used it long before the sandbox, but under ASan
     * malloc is the sanitizer's, and the first call into glibc's allocator
     * would be a trim in the running loop. One trim now initialises it.
     */
    malloc_trim(0);
}

void server_init(struct server *server)
{
    const struct options *opts = &server->opts;
    /* Room for at least one whole reply, and never less than 1 MiB. */
    size_t default_max_output = opts->max_frame + WIRE_HEADER_LEN > 1024 * 1024
                                    ? opts->max_frame + WIRE_HEADER_LEN
                                    : 1024 * 1024;
    server->limits = (struct conn_limits){
        .max_payload = opts->max_frame,
        .max_output = opts->max_output != 0 ? opts->max_output : default_max_output,
    };
    server->io = &sockio_system;
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
    const struct server_held *ledger = &server->held;
    const uint64_t mib = 1024 * 1024;
    char why[96];
    if (ledger->limit_given)
        snprintf(why, sizeof why, "--max-buffered");
    else if (ledger->origin == BUDGET_FROM_CGROUP)
        snprintf(why, sizeof why, "half of the cgroup's memory.max, %" PRIu64 " MiB",
                 ledger->cgroup_max / mib);
    else if (ledger->origin == BUDGET_FROM_PHYSICAL)
        snprintf(why, sizeof why, "a quarter of the machine's %" PRIu64 " MiB, no cgroup limit",
                 ledger->physical / mib);
    else
        snprintf(why, sizeof why, "a fixed figure, the memory available unknown");
    char total[32], share[32] = "no";
    server_format_size(total, sizeof total, ledger->limits.max_total);
    if (ledger->limits.max_per_source != 0)
        server_format_size(share, sizeof share, ledger->limits.max_per_source);
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
    struct server_held *ledger = &server->held;
    if (budget_trim_due(&ledger->trim, ledger->total, server->loop.now_ms,
                        &ledger->trim_retry_ms)) {
        malloc_trim(0);
        server->stats.malloc_trims++;
    }
}

/* SIGUSR1: the stats port's JSON on one stderr line, so counters can be read without it. */
static void server_dump_counters(const struct server *server)
{
    char json[STATS_JSON_MAX];
    struct stats_process process;
    stats_sample_process(server, &process);
    struct stats_counters counters;
    stats_gather(server, &counters);
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
    stream_drain_all(server);
}

static void server_on_signal(struct loop_source *source, uint32_t events)
{
    (void)events;
    struct server *server = source->owner;
    struct signalfd_siginfo info;
    while (read(source->fd, &info, sizeof info) == (ssize_t)sizeof info) {
        if (info.ssi_signo == SIGUSR1) {
            server_dump_counters(server);
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
 * SIGINT, SIGTERM and SIGUSR1 arrive as events on a signalfd, so they are handled in
 * the loop like any other input, never in the middle of a send. SIGPIPE is
 * ignored: a peer that went away is an error return, not a death.
 */
static int server_watch_signals(struct server *server)
{
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &stop_signals, NULL) != 0)
        return -errno;
    int fd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
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

/* Watch (EPOLLIN) or stop watching (0) every TCP listener still open. */
static void server_watch_listeners(struct server *server, uint32_t events)
{
    for (size_t i = 0; i < server->listeners.count; i++)
        loop_set_events(&server->loop, &server->tcp_sources[i], events);
    for (size_t i = 0; i < server->sockperf_listeners.count; i++)
        loop_set_events(&server->loop, &server->sockperf_tcp_sources[i], events);
    if (server->stats_listener.count > 0)
        loop_set_events(&server->loop, &server->stats_source, events);
}

void server_pause_accepting(struct server *server)
{
    if (server->accept_resume_ms != 0)
        return;
    server->stats.accept_pauses++;
    server->accept_resume_ms = server->loop.now_ms + SERVER_ACCEPT_PAUSE_MS;
    server_watch_listeners(server, 0);
}

bool server_hold_spare_fd(struct server *server)
{
    if (server->spare_fd < 0)
        server->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return server->spare_fd >= 0;
}

static void server_resume_accepting(struct server *server)
{
    server->accept_resume_ms = 0;
    server_hold_spare_fd(server);
    server_watch_listeners(server, EPOLLIN);
}

/* Register one set of listeners: TCP with on_tcp, UDP (when open) with on_udp. */
static int server_watch_set(struct server *server, const struct listeners *ls,
                            const struct listen_addr *addrs, struct loop_source *tcp_sources,
                            struct dgram_socket *udp_sockets, loop_callback *on_tcp,
                            loop_callback *on_udp, const char *what)
{
    for (size_t i = 0; i < ls->count; i++) {
        tcp_sources[i] =
            (struct loop_source){.fd = ls->tcp_fds[i], .on_ready = on_tcp, .owner = server};
        int err = loop_add(&server->loop, &tcp_sources[i], EPOLLIN);
        if (err == 0 && ls->udp_fds[i] >= 0) {
            udp_sockets[i].source =
                (struct loop_source){.fd = ls->udp_fds[i], .on_ready = on_udp, .owner = server};
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

/* Open and register every socket: 0, or a negative errno with a message on stderr. */
static int server_listen(struct server *server)
{
    struct options *opts = &server->opts;
    int err = listeners_open(&server->listeners, opts->listen, opts->listen_count, opts->port, true,
                             opts->backlog);
    if (err != 0)
        return err;
    err = server_watch_set(server, &server->listeners, opts->listen, server->tcp_sources,
                           server->udp_sockets, stream_on_listener_ready, dgram_on_ready,
                           "listening");
    if (err == 0 && opts->sockperf_enabled) {
        err = listeners_open(&server->sockperf_listeners, opts->listen, opts->listen_count,
                             opts->sockperf_port, true, opts->backlog);
        if (err != 0)
            return err;
        err = server_watch_set(server, &server->sockperf_listeners, opts->listen,
                               server->sockperf_tcp_sources, server->sockperf_udp_sockets,
                               stream_on_sockperf_listener_ready, dgram_on_sockperf_ready,
                               "sockperf format");
    }
    if (err == 0 && opts->stats_enabled) {
        /*
         * The stats port answers at once and closes, but a connect flood
         * (a scraper per core, a loop in a script) overflowed a queue of 64:
         * connects then waited a second for SYN retransmission. The main
         * port's backlog, then.
         */
        err = listeners_open(&server->stats_listener, &opts->stats_listen, 1, opts->stats_port,
                             false, opts->backlog);
        if (err != 0)
            return err;
        err = server_watch_set(server, &server->stats_listener, &opts->stats_listen,
                               &server->stats_source, NULL, stats_on_listener_ready, NULL, "stats");
    }
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
    if (list_empty(&server->streams)) {
        fprintf(stderr, "shoutd: every connection closed, exiting\n");
        return true;
    }
    if (server->loop.now_ms >= server->grace_deadline_ms) {
        server->draining = false;
        size_t cut = stream_close_all(server);
        server->stats.shutdown_cut += cut;
        fprintf(stderr, "shoutd: --grace %u s over, cut %zu connection%s, exiting\n",
                server->opts.grace_s, cut, cut == 1 ? "" : "s");
        return true;
    }
    if (*wake_ms > server->grace_deadline_ms)
        *wake_ms = server->grace_deadline_ms;
    return false;
}

int server_run(struct server *server)
{
    struct loop *loop = &server->loop;
    while (!loop->stop) {
        uint64_t wake_ms = stream_expire(server, loop->now_ms);
        if (server->accept_resume_ms != 0) {
            if (loop->now_ms >= server->accept_resume_ms)
                server_resume_accepting(server);
            else if (server->accept_resume_ms < wake_ms)
                wake_ms = server->accept_resume_ms;
        }
        if (server->draining && server_drained(server, &wake_ms))
            break;
        if (server->held.trim_retry_ms < wake_ms)
            wake_ms = server->held.trim_retry_ms;
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
    }
    return 0;
}

/*
 * Every connection is a descriptor: raise the soft limit to the hard one
 * (the only raise that needs no privilege), so that --max-conns, not a
 * distribution's default of 1024, decides how many are served. Short of
 * descriptors anyway, say so: the connections past them are refused and
 * counted (refused_no_fds), not lost.
 */
static void server_raise_fd_limit(const struct options *opts)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return;
    if (limit.rlim_cur < limit.rlim_max) {
        rlim_t was = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
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
        got = getrandom(bytes, sizeof bytes, 0);
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
    server_raise_fd_limit(&server->opts);
    clock_gettime(CLOCK_MONOTONIC, &server->started);
    list_init(&server->streams);
    for (size_t i = 0; i < SERVER_DEADLINES; i++)
        list_init(&server->deadlines[i]);
    for (size_t i = 0; i < BUDGET_SIZE_CLASSES; i++)
        list_init(&server->held.by_class[i]);
    server->spare_fd = -1;
    server_hold_spare_fd(server);
    fprintf(stderr, "shoutd %s starting (max frame %u bytes)\n", SHOUT_VERSION,
            server->opts.max_frame);
    server_log_budget(server);

    err = loop_init(&server->loop);
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
    stream_close_all(server);
    listeners_close(&server->listeners);
    listeners_close(&server->sockperf_listeners);
    listeners_close(&server->stats_listener);
    close(server->signal_source.fd);
    if (server->spare_fd >= 0)
        close(server->spare_fd);
    loop_free(&server->loop);
}
