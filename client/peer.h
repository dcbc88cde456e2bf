/*
 * peer: the client's link to one server over TCP or UDP, and the exchange of
 * one request for its reply on that link. It moves bytes between the socket
 * and a check (check.h), which alone decides whether the reply is right.
 *
 * TCP: one connection for every exchange; each address the host resolves to
 * is tried in turn. An exchange sends the request while it reads the reply
 * (non-blocking socket and poll), so a request larger than the socket
 * buffers cannot deadlock against the server's replies, and it fails only
 * when no byte moves either way for the timeout (an inactivity timeout).
 * UDP: a connected socket, one datagram per request, and one wait of at most
 * the timeout for the reply datagram; no retransmission. While no reply has
 * come back yet, an address that refuses (ICMP port unreachable) makes the
 * peer move on to the host's next address.
 *
 * Memory: a peer owns its address list, socket and receive buffer; peer_close
 * releases them. The request's bytes belong to the caller.
 */
#ifndef SHOUT_PEER_H
#define SHOUT_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "wire.h"

#define PEER_WHY_MAX 256

enum peer_status {
    PEER_OK,           /* the reply came and is right */
    PEER_NETWORK,      /* resolve, connect, send or receive failed, or the server closed early */
    PEER_TIMEOUT,      /* connect, or the exchange, was idle for the timeout */
    PEER_SERVER_ERROR, /* the server answered with an error frame */
    PEER_MISMATCH,     /* the reply is not the uppercased request */
    PEER_NO_MEMORY,
};

struct peer_options {
    const char *host;
    const char *port; /* decimal */
    bool udp;
    int family;       /* -4, -6: AF_INET or AF_INET6; 0 (AF_UNSPEC) for either */
    double timeout_s; /* for messages; timeout_ms is what is used */
    int timeout_ms;
};

/* One request as it goes on the wire: an optional frame header, then the payload. */
struct peer_request {
    uint8_t header[WIRE_HEADER_LEN];
    size_t header_len; /* 0 in text mode, WIRE_HEADER_LEN when framed */
    const uint8_t *payload;
    size_t payload_len;
};

struct peer {
    struct peer_options opt;
    struct addrinfo *addrs;      /* everything the host resolved to */
    const struct addrinfo *addr; /* the address fd is connected to */
    int fd;
    bool answered; /* UDP: a datagram has come back from addr */
    uint8_t *rx;   /* receive buffer */
    size_t rx_cap;
    char why[PEER_WHY_MAX]; /* the last failure, one line */
};

/* Resolve and connect. On failure the peer is already closed; peer_why() says why. */
enum peer_status peer_open(struct peer *p, const struct peer_options *opt);

/*
 * Send req and read its reply into chk (initialised for this request by the
 * caller). Anything but PEER_OK leaves the link unusable; peer_why() says
 * why, in one line.
 */
enum peer_status peer_exchange(struct peer *p, const struct peer_request *req, struct check *chk);

const char *peer_why(const struct peer *p);

void peer_close(struct peer *p);

#endif
