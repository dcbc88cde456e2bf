/*
 * loop: shoutd's event loop, a thin layer over epoll. Anything with a
 * descriptor embeds a struct loop_source and is called back with the ready
 * events; the loop never owns the sources or their descriptors.
 *
 * What a callback may do: anything to any source, not only its own. It may
 * add sources, change their interest, and loop_del and then free (or close
 * the descriptor of) any of them, the one being called back included. One
 * epoll_wait returns a batch of up to LOOP_BATCH events, and a source freed
 * by an earlier callback may still have an event further down that batch:
 * loop_del clears those entries (as libuv's uv__platform_invalidate_fd
 * does), so no later callback of the batch reaches freed memory or a
 * descriptor that now means something else. The one rule: loop_del a
 * source before its memory is freed or its descriptor is closed.
 */
#ifndef SHOUTD_LOOP_H
#define SHOUTD_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "kernel.h"

struct loop_source;
typedef void loop_callback(struct loop_source *source, uint32_t events);

struct loop_source {
    int fd;
    uint32_t events; /* the interest registered with epoll */
    loop_callback *on_ready;
    void *owner; /* what the callback works for */
};

struct loop {
    const struct kernel *kernel; /* every epoll, timerfd and clock call goes through it */
    int epoll_fd;
    bool stop;
    uint64_t wakeups; /* epoll_wait returns: a loop that spins shows here */
    uint64_t now_ms;  /* loop_now_ms() as of the last wakeup: one clock read per batch */
    /*
     * The alarm: a timerfd in the epoll set, so that epoll_wait never needs
     * a timeout (a timeout arms a kernel timer on every sleep, which costs
     * every round trip). alarm_ms is when it is set to fire, 0 when unset.
     */
    struct loop_source alarm;
    uint64_t alarm_ms;
    uint64_t tick_ms;      /* how far the coarse clock may lag the alarm's precise one */
    uint64_t busy_poll_ns; /* after a batch, poll (timeout 0) this long before sleeping; 0: sleep */
    uint64_t spins;        /* zero-timeout polls that found nothing (busy polling) */
    /*
     * The batch loop_run_once is calling back, so that loop_del can clear a
     * deleted source's entries from it: events[next..len) are still to come.
     */
    struct epoll_event *batch;
    int batch_next;
    int batch_len;
};

int loop_init(struct loop *loop, const struct kernel *kernel);
void loop_free(struct loop *loop);

/* Each returns 0 or a negative errno. */
int loop_add(struct loop *loop, struct loop_source *source, uint32_t events);
int loop_set_events(struct loop *loop, struct loop_source *source, uint32_t events);
/*
 * Stop watching the source, and drop whatever events of the batch in
 * progress are still to come for it: afterwards the caller may free it and
 * close its descriptor, from inside any callback. O(LOOP_BATCH).
 */
void loop_del(struct loop *loop, struct loop_source *source);

/*
 * Wake the loop by when_ms (loop_now_ms's clock) at the latest. An alarm
 * already set sooner is kept: waking early costs nothing but a look at the
 * deadlines, while moving the alarm costs a syscall. So a deadline that only
 * ever moves later (an idle connection that keeps talking) costs none.
 * Returns 0 or a negative errno.
 */
int loop_wake_by(struct loop *loop, uint64_t when_ms);

/* Events taken per epoll_wait; more simply wait for the next round. */
#define LOOP_BATCH 128

/*
 * Wait until a source is ready or the alarm fires, and call back every
 * ready source that no earlier callback of the batch deleted. With
 * busy_poll_ns set, the wait first polls without sleeping for that long:
 * every source is still served in turn, only the sleep (and the wake-up it
 * costs) is saved. Returns 0, or a negative errno for a failure other than
 * EINTR.
 */
int loop_run_once(struct loop *loop);

/* Milliseconds on the monotonic clock (its coarse reading: ample for deadlines in seconds). */
uint64_t loop_now_ms(const struct loop *loop);

#endif
