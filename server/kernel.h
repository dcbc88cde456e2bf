/*
 * kernel: every call shoutd's server makes into the kernel, as one table of
 * function pointers: the sockets (listeners, connections, datagrams), the
 * event loop (epoll, the alarm's timerfd, the signalfd), the clocks, the few
 * files it opens (the spare descriptor's /dev/null, the cgroup's limits),
 * the random secret and the process's own figures. kernel_system holds the
 * real calls and is what shoutd runs with. A fuzzer or a test hands the
 * server a table of fakes instead, and then owns the whole world the server
 * sees: which descriptors are ready and in what order, what every read
 * returns, what time it is, which signal arrives, and which call fails.
 *
 * Outside the table, on purpose: main.c's CPU pinning and sandbox.c's
 * privilege drop and seccomp filter confine the real process and have
 * nothing to simulate; malloc_trim (brk and madvise inside glibc); and
 * sysconf's reading of the machine's memory.
 *
 * Every entry has its call's exact contract: -1 (or the call's own failure
 * value) with errno set on failure. The table holds no state and owns
 * nothing; kernel_system is a constant that lives for the whole run.
 */
#ifndef SHOUTD_KERNEL_H
#define SHOUTD_KERNEL_H

#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

struct itimerspec;

struct kernel {
    /* Listening (listen.c). */
    int (*socket)(int domain, int type, int protocol);
    int (*setsockopt)(int fd, int level, int name, const void *value, socklen_t len);
    int (*bind)(int fd, const struct sockaddr *addr, socklen_t len);
    int (*listen)(int fd, int backlog);
    int (*getsockname)(int fd, struct sockaddr *addr, socklen_t *len);
    /* TCP connections (stream.c, pump.c, stats.c). */
    int (*accept4)(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags);
    ssize_t (*recv)(int fd, void *buf, size_t len, int flags);
    ssize_t (*send)(int fd, const void *buf, size_t len, int flags);
    int (*shutdown)(int fd, int how);
    int (*close)(int fd);
    /* Datagrams (dgram.c). */
    ssize_t (*recvfrom)(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                        socklen_t *from_len);
    ssize_t (*sendto)(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
                      socklen_t to_len);
    ssize_t (*sendmsg)(int fd, const struct msghdr *msg, int flags);
    int (*recvmmsg)(int fd, struct mmsghdr *msgs, unsigned count, int flags);
    int (*sendmmsg)(int fd, struct mmsghdr *msgs, unsigned count, int flags);
    /* The event loop (loop.c) and the signals (server.c). */
    int (*epoll_create1)(int flags);
    int (*epoll_ctl)(int epoll_fd, int op, int fd, struct epoll_event *event);
    int (*epoll_wait)(int epoll_fd, struct epoll_event *events, int max, int timeout_ms);
    int (*timerfd_create)(int clock, int flags);
    int (*timerfd_settime)(int fd, int flags, const struct itimerspec *value);
    int (*signalfd)(const sigset_t *mask, int flags);
    int (*block_signals)(const sigset_t *mask); /* sigprocmask(SIG_BLOCK), SIGPIPE ignored */
    ssize_t (*read)(int fd, void *buf, size_t len);
    /* Files: the spare descriptor, the cgroup's memory limit (memlimit.c). */
    int (*open)(const char *path, int flags);
    /* Time and the process. */
    int (*clock_gettime)(clockid_t clock, struct timespec *now);
    int (*clock_getres)(clockid_t clock, struct timespec *res);
    ssize_t (*getrandom)(void *buf, size_t len, unsigned flags);
    int (*getrlimit)(int resource, struct rlimit *limit);
    int (*setrlimit)(int resource, const struct rlimit *limit);
    int (*getrusage)(int who, struct rusage *usage);
    int (*sched_getcpu)(void);
    pid_t (*getpid)(void);
};

/* The real calls. */
extern const struct kernel kernel_system;

#endif
