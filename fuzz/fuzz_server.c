/*
 * fuzz_server: the whole of shoutd, driven by an action program against a
 * fake kernel. It runs the server exactly as shoutd does (server_init,
 * server_start, server_run_once, server_stop), with every kernel call going
 * through a struct kernel (server/kernel.h) that this file implements: a
 * world of descriptors, peers and datagrams that the input controls
 * entirely, including which call fails, when time passes, which signal
 * arrives, and the order of the ready events in each epoll batch.
 *
 * The input: a 16-byte header that chooses the options (parsed by shoutd's
 * own options_parse, so only what shoutd accepts is run), then actions, each
 * an opcode byte and its arguments (fuzz_server_act says which). Nothing
 * runs the server but RUN, ADVANCE and STATS, so that several things can be
 * made to happen in one epoll batch, as they do on a loaded machine.
 *
 * The oracles, checked after every action (fuzz_server_check):
 * - each TCP connection's replies are a prefix of what the reference model
 *   (conn_model.h) says its bytes read call for, with the shutting-down
 *   frame (error 7, id 0) after a drained framed connection's; exact at a
 *   clean close after the peer's EOF, and after a drain;
 * - open connections: the server's count equals the connections the fake
 *   kernel sees open, the streams listed, and, per source slot, the peers
 *   the harness has open from the sources that hash there;
 * - every stream is on at most one deadline list, of its own kind, in
 *   deadline order; the memory ledger adds up; no engine holds more than
 *   conn.h's bound;
 * - a mid-frame connection is closed no earlier than its frame deadline
 *   and within one tick of it; no connection closed without a cause (EOF,
 *   reset, fault, memory, drain, or a timeout that had passed);
 * - no UDP reply goes to a source port below 1024 or to the port it came
 *   to, is larger than the datagram it answers, or outnumbers the datagrams
 *   from its peer; replies per source stay within RATELIMIT_WAYS x (burst +
 *   rate x elapsed), and all together within the global budget;
 * - the counters the stats port reports equal the harness's own counts,
 *   and the stats port's answer is one JSON object (read by the models'
 *   own JSON reader);
 * - at the end, after server_stop, no descriptor is left open.
 * ASan finds the memory errors (the SIGTERM use-after-free was one).
 *
 * Memory: the world is static and reset for every input; peers' byte
 * buffers are malloc'd and freed at the end of each input.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "conn_model.h"
#include "fuzz_check.h"
#include "json_model.h"
#include "ratelimit.h"
#include "server.h"
#include "source.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define FAKE_FDS      96
#define PEERS         48
#define SOURCES       16
#define DGRAM_QUEUE   256
#define RUN_ROUNDS    256
#define TICK_MS       4
#define START_NS      (1000ull * 1000000000ull)
#define PEER_WINDOW   (1u << 30) /* a peer that reads everything at once */
#define SEND_BIG_MAX  (1024 * 1024 + 65536)
#define EPOLL_ENTRIES FAKE_FDS

enum port_kind { PORT_MAIN, PORT_SOCKPERF, PORT_STATS, PORT_KINDS };

enum fd_kind {
    FD_FREE,
    FD_STDIO,
    FD_TCP_UNBOUND,
    FD_UDP_UNBOUND,
    FD_LISTENER, /* port kind in .port */
    FD_UDP,      /* port kind in .port */
    FD_CONN,     /* peer in .peer */
    FD_EPOLL,
    FD_TIMER,
    FD_SIGNAL,
    FD_DEVNULL,
    FD_FILE, /* a cgroup file: its text in .text, read from .offset */
};

struct fake_fd {
    enum fd_kind kind;
    enum port_kind port;
    int peer;
    bool abortive; /* SO_LINGER 0: close is a reset */
    const char *text;
    size_t offset;
};

/* The calls a fault can be aimed at, and the faults. */
enum call {
    CALL_RECV,
    CALL_SEND,
    CALL_ACCEPT,
    CALL_RECVFROM,
    CALL_RECVMMSG,
    CALL_SENDTO,
    CALL_SENDMMSG,
    CALL_SENDMSG,
    CALL_EPOLL_WAIT,
    CALL_EPOLL_CTL,
    CALL_SHUTDOWN,
    CALL_SETSOCKOPT,
    CALL_OPEN,
    CALL_READ,
    CALL_TIMERFD_SETTIME,
    /* Start-up's, which only a torture run fails (the program's faults come after it). */
    CALL_SOCKET,
    CALL_BIND,
    CALL_LISTEN,
    CALL_GETSOCKNAME,
    CALL_EPOLL_CREATE,
    CALL_TIMERFD_CREATE,
    CALL_SIGNALFD,
    CALL_GETRANDOM,
    CALL_CLOSE,
    CALL_ALLOCATE, /* a connection's memory (streams->allocate): not a syscall, but it can fail */
    CALLS,
};

enum fault {
    FAULT_NONE,
    FAULT_EAGAIN,
    FAULT_EINTR,
    FAULT_ECONNRESET,
    FAULT_EPIPE,
    FAULT_SHORT,
    FAULT_EMFILE,
    FAULT_ENOMEM,
    FAULT_EIO, /* a segmented send the device cannot take; a close that lost data */
    FAULT_EADDRINUSE,
    FAULTS,
};

/* Which faults each call can return: what a real kernel may answer it with. */
static bool fault_fits(enum call call, enum fault fault)
{
    static const uint16_t fits[CALLS] = {
        [CALL_RECV] = 1 << FAULT_EAGAIN | 1 << FAULT_EINTR | 1 << FAULT_ECONNRESET |
                      1 << FAULT_SHORT | 1 << FAULT_ENOMEM,
        [CALL_SEND] = 1 << FAULT_EAGAIN | 1 << FAULT_EINTR | 1 << FAULT_ECONNRESET |
                      1 << FAULT_EPIPE | 1 << FAULT_SHORT | 1 << FAULT_ENOMEM,
        [CALL_ACCEPT] = 1 << FAULT_EAGAIN | 1 << FAULT_EINTR | 1 << FAULT_ECONNRESET |
                        1 << FAULT_EMFILE | 1 << FAULT_ENOMEM,
        [CALL_RECVFROM] = 1 << FAULT_EAGAIN | 1 << FAULT_EINTR | 1 << FAULT_ENOMEM,
        [CALL_RECVMMSG] = 1 << FAULT_EAGAIN | 1 << FAULT_EINTR | 1 << FAULT_ENOMEM,
        [CALL_SENDTO] = 1 << FAULT_EAGAIN | 1 << FAULT_EINTR | 1 << FAULT_EPIPE | 1 << FAULT_ENOMEM,
        [CALL_SENDMMSG] = 1 << FAULT_EAGAIN | 1 << FAULT_EINTR | 1 << FAULT_SHORT |
                          1 << FAULT_ENOMEM | 1 << FAULT_EIO,
        [CALL_SENDMSG] = 1 << FAULT_EAGAIN | 1 << FAULT_EINTR | 1 << FAULT_ENOMEM,
        [CALL_EPOLL_WAIT] = 1 << FAULT_EINTR,
        [CALL_EPOLL_CTL] = 1 << FAULT_ENOMEM,
        [CALL_SHUTDOWN] = 1 << FAULT_ECONNRESET | 1 << FAULT_ENOMEM,
        [CALL_SETSOCKOPT] = 1 << FAULT_ENOMEM,
        [CALL_OPEN] = 1 << FAULT_EMFILE | 1 << FAULT_ENOMEM | 1 << FAULT_EINTR,
        [CALL_READ] = 1 << FAULT_EAGAIN | 1 << FAULT_EINTR,
        [CALL_TIMERFD_SETTIME] = 1 << FAULT_ENOMEM,
        [CALL_SOCKET] = 1 << FAULT_EMFILE | 1 << FAULT_ENOMEM,
        [CALL_BIND] = 1 << FAULT_EADDRINUSE | 1 << FAULT_ENOMEM,
        [CALL_LISTEN] = 1 << FAULT_EADDRINUSE,
        [CALL_GETSOCKNAME] = 1 << FAULT_ENOMEM,
        [CALL_EPOLL_CREATE] = 1 << FAULT_EMFILE | 1 << FAULT_ENOMEM,
        [CALL_TIMERFD_CREATE] = 1 << FAULT_EMFILE | 1 << FAULT_ENOMEM,
        [CALL_SIGNALFD] = 1 << FAULT_EMFILE | 1 << FAULT_ENOMEM,
        [CALL_GETRANDOM] = 1 << FAULT_EINTR | 1 << FAULT_EAGAIN,
        [CALL_CLOSE] = 1 << FAULT_EINTR | 1 << FAULT_EIO,
        [CALL_ALLOCATE] = 1 << FAULT_ENOMEM,
    };
    return fault > FAULT_NONE && fault < FAULTS && (fits[call] >> fault & 1);
}

static int fault_errno(enum fault fault)
{
    static const int errnos[FAULTS] = {0,      EAGAIN, EINTR,  ECONNRESET, EPIPE,
                                       EAGAIN, EMFILE, ENOMEM, EIO,        EADDRINUSE};
    return errnos[fault];
}

/* FUZZ_SERVER_TRACE=1: what the world and the server did, on stderr, to read a finding. */
static bool tracing;
#define TRACE(...)                                                                                 \
    do {                                                                                           \
        if (tracing)                                                                               \
            fprintf(stderr, "trace: " __VA_ARGS__);                                                \
    } while (0)

/* A byte string that grows. */
struct bytes {
    uint8_t *at;
    size_t len, cap;
};

static void bytes_append(struct bytes *b, const uint8_t *data, size_t len)
{
    if (len == 0)
        return;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *grown = realloc(b->at, cap);
        FUZZ_CHECK(grown != NULL, "out of memory in the harness");
        b->at = grown;
        b->cap = cap;
    }
    memcpy(b->at + b->len, data, len);
    b->len += len;
}

enum peer_state { PEER_FREE, PEER_PENDING, PEER_OPEN, PEER_CLOSED };

/* One TCP client, as the harness sees it. */
struct peer {
    enum peer_state state;
    enum port_kind port;
    int source;
    int fd;
    bool admitted; /* the server kept it (TCP_NODELAY set), not refused at once */
    struct bytes to_server;
    size_t consumed; /* of to_server, read by the server */
    bool fin, rst;   /* what the client did */
    bool eof_seen;   /* the server read the EOF */
    struct bytes from_server;
    size_t window;  /* bytes the server may still send before its socket is full */
    bool reads_all; /* the client reads everything as it comes */
    bool blocked;   /* the server has ever found its socket full */
    bool shut_wr;   /* the server shut its write side */
    /*
     * A fault that may end the connection hit a call on its descriptor (a
     * reset, EPIPE, ENOMEM, a failed epoll_ctl or shutdown); jostled: one
     * that must change nothing but timing did (EAGAIN, EINTR, a short
     * read or write), so its bytes and its end are still checked, but its
     * deadlines may have moved.
     */
    bool faulted;
    bool jostled;
    bool drained;          /* the server was draining when it closed it, or it was open then */
    bool read_since_drain; /* reads after the drain began only discard */
    size_t consumed_at_drain;
    bool closed_in_shed_run;
    bool closed_in_timeout_run; /* closed in a run in which a deadline closed connections */
    bool closed_in_cut;
    bool aborted; /* closed with SO_LINGER 0 */
    /* Deadlines, on the server's coarse clock (ms). */
    uint64_t frame_start_ms;
    uint64_t quiet_since_ms;
    uint64_t sent_progress_ms;
    uint64_t model_messages;
    bool model_mid;
    bool model_fails;
};

struct datagram {
    enum port_kind port;
    int source;
    uint16_t source_port;
    uint16_t len;
    uint8_t bytes[512];
};

