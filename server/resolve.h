/*
 * resolve: turns the host names among shoutd's --listen addresses
 * (`--listen localhost`) into addresses, with getaddrinfo, once at start-up
 * and before the sandbox (which allows no resolver's files or sockets).
 * options_parse keeps a name unresolved (addr_len 0) so that parsing stays
 * pure and fuzzable; this is its one impure step. Each name becomes every
 * address it has (localhost: 127.0.0.1 and ::1), in the name's place in the
 * list. Nothing is allocated beyond getaddrinfo's own list, freed here; the
 * caller owns opts.
 */
#ifndef SHOUTD_RESOLVE_H
#define SHOUTD_RESOLVE_H

#include "options.h"

/*
 * 0, or -1 after a one-line message on stderr: a name that does not
 * resolve, an address given twice once names are resolved, or more than
 * OPTIONS_MAX_LISTEN addresses. A usage error (exit 2), like a bad option.
 */
int resolve_listen(struct options *opts);

#endif
