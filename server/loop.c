#include "loop.h"

#include <errno.h>
#include <sys/timerfd.h>
#include <time.h>

/* The alarm fired: clear it (its count does not matter) and note that none is set. */
static void loop_on_alarm(struct loop_source *source, uint32_t events)
{
    (void)events;
    struct loop *loop = source->owner;
    uint64_t expirations;
    (void)!loop->kernel->read(source->fd, &expirations, sizeof expirations);
    loop->alarm_ms = 0;
}

int loop_init(struct loop *loop, const struct kernel *kernel)
{
    loop->kernel = kernel;
    loop->stop = false;
    loop->now_ms = loop_now_ms(loop);
    loop->alarm_ms = 0;
    loop->busy_poll_ns = 0;
    loop->spins = 0;
    loop->batch = NULL;
    loop->batch_next = loop->batch_len = 0;
    struct timespec tick = {.tv_nsec = 4000000}; /* HZ=250, should the kernel not say */
    kernel->clock_getres(CLOCK_MONOTONIC_COARSE, &tick);
    loop->tick_ms = (uint64_t)tick.tv_sec * 1000 + ((uint64_t)tick.tv_nsec + 999999) / 1000000;
    loop->alarm = (struct loop_source){.fd = -1, .on_ready = loop_on_alarm, .owner = loop};
    loop->epoll_fd = kernel->epoll_create1(EPOLL_CLOEXEC);
    if (loop->epoll_fd < 0)
        return -errno;
    loop->alarm.fd = kernel->timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (loop->alarm.fd < 0)
        return -errno;
    return loop_add(loop, &loop->alarm, EPOLLIN);
}

void loop_free(struct loop *loop)
{
    if (loop->alarm.fd >= 0)
        loop->kernel->close(loop->alarm.fd);
    loop->alarm.fd = -1;
    if (loop->epoll_fd >= 0)
        loop->kernel->close(loop->epoll_fd);
    loop->epoll_fd = -1;
}

int loop_wake_by(struct loop *loop, uint64_t when_ms)
{
    /*
     * Fire one tick late: loop_now_ms() reads the coarse clock, which may lag
     * the timer's by up to a tick, and a deadline must read as passed when
     * the alarm wakes the loop (or it would wake again at once, and again).
     */
    uint64_t at_ms = when_ms + loop->tick_ms;
    if (loop->alarm_ms != 0 && loop->alarm_ms <= at_ms)
        return 0;
    struct itimerspec at = {
        .it_value = {.tv_sec = (time_t)(at_ms / 1000), .tv_nsec = (long)(at_ms % 1000) * 1000000},
    };
    if (loop->kernel->timerfd_settime(loop->alarm.fd, TFD_TIMER_ABSTIME, &at) != 0)
        return -errno;
    loop->alarm_ms = at_ms;
    return 0;
}

int loop_add(struct loop *loop, struct loop_source *source, uint32_t events)
{
    struct epoll_event event = {.events = events, .data.ptr = source};
    if (loop->kernel->epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, source->fd, &event) != 0)
        return -errno;
    source->events = events;
    return 0;
}

int loop_set_events(struct loop *loop, struct loop_source *source, uint32_t events)
{
    if (source->events == events)
        return 0;
    struct epoll_event event = {.events = events, .data.ptr = source};
    if (loop->kernel->epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, source->fd, &event) != 0)
        return -errno;
    source->events = events;
    return 0;
}

void loop_del(struct loop *loop, struct loop_source *source)
{
    /* Fails harmlessly (EBADF) for a descriptor already closed, which epoll forgot by itself. */
    loop->kernel->epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, source->fd, NULL);
    /*
     * The kernel forgets the source, but the batch already returned still
     * names it: clear those entries, or a later callback of this batch would
     * run on whatever the source's memory has become.
     */
    for (int i = loop->batch_next; i < loop->batch_len; i++)
        if (loop->batch[i].data.ptr == source)
            loop->batch[i].data.ptr = NULL;
}

/* The precise clock, for the spin's deadline (microseconds matter there). */
static uint64_t loop_precise_ns(const struct loop *loop)
{
    struct timespec now;
    loop->kernel->clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/*
 * Poll without sleeping until something is ready or busy_poll_ns has
 * passed, then sleep as usual. Every source is polled each time, so a
 * spinning loop serves all its clients as a sleeping one does.
 */
static int loop_wait(struct loop *loop, struct epoll_event *events)
{
    if (loop->busy_poll_ns != 0) {
        uint64_t until = loop_precise_ns(loop) + loop->busy_poll_ns;
        do {
            int ready = loop->kernel->epoll_wait(loop->epoll_fd, events, LOOP_BATCH, 0);
            if (ready != 0)
                return ready;
            loop->spins++;
        } while (loop_precise_ns(loop) < until);
    }
    return loop->kernel->epoll_wait(loop->epoll_fd, events, LOOP_BATCH, -1);
}

int loop_run_once(struct loop *loop)
{
    struct epoll_event events[LOOP_BATCH];
    int ready = loop_wait(loop, events);
    int wait_errno = errno;
    loop->wakeups++;
    loop->now_ms = loop_now_ms(loop);
    if (ready < 0)
        return wait_errno == EINTR ? 0 : -wait_errno;
    loop->batch = events;
    loop->batch_len = ready;
    for (loop->batch_next = 0; loop->batch_next < ready;) {
        const struct epoll_event *event = &events[loop->batch_next++];
        struct loop_source *source = event->data.ptr;
        if (source != NULL) /* NULL: deleted by an earlier callback of this batch */
            source->on_ready(source, event->events);
    }
    loop->batch = NULL;
    loop->batch_next = loop->batch_len = 0;
    return 0;
}

uint64_t loop_now_ms(const struct loop *loop)
{
    struct timespec now;
    /* A few ns in the vDSO against tens for the precise clock; ticks of 1-4 ms. */
    loop->kernel->clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}