struct epoll_entry {
    bool used;
    int fd;
    uint32_t events;
    uint64_t data;
};

/* The sources: IPv4, loopback, IPv6 (two in one /64), ::1, an IPv4-mapped twin of source 0. */
static struct sockaddr_storage source_addrs[SOURCES];

static struct {
    uint64_t now_ns;
    struct fake_fd fds[FAKE_FDS];
    int fd_limit;
    struct epoll_entry epoll[EPOLL_ENTRIES];
    unsigned order;       /* how the next batch is ordered */
    uint64_t timer_at_ns; /* 0: disarmed */
    int pending_signals[8];
    int signal_count;
    enum fault faults[CALLS]; /* the next call of each kind fails so */
    uint16_t ports[PORT_KINDS];
    struct peer peers[PEERS];
    int peer_count;
    int pending[PORT_KINDS][PEERS]; /* connections waiting in each listener's backlog */
    int pending_count[PORT_KINDS];
    struct datagram queue[PORT_KINDS][DGRAM_QUEUE];
    int queue_head[PORT_KINDS], queue_len[PORT_KINDS];
    /* What the harness counts itself. */
    uint64_t accepted_tcp; /* accept4 successes on the main and sockperf listeners */
    uint64_t admitted;
    uint64_t admitted_closed;
    uint64_t refused_spare; /* accepted with the spare and closed */
    uint64_t datagrams_read, datagram_bytes_read;
    uint64_t replies, reply_bytes;
    uint64_t replies_to[SOURCES];     /* per source */
    uint64_t datagrams_from[SOURCES]; /* per source, read by the server */
    uint16_t largest_from[SOURCES][PORT_KINDS];
    uint64_t budget_start_ns; /* when the server first read a datagram: its budgets start full */
    bool budget_started;
    bool draining;
    bool exited;
    bool idle;
    bool alarm_failed;      /* timerfd_settime failed: shoutd gives up, the one fatal failure */
    bool starting;          /* in server_start */
    const char *cgroup_max; /* the memory.max of the slice shoutd runs in; NULL: no cgroup v2 */
    int fd_headroom;        /* the hard descriptor limit over the soft one */
    bool cpu_unknown;       /* sched_getcpu fails */
    bool sleeping;          /* epoll_wait sleeps until the alarm, as the kernel's does */
    unsigned sleeps;
} world;

static struct server *server;
static struct options_config {
    unsigned frame_s, idle_s, write_s, grace_s;
    uint32_t rate_per_ip, burst, global_rate;
    uint32_t max_frame;
    bool limit_loopback;
    unsigned ipv6_prefix;
} config;

/* ---- the fake kernel: descriptors ---- */

static int fake_new_fd(enum fd_kind kind)
{
    int open = 0;
    for (int fd = 0; fd < FAKE_FDS; fd++)
        open += world.fds[fd].kind != FD_FREE;
    if (open >= world.fd_limit) {
        errno = EMFILE;
        return -1;
    }
    for (int fd = 3; fd < FAKE_FDS; fd++) {
        if (world.fds[fd].kind == FD_FREE) {
            world.fds[fd] = (struct fake_fd){.kind = kind, .peer = -1};
            return fd;
        }
    }
    errno = EMFILE;
    return -1;
}

static struct fake_fd *fake_fd(int fd)
{
    if (fd < 0 || fd >= FAKE_FDS || world.fds[fd].kind == FD_FREE)
        return NULL;
    return &world.fds[fd];
}

static struct peer *fake_peer_of(int fd)
{
    struct fake_fd *f = fake_fd(fd);
    return f && f->kind == FD_CONN ? &world.peers[f->peer] : NULL;
}

/*
 * The torture run (FUZZ_SERVER_TORTURE=N in the environment; ci/fuzz
 * --torture): every input is run once without a fault of its own making,
 * recording each call that can fail and where in server/ it was made (the
 * return address); then once more per call and per fault class that call
 * can return, that call failing so. N caps the calls tried per input (0:
 * all). At exit it prints the matrix of call sites (resolved to file:line
 * by addr2line) by fault class, with how often each was tried.
 */
#define TORTURE_MAX_CALLS 4096
#define TORTURE_MAX_SITES 256

struct torture_site {
    uintptr_t offset; /* the return address, from the executable's base */
    enum call call;
    uint32_t runs[FAULTS];
};

static struct {
    bool on;
    size_t cap;
    bool recording;
    size_t count;
    struct {
        uintptr_t offset;
        enum call call;
    } calls[TORTURE_MAX_CALLS];
    long position;     /* calls that could fail so far in this run */
    long inject_at[2]; /* these fail (-1: none) ... */
    enum fault inject[2];
    /* Calls at sites first reached in a faulted run (an error path): failed in a second pass. */
    struct {
        long first_at, at;
        enum fault first;
        uintptr_t offset;
        enum call call;
    } later[TORTURE_MAX_SITES];
    size_t later_count;
    struct torture_site sites[TORTURE_MAX_SITES];
    size_t site_count;
    uint64_t inputs, runs;
} torture = {.inject_at = {-1, -1}};

static uintptr_t torture_offset(const void *address)
{
    Dl_info info;
    if (dladdr(address, &info) == 0)
        return (uintptr_t)address;
    return (uintptr_t)address - (uintptr_t)info.dli_fbase;
}

static struct torture_site *torture_find(uintptr_t offset, enum call call)
{
    for (size_t i = 0; i < torture.site_count; i++)
        if (torture.sites[i].offset == offset && torture.sites[i].call == call)
            return &torture.sites[i];
    return NULL;
}

static struct torture_site *torture_site(uintptr_t offset, enum call call)
{
    for (size_t i = 0; i < torture.site_count; i++)
        if (torture.sites[i].offset == offset && torture.sites[i].call == call)
            return &torture.sites[i];
    FUZZ_CHECK(torture.site_count < TORTURE_MAX_SITES, "more call sites than the torture table");
    torture.sites[torture.site_count] = (struct torture_site){.offset = offset, .call = call};
    return &torture.sites[torture.site_count++];
}

/* Every call that can fail comes here first: the torture run's bookkeeping. */
static enum fault torture_note(enum call call, const void *site)
{
    if (!torture.on)
        return FAULT_NONE;
    long position = torture.position++;
    if (torture.recording && torture.count < TORTURE_MAX_CALLS) {
        uintptr_t offset = torture_offset(site);
        torture.calls[torture.count].offset = offset;
        torture.calls[torture.count++].call = call;
        torture_site(offset, call);
    } else if (torture.inject_at[0] >= 0 && torture.inject_at[1] < 0 &&
               position > torture.inject_at[0] && torture.later_count < TORTURE_MAX_SITES) {
        uintptr_t offset = torture_offset(site);
        if (torture_find(offset, call) == NULL) {
            torture_site(offset, call);
            torture.later[torture.later_count++] = (__typeof__(torture.later[0])){
                .first_at = torture.inject_at[0],
                .first = torture.inject[0],
                .at = position,
                .offset = offset,
                .call = call,
            };
        }
    }
    for (int i = 0; i < 2; i++)
        if (position == torture.inject_at[i])
            return torture.inject[i];
    return FAULT_NONE;
}

/* Whether start-up may fail in this run: only when a torture run made one of its calls fail. */
static bool startup_faulted;

/*
 * Take the fault for this call, if any (the torture run's, or the one the
 * program set for the next call of its kind); marks the peer of fd as
 * faulted or jostled. site: where in server/ the call was made.
 */
#define FAKE_FAULT(call, fd) fake_fault(call, fd, __builtin_return_address(0))

static enum fault fake_fault(enum call call, int fd, const void *site)
{
    enum fault fault = torture_note(call, site);
    if (fault == FAULT_NONE) {
        fault = world.faults[call];
        world.faults[call] = FAULT_NONE;
    }
    if (fault == FAULT_NONE)
        return FAULT_NONE;
    if (world.starting)
        startup_faulted = true;
    TRACE("fault %d on call %d, fd %d\n", (int)fault, (int)call, fd);
    struct peer *p = fake_peer_of(fd);
    if (p)
        *(fault == FAULT_EAGAIN || fault == FAULT_EINTR || fault == FAULT_SHORT ? &p->jostled
                                                                                : &p->faulted) =
            true;
    return fault;
}

static int f_peer_index(const struct peer *p)
{
    return (int)(p - world.peers);
}

static int fake_fail(enum fault fault)
{
    errno = fault_errno(fault);
    return -1;
}

static uint64_t fake_now_ms(void)
{
    return world.now_ns / 1000000;
}

/* The server's coarse clock: what loop.now_ms reads. */
static uint64_t fake_coarse_ms(void)
{
    return fake_now_ms() / TICK_MS * TICK_MS;
}

/* ---- sockets ---- */

static int fake_socket(int domain, int type, int protocol)
{
    (void)domain;
    (void)protocol;
    enum fault fault = FAKE_FAULT(CALL_SOCKET, -1);
    if (fault)
        return fake_fail(fault);
    return fake_new_fd((type & 0xf) == SOCK_STREAM ? FD_TCP_UNBOUND : FD_UDP_UNBOUND);
}

static int fake_setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
    struct fake_fd *f = fake_fd(fd);
    if (!f) {
        errno = EBADF;
        return -1;
    }
    /* stream.c sets TCP_NODELAY on a connection it keeps, and on no other: whether it works. */
    if (f->kind == FD_CONN && level == IPPROTO_TCP && name == TCP_NODELAY) {
        struct peer *p = &world.peers[f->peer];
        FUZZ_CHECK(!p->admitted, "TCP_NODELAY set twice on one connection");
        p->admitted = true;
        world.admitted++;
    }
    enum fault fault = FAKE_FAULT(CALL_SETSOCKOPT, fd);
    if (fault)
        return fake_fail(fault);
    if (level == SOL_SOCKET && name == SO_LINGER && len == sizeof(struct linger))
        f->abortive =
            ((const struct linger *)value)->l_onoff && !((const struct linger *)value)->l_linger;
    return 0;
}

static bool fake_port_enabled(int kind)
{
    return kind == PORT_MAIN || (kind == PORT_SOCKPERF && server->opts.sockperf_enabled) ||
           (kind == PORT_STATS && server->opts.stats_enabled);
}

static bool fake_port_bound(int kind)
{
    for (int fd = 0; fd < FAKE_FDS; fd++)
        if ((world.fds[fd].kind == FD_LISTENER || world.fds[fd].kind == FD_UDP) &&
            (int)world.fds[fd].port == kind)
            return true;
    return false;
}

static uint16_t fake_port_of(const struct sockaddr *addr)
{
    if (addr->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)addr)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
}

static int fake_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    (void)len;
    struct fake_fd *f = fake_fd(fd);
    enum fault fault = FAKE_FAULT(CALL_BIND, fd);
    if (fault)
        return fake_fail(fault);
    uint16_t port = fake_port_of(addr);
    if (port == 0) {
        /*
         * --port 0: the first set in server_listen's order with no socket bound yet (a set
         * that failed and is retried has closed its sockets), each set a port of its own.
         */
        int kind = 0;
        while (kind < PORT_KINDS && (!fake_port_enabled(kind) || fake_port_bound(kind)))
            kind++;
        FUZZ_CHECK(kind < PORT_KINDS, "more sets bound to port 0 than there are");
        port = world.ports[kind];
    }
    for (int k = 0; k < PORT_KINDS; k++) {
        if (world.ports[k] == port) {
            f->port = (enum port_kind)k;
            f->kind = f->kind == FD_TCP_UNBOUND ? FD_LISTENER : FD_UDP;
            return 0;
        }
    }
    errno = EADDRNOTAVAIL;
    return -1;
}

