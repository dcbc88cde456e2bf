#include "resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool resolve_same(const struct listen_addr *a, const struct listen_addr *b)
{
    return a->addr_len == b->addr_len && memcmp(&a->addr, &b->addr, a->addr_len) == 0;
}

/* Appends addr to out, refusing a duplicate: it would fail to bind as "Address already in use". */
static int resolve_append(struct listen_addr *out, size_t *count, const struct listen_addr *addr,
                          const char *name)
{
    for (size_t i = 0; i < *count; i++) {
        if (resolve_same(&out[i], addr)) {
            fprintf(stderr, "shoutd: --listen %s gives %s, which is listed already\n", name,
                    addr->text);
            return -1;
        }
    }
    if (*count == OPTIONS_MAX_LISTEN) {
        fprintf(stderr, "shoutd: --listen %s: more than %d addresses in all\n", name,
                OPTIONS_MAX_LISTEN);
        return -1;
    }
    out[(*count)++] = *addr;
    return 0;
}

/* Every address of name, appended to out. */
static int resolve_name(const char *name, struct listen_addr *out, size_t *count)
{
    /* Stream sockets only: one entry per address, not one per socket type. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list;
    int rc = getaddrinfo(name, NULL, &hints, &list);
    if (rc != 0) {
        fprintf(stderr, "shoutd: --listen %s: %s\n", name, gai_strerror(rc));
        return -1;
    }
    int err = 0;
    size_t first = *count;
    for (struct addrinfo *ai = list; ai && err == 0; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof(struct sockaddr_storage))
            continue;
        struct listen_addr addr;
        memset(&addr, 0, sizeof addr);
        memcpy(&addr.addr, ai->ai_addr, ai->ai_addrlen);
        addr.addr_len = ai->ai_addrlen;
        const void *bytes = ai->ai_family == AF_INET
                                ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                                : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        /* The address, not the name, in the logs: what was bound, not what was asked. */
        inet_ntop(ai->ai_family, bytes, addr.text, sizeof addr.text);
        /* A name may list one address twice (/etc/hosts and DNS): once is enough. */
        bool again = false;
        for (size_t i = first; i < *count && !again; i++)
            again = resolve_same(&out[i], &addr);
        if (again)
            continue;
        err = resolve_append(out, count, &addr, name);
    }
    freeaddrinfo(list);
    return err;
}

int resolve_listen(struct options *opts)
{
    /* Zeroed: options_format and the fuzz oracles compare entries byte for byte. */
    struct listen_addr resolved[OPTIONS_MAX_LISTEN] = {0};
    size_t count = 0;
    for (size_t i = 0; i < opts->listen_count; i++) {
        const struct listen_addr *given = &opts->listen[i];
        int err = given->addr_len == 0 ? resolve_name(given->text, resolved, &count)
                                       : resolve_append(resolved, &count, given, given->text);
        if (err != 0)
            return err;
    }
    memcpy(opts->listen, resolved, count * sizeof resolved[0]);
    opts->listen_count = count;
    return 0;
}
