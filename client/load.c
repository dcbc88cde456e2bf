#include "load.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "flow.h"
#include "interval.h"
#include "measure.h"
#include "pin.h"
#include "report.h"
#include "schedule.h"
#include "send.h"

#define LOAD_EVENTS   64
#define LOAD_NS_PER_S 1000000000.0
/* How far past its own deadlines a run may go before it is stopped outright. */
#define LOAD_GRACE_NS UINT64_C(2000000000)
/* Look at which CPU a thread runs on this often (loop rounds): the scheduler may move it. */
#define LOAD_CPU_EVERY 4096
/*
 * The longest a thread sleeps without looking whether Ctrl-C asked the run
 * to stop: the signal wakes only the thread it was delivered to.
 */
#define LOAD_STOP_CHECK_NS UINT64_C(100000000)

/* One connection and where it is in its schedule. */
struct load_flow {
    struct flow flow;
    uint32_t index; /* over all connections: its place in the schedule */
    uint64_t k;     /* requests sent so far: the next one is number k */
    uint64_t quota; /* count mode: measured requests still to send */
    bool blocked;   /* the socket refused a send: wait for EPOLLOUT */
    bool closed;    /* TCP: the server closed or reset it (counts.refused) */
    bool epollout;  /* EPOLLOUT is in the epoll set */
    bool dead;
};

struct load_run;

struct load_thread {
    struct load_run *run;
    uint32_t index;
    pthread_t tid;
    int epfd;
    struct load_flow *flows;
    uint32_t n_flows;
    struct hist latency;
    struct hist service;
    struct run_counts counts;
    uint64_t late;
    uint64_t last_done_ns; /* the last measured reply */
    int cpus_seen[RESULT_MAX_CPUS];
    uint32_t cpus_seen_count;
    /* The thread's own CPU time and the clock when measuring began and when the loop ended. */
    uint64_t cpu_start_ns, wall_start_ns, cpu_end_ns, wall_end_ns;
    int failure; /* enum send_exit of the thread's worst failure, or SEND_EXIT_OK */
    char why[FLOW_WHY_MAX];
    /*
     * For the interval series, which thread 0 keeps: this thread's replies,
     * and its flows' losses and errors as of its last round.
     */
    _Atomic uint64_t received;
    _Atomic uint64_t lost;
    _Atomic uint64_t errors;
    struct hist interval_latency; /* thread 0: this interval's round trips */
};

struct load_run {
    const struct measure_options *opt;
    struct flow_config fc;
    uint32_t n_threads;
    struct load_thread *threads;
    /*
     * The start gate: every thread has connected (or failed), then the
     * schedule's times are set and all go.
     */
    pthread_mutex_t gate_lock;
    pthread_cond_t gate_cond;
    uint32_t gate_ready;
    bool gate_open;
    _Atomic bool abort;
    /* When each request is due; its times are set when the start gate opens. */
    struct schedule sched;
    uint64_t deadline_ns;
    bool progress;
    /*
     * Thread 0 keeps the interval series in result while the run goes;
     * load_run closes its last interval after the join, from the totals, so
     * that the series adds up to them exactly.
     */
    struct run_result *result;
    struct interval_clock clock;
    /* When the first thread saw Ctrl-C or SIGTERM (0: not interrupted); the measured end. */
    _Atomic uint64_t stop_ns;
};

/* Keep the thread's worst failure and its reason. */
static void load_fail(struct load_thread *t, int status, const char *why)
{
    if (measure_failure_rank(status) > measure_failure_rank(t->failure)) {
        t->failure = status;
        snprintf(t->why, sizeof t->why, "%s", why);
    }
}

/* What lf's schedule says about its next request at now. */
static struct schedule_next load_next(const struct load_run *run, const struct load_flow *lf,
                                      uint64_t now)
{
    return schedule_next(&run->sched, lf->index, lf->k, lf->quota, now);
}

