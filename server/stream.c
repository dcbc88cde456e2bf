#include "stream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pump.h"
#include "source.h"

/* Connections accepted per wakeup, so that a flood cannot starve the others. */
#define STREAM_ACCEPT_BATCH 64

enum stream_phase {
    STREAM_SERVING,   /* the engine decides what is sent */
    STREAM_LINGERING, /* write side shut down; input discarded until EOF or the deadline */
};

struct stream {
    struct loop_source source;
    struct streams *streams;
    struct conn engine;
    enum stream_phase phase;
    enum deadline_kind under; /* the deadline it is under, if deadline is linked */
    uint64_t deadline_ms;
    uint64_t messages_seen;    /* engine.messages when the frame deadline was last set */
    struct list_node all;      /* in streams->all */
    struct list_node deadline; /* in streams->deadlines[under], or alone: no deadline */
    uint32_t source_slot;      /* its source's slot in streams->per_slot */
    size_t held;               /* conn_bytes_held after its last round, in streams->held */
    unsigned held_class;       /* budget_size_class(held) */
    struct list_node by_size;  /* in streams->held.by_class[held_class], alone for class 0 */
};

/* The timeouts the options set, in ms; 0: that kind is off. */
static struct deadline_timeouts stream_timeouts(const struct streams *streams)
{
    const struct options *opts = streams->opts;
    return (struct deadline_timeouts){
        .frame_ms = (uint64_t)opts->frame_timeout_s * 1000,
        .idle_ms = (uint64_t)opts->idle_timeout_s * 1000,
        .write_ms = (uint64_t)opts->write_timeout_s * 1000,
    };
}

/* Each kind of deadline's one timeout, in ms; 0: that kind is off. */
static uint64_t stream_timeout_ms(const struct streams *streams, enum deadline_kind kind)
{
    struct deadline_timeouts timeouts = stream_timeouts(streams);
    switch (kind) {
    case DEADLINE_FRAME:
        return timeouts.frame_ms;
    case DEADLINE_IDLE:
        return timeouts.idle_ms;
    case DEADLINE_WRITE:
        return timeouts.write_ms;
    case DEADLINE_LINGER:
    case DEADLINE_KINDS:
        break;
    }
    return STREAM_LINGER_MS;
}

/*
 * Put s under a deadline of this kind, starting now: to the back of its
 * list, which stays in deadline order because every entry has the same
 * timeout. (Draining, server_run cuts whatever is left when --grace ends,
 * whatever its deadline.)
 */
static void stream_set_deadline(struct stream *s, enum deadline_kind kind)
{
    struct streams *streams = s->streams;
    list_remove(&s->deadline);
    s->under = kind;
    uint64_t timeout_ms = stream_timeout_ms(streams, kind);
    if (timeout_ms == 0)
        return;
    s->deadline_ms = streams->loop->now_ms + timeout_ms;
    list_append(&streams->deadlines[kind], &s->deadline);
}

/* Bring the ledger up to date with what s's engine holds now. */
static void stream_set_held(struct stream *s, size_t held)
{
    struct stream_held *ledger = &s->streams->held;
    ledger->total = ledger->total - s->held + held;
    ledger->per_slot[s->source_slot] = ledger->per_slot[s->source_slot] - s->held + held;
    s->held = held;
    unsigned held_class = budget_size_class(held);
    if (held_class == s->held_class)
        return;
    list_remove(&s->by_size);
    if (held_class != 0)
        list_append(&ledger->by_class[held_class], &s->by_size);
    s->held_class = held_class;
}

static void stream_close(struct stream *s)
{
    struct streams *streams = s->streams;
    list_remove(&s->deadline);
    list_remove(&s->all);
    stream_set_held(s, 0);
    loop_del(streams->loop, &s->source);
    streams->kernel->close(s->source.fd);
    conn_free(&s->engine);
    streams->stats.closed++;
    if (streams->draining)
        streams->stats.shutdown_clean++;
    streams->open--;
    streams->per_slot[s->source_slot]--;
    free(s);
}

