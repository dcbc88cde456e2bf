/*
 * loop: shoutd's event loop, a thin layer over epoll. Anything with a
 * descriptor embeds a struct loop_source and is called back with the ready
 * events; the loop never owns the sources or their descriptors, and a
 * callback may delete (and free) its own source.
 */
#ifndef SHOUTD_LOOP_H
#define SHOUTD_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop_source;
typedef void loop_callback(struct loop_source *source, uint32_t events);

struct loop_source {
    int fd;
    uint32_t events; /* the interest registered with epoll */
    loop_callback *on_ready;
    void *owner; /* what the callback works for */
};

struct loop {
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
    uint64_t tick_ms; /* how far the coarse clock may lag the alarm's precise one */
};

int loop_init(struct loop *loop);
void loop_free(struct loop *loop);

/* Each returns 0 or a negative errno. */
int loop_add(struct loop *loop, struct loop_source *source, uint32_t events);
int loop_set_events(struct loop *loop, struct loop_source *source, uint32_t events);
void loop_del(struct loop *loop, struct loop_source *source);

/*
 * Wake the loop by when_ms (loop_now_ms's clock) at the latest. An alarm
 * already set sooner is kept: waking early costs nothing but a look at the
 * deadlines, while moving the alarm costs a syscall. So a deadline that only
 * ever moves later (an idle connection that keeps talking) costs none.
 * Returns 0 or a negative errno.
 */
int loop_wake_by(struct loop *loop, uint64_t when_ms);

/*
 * Wait until a source is ready or the alarm fires, and call back every
 * ready source. Returns 0, or a negative errno for a failure other than EINTR.
 */
int loop_run_once(struct loop *loop);

/* Milliseconds on the monotonic clock (its coarse reading: ample for deadlines in seconds). */
uint64_t loop_now_ms(void);

#endif