static void load_record(void *ctx, const struct flow_sample *s)
{
    struct load_thread *t = ctx;
    if (!s->measured)
        return;
    hist_record(&t->latency,
                s->done_ns - (s->intended_ns < s->sent_ns ? s->intended_ns : s->sent_ns));
    hist_record(&t->service, s->done_ns - s->sent_ns);
    t->last_done_ns = s->done_ns;
    if (t->index == 0)
        hist_record(&t->interval_latency,
                    s->done_ns - (s->intended_ns < s->sent_ns ? s->intended_ns : s->sent_ns));
    atomic_fetch_add_explicit(&t->received, 1, memory_order_relaxed);
}

static void load_kill_flow(struct load_thread *t, struct load_flow *lf, int status, const char *why)
{
    flow_abandon(&lf->flow);
    lf->dead = true;
    epoll_ctl(t->epfd, EPOLL_CTL_DEL, flow_fd(&lf->flow), NULL);
    load_fail(t, status, why);
}

/* Queue every request of lf that is due and that the window and the send buffer take. */
static int load_queue_due(struct load_thread *t, struct load_flow *lf, uint64_t now)
{
    const struct load_run *run = t->run;
    int queued = 0;
    while (flow_can_send(&lf->flow)) {
        struct schedule_next next = load_next(run, lf, now);
        if (next.verdict != SCHEDULE_SEND)
            break;
        flow_set_measuring(&lf->flow, next.measured);
        if (flow_queue(&lf->flow, next.intended_ns) != 0)
            break; /* cannot fail but for want of room, which flow_can_send rules out */
        lf->k++;
        if (next.measured && lf->quota > 0)
            lf->quota--;
        queued++;
    }
    return queued;
}

/*
 * Send every request of lf that is due and that the window takes: over TCP
 * all of them in one send(), over UDP up to FLOW_UDP_BATCH a sendmmsg
 * (flow_flush), again while the socket takes them all.
 */
static void load_pump(struct load_thread *t, struct load_flow *lf, uint64_t now)
{
    if (lf->blocked)
        return;
    for (;;) {
        int queued = load_queue_due(t, lf, now);
        int rc = flow_wants_write(&lf->flow) ? flow_flush(&lf->flow) : 0;
        if (rc == -EAGAIN) {
            /* The socket is full: EPOLLOUT (load_update_interest) sends the rest. */
            lf->blocked = true;
            return;
        }
        if (rc < 0) {
            load_kill_flow(t, lf, SEND_EXIT_NETWORK, flow_why(&lf->flow));
            return;
        }
        if (queued == 0)
            return;
    }
}

/* EPOLLOUT only while lf has bytes to write or a send was refused, so the loop never spins. */
static void load_update_interest(struct load_thread *t, struct load_flow *lf)
{
    bool want = lf->blocked || flow_wants_write(&lf->flow);
    if (lf->dead || want == lf->epollout)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = lf};
    epoll_ctl(t->epfd, EPOLL_CTL_MOD, flow_fd(&lf->flow), &ev);
    lf->epollout = want;
}

static uint64_t load_min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/*
 * One pass over the thread's flows: losses, stalls and sends. Returns the
 * next time anything is due, and sets *busy when a flow still has work.
 */
