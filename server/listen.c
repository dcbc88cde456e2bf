#include "listen.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* Port 0 races with other programs binding ports; a few tries settle it. */
#define LISTEN_PORT_TRIES 32

static void listen_set_port(struct listen_addr *where, uint16_t port)
{
    if (where->addr.ss_family == AF_INET)
        ((struct sockaddr_in *)&where->addr)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&where->addr)->sin6_port = htons(port);
}

/*
 * The port the kernel chose for fd: 0, or a negative errno. Without it the
 * set's other sockets would each get a port of their own, so it fails the set.
 */
static int listen_bound_port(const struct kernel *k, int fd, uint16_t *port)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (k->getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
        return -errno;
    if (addr.ss_family == AF_INET)
        *port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
    else
        *port = ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return 0;
}

/* A bound socket, or a negative errno. */
static int listen_bind(const struct kernel *k, const struct listen_addr *where, int type,
                       int backlog)
{
    int fd = k->socket(where->addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    /* A restarted server must not wait out TIME_WAIT connections of the old one. */
    if (type == SOCK_STREAM && k->setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        goto fail;
    /* ::1 and 127.0.0.1 (or :: and 0.0.0.0) can then be listed side by side. */
    if (where->addr.ss_family == AF_INET6 &&
        k->setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
        goto fail;
    if (k->bind(fd, (const struct sockaddr *)&where->addr, where->addr_len) != 0)
        goto fail;
    if (type == SOCK_STREAM && k->listen(fd, backlog) != 0)
        goto fail;
    return fd;
fail:;
    int err = -errno;
    k->close(fd);
    return err;
}

void listeners_close(struct listeners *ls)
{
    for (size_t i = 0; i < ls->count; i++) {
        if (ls->tcp_fds[i] >= 0)
            ls->kernel->close(ls->tcp_fds[i]);
        if (ls->udp_fds[i] >= 0)
            ls->kernel->close(ls->udp_fds[i]);
    }
    ls->count = 0;
}

/* Bind every address on port (0: let the kernel choose, on the first TCP socket). */
static int listeners_try(struct listeners *ls, struct listen_addr *addrs, size_t count,
                         uint16_t port, bool with_udp, int backlog, const char **failed)
{
    ls->count = 0;
    for (size_t i = 0; i < count; i++) {
        struct listen_addr *where = &addrs[i];
        *failed = where->text;
        ls->tcp_fds[i] = ls->udp_fds[i] = -1;
        ls->count = i + 1;
        listen_set_port(where, port);
        int fd = listen_bind(ls->kernel, where, SOCK_STREAM, backlog);
        if (fd < 0)
            return fd;
        ls->tcp_fds[i] = fd;
        if (port == 0) {
            int err = listen_bound_port(ls->kernel, fd, &port);
            if (err != 0)
                return err;
            listen_set_port(where, port);
        }
        if (!with_udp)
            continue;
        fd = listen_bind(ls->kernel, where, SOCK_DGRAM, 0);
        if (fd < 0)
            return fd;
        ls->udp_fds[i] = fd;
    }
    ls->port = port;
    return 0;
}

int listeners_open(struct listeners *ls, const struct kernel *kernel, struct listen_addr *addrs,
                   size_t count, uint16_t port, bool with_udp, int backlog)
{
    ls->kernel = kernel;
    const char *failed = "";
    int tries = port == 0 ? LISTEN_PORT_TRIES : 1;
    int err = 0;
    for (int i = 0; i < tries; i++) {
        err = listeners_try(ls, addrs, count, port, with_udp, backlog, &failed);
        if (err == 0)
            return 0;
        listeners_close(ls);
        if (err != -EADDRINUSE)
            break;
    }
    if (!ls->quiet)
        fprintf(stderr, "shoutd: cannot listen on %s port %u%s%s: %s\n", failed, port,
                ls->role ? ", " : "", ls->role ? ls->role : "", strerror(-err));
    return err;
}

/*
 * The loopback address through which a client on this host reaches a
 * --listen address: the address itself when it is loopback; ::1 for the IPv6
 * wildcard (::), which a client reaches as --host ::1; none (false) for any
 * other. The IPv4 wildcard's 127.0.0.1 is the stats port's first address
 * already.
 */
static bool listen_loopback_of(const struct listen_addr *listen, struct listen_addr *loopback)
{
    if (stats_addr_is_loopback(&listen->addr)) {
        *loopback = *listen;
        return true;
    }
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&listen->addr;
    if (listen->addr.ss_family != AF_INET6 || !IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr))
        return false;
    *loopback = (struct listen_addr){.addr_len = sizeof(struct sockaddr_in6), .text = "::1"};
    struct sockaddr_in6 *one = (struct sockaddr_in6 *)&loopback->addr;
    one->sin6_family = AF_INET6;
    one->sin6_addr = in6addr_loopback;
    return true;
}

size_t listen_stats_addrs(const struct options *opts, struct listen_addr *out)
{
    size_t count = 0;
    out[count++] = opts->stats_listen;
    for (size_t i = 0; opts->stats_listen_default && i < opts->listen_count; i++) {
        struct listen_addr loopback;
        bool wanted = listen_loopback_of(&opts->listen[i], &loopback);
        for (size_t j = 0; j < count && wanted; j++)
            wanted = !stats_addr_same_host(&out[j].addr, &loopback.addr);
        if (wanted && count < OPTIONS_MAX_LISTEN)
            out[count++] = loopback;
    }
    return count;
}