/* A hard error on the socket: the peer is gone, nothing more can be delivered. */
static void stream_reset(struct stream *s)
{
    s->streams->stats.resets++;
    stream_close(s);
}

/*
 * The pump has shut down the write side: everything queued and a FIN are on
 * their way. Reading until the peer's EOF (or a deadline) then lets the
 * close be clean instead of an RST that would destroy the error frame.
 */
static void stream_start_linger(struct stream *s)
{
    s->phase = STREAM_LINGERING;
    stream_set_deadline(s, DEADLINE_LINGER);
    if (loop_set_events(s->streams->loop, &s->source, EPOLLIN) != 0)
        stream_reset(s);
}

/* After a round, the one deadline a serving connection is under (lib/deadline.h says which). */
static void stream_update_deadline(struct stream *s, const struct pump_outcome *outcome)
{
    struct deadline_timeouts timeouts = stream_timeouts(s->streams);
    struct deadline_round round = {
        .want_write = outcome->want_write,
        .mid_request = conn_mid_request(&s->engine),
        .request_done = s->engine.messages != s->messages_seen,
        .bytes_read = outcome->bytes_read,
        .bytes_sent = outcome->bytes_sent,
    };
    struct deadline_choice choice = deadline_choose(&timeouts, s->under, &round);
    s->messages_seen = s->engine.messages;
    if (choice.restart)
        stream_set_deadline(s, choice.kind);
}

/* Ask epoll for what the engine needs next. */
static void stream_wait(struct stream *s, const struct pump_outcome *outcome)
{
    uint32_t events = (outcome->want_read ? EPOLLIN : 0) | (outcome->want_write ? EPOLLOUT : 0);
    if (loop_set_events(s->streams->loop, &s->source, events) != 0)
        stream_reset(s);
}

/*
 * Draining, a connection the engine has finished may still have input in
 * flight from the peer: close() would answer it with an RST that destroys
 * the replies the peer has not read yet. Shutting down the write side and
 * lingering delivers them, then a FIN.
 */
static void stream_close_orderly(struct stream *s)
{
    if (s->streams->kernel->shutdown(s->source.fd, SHUT_WR) != 0) {
        stream_reset(s);
        return;
    }
    stream_start_linger(s);
}

/* Turn the pump's outcome into epoll interest, a linger or a close. */
static void stream_settle(struct stream *s, const struct pump_outcome *outcome)
{
    switch (outcome->next) {
    case PUMP_WAIT:
        stream_update_deadline(s, outcome);
        stream_wait(s, outcome);
        return;
    case PUMP_LINGER:
        stream_start_linger(s);
        return;
    case PUMP_CLOSE:
        if (s->streams->draining)
            stream_close_orderly(s);
        else
            stream_close(s);
        return;
    case PUMP_RESET:
        stream_reset(s);
        return;
    }
}

/*
 * The largest holder: of all (slot_only false), or of one source slot. The
 * head of the highest non-empty size class is within a factor of two of
 * the largest, found in O(classes). A source's largest is the first of its
 * own met from the top down: the walk passes only streams in classes above
 * it, which hold more than it does.
 */
static struct stream *stream_largest_holder(struct streams *streams, bool slot_only, uint32_t slot)
{
    struct stream_held *ledger = &streams->held;
    for (unsigned c = BUDGET_SIZE_CLASSES - 1; c > 0; c--) {
        struct list_node *list = &ledger->by_class[c];
        for (struct list_node *node = list->next; node != list; node = node->next) {
            struct stream *s = LIST_ENTRY(node, struct stream, by_size);
            if (!slot_only || s->source_slot == slot)
                return s;
        }
    }
    return NULL;
}

/*
 * Close a stream for memory: a plain close, since it holds a frame it never
 * finished and is owed nothing but EOF. It may be any stream, not the one
 * being served, with an event still further down the loop's batch: the
 * loop drops that event when the stream leaves it (loop.h).
 */