static uint64_t load_tick(struct load_thread *t, uint64_t now, bool stopping, bool *busy)
{
    const struct load_run *run = t->run;
    uint64_t wake = UINT64_MAX;
    uint64_t lost = 0, errors = 0;
    *busy = false;
    for (uint32_t i = 0; i < t->n_flows; i++) {
        struct load_flow *lf = &t->flows[i];
        /* A dead flow's counts still count: the interval series must add up to the totals. */
        const struct run_counts *c = flow_counts(&lf->flow);
        lost += c->lost;
        errors += c->mismatches + c->error_frames;
        if (lf->dead)
            continue;
        struct flow *f = &lf->flow;
        flow_expire(f, now);
        uint64_t oldest = flow_oldest_sent_ns(f);
        if (!run->fc.udp && oldest != UINT64_MAX && now - oldest >= run->deadline_ns) {
            load_kill_flow(t, lf, SEND_EXIT_TIMEOUT, "a TCP reply did not come within --timeout");
            continue;
        }
        if (!stopping)
            load_pump(t, lf, now);
        if (lf->dead)
            continue;
        load_update_interest(t, lf);
        struct schedule_next next = load_next(run, lf, now);
        /* Interrupted: nothing more is sent, what is in flight may still come. */
        bool finished = next.verdict == SCHEDULE_DONE || stopping;
        if (!finished || flow_in_flight(f) > 0)
            *busy = true;
        if (!finished && run->opt->cfg.rate > 0 && flow_can_send(f) && !lf->blocked)
            wake = load_min(wake, next.due_ns);
        wake = load_min(wake, flow_next_expiry_ns(f));
        if (oldest != UINT64_MAX && !run->fc.udp)
            wake = load_min(wake, oldest + run->deadline_ns);
    }
    /* Closed loop over time: the end of the phase is an event of its own. */
    if (run->opt->cfg.count == 0)
        wake = load_min(wake, now < run->sched.end_ns ? run->sched.end_ns : wake);
    if (run->opt->cfg.count > 0 && now < run->sched.measure_ns)
        wake = load_min(wake, run->sched.measure_ns);
    /* Published for thread 0's interval series; the loop already visits every flow here. */
    atomic_store_explicit(&t->lost, lost, memory_order_relaxed);
    atomic_store_explicit(&t->errors, errors, memory_order_relaxed);
    return wake;
}

static void load_handle_event(struct load_thread *t, const struct epoll_event *ev)
{
    struct load_flow *lf = ev->data.ptr;
    if (lf->dead)
        return;
    if (ev->events & EPOLLOUT) {
        lf->blocked = false;
        int rc = flow_flush(&lf->flow);
        if (rc < 0 && rc != -EAGAIN) {
            load_kill_flow(t, lf, SEND_EXIT_NETWORK, flow_why(&lf->flow));
            return;
        }
    }
    if (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        int rc = flow_receive(&lf->flow, load_record, t);
        /* -EPROTO: a mismatch, already counted; the stream cannot be followed further. */
        if (rc == -ECONNRESET && !t->run->fc.udp)
            lf->closed = true;
        if (rc < 0)
            load_kill_flow(t, lf, rc == -EPROTO ? SEND_EXIT_MISMATCH : SEND_EXIT_NETWORK,
                           flow_why(&lf->flow));
    }
}

/* Wait for events until wake (ns, monotonic) at the latest. */
static int load_wait(struct load_thread *t, uint64_t now, uint64_t wake, struct epoll_event *evs)
{
    /* --busy-poll: never sleep, so that no reply waits for a wake-up; the thread spins. */
    uint64_t left = wake > now && !t->run->opt->cfg.busy_poll ? wake - now : 0;
    struct timespec ts = {.tv_sec = (time_t)(left / 1000000000),
                          .tv_nsec = (long)(left % 1000000000)};
    int n = epoll_pwait2(t->epfd, evs, LOAD_EVENTS, &ts, NULL);
    if (n < 0 && errno == ENOSYS) {
        /* Kernels before 5.11: millisecond waits, rounded up so the loop does not spin. */
        n = epoll_wait(t->epfd, evs, LOAD_EVENTS, (int)load_min(left / 1000000 + 1, 1000));
    }
    return n < 0 && errno == EINTR ? 0 : n;
}

/* Every thread's replies, losses and errors so far, summed. */
static void load_totals(const struct load_run *run, uint64_t *received, uint64_t *lost,
                        uint64_t *errors)
{
    *received = *lost = *errors = 0;
    for (uint32_t i = 0; i < run->n_threads; i++) {
        struct load_thread *t = &run->threads[i];
        *received += atomic_load_explicit(&t->received, memory_order_relaxed);
        *lost += atomic_load_explicit(&t->lost, memory_order_relaxed);
        *errors += atomic_load_explicit(&t->errors, memory_order_relaxed);
    }
}

