/*
 * metrics: the counters in Prometheus's text exposition format (version
 * 0.0.4), what the stats port answers to `GET /metrics`. Every counter
 * ends in _total and has its # HELP and # TYPE lines; the reasons a
 * connection was refused or closed, the reasons a datagram was dropped and
 * the codes of error frames are labels of one family each, so that a
 * dashboard sums or splits them without knowing the list. Gauges (open
 * connections, buffered bytes, uptime) carry no suffix. The names are in
 * docs/protocol.md.
 *
 * Pure: numbers in, text out, into a buffer that the caller owns.
 */
#ifndef SHOUTD_METRICS_H
#define SHOUTD_METRICS_H

#include <stddef.h>

#include "stats.h"

/* Large enough for every family at its widest. */
#define METRICS_TEXT_MAX 16384

/* The exposition in out[0..cap) with a NUL; returns its length, or 0 if cap was short. */
size_t metrics_format(const struct stats_counters *counters, const struct stats_process *process,
                      char *out, size_t cap);

#endif