static void stream_shed(struct stream *s, enum budget_verdict why)
{
    struct streams *streams = s->streams;
    if (why == BUDGET_OVER_TOTAL)
        streams->stats.closed_memory++;
    else
        streams->stats.closed_memory_per_ip++;
    stream_close(s);
}

/*
 * Over --max-buffered (or the source's share of it), close the largest
 * holders until the total is down to its low-water mark (lib/budget.h):
 * each step is O(1) for the total, and the low-water mark means a client
 * must make shoutd allocate an eighth of the limit again before the next
 * close. Bounded: every step closes a stream that holds bytes. The budget
 * is checked after every round, and a round reads at most CONN_FEED_MAX
 * (64 KiB), so the total can pass it by one round's growth at most: that
 * read, and a payload store that doubles to hold it (at most --max-frame).
 * Returns whether grower, the stream whose round this was, is still open.
 */
static bool stream_enforce_budget(struct stream *grower)
{
    struct streams *streams = grower->streams;
    struct stream_held *ledger = &streams->held;
    uint32_t slot = grower->source_slot;
    bool grower_open = true;
    enum budget_verdict shedding = BUDGET_OK;
    for (;;) {
        shedding = budget_judge(&ledger->limits, ledger->total, ledger->per_slot[slot], shedding);
        if (shedding == BUDGET_OK)
            return grower_open;
        struct stream *victim =
            stream_largest_holder(streams, shedding == BUDGET_OVER_SOURCE, slot);
        if (victim == NULL)
            return grower_open;
        if (victim == grower)
            grower_open = false;
        stream_shed(victim, shedding);
    }
}

/* After a round: the ledger updated, then shed if over. Whether s is still open. */
static bool stream_account(struct stream *s)
{
    size_t before = s->held;
    stream_set_held(s, conn_bytes_held(&s->engine));
    /* Only growth can cross a limit; a round that released memory has nothing to shed. */
    return s->held <= before || stream_enforce_budget(s);
}

/* A pump for s: every connection reads into the one buffer in turn. */
static struct pump stream_pump(struct stream *s)
{
    return (struct pump){
        .engine = &s->engine,
        .fd = s->source.fd,
        .kernel = s->streams->kernel,
        .scratch = s->streams->read_buf,
        .scratch_len = sizeof s->streams->read_buf,
    };
}

static void stream_on_ready(struct loop_source *source, uint32_t events)
{
    struct stream *s = LIST_ENTRY(source, struct stream, source);
    struct pump pump = stream_pump(s);
    if (s->phase == STREAM_LINGERING) {
        if (pump_discard(&pump) == PUMP_CLOSE)
            stream_close(s);
        return;
    }
    /* EPOLLERR and EPOLLHUP surface as errors or EOF from recv and send themselves. */
    struct pump_outcome outcome = pump_serve(&pump, events & (EPOLLIN | EPOLLERR | EPOLLHUP));
    if (stream_account(s))
        stream_settle(s, &outcome);
}

static void stream_open(struct streams *streams, int fd, enum conn_mode mode, uint32_t slot)
{
    struct stream *s = streams->allocate(1, sizeof *s);
    if (!s) {
        streams->kernel->close(fd);
        streams->stats.refused_no_memory++;
        return;
    }
    s->source_slot = slot;
    list_init(&s->by_size);
    streams->open++;
    streams->per_slot[slot]++;
    int one = 1;
    /* Replies go out as soon as they are ready: latency is what is measured here. */
    streams->kernel->setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->streams = streams;
    s->source = (struct loop_source){.fd = fd, .on_ready = stream_on_ready, .owner = s};
    s->phase = STREAM_SERVING;
    conn_init_mode(&s->engine, &streams->limits, streams->counters, mode);
    list_init(&s->deadline);
    /* Counted from accept: a connection that never sends is a slowloris too. */
    s->under = DEADLINE_KINDS;
    stream_update_deadline(s, &(struct pump_outcome){.next = PUMP_WAIT, .want_read = true});
    list_append(&streams->all, &s->all);
    streams->stats.accepted++;
    if (loop_add(streams->loop, &s->source, EPOLLIN) != 0)
        stream_close(s);
}