/*
 * Thread 0 closes each interval: every thread's replies, losses and errors,
 * its own latencies (the other threads' histograms are theirs alone until
 * the join).
 */
static void load_interval_at(struct load_thread *t, struct interval_clock *clock, uint64_t now,
                             uint64_t received, uint64_t lost, uint64_t errors)
{
    struct load_run *run = t->run;
    double from_s = (double)(clock->last_ns - clock->start_ns) / LOAD_NS_PER_S;
    struct run_interval e =
        interval_close(clock, now, received, lost, errors, &t->interval_latency);
    interval_keep(run->result, &e);
    if (run->progress)
        interval_print(stderr, from_s, &e);
    hist_init(&t->interval_latency);
}

static void load_interval(struct load_thread *t, struct interval_clock *clock, uint64_t now)
{
    uint64_t received, lost, errors;
    load_totals(t->run, &received, &lost, &errors);
    load_interval_at(t, clock, now, received, lost, errors);
}

/* CPU time of the calling thread, in ns. */
static uint64_t load_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Note, once, when the measured phase began for this thread and its CPU time then. */
static void load_note_cpu(struct load_thread *t, uint64_t now)
{
    if (t->wall_start_ns == 0 && now >= t->run->sched.measure_ns) {
        t->wall_start_ns = now;
        t->cpu_start_ns = load_thread_cpu_ns();
    }
}

static void load_loop(struct load_thread *t)
{
    struct load_run *run = t->run;
    struct epoll_event evs[LOAD_EVENTS];
    struct interval_clock *clock = &run->clock;
    bool keeps_series = t->index == 0;
    if (keeps_series) {
        interval_start(clock, run->sched.measure_ns, run->opt->interval_s);
        hist_init(&t->interval_latency);
        if (run->progress)
            interval_print_head(stderr);
    }
    uint64_t hard_stop = run->sched.end_ns == UINT64_MAX
                             ? UINT64_MAX
                             : run->sched.end_ns + run->deadline_ns + LOAD_GRACE_NS;
    uint64_t rounds = 0;
    bool stopping = false;
    for (;;) {
        uint64_t now = flow_now_ns();
        load_note_cpu(t, now);
        if (!stopping && measure_interrupted()) {
            stopping = true;
            uint64_t none = 0;
            atomic_compare_exchange_strong(&run->stop_ns, &none, now);
            /* The replies in flight get their deadline, then the thread ends regardless. */
            if (now + run->deadline_ns + LOAD_GRACE_NS < hard_stop)
                hard_stop = now + run->deadline_ns + LOAD_GRACE_NS;
        }
        bool busy;
        uint64_t wake = load_tick(t, now, stopping, &busy);
        if (!busy)
            break;
        if (now >= hard_stop) {
            for (uint32_t i = 0; i < t->n_flows; i++)
                if (!t->flows[i].dead && flow_in_flight(&t->flows[i].flow) > 0)
                    load_kill_flow(t, &t->flows[i], SEND_EXIT_TIMEOUT, "the run overran its end");
            break;
        }
        /*
         * A boundary at the planned end is left to the close after the loop,
         * which takes in the last replies: one last line ending at the run's
         * length, not a sliver after it.
         */
        bool ticks = keeps_series && clock->next_ns < run->sched.end_ns;
        if (ticks && interval_due(clock, now))
            load_interval(t, clock, now);
        if (ticks)
            wake = load_min(wake, clock->next_ns);
        wake = load_min(wake, hard_stop);
        wake = load_min(wake, now + LOAD_STOP_CHECK_NS);
        int n = load_wait(t, now, wake, evs);
        if (n < 0) {
            load_fail(t, SEND_EXIT_NETWORK, "epoll_wait failed");
            break;
        }
        for (int i = 0; i < n; i++)
            load_handle_event(t, &evs[i]);
        if (++rounds % LOAD_CPU_EVERY == 0)
            pin_note(t->cpus_seen, &t->cpus_seen_count, RESULT_MAX_CPUS, pin_current_cpu());
    }
}

