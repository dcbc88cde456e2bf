/*
 * sockio: the kernel calls shoutd makes on a TCP connection (recv, send,
 * shutdown, close) and on its listeners (accept4), as a table of function
 * pointers. sockio_system holds the real syscalls and is what shoutd runs
 * with; a fuzzer or a test hands the connection pump (pump.h) a table of
 * fakes instead, which can fail any call on purpose (EAGAIN, EINTR, short
 * writes, ECONNRESET, an early EOF) without a socket or a kernel.
 *
 * Every entry has its syscall's exact contract: -1 with errno set on
 * failure. The table holds no state and owns nothing; sockio_system is a
 * constant that lives for the whole run.
 */
#ifndef SHOUTD_SOCKIO_H
#define SHOUTD_SOCKIO_H

#include <sys/socket.h>
#include <sys/types.h>

struct sockio {
    ssize_t (*recv)(int fd, void *buf, size_t len, int flags);
    ssize_t (*send)(int fd, const void *buf, size_t len, int flags);
    int (*shutdown)(int fd, int how);
    int (*close)(int fd);
    int (*accept4)(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags);
};

/* The real syscalls. */
extern const struct sockio sockio_system;

#endif