static int fake_listen(int fd, int backlog)
{
    (void)backlog;
    enum fault fault = FAKE_FAULT(CALL_LISTEN, fd);
    if (fault)
        return fake_fail(fault);
    return fake_fd(fd) ? 0 : -1;
}

static int fake_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    enum fault fault = FAKE_FAULT(CALL_GETSOCKNAME, fd);
    if (fault)
        return fake_fail(fault);
    struct fake_fd *f = fake_fd(fd);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(world.ports[f->port])};
    memcpy(addr, &in, *len < sizeof in ? *len : sizeof in);
    *len = sizeof in;
    return 0;
}

static socklen_t fake_addr_len(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static int fake_accept4(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags)
{
    struct fake_fd *f = fake_fd(fd);
    FUZZ_CHECK(f && f->kind == FD_LISTENER, "accept4 on descriptor %d, not a listener", fd);
    enum fault fault = FAKE_FAULT(CALL_ACCEPT, fd);
    if (fault == FAULT_ECONNRESET) {
        errno = ECONNABORTED;
        return -1;
    }
    if (fault)
        return fake_fail(fault);
    enum port_kind kind = f->port;
    if (world.pending_count[kind] == 0) {
        errno = EAGAIN;
        return -1;
    }
    int conn = fake_new_fd(FD_CONN);
    if (conn < 0)
        return -1;
    int index = world.pending[kind][0];
    memmove(&world.pending[kind][0], &world.pending[kind][1],
            (size_t)--world.pending_count[kind] * sizeof world.pending[kind][0]);
    struct peer *p = &world.peers[index];
    world.fds[conn].peer = index;
    p->state = PEER_OPEN;
    p->fd = conn;
    TRACE("accept peer %d as fd %d\n", index, conn);
    p->frame_start_ms = p->quiet_since_ms = p->sent_progress_ms = fake_coarse_ms();
    p->model_mid = true;
    if (addr != NULL) {
        const struct sockaddr_storage *from = &source_addrs[p->source];
        socklen_t from_len = fake_addr_len(from);
        memcpy(addr, from, *addr_len < from_len ? *addr_len : from_len);
        *addr_len = from_len;
    }
    bool spare_refusal = addr == NULL && !(flags & SOCK_NONBLOCK);
    if (spare_refusal)
        world.refused_spare++;
    else if (kind != PORT_STATS)
        world.accepted_tcp++;
    return conn;
}

/* What epoll would report for a descriptor now. */
static uint32_t fake_readiness(int fd)
{
    const struct fake_fd *f = &world.fds[fd];
    switch (f->kind) {
    case FD_LISTENER:
        return world.pending_count[f->port] > 0 ? EPOLLIN : 0;
    case FD_UDP:
        return world.queue_len[f->port] > 0 ? EPOLLIN : 0;
    case FD_CONN: {
        const struct peer *p = &world.peers[f->peer];
        uint32_t ready = 0;
        if (p->rst)
            return EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP;
        if (p->consumed < p->to_server.len || p->fin)
            ready |= EPOLLIN;
        if (p->window > 0 && !p->shut_wr)
            ready |= EPOLLOUT;
        return ready;
    }
    case FD_TIMER:
        return world.timer_at_ns != 0 && world.now_ns >= world.timer_at_ns ? EPOLLIN : 0;
    case FD_SIGNAL:
        return world.signal_count > 0 ? EPOLLIN : 0;
    default:
        return 0;
    }
}

static ssize_t fake_recv(int fd, void *buf, size_t len, int flags)
{
    struct peer *p = fake_peer_of(fd);
    FUZZ_CHECK(p != NULL, "recv on descriptor %d, not a connection", fd);
    enum fault fault = FAKE_FAULT(CALL_RECV, fd);
    if (fault && fault != FAULT_SHORT)
        return fake_fail(fault);
    if (p->rst) {
        errno = ECONNRESET;
        return -1;
    }
    size_t left = p->to_server.len - p->consumed;
    if (left == 0) {
        if (p->fin) {
            if (!(flags & MSG_PEEK))
                p->eof_seen = true;
            return 0;
        }
        errno = EAGAIN;
        return -1;
    }
    size_t n = left < len ? left : len;
    if (fault == FAULT_SHORT && n > 1)
        n = 1;
    if (server->draining && !p->read_since_drain && !(flags & MSG_PEEK)) {
        p->read_since_drain = true;
        p->consumed_at_drain = p->consumed;
    }
    memcpy(buf, p->to_server.at + p->consumed, n);
    TRACE("recv %zu bytes from peer %d%s\n", n, f_peer_index(p), flags & MSG_PEEK ? " (peek)" : "");
    if (!(flags & MSG_PEEK))
        p->consumed += n;
    return (ssize_t)n;
}

static ssize_t fake_send(int fd, const void *buf, size_t len, int flags)
{
    (void)flags;
    struct peer *p = fake_peer_of(fd);
    FUZZ_CHECK(p != NULL, "send on descriptor %d, not a connection", fd);
    FUZZ_CHECK(!p->shut_wr, "send after shutdown(SHUT_WR)");
    enum fault fault = FAKE_FAULT(CALL_SEND, fd);
    if (fault && fault != FAULT_SHORT)
        return fake_fail(fault);
    if (p->rst) {
        errno = EPIPE;
        return -1;
    }
    if (p->window == 0) {
        p->blocked = true;
        errno = EAGAIN;
        return -1;
    }
    size_t n = len < p->window ? len : p->window;
    if (fault == FAULT_SHORT && n > 1)
        n /= 2;
    bytes_append(&p->from_server, buf, n);
    TRACE("send %zu bytes to peer %d\n", n, f_peer_index(p));
    if (!p->reads_all)
        p->window -= n;
    return (ssize_t)n;
}

static int fake_shutdown(int fd, int how)
{
    struct peer *p = fake_peer_of(fd);
    FUZZ_CHECK(p != NULL && how == SHUT_WR, "shutdown(%d, %d)", fd, how);
    enum fault fault = FAKE_FAULT(CALL_SHUTDOWN, fd);
    if (fault == FAULT_ECONNRESET) {
        errno = ENOTCONN;
        return -1;
    }
    if (fault)
        return fake_fail(fault);
    p->shut_wr = true;
    TRACE("shutdown peer %d\n", f_peer_index(p));
    return 0;
}

/* A closed descriptor leaves every epoll set by itself. */
static void fake_epoll_forget(int fd)
{
    world.epoll[fd].used = false;
}

static int fake_close(int fd)
{
    struct fake_fd *f = fake_fd(fd);
    FUZZ_CHECK(f != NULL, "close(%d): not open (a double close?)", fd);
    /* Linux closes the descriptor whatever close returns. */
    enum fault fault = FAKE_FAULT(CALL_CLOSE, fd);
    if (f->kind == FD_CONN) {
        struct peer *p = &world.peers[f->peer];
        TRACE("close peer %d (fd %d) at %llu ms%s; draining %d, resets %llu, memory %llu\n",
              f->peer, fd, (unsigned long long)(fake_now_ms() - START_NS / 1000000),
              f->abortive ? ", abortive" : "", server->draining,
              (unsigned long long)server->streams.stats.resets,
              (unsigned long long)server->streams.stats.closed_memory);
        p->state = PEER_CLOSED;
        p->aborted = f->abortive;
        p->drained = p->drained || world.draining || server->draining;
        /* --grace ran out: server_run stopped draining and closes what is left. */
        p->closed_in_cut = world.draining && !server->draining;
        if (p->admitted)
            world.admitted_closed++;
    }
    fake_epoll_forget(fd);
    if (f->kind == FD_TIMER)
        world.timer_at_ns = 0;
    *f = (struct fake_fd){.kind = FD_FREE};
    return fault ? fake_fail(fault) : 0;
}

/* ---- datagrams ---- */

static struct datagram *fake_next_datagram(int fd)
{
    struct fake_fd *f = fake_fd(fd);
    FUZZ_CHECK(f && f->kind == FD_UDP, "a datagram call on descriptor %d", fd);
    if (world.queue_len[f->port] == 0)
        return NULL;
    return &world.queue[f->port][world.queue_head[f->port]];
}

/* The server took a datagram: count it, and note what its peer may be answered with. */
static void fake_took_datagram(int fd, const struct datagram *d)
{
    enum port_kind port = world.fds[fd].port;
    world.queue_head[port] = (world.queue_head[port] + 1) % DGRAM_QUEUE;
    world.queue_len[port]--;
    world.datagrams_read++;
    world.datagram_bytes_read += d->len;
    world.datagrams_from[d->source]++;
    if (d->len > world.largest_from[d->source][port])
        world.largest_from[d->source][port] = d->len;
    if (!world.budget_started) {
        world.budget_started = true;
        world.budget_start_ns = world.now_ns;
    }
}

static socklen_t fake_fill_peer(const struct datagram *d, void *name, socklen_t cap)
{
    struct sockaddr_storage from = source_addrs[d->source];
    if (from.ss_family == AF_INET)
        ((struct sockaddr_in *)&from)->sin_port = htons(d->source_port);
    else
        ((struct sockaddr_in6 *)&from)->sin6_port = htons(d->source_port);
    socklen_t len = fake_addr_len(&from);
    memcpy(name, &from, cap < len ? cap : len);
    return len;
}

static ssize_t fake_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                             socklen_t *from_len)
{
    (void)flags;
    enum fault fault = FAKE_FAULT(CALL_RECVFROM, fd);
    if (fault)
        return fake_fail(fault);
    struct datagram *d = fake_next_datagram(fd);
    if (!d) {
        errno = EAGAIN;
        return -1;
    }
    size_t n = d->len < len ? d->len : len;
    memcpy(buf, d->bytes, n);
    *from_len = fake_fill_peer(d, from, *from_len);
    fake_took_datagram(fd, d);
    return (ssize_t)n;
}

static int fake_recvmmsg(int fd, struct mmsghdr *msgs, unsigned count, int flags)
{
    (void)flags;
    enum fault fault = FAKE_FAULT(CALL_RECVMMSG, fd);
    if (fault)
        return fake_fail(fault);
    unsigned got = 0;
    struct datagram *d;
    while (got < count && (d = fake_next_datagram(fd)) != NULL) {
        struct msghdr *h = &msgs[got].msg_hdr;
        size_t n = d->len < h->msg_iov[0].iov_len ? d->len : h->msg_iov[0].iov_len;
        memcpy(h->msg_iov[0].iov_base, d->bytes, n);
        h->msg_namelen = fake_fill_peer(d, h->msg_name, h->msg_namelen);
        msgs[got++].msg_len = (unsigned)n;
        fake_took_datagram(fd, d);
    }
    if (got == 0) {
        errno = EAGAIN;
        return -1;
    }
    return (int)got;
}

/* Which source a reply goes to: by address (the port aside). */
static int fake_source_of(const struct sockaddr *to, socklen_t to_len)
{
    for (int s = 0; s < SOURCES; s++) {
        struct sockaddr_storage a = source_addrs[s];
        if (to->sa_family != a.ss_family || to_len != fake_addr_len(&a))
            continue;
        if (a.ss_family == AF_INET && ((const struct sockaddr_in *)to)->sin_addr.s_addr ==
                                          ((struct sockaddr_in *)&a)->sin_addr.s_addr)
            return s;
        if (a.ss_family == AF_INET6 && memcmp(&((const struct sockaddr_in6 *)to)->sin6_addr,
                                              &((struct sockaddr_in6 *)&a)->sin6_addr, 16) == 0)
            return s;
    }
    return -1;
}

