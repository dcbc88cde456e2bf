/*
 * droplog: shoutd's log of what it refused or dropped on purpose, at a
 * bounded rate. A flood past a limit is exactly when a line per event
 * would hurt most (millions of lines, a write per datagram), and exactly
 * when the operator needs to be told; so each reason gets at most one line
 * per DROPLOG_INTERVAL_MS, with how many happened since its last line and
 * in all.
 *
 * It reads the counters the modules keep anyway, once per loop wakeup, on
 * the loop's clock: nothing is added to the path of a datagram or a
 * connection, and no syscall is made unless a line is due. droplog_check
 * is pure (totals and a time in, lines and a wake-up time out); the server
 * writes the lines. The caller owns every struct; nothing is allocated.
 */
#ifndef SHOUTD_DROPLOG_H
#define SHOUTD_DROPLOG_H

#include <stddef.h>
#include <stdint.h>

#define DROPLOG_INTERVAL_MS 1000

enum droplog_reason {
    DROPLOG_UDP_RATE,        /* udp.dropped_rate: over --udp-rate-per-ip */
    DROPLOG_UDP_GLOBAL_RATE, /* udp.dropped_global_rate: over --udp-rate */
    DROPLOG_UDP_SOURCE_PORT, /* udp.dropped_source_port */
    DROPLOG_TCP_PER_IP,      /* tcp.refused_per_ip: over --max-conns-per-ip */
    DROPLOG_TCP_MAX_CONNS,   /* tcp.refused_max_conns: over --max-conns */
    DROPLOG_TCP_NO_FDS,      /* tcp.refused_no_fds: out of descriptors */
    DROPLOG_TCP_NO_MEMORY,   /* tcp.refused_no_memory */
    DROPLOG_TIMEOUT_FRAME,   /* tcp.timeouts_frame: --frame-timeout */
    DROPLOG_TIMEOUT_IDLE,    /* tcp.timeouts_idle: --idle-timeout */
    DROPLOG_TIMEOUT_WRITE,   /* tcp.timeouts_write: --write-timeout */
    DROPLOG_MEMORY,          /* tcp.closed_memory + closed_memory_per_ip: --max-buffered */
    DROPLOG_STATS_SOURCE,    /* stats_port.refused_source: outside --stats-allow */
    DROPLOG_REASONS,
};

/* Per reason: the total at its last line, and when that line was written (0: never). */
struct droplog {
    uint64_t logged[DROPLOG_REASONS];
    uint64_t last_ms[DROPLOG_REASONS];
};

/* One line that is due: so many since the last line of its reason, so many in all. */
struct droplog_line {
    enum droplog_reason reason;
    uint64_t count;
    uint64_t total;
};

/*
 * With the totals now at now_ms (the loop's clock): the lines due, into
 * lines[0..DROPLOG_REASONS) with their number in *line_count, and when the
 * loop must wake to write the ones held back (UINT64_MAX: none is held).
 */
uint64_t droplog_check(struct droplog *log, const uint64_t totals[DROPLOG_REASONS], uint64_t now_ms,
                       struct droplog_line *lines, size_t *line_count);

/* "dropped N UDP datagrams over --udp-rate-per-ip ...", without "shoutd: " or a newline. */
const char *droplog_what(enum droplog_reason reason);

#endif
