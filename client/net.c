#include "net.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t net_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int net_resolve(const char *host, const char *port, bool udp, int family, struct addrinfo **list,
                char *why, size_t why_cap)
{
    /*
     * No AI_ADDRCONFIG: on a host whose only interface is loopback it hides
     * the very addresses a local server listens on.
     */
    struct addrinfo hints = {
        .ai_family = family,
        .ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM,
        .ai_flags = AI_NUMERICSERV,
    };
    int rc = getaddrinfo(host, port, &hints, list);
    if (rc == 0)
        return 0;
    /* Under -4 or -6 a name may well exist, only not in that family: say which was asked. */
    const char *asked = family == AF_INET    ? " (IPv4 only, -4)"
                        : family == AF_INET6 ? " (IPv6 only, -6)"
                                             : "";
    snprintf(why, why_cap, "host %s%s: %s", host, asked,
             rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    return -1;
}

int net_wait(int fd, short events, int timeout_ms, short *revents)
{
    int64_t deadline = net_now_ms() + timeout_ms;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events};
        int64_t left = deadline - net_now_ms();
        if (left < 0)
            left = 0;
        int rc = poll(&pfd, 1, (int)left);
        if (rc > 0) {
            *revents = pfd.revents;
            return 1;
        }
        if (rc == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

/* Finish a non-blocking TCP connect: wait for writability, then ask how it went. */
static int net_finish_connect(int fd, int timeout_ms)
{
    short revents;
    int rc = net_wait(fd, POLLOUT, timeout_ms, &revents);
    if (rc == 0)
        return -ETIMEDOUT;
    if (rc < 0)
        return rc;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -errno;
    return -err;
}

int net_connect(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        rc = -errno;
        /* EINTR: the connect goes on in the background, exactly like EINPROGRESS. */
        if (rc == -EINPROGRESS || rc == -EINTR)
            rc = net_finish_connect(fd, timeout_ms);
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    if (ai->ai_socktype == SOCK_STREAM) {
        /*
         * Each request is handed to the kernel whole and then waits for its
         * reply, so Nagle's algorithm could only hold a request's last
         * segment back until an ACK: latency with nothing gained.
         */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

void net_describe(const struct addrinfo *ai, char *out, size_t cap)
{
    char host[NI_MAXHOST];
    char port[NI_MAXSERV];
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(out, cap, "(unprintable address)");
    else
        snprintf(out, cap, "%s port %s", host, port);
}