/* One reply datagram leaves: the UDP oracles that need no budget arithmetic. */
static void fake_reply(int fd, const struct sockaddr *to, socklen_t to_len, size_t len)
{
    enum port_kind port = world.fds[fd].port;
    uint16_t to_port = fake_port_of(to);
    FUZZ_CHECK(to_port >= 1024 && to_port != world.ports[port],
               "a UDP reply to port %u (shoutd's own is %u)", to_port, world.ports[port]);
    int source = fake_source_of(to, to_len);
    FUZZ_CHECK(source >= 0, "a UDP reply to an address that sent nothing");
    FUZZ_CHECK(len <= world.largest_from[source][port],
               "a %zu-byte reply to source %d, whose largest datagram was %u bytes", len, source,
               world.largest_from[source][port]);
    world.replies++;
    world.reply_bytes += len;
    world.replies_to[source]++;
    /* Datagrams of a source in different /64s or ports are still one peer for this. */
    FUZZ_CHECK(world.replies_to[source] <= world.datagrams_from[source],
               "%llu replies to source %d, which sent %llu datagrams",
               (unsigned long long)world.replies_to[source], source,
               (unsigned long long)world.datagrams_from[source]);
}

static ssize_t fake_sendto(int fd, const void *buf, size_t len, int flags,
                           const struct sockaddr *to, socklen_t to_len)
{
    (void)buf;
    (void)flags;
    enum fault fault = FAKE_FAULT(CALL_SENDTO, fd);
    if (fault)
        return fake_fail(fault);
    fake_reply(fd, to, to_len, len);
    return (ssize_t)len;
}

/* The segment size of a UDP_SEGMENT control message, 0 without one. */
static size_t fake_segment_size(const struct msghdr *msg)
{
    if (msg->msg_control == NULL)
        return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL;
         c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_SEGMENT) {
            uint16_t size;
            memcpy(&size, CMSG_DATA(c), sizeof size);
            return size;
        }
    }
    return 0;
}

/* One message: its datagrams (one, or GSO's segments); returns the bytes. */
static size_t fake_send_message(int fd, const struct msghdr *msg)
{
    size_t total = 0;
    for (size_t i = 0; i < msg->msg_iovlen; i++)
        total += msg->msg_iov[i].iov_len;
    size_t segment = fake_segment_size(msg);
    if (segment == 0)
        segment = total;
    for (size_t at = 0; at < total; at += segment)
        fake_reply(fd, msg->msg_name, msg->msg_namelen,
                   total - at < segment ? total - at : segment);
    return total;
}

static ssize_t fake_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    (void)flags;
    enum fault fault = FAKE_FAULT(CALL_SENDMSG, fd);
    if (fault)
        return fake_fail(fault);
    return (ssize_t)fake_send_message(fd, msg);
}

static int fake_sendmmsg(int fd, struct mmsghdr *msgs, unsigned count, int flags)
{
    (void)flags;
    enum fault fault = FAKE_FAULT(CALL_SENDMMSG, fd);
    if (fault == FAULT_SHORT && count > 1)
        count /= 2;
    else if (fault)
        return fake_fail(fault);
    for (unsigned i = 0; i < count; i++)
        msgs[i].msg_len = (unsigned)fake_send_message(fd, &msgs[i].msg_hdr);
    return (int)count;
}

/* ---- the loop's calls ---- */

static int fake_epoll_create1(int flags)
{
    (void)flags;
    enum fault fault = FAKE_FAULT(CALL_EPOLL_CREATE, -1);
    if (fault)
        return fake_fail(fault);
    return fake_new_fd(FD_EPOLL);
}

static int fake_epoll_ctl(int epoll_fd, int op, int fd, struct epoll_event *event)
{
    struct fake_fd *e = fake_fd(epoll_fd);
    FUZZ_CHECK(e && e->kind == FD_EPOLL, "epoll_ctl on %d, not an epoll", epoll_fd);
    if (!fake_fd(fd)) {
        errno = EBADF;
        return -1;
    }
    enum fault fault = FAKE_FAULT(CALL_EPOLL_CTL, fd);
    if (fault)
        return fake_fail(fault);
    /* One interest per descriptor, kept at its number: the world has one epoll. */
    struct epoll_entry *entry = &world.epoll[fd];
    if (op == EPOLL_CTL_ADD) {
        FUZZ_CHECK(!entry->used, "EPOLL_CTL_ADD of %d twice", fd);
    } else if (!entry->used) {
        errno = ENOENT;
        return -1;
    }
    if (op == EPOLL_CTL_DEL)
        entry->used = false;
    else
        *entry = (struct epoll_entry){
            .used = true, .fd = fd, .events = event->events, .data = event->data.u64};
    return 0;
}

/* Reorder a ready batch as the program asked: kernels give no order to rely on. */
static void fake_order(struct epoll_event *events, int n)
{
    unsigned mode = world.order & 3, k = world.order >> 2;
    world.order = 0;
    struct epoll_event copy[EPOLL_ENTRIES];
    memcpy(copy, events, (size_t)n * sizeof *events);
    for (int i = 0; i < n; i++) {
        int from = i;
        if (mode == 1)
            from = n - 1 - i;
        else if (mode == 2)
            from = (int)((unsigned)i + k) % n;
        else if (mode == 3)
            from = i < (n + 1) / 2 ? 2 * i : 2 * (i - (n + 1) / 2) + 1;
        events[i] = copy[from];
    }
}

static int fake_epoll_wait(int epoll_fd, struct epoll_event *events, int max, int timeout_ms)
{
    (void)epoll_fd;
    FUZZ_CHECK(timeout_ms == -1 || timeout_ms == 0, "epoll_wait with timeout %d", timeout_ms);
    enum fault fault = FAKE_FAULT(CALL_EPOLL_WAIT, -1);
    if (fault)
        return fake_fail(fault);
    int n = 0;
    for (int fd = 0; fd < FAKE_FDS && n < max; fd++) {
        const struct epoll_entry *e = &world.epoll[fd];
        if (!e->used)
            continue;
        uint32_t ready = fake_readiness(fd) & (e->events | EPOLLERR | EPOLLHUP);
        if (ready)
            events[n++] = (struct epoll_event){.events = ready, .data.u64 = e->data};
    }
    /* A busy poll's empty look costs time; the sleeping wait that ends a run finds nothing. */
    if (n == 0 && timeout_ms == 0) {
        world.now_ns += 1000;
    } else if (n == 0 && world.sleeping) {
        /* Asleep until the alarm: with none set, nothing would ever wake shoutd. */
        FUZZ_CHECK(world.timer_at_ns != 0, "shoutd sleeps with no alarm set while draining");
        FUZZ_CHECK(++world.sleeps < 100000, "shoutd keeps waking while draining");
        if (world.timer_at_ns > world.now_ns)
            world.now_ns = world.timer_at_ns;
        errno = EINTR;
        return -1;
    } else if (n == 0) {
        world.idle = true;
    }
    fake_order(events, n);
    return n;
}

static int fake_timerfd_create(int clock, int flags)
{
    (void)clock;
    (void)flags;
    enum fault fault = FAKE_FAULT(CALL_TIMERFD_CREATE, -1);
    if (fault)
        return fake_fail(fault);
    return fake_new_fd(FD_TIMER);
}

static int fake_timerfd_settime(int fd, int flags, const struct itimerspec *value)
{
    FUZZ_CHECK(flags == TFD_TIMER_ABSTIME, "a relative timer");
    enum fault fault = FAKE_FAULT(CALL_TIMERFD_SETTIME, fd);
    if (fault) {
        world.alarm_failed = true;
        return fake_fail(fault);
    }
    world.timer_at_ns =
        (uint64_t)value->it_value.tv_sec * 1000000000u + (uint64_t)value->it_value.tv_nsec;
    return 0;
}

static int fake_signalfd(const sigset_t *mask, int flags)
{
    (void)mask;
    (void)flags;
    enum fault fault = FAKE_FAULT(CALL_SIGNALFD, -1);
    if (fault)
        return fake_fail(fault);
    return fake_new_fd(FD_SIGNAL);
}

static int fake_block_signals(const sigset_t *mask)
{
    (void)mask;
    return 0;
}

static ssize_t fake_read(int fd, void *buf, size_t len)
{
    struct fake_fd *f = fake_fd(fd);
    FUZZ_CHECK(f != NULL, "read(%d): not open", fd);
    enum fault fault = FAKE_FAULT(CALL_READ, fd);
    if (fault)
        return fake_fail(fault);
    if (f->kind == FD_TIMER && world.timer_at_ns && world.now_ns >= world.timer_at_ns && len >= 8) {
        uint64_t one = 1;
        memcpy(buf, &one, sizeof one);
        world.timer_at_ns = 0;
        return 8;
    }
    if (f->kind == FD_FILE) {
        size_t left = strlen(f->text) - f->offset, n = left < len ? left : len;
        memcpy(buf, f->text + f->offset, n);
        f->offset += n;
        return (ssize_t)n;
    }
    if (f->kind == FD_SIGNAL && world.signal_count > 0 && len >= sizeof(struct signalfd_siginfo)) {
        struct signalfd_siginfo info = {.ssi_signo = (uint32_t)world.pending_signals[0]};
        /* From here on the server drains: what it closes, it closes for that (or --grace's end). */
        if (info.ssi_signo != SIGUSR1 && info.ssi_signo != SIGHUP)
            world.draining = true;
        memmove(&world.pending_signals[0], &world.pending_signals[1],
                (size_t)--world.signal_count * sizeof world.pending_signals[0]);
        memcpy(buf, &info, sizeof info);
        return sizeof info;
    }
    errno = EAGAIN;
    return -1;
}

static int fake_open(const char *path, int flags)
{
    (void)flags;
    enum fault fault = FAKE_FAULT(CALL_OPEN, -1);
    if (fault)
        return fake_fail(fault);
    if (strcmp(path, "/dev/null") == 0)
        return fake_new_fd(FD_DEVNULL);
    /* A cgroup v2 hierarchy, when the program gave one: shoutd in fuzz.slice/shoutd.service. */
    static const char *const files[][2] = {
        {"/proc/self/cgroup", "0::/fuzz.slice/shoutd.service\n"},
        {"/sys/fs/cgroup/fuzz.slice/shoutd.service/memory.max", "max\n"},
        {"/sys/fs/cgroup/fuzz.slice/memory.max", NULL},
    };
    for (size_t i = 0; world.cgroup_max != NULL && i < sizeof files / sizeof files[0]; i++) {
        if (strcmp(path, files[i][0]) != 0)
            continue;
        int fd = fake_new_fd(FD_FILE);
        if (fd >= 0)
            world.fds[fd].text = files[i][1] ? files[i][1] : world.cgroup_max;
        return fd;
    }
    errno = ENOENT;
    return -1;
}

static int fake_clock_gettime(clockid_t clock, struct timespec *now)
{
    uint64_t ns = clock == CLOCK_MONOTONIC_COARSE ? fake_coarse_ms() * 1000000 : world.now_ns;
    *now =
        (struct timespec){.tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000)};
    return 0;
}

static int fake_clock_getres(clockid_t clock, struct timespec *res)
{
    (void)clock;
    *res = (struct timespec){.tv_nsec = TICK_MS * 1000000};
    return 0;
}

static ssize_t fake_getrandom(void *buf, size_t len, unsigned flags)
{
    (void)flags;
    enum fault fault = FAKE_FAULT(CALL_GETRANDOM, -1);
    if (fault)
        return fake_fail(fault);
    memset(buf, 0x5a, len);
    return (ssize_t)len;
}

static int fake_getrlimit(int resource, struct rlimit *limit)
{
    (void)resource;
    *limit = (struct rlimit){.rlim_cur = (rlim_t)world.fd_limit,
                             .rlim_max = (rlim_t)(world.fd_limit + world.fd_headroom)};
    return 0;
}

