/*
 * server: shoutd as a whole, owned by main for the whole run. It wires the
 * modules together and owns what none of them does: the options, the loop,
 * the listening sockets (the main port, the sockperf port, the stats port),
 * the signals, the engines' counters both serving ports share, the
 * per-source tables' secret, and the memory budget's start-up figures and
 * trimming. Each module keeps its own state, declared in its own header:
 * the accept side (accept.h), the TCP connections (stream.h), the
 * datagrams (dgram.h), the stats port (stats.h). Every call into the kernel
 * goes through server->kernel (kernel.h): the real one in shoutd, a fake
 * one in fuzz/fuzz_server.c.
 *
 * The functions below start, run and stop it: options in, sockets up, the
 * loop until SIGINT or SIGTERM, everything closed. Calls go one way only:
 * server.c calls the modules, stream.c and stats.c call the acceptor, and
 * every module calls the loop; nothing calls back into server.c.
 */
#ifndef SHOUTD_SERVER_H
#define SHOUTD_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "accept.h"
#include "budget.h"
#include "conn.h"
#include "dgram.h"
#include "kernel.h"
#include "listen.h"
#include "loop.h"
#include "options.h"
#include "source.h"
#include "droplog.h"
#include "stats.h"
#include "stream.h"

struct server {
    struct options opts;
    const struct kernel *kernel;
    struct loop loop;
    struct acceptor acceptor;
    struct streams streams;
    struct dgrams dgrams;
    struct stats_port stats_port;
    struct droplog droplog; /* the rate-limited log of refusals and drops */
    struct listeners listeners;
    struct loop_source tcp_sources[OPTIONS_MAX_LISTEN];
    struct dgram_socket udp_sockets[OPTIONS_MAX_LISTEN];
    struct listeners sockperf_listeners;
    struct loop_source sockperf_tcp_sources[OPTIONS_MAX_LISTEN];
    struct dgram_socket sockperf_udp_sockets[OPTIONS_MAX_LISTEN];
    struct listeners stats_listener; /* TCP only: listen_stats_addrs */
    struct listen_addr stats_addrs[OPTIONS_MAX_LISTEN];
    struct loop_source signal_source;
    struct timespec started;       /* CLOCK_MONOTONIC at start, for the uptime */
    struct conn_counters counters; /* the engines': TCP connections and datagrams alike */
    /* The per-source tables' hash key (TCP and UDP): taken once, in server_start. */
    struct source_secret source_secret;
    /* Where the memory budget came from: --max-buffered, or derived at start-up from: */
    bool budget_given;
    enum budget_origin budget_origin;
    uint64_t cgroup_max; /* memory.max (0: none) ... */
    uint64_t physical;   /* ... or the machine's memory */
    struct budget_trim trim;
    uint64_t trim_retry_ms; /* when a release seen too soon after a trim is due; UINT64_MAX: none */
    uint64_t malloc_trims;  /* freed memory handed back to the kernel after a large release */
    bool draining;          /* SIGTERM/SIGINT: finishing connections, accepting none */
    uint64_t grace_deadline_ms; /* when draining: loop.now_ms at which the rest are cut */
};

/* What follows from the options, with every call made through kernel (kernel_system in shoutd). */
void server_init(struct server *server, const struct kernel *kernel);

/*
 * Pin the whole process to one CPU before anything is served, so that every
 * message is handled there. 0, or a one-line usage message and -EINVAL when
 * the CPU is not one this process may run on. (The real kernel's, always:
 * it confines the process, there is nothing to simulate.)
 */
int server_pin_cpu(int cpu);

/*
 * Take the per-source tables' secret (getrandom, before the sandbox, whose
 * allow-list does not have it; or SHOUTD_TEST_SEED, for tests only), set up
 * the loop, the signals and every socket, then print the ports on standard
 * output (the port alone on line 1). 0, or a negative errno with a message
 * on stderr.
 */
int server_start(struct server *server);

/*
 * Serve until SIGINT or SIGTERM, then drain: stop accepting, answer what was
 * read, close every connection the orderly way, cutting what is left after
 * --grace seconds. 0, or a negative errno if the loop failed. SIGUSR1 writes
 * the counters to stderr and serving goes on.
 */
int server_run(struct server *server);

/* One round of server_run: 0 to go on, 1 when it is over, or a negative errno. */
int server_run_once(struct server *server);

/* The counters and the process's figures, as the stats port reports them. */
void server_gather(const void *server, struct stats_counters *counters,
                   struct stats_process *process);

/* Close every connection and socket. */
void server_stop(struct server *server);

#endif
