/*
 * ping: the `shout ping` subcommand, closed-loop ping-pong with one request
 * in flight on one flow (flow.h), TCP or UDP, text, framed or sockperf's
 * format. Each round trip is recorded whole (the full RTT, not RTT/2 as
 * sockperf prints by default) into the result's latency and service
 * histograms, which are the same thing here. A lost UDP reply is counted
 * after --timeout and the run goes on. The frame around the measured phase
 * (server counters, CPU time, table, JSON, exit status) is measure.h's.
 *
 * Memory: ping_run allocates the result and the flow and frees both before
 * it returns; the caller owns the options.
 */
#ifndef SHOUT_PING_H
#define SHOUT_PING_H

#include "measure.h"

/* Run `shout ping` (opt->cfg.connections, threads and pipeline are 1). Returns an enum send_exit.
 */
int ping_run(const struct measure_options *opt);

#endif
