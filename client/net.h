/*
 * net: the client's socket primitives: resolve a host and port, open a
 * non-blocking TCP or connected UDP socket with a connect timeout, wait on one
 * socket with poll, and read a monotonic clock. Nothing here knows the
 * protocol; peer.c builds the request/reply exchange on top.
 *
 * Errors are negative errno values (-ETIMEDOUT when a wait ran out), except
 * name resolution, which writes its message into the caller's buffer.
 *
 * Memory: net_resolve hands out a getaddrinfo list that the caller frees with
 * freeaddrinfo; a socket from net_connect belongs to the caller, who closes it.
 */
#ifndef SHOUT_NET_H
#define SHOUT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct addrinfo;

/* Milliseconds on a clock that never jumps; for inactivity deadlines. */
int64_t net_now_ms(void);

/*
 * Resolve host (a name or an IPv4/IPv6 literal) and a numeric port for TCP or
 * UDP into *list, only addresses of family (AF_INET, AF_INET6; AF_UNSPEC for
 * both). Returns 0, or -1 with a one-line reason in why.
 */
int net_resolve(const char *host, const char *port, bool udp, int family, struct addrinfo **list,
                char *why, size_t why_cap);

/*
 * Open a non-blocking socket for ai and connect it, waiting at most
 * timeout_ms for TCP's handshake (a UDP connect only sets the peer, so that
 * the kernel reports ICMP port-unreachable as ECONNREFUSED). Returns the
 * socket or a negative errno.
 */
int net_connect(const struct addrinfo *ai, int timeout_ms);

/*
 * Wait until fd has one of events (POLLIN/POLLOUT) or an error or hang-up, at
 * most timeout_ms. Returns 1 and sets *revents, 0 on timeout, or a negative
 * errno. A signal that interrupts the wait does not end it early.
 */
int net_wait(int fd, short events, int timeout_ms, short *revents);

/* "127.0.0.1 port 7680" or "::1 port 7680", for messages. */
void net_describe(const struct addrinfo *ai, char *out, size_t cap);

#endif