/* Raising the soft limit to the hard one is all shoutd asks; it then has the headroom too. */
static int fake_setrlimit(int resource, const struct rlimit *limit)
{
    (void)resource;
    FUZZ_CHECK(limit->rlim_cur <= (rlim_t)(world.fd_limit + world.fd_headroom),
               "a soft limit over the hard one");
    world.fd_limit = (int)limit->rlim_cur;
    return 0;
}

static int fake_getrusage(int who, struct rusage *usage)
{
    (void)who;
    memset(usage, 0, sizeof *usage);
    return 0;
}

static int fake_sched_getcpu(void)
{
    return world.cpu_unknown ? -1 : 0;
}

static pid_t fake_getpid(void)
{
    return 4242;
}

static void *fake_allocate(size_t count, size_t size)
{
    enum fault fault = FAKE_FAULT(CALL_ALLOCATE, -1);
    if (fault) {
        errno = ENOMEM;
        return NULL;
    }
    return calloc(count, size);
}

static const struct kernel fake_kernel = {
    .socket = fake_socket,
    .setsockopt = fake_setsockopt,
    .bind = fake_bind,
    .listen = fake_listen,
    .getsockname = fake_getsockname,
    .accept4 = fake_accept4,
    .recv = fake_recv,
    .send = fake_send,
    .shutdown = fake_shutdown,
    .close = fake_close,
    .recvfrom = fake_recvfrom,
    .sendto = fake_sendto,
    .sendmsg = fake_sendmsg,
    .recvmmsg = fake_recvmmsg,
    .sendmmsg = fake_sendmmsg,
    .epoll_create1 = fake_epoll_create1,
    .epoll_ctl = fake_epoll_ctl,
    .epoll_wait = fake_epoll_wait,
    .timerfd_create = fake_timerfd_create,
    .timerfd_settime = fake_timerfd_settime,
    .signalfd = fake_signalfd,
    .block_signals = fake_block_signals,
    .read = fake_read,
    .open = fake_open,
    .clock_gettime = fake_clock_gettime,
    .clock_getres = fake_clock_getres,
    .getrandom = fake_getrandom,
    .getrlimit = fake_getrlimit,
    .setrlimit = fake_setrlimit,
    .getrusage = fake_getrusage,
    .sched_getcpu = fake_sched_getcpu,
    .getpid = fake_getpid,
};

/* ---- the world, set up for each input ---- */

static void fuzz_server_sources(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    static const char *const v6[] = {"2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:2::1", "::1",
                                     "::ffff:10.0.0.1"};
    for (int s = 0; s < SOURCES; s++) {
        struct sockaddr_storage *ss = &source_addrs[s];
        memset(ss, 0, sizeof *ss);
        if (s <= 10) {
            struct sockaddr_in *in = (struct sockaddr_in *)ss;
            in->sin_family = AF_INET;
            in->sin_addr.s_addr = htonl(s == 10 ? 0x7f000001 : 0x0a000001 + (uint32_t)s);
        } else {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
            in6->sin6_family = AF_INET6;
            inet_pton(AF_INET6, v6[s - 11], &in6->sin6_addr);
        }
    }
}

/* A reader of the input that runs dry into zeros. */
struct input {
    const uint8_t *at;
    size_t left;
};

static uint8_t take(struct input *in)
{
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->at++;
}

/* The options, from the 16-byte header, as shoutd's command line. */
static void fuzz_server_configure(struct input *in, struct options *opts)
{
    uint8_t h[18];
    for (size_t i = 0; i < sizeof h; i++)
        h[i] = take(in);
    static const unsigned frame_s[] = {0, 1, 2, 5}, idle_s[] = {0, 2, 5, 30},
                          write_s[] = {0, 1, 3, 10}, grace_s[] = {0, 1, 2, 5};
    static const uint32_t rates[] = {0, 1, 2, 5, 10, 100, 1000, 3};
    static const uint32_t globals[] = {0, 1, 3, 10, 50, 1000, 100000, 7};
    static const uint32_t frames[] = {16, 1024, 65536, 1048576};
    static const char *const outputs[] = {NULL, "64", "4096", "70000"};
    /* None: derived at start-up, as without --max-buffered (no cgroup here, so the machine's). */
    static const char *const buffered[] = {NULL, "64K", "256K", "4M"};
    static const size_t slots[] = {RATELIMIT_WAYS, 4 * RATELIMIT_WAYS, DGRAM_RATE_SLOTS};
    config = (struct options_config){
        .frame_s = frame_s[h[1] % 4],
        .idle_s = idle_s[h[2] % 4],
        .write_s = write_s[h[3] % 4],
        .grace_s = grace_s[h[13] % 4],
        .rate_per_ip = rates[h[6] % 8],
        .burst = 1 + h[7] % 8u,
        .global_rate = globals[h[8] % 8],
        .max_frame = frames[h[10] % 4],
        .limit_loopback = h[0] & 4,
        .ipv6_prefix = h[0] & 8 ? 128 : 64,
    };
    char text[24][24];
    char *argv[64];
    int argc = 0, n = 0;
#define ARG(...)                                                                                   \
    do {                                                                                           \
        snprintf(text[n], sizeof text[n], __VA_ARGS__);                                            \
        argv[argc++] = text[n++];                                                                  \
    } while (0)
    argv[argc++] = "shoutd";
    /* Fixed ports, or port 0 everywhere: shoutd then asks which port it got (getsockname). */
    bool any_port = h[0] & 16;
    if (any_port) {
        /* The stats port follows the main one (7000 + 1); sockperf's is picked after it. */
        world.ports[PORT_STATS] = 7001;
        world.ports[PORT_SOCKPERF] = 7002;
    }
    argv[argc++] = "--port";
    argv[argc++] = any_port ? "0" : "7000";
    if (h[0] & 1) {
        argv[argc++] = "--sockperf-port";
        argv[argc++] = any_port ? "0" : "7001";
    }
    if (h[0] & 2) {
        /* With --port 0 the stats port follows it (the port + 1): the world's 7001 then. */
        if (!any_port) {
            argv[argc++] = "--stats-port";
            argv[argc++] = "7002";
        }
    } else {
        argv[argc++] = "--no-stats";
    }
    if (config.limit_loopback)
        argv[argc++] = "--udp-rate-loopback";
    ARG("--ipv6-prefix=%u", config.ipv6_prefix);
    ARG("--frame-timeout=%u", config.frame_s);
    ARG("--idle-timeout=%u", config.idle_s);
    ARG("--write-timeout=%u", config.write_s);
    ARG("--grace=%u", config.grace_s);
    ARG("--max-conns=%u", 1 + h[4] % 16u);
    /* Not above --max-conns: shoutd refuses a per-source cap no source could reach. */
    unsigned per_ip = h[5] % 5u;
    ARG("--max-conns-per-ip=%u", per_ip > 1 + h[4] % 16u ? 1 + h[4] % 16u : per_ip);
    ARG("--udp-rate-per-ip=%u", config.rate_per_ip);
    if (config.rate_per_ip != 0)
        ARG("--udp-rate-burst=%u", config.burst);
    ARG("--udp-rate=%u", config.global_rate);
    ARG("--max-frame=%u", config.max_frame);
    if (outputs[h[11] % 4])
        ARG("--max-output=%s", outputs[h[11] % 4]);
    if (buffered[h[12] % 4])
        ARG("--max-buffered=%s", buffered[h[12] % 4]);
    static const char *const cgroups[] = {NULL, "max\n", "67108864\n", "1073741824\n"};
    world.cgroup_max = cgroups[(h[12] >> 2) % 4];
    if (h[0] & 32) {
        /*
         * Both loopbacks: an IPv6 listener too (IPV6_V6ONLY), and a listener pair more.
         * Or the IPv6 wildcard, whose stats port is on ::1 (listen_stats_addrs).
         */
        argv[argc++] = "--listen=127.0.0.1";
        argv[argc++] = h[12] & 16 ? "--listen=::" : "--listen=::1";
    }
    world.cpu_unknown = h[0] & 64;
    /* A fault for the first call of a kind during start-up (h[16] 0: none). */
    if (h[16] != 0 && fault_fits((enum call)(h[16] % CALLS), (enum fault)(h[17] % FAULTS)))
        world.faults[h[16] % CALLS] = (enum fault)(h[17] % FAULTS);
    world.fd_headroom = h[0] & 64 ? 8 : 0;
    if (h[15] & 1)
        ARG("--busy-poll=%u", 20 + h[15] % 64u);
#undef ARG
    argv[argc] = NULL;
    enum options_result parsed = options_parse(opts, argc, argv);
    FUZZ_CHECK(parsed == OPTIONS_RUN, "shoutd refused the harness's options (argument %d)", argc);
    /* What start-up opens (stdio, epoll, the alarm, the signalfd, the spare, the sockets), and
     * room for at least one connection: out of descriptors at start is not what is fuzzed. */
    int addresses = h[0] & 32 ? 2 : 1;
    int at_start = 7 + addresses * (h[0] & 1 ? 4 : 2) + (h[0] & 2 ? 1 : 0);
    world.fd_limit = at_start + 1 + h[9] % 40;
    server->dgrams.rate_slot_count = slots[h[14] % 3];
}

static void fuzz_server_reset(void)
{
    for (int i = 0; i < PEERS; i++) {
        free(world.peers[i].to_server.at);
        free(world.peers[i].from_server.at);
    }
    memset(&world, 0, sizeof world);
    world.now_ns = START_NS;
    for (int fd = 0; fd < 3; fd++)
        world.fds[fd].kind = FD_STDIO;
    world.ports[PORT_MAIN] = 7000;
    world.ports[PORT_SOCKPERF] = 7001;
    world.ports[PORT_STATS] = 7002;
}

/* ---- the oracles ---- */

/*
 * The most one engine may hold (conn.h): queued output up to max_output
 * plus one reply and one error frame, held input up to one feed, and two
 * decoders' payload stores of up to max_frame; counted as allocated, each
 * buffer at most twice what it holds.
 */
static size_t fuzz_server_engine_bound(void)
{
    const struct conn_limits *l = &server->streams.limits;
    size_t output = l->max_output + WIRE_HEADER_LEN + l->max_payload + WIRE_ERROR_MAX_LEN;
    return 2 * (output + CONN_FEED_MAX + 2 * (size_t)l->max_payload);
}

/* Each source's slot in the per-source connection counts, worked out once per input. */
static uint32_t source_slots[SOURCES];
/* Each source's key (lib/source.h): sources with one key share one budget. */
static struct source_key source_keys[SOURCES];

static void fuzz_server_find_slots(void)
{
    for (int s = 0; s < SOURCES; s++) {
        source_key_of(&source_addrs[s], config.ipv6_prefix, &source_keys[s]);
        source_slots[s] =
            (uint32_t)(source_hash(&server->source_secret, &source_keys[s]) % STREAM_SOURCE_SLOTS);
    }
}

static uint32_t fuzz_server_slot(int source)
{
    return source_slots[source];
}

