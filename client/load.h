/*
 * load: the `shout load` subcommand, many flows (flow.h) over many threads.
 * The frame around the measured phase (server counters, CPU time, table,
 * JSON, exit status) is measure.h's.
 *
 * Each thread owns an epoll loop, its share of the connections (connection
 * c goes to thread c % threads) and its own latency and service histograms;
 * they are merged with hist_merge once every thread is done. Without a rate
 * it is closed loop: each connection keeps `pipeline` requests in flight.
 * With a rate it is open loop: connection c's request k is due at
 * t0 + c/rate + k/(rate/connections), is sent as soon as it is due and the
 * window allows, and its latency is measured from that intended time (so a
 * stalled server shows its stall; coordinated omission is corrected, as in
 * wrk2) while its service time is measured from the actual send.
 *
 * A run has a warm-up (time, not recorded), then a measured phase that ends
 * after --duration seconds or --count requests, then a drain: requests still
 * in flight get until their deadline (measure.h), which holds during the
 * measured phase too: UDP replies later than it are lost, a TCP one fails
 * the run.
 * Every loop is bounded by those times and counts.
 *
 * Memory: load_run allocates the run's result, threads and flows and frees
 * them before it returns; the caller owns the options.
 */
#ifndef SHOUT_LOAD_H
#define SHOUT_LOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "measure.h"
#include "result.h"

#define LOAD_MAX_CONNECTIONS 100000
#define LOAD_MAX_THREADS     RESULT_MAX_CPUS

/* Run `shout load`. Returns an enum send_exit (send.h). */
int load_run(const struct measure_options *opt);

#endif
