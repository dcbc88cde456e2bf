#include "kernel.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

/*
 * Thin wrappers rather than the libc functions themselves: glibc declares
 * several with transparent unions or enum parameters under _GNU_SOURCE, and
 * a wrapper gives every entry the table's plain type.
 */

static int kernel_socket(int domain, int type, int protocol)
{
    return socket(domain, type, protocol);
}

static int kernel_setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
    return setsockopt(fd, level, name, value, len);
}

static int kernel_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    return bind(fd, addr, len);
}

static int kernel_listen(int fd, int backlog)
{
    return listen(fd, backlog);
}

static int kernel_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    return getsockname(fd, addr, len);
}

static int kernel_accept4(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags)
{
    return accept4(fd, addr, addr_len, flags);
}

static ssize_t kernel_recv(int fd, void *buf, size_t len, int flags)
{
    return recv(fd, buf, len, flags);
}

static ssize_t kernel_send(int fd, const void *buf, size_t len, int flags)
{
    return send(fd, buf, len, flags);
}

static int kernel_shutdown(int fd, int how)
{
    return shutdown(fd, how);
}

static ssize_t kernel_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                               socklen_t *from_len)
{
    return recvfrom(fd, buf, len, flags, from, from_len);
}

static ssize_t kernel_sendto(int fd, const void *buf, size_t len, int flags,
                             const struct sockaddr *to, socklen_t to_len)
{
    return sendto(fd, buf, len, flags, to, to_len);
}

static ssize_t kernel_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    return sendmsg(fd, msg, flags);
}

static int kernel_recvmmsg(int fd, struct mmsghdr *msgs, unsigned count, int flags)
{
    return recvmmsg(fd, msgs, count, flags, NULL);
}

static int kernel_sendmmsg(int fd, struct mmsghdr *msgs, unsigned count, int flags)
{
    return sendmmsg(fd, msgs, count, flags);
}

static int kernel_timerfd_settime(int fd, int flags, const struct itimerspec *value)
{
    return timerfd_settime(fd, flags, value, NULL);
}

static int kernel_signalfd(const sigset_t *mask, int flags)
{
    return signalfd(-1, mask, flags);
}

static int kernel_block_signals(const sigset_t *mask)
{
    /* A peer that went away is an error return, not a death. */
    signal(SIGPIPE, SIG_IGN);
    return sigprocmask(SIG_BLOCK, mask, NULL);
}

static int kernel_open(const char *path, int flags)
{
    /* The mode keeps _FORTIFY_SOURCE from turning a variable flags into __open_2. */
    return open(path, flags, 0);
}

static ssize_t kernel_getrandom(void *buf, size_t len, unsigned flags)
{
    return getrandom(buf, len, flags);
}

static int kernel_getrlimit(int resource, struct rlimit *limit)
{
    return getrlimit((__rlimit_resource_t)resource, limit);
}

static int kernel_setrlimit(int resource, const struct rlimit *limit)
{
    return setrlimit((__rlimit_resource_t)resource, limit);
}

static int kernel_getrusage(int who, struct rusage *usage)
{
    return getrusage((__rusage_who_t)who, usage);
}

const struct kernel kernel_system = {
    .socket = kernel_socket,
    .setsockopt = kernel_setsockopt,
    .bind = kernel_bind,
    .listen = kernel_listen,
    .getsockname = kernel_getsockname,
    .accept4 = kernel_accept4,
    .recv = kernel_recv,
    .send = kernel_send,
    .shutdown = kernel_shutdown,
    .close = close,
    .recvfrom = kernel_recvfrom,
    .sendto = kernel_sendto,
    .sendmsg = kernel_sendmsg,
    .recvmmsg = kernel_recvmmsg,
    .sendmmsg = kernel_sendmmsg,
    .epoll_create1 = epoll_create1,
    .epoll_ctl = epoll_ctl,
    .epoll_wait = epoll_wait,
    .timerfd_create = timerfd_create,
    .timerfd_settime = kernel_timerfd_settime,
    .signalfd = kernel_signalfd,
    .block_signals = kernel_block_signals,
    .read = read,
    .open = kernel_open,
    .clock_gettime = clock_gettime,
    .clock_getres = clock_getres,
    .getrandom = kernel_getrandom,
    .getrlimit = kernel_getrlimit,
    .setrlimit = kernel_setrlimit,
    .getrusage = kernel_getrusage,
    .sched_getcpu = sched_getcpu,
    .getpid = getpid,
};