static void fuzz_server_check_tables(void)
{
    struct stream_audit a;
    stream_audit(&server->streams, &a);
    uint32_t open = 0;
    uint32_t per_source[SOURCES] = {0};
    for (int i = 0; i < world.peer_count; i++) {
        const struct peer *p = &world.peers[i];
        if (p->state == PEER_OPEN && p->admitted) {
            open++;
            per_source[p->source]++;
        }
    }
    FUZZ_CHECK(server->streams.open == open && a.listed == open,
               "the server counts %u connections open and lists %u; %u are", server->streams.open,
               a.listed, open);
    for (int s = 0; s < SOURCES; s++) {
        uint32_t slot = fuzz_server_slot(s), expected = 0;
        for (int t = 0; t < SOURCES; t++)
            if (fuzz_server_slot(t) == slot)
                expected += per_source[t];
        FUZZ_CHECK(server->streams.per_slot[slot] == expected,
                   "source %d's slot counts %u connections; %u are open", s,
                   server->streams.per_slot[slot], expected);
    }
    uint32_t on_lists = 0;
    for (int k = 0; k < DEADLINE_KINDS; k++)
        on_lists += a.on_deadline[k];
    FUZZ_CHECK(on_lists <= a.listed && a.misplaced == 0 && a.out_of_order == 0,
               "deadline lists: %u entries for %u streams, %u misplaced, %u out of order", on_lists,
               a.listed, a.misplaced, a.out_of_order);
    FUZZ_CHECK(a.held_sum == server->streams.held.total && a.misfiled == 0,
               "the ledger says %zu bytes held, the streams %zu; %u misfiled",
               server->streams.held.total, a.held_sum, a.misfiled);
    FUZZ_CHECK(a.held_max <= fuzz_server_engine_bound(), "one engine holds %zu bytes (bound %zu)",
               a.held_max, fuzz_server_engine_bound());
}

static void fuzz_server_check_counters(void)
{
    struct stats_counters c;
    struct stats_process process;
    server_gather(server, &c, &process);
    FUZZ_CHECK(c.tcp.accepted == world.admitted && c.tcp.closed == world.admitted_closed,
               "accepted %llu, closed %llu; the harness saw %llu and %llu",
               (unsigned long long)c.tcp.accepted, (unsigned long long)c.tcp.closed,
               (unsigned long long)world.admitted, (unsigned long long)world.admitted_closed);
    FUZZ_CHECK(c.tcp.refused_max_conns + c.tcp.refused_per_ip + c.tcp.refused_no_memory ==
                   world.accepted_tcp - world.admitted,
               "refused %llu + %llu, but %llu were accepted and not kept",
               (unsigned long long)c.tcp.refused_max_conns,
               (unsigned long long)c.tcp.refused_per_ip,
               (unsigned long long)(world.accepted_tcp - world.admitted));
    FUZZ_CHECK(c.accept.refused_no_fds == world.refused_spare,
               "refused_no_fds %llu, spare used %llu", (unsigned long long)c.accept.refused_no_fds,
               (unsigned long long)world.refused_spare);
    FUZZ_CHECK(
        c.udp.datagrams == world.datagrams_read && c.udp.bytes_in == world.datagram_bytes_read,
        "udp datagrams %llu (%llu bytes), read %llu (%llu)", (unsigned long long)c.udp.datagrams,
        (unsigned long long)c.udp.bytes_in, (unsigned long long)world.datagrams_read,
        (unsigned long long)world.datagram_bytes_read);
    FUZZ_CHECK(c.udp.replies == world.replies && c.udp.bytes_out == world.reply_bytes,
               "udp replies %llu (%llu bytes), sent %llu (%llu)", (unsigned long long)c.udp.replies,
               (unsigned long long)c.udp.bytes_out, (unsigned long long)world.replies,
               (unsigned long long)world.reply_bytes);
}

/* Which sources one budget covers: their keys (lib/source.h) are the same. */
static bool fuzz_server_same_source(int a, int b)
{
    return memcmp(&source_keys[a], &source_keys[b], sizeof source_keys[a]) == 0;
}

static bool fuzz_server_exempt(int source)
{
    return !config.limit_loopback && source_is_loopback(&source_addrs[source]);
}

/*
 * Replies per source within RATELIMIT_WAYS x (burst + rate x elapsed): what
 * ratelimit.h promises whatever sources collide; the global budget (burst
 * one second's worth) binds all non-exempt sources together.
 */
static void fuzz_server_check_budgets(void)
{
    if (!world.budget_started)
        return;
    uint64_t elapsed_ns = world.now_ns - world.budget_start_ns;
    uint64_t all = 0;
    for (int s = 0; s < SOURCES; s++) {
        if (fuzz_server_exempt(s))
            continue;
        all += world.replies_to[s];
        if (config.rate_per_ip == 0)
            continue;
        uint64_t replies = 0;
        for (int t = 0; t < SOURCES; t++)
            if (fuzz_server_same_source(s, t))
                replies += world.replies_to[t];
        /* In nano-replies, as the buckets count. */
        unsigned __int128 allowed = (unsigned __int128)RATELIMIT_WAYS *
                                    ((unsigned __int128)config.burst * 1000000000u +
                                     (unsigned __int128)config.rate_per_ip * elapsed_ns);
        FUZZ_CHECK((unsigned __int128)replies * 1000000000u <= allowed,
                   "source %d got %llu replies in %llu ms (rate %u, burst %u)", s,
                   (unsigned long long)replies, (unsigned long long)(elapsed_ns / 1000000),
                   config.rate_per_ip, config.burst);
    }
    if (config.global_rate != 0) {
        unsigned __int128 allowed = (unsigned __int128)config.global_rate * 1000000000u +
                                    (unsigned __int128)config.global_rate * elapsed_ns;
        FUZZ_CHECK((unsigned __int128)all * 1000000000u <= allowed,
                   "%llu replies in %llu ms over the global %u/s", (unsigned long long)all,
                   (unsigned long long)(elapsed_ns / 1000000), config.global_rate);
    }
}

/* Frames (16-byte header and its payload) or sockperf messages whole in bytes[0..len). */
static void fuzz_server_walk(const struct peer *p, size_t *whole, bool *mid)
{
    const uint8_t *bytes = p->to_server.at;
    size_t len = p->consumed;
    *whole = 0;
    if (p->port == PORT_MAIN && (len == 0 || bytes[0] != 0xF5)) {
        *mid = len == 0;
        return;
    }
    bool sockperf = p->port == PORT_SOCKPERF;
    size_t header = sockperf ? 14 : WIRE_HEADER_LEN, at = 0;
    while (at + header <= len) {
        const uint8_t *h = bytes + at + (sockperf ? 10 : 4);
        uint64_t field = (uint64_t)h[0] << 24 | (uint64_t)h[1] << 16 | (uint64_t)h[2] << 8 | h[3];
        uint64_t size = sockperf ? field : header + field;
        if (size < header || at + size > len)
            break;
        at += (size_t)size;
        ++*whole;
    }
    *mid = at != len || (sockperf && *whole == 0);
}

/* What the peer must get: the model's answer, and error 7 after a drained framed one's. */
static void fuzz_server_expected(const struct peer *p, struct conn_model *m)
{
    enum conn_mode mode = p->port == PORT_SOCKPERF ? CONN_MODE_SOCKPERF : CONN_MODE_UNDECIDED;
    size_t answered = p->read_since_drain ? p->consumed_at_drain : p->consumed;
    FUZZ_CHECK(conn_model_run(m, mode, config.max_frame, p->to_server.at, answered) == 0,
               "the model ran out of memory");
    if (p->drained && m->mode == CONN_MODE_FRAMED && !m->fails) {
        uint8_t *grown = realloc(m->expected, m->expected_len + WIRE_ERROR_MAX_LEN);
        FUZZ_CHECK(grown != NULL, "out of memory in the harness");
        m->expected = grown;
        m->expected_len +=
            conn_model_error_frame(grown + m->expected_len, 0, WIRE_ERR_SHUTTING_DOWN);
    }
}

/* A connection the server closed with no cause but a deadline: which deadline had passed. */
static bool fuzz_server_deadline_passed(const struct peer *p, uint64_t now_ms)
{
    uint64_t frame_ms = (uint64_t)config.frame_s * 1000, idle_ms = (uint64_t)config.idle_s * 1000,
             write_ms = (uint64_t)config.write_s * 1000;
    if (p->aborted)
        return write_ms != 0 && now_ms >= p->sent_progress_ms + write_ms;
    bool frame = frame_ms != 0 && p->model_mid && now_ms >= p->frame_start_ms + frame_ms;
    bool idle = idle_ms != 0 && now_ms >= p->quiet_since_ms + idle_ms;
    return frame || idle;
}

static void fuzz_server_check_peer(struct peer *p, bool just_closed)
{
    struct conn_model m;
    fuzz_server_expected(p, &m);
    const struct bytes *got = &p->from_server;
    FUZZ_CHECK(got->len <= m.expected_len &&
                   (got->len == 0 || memcmp(got->at, m.expected, got->len) == 0),
               "peer %d (port %d) got %zu bytes, not a prefix of the model's %zu for %zu read",
               (int)(p - world.peers), (int)p->port, got->len, m.expected_len, p->consumed);
    bool whole = got->len == m.expected_len;
    p->model_fails = m.fails;
    if (p->state == PEER_CLOSED && !p->faulted && !p->rst && !p->aborted &&
        !p->closed_in_shed_run && !p->closed_in_cut) {
        bool clean_eof = p->eof_seen && !p->drained && (!p->blocked || p->shut_wr);
        /* A deadline still runs while draining: a peer that never reads is closed by one. */
        bool finished_drain = p->drained && !p->closed_in_timeout_run;
        bool linger_done = p->shut_wr && !p->drained;
        FUZZ_CHECK(!(clean_eof || finished_drain || linger_done) || whole,
                   "peer %d closed with %zu of the model's %zu bytes (eof %d, drained %d, "
                   "lingered %d)",
                   (int)(p - world.peers), got->len, m.expected_len, p->eof_seen, p->drained,
                   p->shut_wr);
    }
    if (just_closed && !p->faulted && !p->rst && !p->eof_seen && !p->drained &&
        !p->closed_in_shed_run && !m.fails && !p->shut_wr) {
        uint64_t now = fake_coarse_ms();
        FUZZ_CHECK(fuzz_server_deadline_passed(p, now),
                   "peer %d closed at %llu ms with no deadline passed (frame from %llu, quiet "
                   "since %llu, mid %d)",
                   (int)(p - world.peers), (unsigned long long)(now - START_NS / 1000000),
                   (unsigned long long)(p->frame_start_ms - START_NS / 1000000),
                   (unsigned long long)(p->quiet_since_ms - START_NS / 1000000), p->model_mid);
    }
    conn_model_free(&m);
}

/* A JSON object whose counters are no larger than the harness's counts. */
static void fuzz_server_check_stats_json(const char *text, size_t len)
{
    struct json_model json;
    FUZZ_CHECK(json_model_parse(&json, text, len) == 0, "out of memory reading JSON");
    FUZZ_CHECK(json.root != NULL && json.root->kind == JSON_MODEL_OBJECT,
               "the stats answer is not a JSON object: %.*s", (int)len, text);
    const struct json_model_value *format = json_model_get(json.root, "format");
    const struct json_model_value *udp = json_model_get(json.root, "udp");
    const struct json_model_value *datagrams = json_model_get(udp, "datagrams");
    const struct json_model_value *tcp = json_model_get(json.root, "tcp");
    const struct json_model_value *accepted = json_model_get(tcp, "accepted");
    FUZZ_CHECK(format && format->kind == JSON_MODEL_INTEGER && format->integer == STATS_FORMAT,
               "the stats answer has no \"format\": %d: %.*s", STATS_FORMAT, (int)len, text);
    FUZZ_CHECK(datagrams && datagrams->kind == JSON_MODEL_INTEGER && accepted &&
                   accepted->kind == JSON_MODEL_INTEGER &&
                   (uint64_t)datagrams->integer <= world.datagrams_read &&
                   (uint64_t)accepted->integer <= world.admitted,
               "the stats answer's counters are not the server's: %.*s", (int)len, text);
    json_model_free(&json);
}

/*
 * An HTTP answer: a status line, a head that ends, a Content-Length that is
 * the body's, and for a 200 the JSON object or the Prometheus text.
 */