/* The slot of a source in streams->per_slot. */
static uint32_t stream_source_slot(const struct streams *streams,
                                   const struct sockaddr_storage *addr)
{
    struct source_key key;
    source_key_of(addr, streams->opts->ipv6_prefix, &key);
    return (uint32_t)(source_hash(streams->secret, &key) % STREAM_SOURCE_SLOTS);
}

/*
 * Over --max-conns, or over --max-conns-per-ip for its source: accepted and
 * closed at once, nothing written, counted. Connections already open notice
 * nothing. Returns the source's slot, or -1 if the connection was refused.
 */
static int64_t stream_admit(struct streams *streams, int fd, const struct sockaddr_storage *addr)
{
    const struct options *opts = streams->opts;
    if (streams->open >= opts->max_conns) {
        streams->kernel->close(fd);
        streams->stats.refused_max_conns++;
        return -1;
    }
    uint32_t slot = stream_source_slot(streams, addr);
    if (opts->max_conns_per_ip != 0 && streams->per_slot[slot] >= opts->max_conns_per_ip) {
        streams->kernel->close(fd);
        streams->stats.refused_per_ip++;
        return -1;
    }
    return slot;
}

/* Connections accepted per wakeup, so that a flood cannot starve the others. */
#define STREAM_ACCEPT_BATCH 64

static void stream_accept(struct streams *streams, int listener_fd, enum conn_mode mode)
{
    for (int i = 0; i < STREAM_ACCEPT_BATCH; i++) {
        struct sockaddr_storage addr;
        int fd = acceptor_take(streams->acceptor, listener_fd, &addr);
        if (fd == ACCEPT_DONE)
            return;
        if (fd == ACCEPT_AGAIN)
            continue;
        int64_t slot = stream_admit(streams, fd, &addr);
        if (slot >= 0)
            stream_open(streams, fd, mode, (uint32_t)slot);
    }
}

void stream_on_listener_ready(struct loop_source *listener, uint32_t events)
{
    (void)events;
    /* The first byte of each connection chooses text or framed. */
    stream_accept(listener->owner, listener->fd, CONN_MODE_UNDECIDED);
}

void stream_on_sockperf_listener_ready(struct loop_source *listener, uint32_t events)
{
    (void)events;
    stream_accept(listener->owner, listener->fd, CONN_MODE_SOCKPERF);
}

/*
 * A deadline passed. Frame and idle: a plain close (nothing is in flight
 * that the peer is owed). Write: the peer is not reading, so what is queued
 * will not be read either; an abortive close (RST) frees the kernel's send
 * buffer at once instead of keeping it until TCP gives up.
 */
static void stream_expire_one(struct stream *s)
{
    struct stream_stats *stats = &s->streams->stats;
    static const struct linger abort_on_close = {.l_onoff = 1, .l_linger = 0};
    switch (s->under) {
    case DEADLINE_FRAME:
        stats->timeouts_frame++;
        break;
    case DEADLINE_IDLE:
        stats->timeouts_idle++;
        break;
    case DEADLINE_WRITE:
        stats->timeouts_write++;
        s->streams->kernel->setsockopt(s->source.fd, SOL_SOCKET, SO_LINGER, &abort_on_close,
                                       sizeof abort_on_close);
        break;
    case DEADLINE_LINGER:
    case DEADLINE_KINDS:
        stats->lingers_expired++;
        break;
    }
    stream_close(s);
}

