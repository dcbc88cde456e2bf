#include "loop.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

/* Events handled per wakeup; more simply wait for the next round. */
#define LOOP_BATCH 128

int loop_init(struct loop *loop)
{
    loop->stop = false;
    loop->now_ms = loop_now_ms();
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    return loop->epoll_fd < 0 ? -errno : 0;
}

void loop_free(struct loop *loop)
{
    if (loop->epoll_fd >= 0)
        close(loop->epoll_fd);
    loop->epoll_fd = -1;
}

int loop_add(struct loop *loop, struct loop_source *source, uint32_t events)
{
    struct epoll_event event = {.events = events, .data.ptr = source};
    if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, source->fd, &event) != 0)
        return -errno;
    source->events = events;
    return 0;
}

int loop_set_events(struct loop *loop, struct loop_source *source, uint32_t events)
{
    if (source->events == events)
        return 0;
    struct epoll_event event = {.events = events, .data.ptr = source};
    if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, source->fd, &event) != 0)
        return -errno;
    source->events = events;
    return 0;
}

void loop_del(struct loop *loop, struct loop_source *source)
{
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, source->fd, NULL);
}

int loop_run_once(struct loop *loop, int timeout_ms)
{
    struct epoll_event events[LOOP_BATCH];
    int ready = epoll_wait(loop->epoll_fd, events, LOOP_BATCH, timeout_ms);
    loop->wakeups++;
    loop->now_ms = loop_now_ms();
    if (ready < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < ready; i++) {
        struct loop_source *source = events[i].data.ptr;
        source->on_ready(source, events[i].events);
    }
    return 0;
}

uint64_t loop_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}