/* Open thread t's share of the connections: connection c belongs to thread c % threads. */
static int load_connect(struct load_thread *t)
{
    const struct load_run *run = t->run;
    const struct run_config *cfg = &run->opt->cfg;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)cfg->port);
    int connect_ms = cfg->timeout_s < 1 ? 1000 : (int)(cfg->timeout_s * 1000);
    for (uint32_t i = 0; i < t->n_flows; i++) {
        struct load_flow *lf = &t->flows[i];
        lf->index = t->index + i * run->n_threads;
        lf->quota = schedule_quota(&run->sched, lf->index);
        int rc = flow_connect(&lf->flow, &run->fc, cfg->host, port, connect_ms);
        if (rc < 0) {
            load_fail(t, SEND_EXIT_NETWORK, flow_why(&lf->flow));
            lf->dead = true;
            return rc;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = lf};
        if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, flow_fd(&lf->flow), &ev) != 0) {
            load_fail(t, SEND_EXIT_NETWORK, "epoll_ctl failed");
            return -errno;
        }
    }
    return 0;
}

static void load_add_counts(struct run_counts *dst, const struct run_counts *src)
{
    dst->sent += src->sent;
    dst->received += src->received;
    dst->mismatches += src->mismatches;
    dst->lost += src->lost;
    dst->duplicates += src->duplicates;
    dst->reordered += src->reordered;
    dst->error_frames += src->error_frames;
    dst->refused += src->refused;
    dst->unanswered += src->unanswered;
    dst->bytes_sent += src->bytes_sent;
    dst->bytes_received += src->bytes_received;
}

static void *load_thread_main(void *arg)
{
    struct load_thread *t = arg;
    struct load_run *run = t->run;
    const struct run_config *cfg = &run->opt->cfg;
    if (cfg->client_cpu_count > 0) {
        int cpu = cfg->client_cpus[t->index % cfg->client_cpu_count];
        if (pin_thread(cpu) != 0) {
            char why[64];
            snprintf(why, sizeof why, "cannot pin a thread to CPU %d", cpu);
            load_fail(t, SEND_EXIT_USAGE, why);
            atomic_store(&run->abort, true);
        }
    }
    pin_note(t->cpus_seen, &t->cpus_seen_count, RESULT_MAX_CPUS, pin_current_cpu());
    /*
     * A paced thread sleeps until the next request is due; the kernel's
     * default 50 us timer slack would make every one of them late by up to
     * that, which the latency from the intended time would then (rightly)
     * show as the client's own delay.
     */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    if (t->failure == SEND_EXIT_OK && load_connect(t) != 0)
        atomic_store(&run->abort, true);
    pthread_mutex_lock(&run->gate_lock);
    run->gate_ready++;
    pthread_cond_broadcast(&run->gate_cond);
    while (!run->gate_open)
        pthread_cond_wait(&run->gate_cond, &run->gate_lock);
    pthread_mutex_unlock(&run->gate_lock);
    if (!atomic_load(&run->abort))
        load_loop(t);
    t->wall_end_ns = flow_now_ns();
    t->cpu_end_ns = load_thread_cpu_ns();
    pin_note(t->cpus_seen, &t->cpus_seen_count, RESULT_MAX_CPUS, pin_current_cpu());
    for (uint32_t i = 0; i < t->n_flows; i++) {
        struct flow *f = &t->flows[i].flow;
        if (!t->flows[i].dead)
            flow_abandon(f);
        const struct run_counts *c = flow_counts(f);
        load_add_counts(&t->counts, c);
        t->counts.refused += t->flows[i].closed;
        t->late += f->late;
        if (c->mismatches > 0 || c->error_frames > 0)
            load_fail(t, c->mismatches ? SEND_EXIT_MISMATCH : SEND_EXIT_SERVER_ERROR, flow_why(f));
    }
    return NULL;
}