uint64_t stream_expire(struct streams *streams, uint64_t now_ms)
{
    uint64_t next_ms = UINT64_MAX;
    for (size_t kind = 0; kind < DEADLINE_KINDS; kind++) {
        struct list_node *list = &streams->deadlines[kind];
        while (!list_empty(list)) {
            struct stream *s = LIST_ENTRY(list->next, struct stream, deadline);
            if (s->deadline_ms > now_ms) {
                if (s->deadline_ms < next_ms)
                    next_ms = s->deadline_ms;
                break;
            }
            stream_expire_one(s);
        }
    }
    return next_ms;
}

/*
 * Idle (nothing read and unanswered, nothing queued, no framed peer to tell)
 * closes at once; the rest stop reading, answer what they hold, and close
 * the orderly way as the loop goes on.
 */
static void stream_drain(struct stream *s)
{
    const struct kernel *k = s->streams->kernel;
    struct conn *engine = &s->engine;
    size_t queued;
    conn_output(engine, &queued);
    uint8_t peek;
    /* Unread input in the socket would turn close() into an RST: only an empty queue is idle. */
    bool idle = engine->state == CONN_OPEN && engine->mode != CONN_MODE_FRAMED && queued == 0 &&
                buf_len(&engine->pending) == 0 &&
                k->recv(s->source.fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN;
    conn_shut_down(engine);
    if (idle) {
        stream_close(s);
        return;
    }
    struct pump pump = stream_pump(s);
    struct pump_outcome outcome = pump_serve(&pump, false);
    /*
     * Kept up to date but never shed for: draining takes no input, so held
     * bytes can only turn into replies, and shedding here would free the
     * streams this walk of streams->all is about to visit.
     */
    stream_set_held(s, conn_bytes_held(engine));
    stream_settle(s, &outcome);
}

void stream_drain_all(struct streams *streams)
{
    streams->draining = true;
    struct list_node *node = streams->all.next;
    while (node != &streams->all) {
        struct stream *s = LIST_ENTRY(node, struct stream, all);
        node = node->next; /* s may be freed below */
        if (s->phase == STREAM_SERVING)
            stream_drain(s);
    }
}

size_t stream_close_all(struct streams *streams)
{
    size_t closed = 0;
    for (; !list_empty(&streams->all); closed++)
        stream_close(LIST_ENTRY(streams->all.next, struct stream, all));
    return closed;
}

void stream_init(struct streams *streams)
{
    list_init(&streams->all);
    for (size_t i = 0; i < DEADLINE_KINDS; i++)
        list_init(&streams->deadlines[i]);
    for (size_t i = 0; i < BUDGET_SIZE_CLASSES; i++)
        list_init(&streams->held.by_class[i]);
}

/* Walk one deadline list: its length, and what is wrong with it. */
static uint32_t stream_audit_deadlines(const struct streams *streams, enum deadline_kind kind,
                                       struct stream_audit *audit)
{
    uint32_t count = 0;
    uint64_t previous_ms = 0;
    const struct list_node *list = &streams->deadlines[kind];
    for (const struct list_node *node = list->next; node != list; node = node->next, count++) {
        const struct stream *s = LIST_ENTRY(node, const struct stream, deadline);
        audit->misplaced += s->under != kind;
        audit->out_of_order += s->deadline_ms < previous_ms;
        previous_ms = s->deadline_ms;
    }
    return count;
}

void stream_audit(const struct streams *streams, struct stream_audit *audit)
{
    *audit = (struct stream_audit){0};
    for (const struct list_node *node = streams->all.next; node != &streams->all;
         node = node->next) {
        const struct stream *s = LIST_ENTRY(node, const struct stream, all);
        audit->listed++;
        audit->held_sum += s->held;
        if (s->held > audit->held_max)
            audit->held_max = s->held;
        bool filed = list_empty(&s->by_size) == (s->held_class == 0);
        audit->misfiled += !filed || s->held_class != budget_size_class(s->held);
    }
    for (unsigned kind = 0; kind < DEADLINE_KINDS; kind++)
        audit->on_deadline[kind] = stream_audit_deadlines(streams, kind, audit);
}