static void fuzz_server_check_stats_http(const struct peer *p, const char *text, size_t len)
{
    FUZZ_CHECK(p->consumed > 0, "an HTTP answer to a stats client that sent nothing");
    const char *end = memmem(text, len, "\r\n\r\n", 4);
    FUZZ_CHECK(end != NULL, "the stats port's HTTP head does not end: %.*s", (int)len, text);
    const char *body = end + 4;
    size_t body_len = len - (size_t)(body - text);
    const char *field = memmem(text, (size_t)(end - text), "Content-Length: ", 16);
    FUZZ_CHECK(field != NULL, "the stats port's HTTP answer has no Content-Length");
    unsigned long declared = strtoul(field + 16, NULL, 10);
    bool head = p->to_server.len >= 5 && memcmp(p->to_server.at, "HEAD ", 5) == 0;
    FUZZ_CHECK(head ? body_len == 0 : declared == body_len,
               "Content-Length %lu, but %zu bytes of body", declared, body_len);
    if (memcmp(text, "HTTP/1.1 200 ", 13) != 0 || head)
        return;
    if (body_len > 0 && body[0] == '{')
        fuzz_server_check_stats_json(body, body_len);
    else
        FUZZ_CHECK(memmem(body, body_len, "# TYPE shoutd_tcp_accepted_total counter\n", 41),
                   "a 200 that is neither JSON nor the Prometheus text: %.*s", (int)body_len, body);
}

/*
 * The stats port's answer: nothing to a source it does not admit; else an
 * HTTP response to a client that sent a request, or one JSON object and a
 * newline (to a silent client, or to any when every slot was taken).
 */
static void fuzz_server_check_stats_peer(const struct peer *p)
{
    if (!source_is_loopback(&source_addrs[p->source]))
        FUZZ_CHECK(p->from_server.len == 0, "the stats port answered a source outside loopback");
    if (p->faulted || p->from_server.len == 0)
        return;
    const char *text = (const char *)p->from_server.at;
    size_t len = p->from_server.len;
    /*
     * A client that stopped reading (its window) gets what fit, then is cut
     * off by the stats port's deadline: only the start of an answer is owed.
     */
    if (!p->reads_all) {
        FUZZ_CHECK(text[0] == '{' || (len >= 5 && memcmp(text, "HTTP/", 5) == 0) ||
                       memcmp(text, "HTTP/", len < 5 ? len : 5) == 0,
                   "the stats port's answer starts with neither JSON nor HTTP: %.*s", (int)len,
                   text);
        return;
    }
    if (len >= 9 && memcmp(text, "HTTP/1.1 ", 9) == 0) {
        fuzz_server_check_stats_http(p, text, len);
        return;
    }
    FUZZ_CHECK(text[len - 1] == '\n', "the stats answer does not end in a newline");
    fuzz_server_check_stats_json(text, len);
}

/*
 * How late past its deadline a connection may still be open: one tick (the
 * alarm fires a tick late, loop.h). A busy poll's empty looks cost time in
 * this world (fake_epoll_wait), so the clock may cross a tick between the
 * server's reading and the harness's: one tick more then.
 */
static uint64_t fuzz_server_tick_slack(void)
{
    return server->opts.busy_poll_us != 0 ? 2 * TICK_MS : TICK_MS;
}

/* After a run: bring each peer's deadlines up to date, then check it. */
static void fuzz_server_check_peers(const enum peer_state *before, const size_t *consumed_before,
                                    const size_t *got_before, uint64_t now)
{
    uint64_t frame_ms = (uint64_t)config.frame_s * 1000;
    for (int i = 0; i < world.peer_count; i++) {
        struct peer *p = &world.peers[i];
        bool just_closed = before[i] == PEER_OPEN && p->state == PEER_CLOSED;
        if (p->state == PEER_PENDING || p->state == PEER_FREE)
            continue;
        if (p->port == PORT_STATS) {
            if (just_closed)
                fuzz_server_check_stats_peer(p);
            continue;
        }
        if (!p->admitted)
            continue;
        if (p->consumed != consumed_before[i] || p->from_server.len != got_before[i])
            p->quiet_since_ms = now;
        if (p->from_server.len != got_before[i])
            p->sent_progress_ms = now;
        size_t whole;
        bool mid;
        fuzz_server_walk(p, &whole, &mid);
        if (mid && (!p->model_mid || whole != p->model_messages))
            p->frame_start_ms = now;
        p->model_mid = mid;
        p->model_messages = whole;
        /*
         * The model's answer only grows as more is read, so what the peer got
         * needs checking again only when that grew, or at the end.
         */
        if (p->from_server.len != got_before[i] || just_closed)
            fuzz_server_check_peer(p, just_closed);
        /* Within one tick of its frame deadline, a mid-frame connection is closed. */
        bool frame_watched = frame_ms != 0 && mid && !p->blocked && !p->faulted && !p->jostled &&
                             !p->drained && !p->model_fails && !p->rst && !p->shut_wr;
        FUZZ_CHECK(!(p->state == PEER_OPEN && frame_watched &&
                     fake_now_ms() >= p->frame_start_ms + frame_ms + fuzz_server_tick_slack()),
                   "peer %d still open %llu ms past its frame deadline", i,
                   (unsigned long long)(fake_now_ms() - p->frame_start_ms - frame_ms));
    }
}

/* ---- running the server ---- */

/* Serve until nothing is ready (RUN_ROUNDS rounds at most), as one moment of the world. */
static void fuzz_server_rounds(void)
{
    world.idle = false;
    for (int round = 0; round < RUN_ROUNDS && !world.idle && !world.exited; round++) {
        int result = server_run_once(server);
        if (result == 1)
            world.exited = true;
        /* shoutd gives up when it cannot set its alarm: the one fatal failure. */
        FUZZ_CHECK(result >= 0 || world.alarm_failed, "server_run_once failed: %d", result);
        if (result < 0)
            world.exited = true;
    }
}

/*
 * After SIGTERM, the rest of the run as shoutd lives it: server_run itself,
 * with an epoll_wait that sleeps until the alarm as the kernel's does. It
 * must return by --grace's end (and a tick), whatever the peers do.
 */
static void fuzz_server_to_exit(void)
{
    uint64_t from_ns = world.now_ns;
    world.sleeping = true;
    int result = server_run(server);
    world.sleeping = false;
    world.exited = true;
    FUZZ_CHECK(result == 0 || world.alarm_failed, "server_run failed while draining: %d", result);
    uint64_t took_ms = (world.now_ns - from_ns) / 1000000;
    FUZZ_CHECK(took_ms <= (uint64_t)config.grace_s * 1000 + 2 * TICK_MS || world.alarm_failed,
               "shoutd drained for %llu ms, --grace is %u s", (unsigned long long)took_ms,
               config.grace_s);
}

/* Connections closed for memory so far. */
static uint64_t fuzz_server_sheds(void)
{
    const struct stream_stats *st = &server->streams.stats;
    return st->closed_memory + st->closed_memory_per_ip;
}

/* Connections closed by a deadline so far. */
static uint64_t fuzz_server_timeouts(void)
{
    const struct stream_stats *st = &server->streams.stats;
    return st->timeouts_frame + st->timeouts_idle + st->timeouts_write + st->lingers_expired;
}

/* Run the server (a moment, or to its exit), then check everything. */
static void fuzz_server_serve(bool to_exit)
{
    if (world.exited)
        return;
    enum peer_state before[PEERS] = {PEER_FREE};
    size_t consumed[PEERS] = {0}, got[PEERS] = {0};
    for (int i = 0; i < world.peer_count; i++) {
        before[i] = world.peers[i].state;
        consumed[i] = world.peers[i].consumed;
        got[i] = world.peers[i].from_server.len;
    }
    uint64_t sheds = fuzz_server_sheds(), timeouts = fuzz_server_timeouts();
    uint64_t started_ms = fake_coarse_ms();
    if (to_exit)
        fuzz_server_to_exit();
    else
        fuzz_server_rounds();
    bool shed = fuzz_server_sheds() != sheds, timed_out = fuzz_server_timeouts() != timeouts;
    for (int i = 0; i < world.peer_count; i++) {
        struct peer *p = &world.peers[i];
        if (before[i] == PEER_OPEN && p->state == PEER_CLOSED && shed)
            p->closed_in_shed_run = true;
        if (before[i] == PEER_OPEN && p->state == PEER_CLOSED && timed_out)
            p->closed_in_timeout_run = true;
        if (server->draining && p->state == PEER_OPEN)
            p->drained = true;
    }
    world.draining = world.draining || server->draining;
    fuzz_server_check_peers(before, consumed, got, started_ms);
    fuzz_server_check_tables();
    fuzz_server_check_counters();
    fuzz_server_check_budgets();
}

static void fuzz_server_run(void)
{
    fuzz_server_serve(false);
}

/* ---- the actions ---- */

enum action {
    ACT_RUN,
    ACT_CONNECT,
    ACT_SEND,
    ACT_SEND_BIG,
    ACT_FIN,
    ACT_RST,
    ACT_FAULT,
    ACT_DATAGRAMS,
    ACT_ADVANCE,
    ACT_SIGNAL,
    ACT_ORDER,
    ACT_WINDOW,
    ACT_READ,
    ACT_STATS,
    ACTIONS,
};

static struct peer *fuzz_server_peer(uint8_t which)
{
    if (world.peer_count == 0)
        return NULL;
    struct peer *p = &world.peers[which % world.peer_count];
    return p->state == PEER_FREE ? NULL : p;
}

static void fuzz_server_connect(enum port_kind port, int source)
{
    if (world.peer_count == PEERS || world.draining || world.exited)
        return;
    if (port == PORT_SOCKPERF && !server->opts.sockperf_enabled)
        return;
    if (port == PORT_STATS && !server->opts.stats_enabled)
        return;
    int index = world.peer_count++;
    struct peer *p = &world.peers[index];
    *p = (struct peer){.state = PEER_PENDING,
                       .port = port,
                       .source = source,
                       .fd = -1,
                       .window = PEER_WINDOW,
                       .reads_all = true};
    world.pending[port][world.pending_count[port]++] = index;
}

static void fuzz_server_send(struct peer *p, const uint8_t *data, size_t len)
{
    if (p && !p->fin && !p->rst && p->state != PEER_CLOSED)
        bytes_append(&p->to_server, data, len);
}

static void fuzz_server_datagrams(struct input *in)
{
    uint8_t how = take(in), from = take(in), count = take(in), len = take(in);
    enum port_kind port = how & 1 ? PORT_SOCKPERF : PORT_MAIN;
    if (port == PORT_SOCKPERF && !server->opts.sockperf_enabled)
        port = PORT_MAIN;
    uint8_t bytes[512];
    size_t n = len;
    for (size_t i = 0; i < n; i++)
        bytes[i] = take(in);
    /* A flood from one source, or a sweep over several (stride): count datagrams in all. */
    unsigned stride = from >> 4;
    for (unsigned k = 0; k <= count % 64u; k++) {
        if (world.queue_len[port] == DGRAM_QUEUE)
            return;
        int source = (int)((from & 15) + k * stride) % SOURCES;
        static const uint16_t ports[] = {0, 53, 7000, 40000};
        uint16_t source_port = ports[(how >> 1) % 4];
        if (source_port == 7000)
            source_port = world.ports[port];
        else if (source_port == 40000)
            source_port = (uint16_t)(40000 + source);
        struct datagram *d =
            &world.queue[port][(world.queue_head[port] + world.queue_len[port]++) % DGRAM_QUEUE];
        *d = (struct datagram){
            .port = port, .source = source, .source_port = source_port, .len = (uint16_t)n};
        memcpy(d->bytes, bytes, n);
    }
}