static int load_setup_threads(struct load_run *run)
{
    const struct run_config *cfg = &run->opt->cfg;
    run->n_threads = cfg->threads < cfg->connections ? cfg->threads : cfg->connections;
    if (run->n_threads == 0)
        run->n_threads = 1;
    run->threads = calloc(run->n_threads, sizeof *run->threads);
    if (!run->threads)
        return -ENOMEM;
    for (uint32_t i = 0; i < run->n_threads; i++) {
        struct load_thread *t = &run->threads[i];
        t->run = run;
        t->index = i;
        t->epfd = -1;
        t->n_flows = cfg->connections / run->n_threads + (i < cfg->connections % run->n_threads);
        t->flows = calloc(t->n_flows, sizeof *t->flows);
        hist_init(&t->latency);
        hist_init(&t->service);
        for (uint32_t j = 0; t->flows && j < t->n_flows; j++)
            t->flows[j].flow.fd = -1;
        t->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (!t->flows || t->epfd < 0)
            return -ENOMEM;
    }
    return 0;
}

static void load_free_threads(struct load_run *run)
{
    for (uint32_t i = 0; run->threads && i < run->n_threads; i++) {
        struct load_thread *t = &run->threads[i];
        for (uint32_t j = 0; t->flows && j < t->n_flows; j++)
            flow_close(&t->flows[j].flow);
        free(t->flows);
        if (t->epfd >= 0)
            close(t->epfd);
    }
    free(run->threads);
}

/* Start the threads, wait until all have connected, set the clock going. Returns threads started.
 */
