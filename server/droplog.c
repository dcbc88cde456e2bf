#include "droplog.h"

uint64_t droplog_check(struct droplog *log, const uint64_t totals[DROPLOG_REASONS], uint64_t now_ms,
                       struct droplog_line *lines, size_t *line_count)
{
    uint64_t wake_ms = UINT64_MAX;
    *line_count = 0;
    for (int r = 0; r < DROPLOG_REASONS; r++) {
        if (totals[r] == log->logged[r])
            continue;
        /* The first of a reason is told at once; the rest wait for its interval. */
        uint64_t due_ms = log->last_ms[r] == 0 ? now_ms : log->last_ms[r] + DROPLOG_INTERVAL_MS;
        if (now_ms < due_ms) {
            if (due_ms < wake_ms)
                wake_ms = due_ms;
            continue;
        }
        lines[(*line_count)++] = (struct droplog_line){
            .reason = (enum droplog_reason)r,
            .count = totals[r] - log->logged[r],
            .total = totals[r],
        };
        log->logged[r] = totals[r];
        log->last_ms[r] = now_ms == 0 ? 1 : now_ms;
    }
    return wake_ms;
}

const char *droplog_what(enum droplog_reason reason)
{
    static const char *const what[DROPLOG_REASONS] = {
        [DROPLOG_UDP_RATE] = "UDP datagrams dropped unanswered: over their source's "
                             "--udp-rate-per-ip (udp.dropped_rate)",
        [DROPLOG_UDP_GLOBAL_RATE] = "UDP datagrams dropped unanswered: over --udp-rate, all "
                                    "sources together (udp.dropped_global_rate)",
        [DROPLOG_UDP_SOURCE_PORT] = "UDP datagrams dropped: from source port 0, below 1024 or "
                                    "shoutd's own (udp.dropped_source_port)",
        [DROPLOG_TCP_PER_IP] = "TCP connections refused: --max-conns-per-ip open from their "
                               "source (tcp.refused_per_ip)",
        [DROPLOG_TCP_MAX_CONNS] = "TCP connections refused: --max-conns open "
                                  "(tcp.refused_max_conns)",
        [DROPLOG_TCP_NO_FDS] = "TCP connections refused: out of file descriptors "
                               "(tcp.refused_no_fds)",
        [DROPLOG_TCP_NO_MEMORY] = "TCP connections refused: no memory for their state "
                                  "(tcp.refused_no_memory)",
        [DROPLOG_TIMEOUT_FRAME] = "TCP connections closed: no frame completed within "
                                  "--frame-timeout (tcp.timeouts_frame)",
        [DROPLOG_TIMEOUT_IDLE] = "TCP connections closed: idle past --idle-timeout "
                                 "(tcp.timeouts_idle)",
        [DROPLOG_TIMEOUT_WRITE] = "TCP connections reset: replies not read within "
                                  "--write-timeout (tcp.timeouts_write)",
        [DROPLOG_MEMORY] = "TCP connections closed: the largest holders of buffers over "
                           "--max-buffered (tcp.closed_memory)",
        [DROPLOG_STATS_SOURCE] = "stats port clients refused: outside loopback and "
                                 "--stats-allow (stats_port.refused_source)",
    };
    return (unsigned)reason < DROPLOG_REASONS ? what[reason] : "?";
}