static void fuzz_server_act(struct input *in)
{
    uint8_t op = take(in) % ACTIONS;
    TRACE("action %u at %llu ms\n", op, (unsigned long long)(fake_now_ms() - START_NS / 1000000));
    switch ((enum action)op) {
    case ACT_RUN:
        fuzz_server_run();
        return;
    case ACT_CONNECT: {
        uint8_t a = take(in);
        /* Bit 1: the stats port (from any source, so that its refusals are reached too). */
        fuzz_server_connect(a & 2 ? PORT_STATS : (enum port_kind)(a % 2), (a >> 2) % SOURCES);
        return;
    }
    case ACT_SEND: {
        struct peer *p = fuzz_server_peer(take(in));
        uint8_t n = take(in);
        size_t len = n < in->left ? n : in->left;
        fuzz_server_send(p, in->at, len);
        in->at += len;
        in->left -= len;
        return;
    }
    case ACT_SEND_BIG: {
        /* Many bytes from a short input: a 4-byte pattern, repeated. */
        struct peer *p = fuzz_server_peer(take(in));
        size_t len = (size_t)(take(in) + 1) * 4096;
        uint8_t pattern[4] = {take(in), take(in), take(in), take(in)};
        if (len > SEND_BIG_MAX)
            len = SEND_BIG_MAX;
        static uint8_t big[SEND_BIG_MAX];
        /* Doubling copies: a byte loop would pay comparison tracing per byte. */
        memcpy(big, pattern, sizeof pattern);
        for (size_t have = sizeof pattern; have < len; have *= 2)
            memcpy(big + have, big, have < len - have ? have : len - have);
        fuzz_server_send(p, big, len);
        return;
    }
    case ACT_FIN: {
        struct peer *p = fuzz_server_peer(take(in));
        if (p)
            p->fin = true;
        return;
    }
    case ACT_RST: {
        struct peer *p = fuzz_server_peer(take(in));
        if (p && p->state != PEER_CLOSED)
            p->rst = true;
        return;
    }
    case ACT_FAULT: {
        enum call call = (enum call)(take(in) % CALLS);
        enum fault fault = (enum fault)(take(in) % FAULTS);
        if (fault_fits(call, fault))
            world.faults[call] = fault;
        return;
    }
    case ACT_DATAGRAMS:
        fuzz_server_datagrams(in);
        return;
    case ACT_ADVANCE: {
        uint8_t a = take(in);
        static const uint64_t scale_ms[] = {1, 10, 100, 1000};
        world.now_ns += scale_ms[a % 4] * (1 + (a >> 2)) * 1000000;
        fuzz_server_run();
        return;
    }
    case ACT_SIGNAL: {
        static const int signals[] = {SIGTERM, SIGINT, SIGUSR1};
        /* 0xff is SIGHUP, so that the bytes of older programs keep their signal. */
        uint8_t which = take(in);
        if (world.signal_count < 8)
            world.pending_signals[world.signal_count++] =
                which == 0xff ? SIGHUP : signals[which % 3];
        return;
    }
    case ACT_ORDER:
        world.order = take(in);
        return;
    case ACT_WINDOW: {
        struct peer *p = fuzz_server_peer(take(in));
        uint8_t a = take(in);
        if (p) {
            p->reads_all = a == 255;
            p->window = a == 255 ? PEER_WINDOW : (size_t)a * 16;
        }
        return;
    }
    case ACT_READ: {
        struct peer *p = fuzz_server_peer(take(in));
        if (p && !p->reads_all)
            p->window += 4096;
        return;
    }
    case ACT_STATS:
        /* From 127.0.0.1: the stats port refuses every other source of this world. */
        fuzz_server_connect(PORT_STATS, 10);
        fuzz_server_run();
        return;
    case ACTIONS:
        break;
    }
}

/* One run of the program in data[0..size). */
static void fuzz_server_once(const uint8_t *data, size_t size)
{
    static struct server the_server;
    fuzz_server_sources();
    fuzz_server_reset();
    memset(&the_server, 0, sizeof the_server);
    server = &the_server;
    torture.position = 0;
    startup_faulted = false;
    struct input in = {.at = data, .left = size};
    fuzz_server_configure(&in, &server->opts);
    size_t slots = server->dgrams.rate_slot_count;
    server_init(server, &fake_kernel);
    server->dgrams.rate_slot_count = slots;
    server->streams.allocate = fake_allocate;
    /* The tests' fixed secret, as integration tests set it (the harness knows the slots anyway). */
    bool test_seed = size > 0 && (data[0] & 128);
    if (test_seed)
        setenv("SHOUTD_TEST_SEED", "000102030405060708090a0b0c0d0e0f", 1);
    world.starting = true;
    int started = server_start(server);
    world.starting = false;
    if (test_seed)
        unsetenv("SHOUTD_TEST_SEED");
    if (started != 0) {
        /* As main does: a start that failed is the end, with a message on stderr. */
        FUZZ_CHECK(startup_faulted, "shoutd did not start under the fake kernel");
        return;
    }
    fuzz_server_find_slots();
    for (int actions = 0; in.left > 0 && actions < 512; actions++) {
        fuzz_server_act(&in);
        /* What only the server changes cannot have moved, whatever the action did. */
        fuzz_server_check_tables();
        fuzz_server_check_counters();
        fuzz_server_check_budgets();
    }
    fuzz_server_run();
    if (world.draining)
        fuzz_server_serve(true);
    server_stop(server);
    for (int fd = 3; fd < FAKE_FDS; fd++)
        FUZZ_CHECK(world.fds[fd].kind == FD_FREE, "descriptor %d (kind %d) left open at exit", fd,
                   (int)world.fds[fd].kind);
}

/* Every call of the program, failed in turn with every fault it can return. */
static void fuzz_server_torture(const uint8_t *data, size_t size)
{
    torture.recording = true;
    torture.count = 0;
    torture.later_count = 0;
    torture.inject_at[0] = torture.inject_at[1] = -1;
    fuzz_server_once(data, size);
    torture.recording = false;
    size_t positions =
        torture.cap != 0 && torture.count > torture.cap ? torture.cap : torture.count;
    for (size_t k = 0; k < positions; k++) {
        enum call call = torture.calls[k].call;
        struct torture_site *site = torture_site(torture.calls[k].offset, call);
        for (int f = 1; f < FAULTS; f++) {
            if (!fault_fits(call, (enum fault)f))
                continue;
            torture.inject_at[0] = (long)k;
            torture.inject[0] = (enum fault)f;
            fuzz_server_once(data, size);
            site->runs[f]++;
            torture.runs++;
        }
    }
    /* The error paths' own calls: the fault that led there, and one more. */
    for (size_t i = 0; i < torture.later_count; i++) {
        struct torture_site *site = torture_site(torture.later[i].offset, torture.later[i].call);
        for (int f = 1; f < FAULTS; f++) {
            if (!fault_fits(torture.later[i].call, (enum fault)f))
                continue;
            torture.inject_at[0] = torture.later[i].first_at;
            torture.inject[0] = torture.later[i].first;
            torture.inject_at[1] = torture.later[i].at;
            torture.inject[1] = (enum fault)f;
            fuzz_server_once(data, size);
            site->runs[f]++;
            torture.runs++;
        }
    }
    torture.inject_at[0] = torture.inject_at[1] = -1;
    torture.inputs++;
}

static const char *const call_names[CALLS] = {
    [CALL_RECV] = "recv",
    [CALL_SEND] = "send",
    [CALL_ACCEPT] = "accept4",
    [CALL_RECVFROM] = "recvfrom",
    [CALL_RECVMMSG] = "recvmmsg",
    [CALL_SENDTO] = "sendto",
    [CALL_SENDMMSG] = "sendmmsg",
    [CALL_SENDMSG] = "sendmsg",
    [CALL_EPOLL_WAIT] = "epoll_wait",
    [CALL_EPOLL_CTL] = "epoll_ctl",
    [CALL_SHUTDOWN] = "shutdown",
    [CALL_SETSOCKOPT] = "setsockopt",
    [CALL_OPEN] = "open",
    [CALL_READ] = "read",
    [CALL_TIMERFD_SETTIME] = "timerfd_settime",
    [CALL_SOCKET] = "socket",
    [CALL_BIND] = "bind",
    [CALL_LISTEN] = "listen",
    [CALL_GETSOCKNAME] = "getsockname",
    [CALL_EPOLL_CREATE] = "epoll_create1",
    [CALL_TIMERFD_CREATE] = "timerfd_create",
    [CALL_SIGNALFD] = "signalfd",
    [CALL_GETRANDOM] = "getrandom",
    [CALL_CLOSE] = "close",
    [CALL_ALLOCATE] = "calloc",
};
static const char *const fault_names[FAULTS] = {
    [FAULT_EAGAIN] = "EAGAIN", [FAULT_EINTR] = "EINTR", [FAULT_ECONNRESET] = "ECONNRESET",
    [FAULT_EPIPE] = "EPIPE",   [FAULT_SHORT] = "short", [FAULT_EMFILE] = "EMFILE",
    [FAULT_ENOMEM] = "ENOMEM", [FAULT_EIO] = "EIO",     [FAULT_EADDRINUSE] = "EADDRINUSE",
};

/* Where a call was made, as addr2line says it (function, file:line), into out. */
static void torture_where(uintptr_t offset, char *out, size_t cap)
{
    snprintf(out, cap, "0x%lx", (unsigned long)offset);
    char command[128];
    /* The return address is the instruction after the call: one byte back is the call. */
    snprintf(command, sizeof command, "addr2line -f -s -e /proc/%d/exe 0x%lx 2>/dev/null",
             (int)getpid(), (unsigned long)(offset - 1));
    FILE *pipe = popen(command, "r");
    if (pipe == NULL)
        return;
    char function[96] = "", line[96] = "";
    if (fgets(function, sizeof function, pipe) && fgets(line, sizeof line, pipe)) {
        function[strcspn(function, "\n")] = '\0';
        line[strcspn(line, "\n (")] = '\0';
        snprintf(out, cap, "%s %s", line, function);
    }
    pclose(pipe);
}

/*
 * At exit of a torture run: the matrix (each call site of server/ reached,
 * each fault class its call can return, how many runs failed it so), and a
 * failure if a site reached within the cap missed a class.
 */
__attribute__((destructor)) static void fuzz_server_torture_report(void)
{
    if (!torture.on)
        return;
    fprintf(stderr, "torture: %llu inputs, %llu runs with one fault each, %zu call sites:\n",
            (unsigned long long)torture.inputs, (unsigned long long)torture.runs,
            torture.site_count);
    bool missing = false;
    for (size_t i = 0; i < torture.site_count; i++) {
        const struct torture_site *site = &torture.sites[i];
        char where[160];
        torture_where(site->offset, where, sizeof where);
        fprintf(stderr, "torture:   %-44s %-15s", where, call_names[site->call]);
        for (int f = 1; f < FAULTS; f++) {
            if (!fault_fits(site->call, (enum fault)f))
                continue;
            fprintf(stderr, "  %s %u", fault_names[f], site->runs[f]);
            missing = missing || site->runs[f] == 0;
        }
        fputc('\n', stderr);
    }
    if (missing && torture.cap == 0) {
        fprintf(stderr, "torture: a call site was never given a fault its call can return\n");
        _exit(1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tracing = getenv("FUZZ_SERVER_TRACE") != NULL;
    const char *torture_cap = getenv("FUZZ_SERVER_TORTURE");
    torture.on = torture_cap != NULL;
    torture.cap = torture.on ? (size_t)strtoul(torture_cap, NULL, 10) : 0;
    if (torture.on)
        fuzz_server_torture(data, size);
    else
        fuzz_server_once(data, size);
    return 0;
}