static uint32_t load_start(struct load_run *run, struct measure_frame *fr, struct run_result *r)
{
    const struct run_config *cfg = &run->opt->cfg;
    uint32_t started = 0;
    for (; started < run->n_threads; started++)
        if (pthread_create(&run->threads[started].tid, NULL, load_thread_main,
                           &run->threads[started]) != 0)
            break;
    if (started < run->n_threads) {
        load_fail(&run->threads[started], SEND_EXIT_LOCAL, "cannot start a thread");
        atomic_store(&run->abort, true);
    }
    pthread_mutex_lock(&run->gate_lock);
    while (run->gate_ready < started)
        pthread_cond_wait(&run->gate_cond, &run->gate_lock);
    run->sched.t0_ns = flow_now_ns();
    run->sched.measure_ns = run->sched.t0_ns + (uint64_t)(cfg->warmup_s * LOAD_NS_PER_S);
    run->sched.end_ns = cfg->count > 0
                            ? UINT64_MAX
                            : run->sched.measure_ns + (uint64_t)(cfg->duration_s * LOAD_NS_PER_S);
    run->gate_open = true;
    pthread_cond_broadcast(&run->gate_cond);
    pthread_mutex_unlock(&run->gate_lock);
    if (!atomic_load(&run->abort)) {
        struct timespec at = {.tv_sec = (time_t)(run->sched.measure_ns / 1000000000),
                              .tv_nsec = (long)(run->sched.measure_ns % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
            continue;
        measure_begin(run->opt, r, fr);
    }
    return started;
}

/* Add every thread's histograms, counts and placement into r; the worst failure into *failure. */
static void load_gather(struct load_run *run, struct run_result *r, int *failure, char *why,
                        uint64_t *late)
{
    uint64_t last_done = 0;
    for (uint32_t i = 0; i < run->n_threads; i++) {
        struct load_thread *t = &run->threads[i];
        hist_merge(&r->latency, &t->latency);
        hist_merge(&r->service, &t->service);
        load_add_counts(&r->counts, &t->counts);
        *late += t->late;
        for (uint32_t j = 0; j < t->cpus_seen_count; j++)
            pin_note(r->env.client_cpus_seen, &r->env.client_cpus_seen_count, RESULT_MAX_CPUS,
                     t->cpus_seen[j]);
        if (measure_failure_rank(t->failure) > measure_failure_rank(*failure)) {
            *failure = t->failure;
            memcpy(why, t->why, FLOW_WHY_MAX);
        }
        if (t->last_done_ns > last_done)
            last_done = t->last_done_ns;
        if (t->wall_start_ns != 0 && t->wall_end_ns > t->wall_start_ns) {
            double share = (double)(t->cpu_end_ns - t->cpu_start_ns) /
                           (double)(t->wall_end_ns - t->wall_start_ns);
            if (share > r->client_thread_share)
                r->client_thread_share = share;
        }
    }
    /*
     * Duration mode: at least the duration; replies that came during the
     * drain stretch it. Interrupted: up to the stop, or the last reply after it.
     */
    uint64_t stop = atomic_load(&run->stop_ns);
    uint64_t planned = stop != 0 && stop < run->sched.end_ns ? stop : run->sched.end_ns;
    uint64_t end = planned != UINT64_MAX && planned > last_done ? planned : last_done;
    r->elapsed_s =
        end > run->sched.measure_ns ? (double)(end - run->sched.measure_ns) / LOAD_NS_PER_S : 0;
}

int load_run(const struct measure_options *opt)
{
    struct load_run run = {.opt = opt};
    char why[FLOW_WHY_MAX];
    if (measure_check_busy_poll(opt) != 0)
        return SEND_EXIT_USAGE;
    measure_flow_config(&opt->cfg, &run.fc);
    if (flow_config_check(&run.fc, why, sizeof why) != 0) {
        fprintf(stderr, "shout: %s\n", why);
        return SEND_EXIT_USAGE;
    }
    run.deadline_ns = measure_deadline_ns(&opt->cfg);
    /* The plan is known now; its times are set when every connection is up (load_start). */
    run.sched = (struct schedule){
        .rate = opt->cfg.rate,
        .connections = opt->cfg.connections,
        .count = opt->cfg.count,
    };
    pthread_mutex_init(&run.gate_lock, NULL);
    pthread_cond_init(&run.gate_cond, NULL);
    struct measure_frame fr;
    int status = measure_prepare(opt, &fr);
    struct run_result *r = calloc(1, sizeof *r);
    if (status != SEND_EXIT_OK)
        goto out;
    status = SEND_EXIT_LOCAL;
    if (!r || load_setup_threads(&run) != 0) {
        fprintf(stderr, "shout: out of memory or file descriptors\n");
        measure_abandon(&fr);
        goto out;
    }
    measure_setup(opt, r, &fr);
    run.progress = fr.progress;
    run.result = r;
    uint32_t started = load_start(&run, &fr, r);
    for (uint32_t i = 0; i < started; i++)
        pthread_join(run.threads[i].tid, NULL);
    int failure = SEND_EXIT_OK;
    uint64_t late = 0;
    why[0] = '\0';
    load_gather(&run, r, &failure, why, &late);
    if (atomic_load(&run.abort)) {
        /* Nothing was measured: connecting or pinning failed. */
        fprintf(stderr, "shout: %s\n", why);
        status = failure;
        measure_abandon(&fr);
        goto out;
    }
    /* The last interval ends where the run does (elapsed_s), with every thread's last replies. */
    uint64_t end = run.sched.measure_ns + (uint64_t)(r->elapsed_s * LOAD_NS_PER_S);
    if (end > run.clock.last_ns)
        load_interval_at(&run.threads[0], &run.clock, end, r->counts.received, r->counts.lost,
                         r->counts.mismatches + r->counts.error_frames);
    status = measure_end(opt, r, &fr, failure, why);
    if (late > 0)
        fprintf(measure_table_stream(opt),
                "late replies (after their request was counted lost): %llu\n",
                (unsigned long long)late);
out:
    load_free_threads(&run);
    free(r);
    pthread_cond_destroy(&run.gate_cond);
    pthread_mutex_destroy(&run.gate_lock);
    return status;
}
