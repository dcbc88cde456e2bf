/*
 * dgram: shoutd's UDP side. Reads datagrams in batches (recvmmsg) while
 * they queue up, one at a time (recvfrom) while they come one by one
 * (lib/udp_pace.h chooses, per socket), answers each in place with the
 * datagram handler (lib/udp.h on the main port, lib/sockperf.h on the
 * sockperf port), and sends the answers the way they were read: a batch
 * with one sendmmsg, one with sendto. The buffers are static: UDP costs no
 * per-client memory.
 */
#ifndef SHOUTD_DGRAM_H
#define SHOUTD_DGRAM_H

#include "server.h"

/* The UDP socket's callback (its owner is the server). */
void dgram_on_ready(struct loop_source *socket_source, uint32_t events);
/* The same for a sockperf port's UDP socket. */
void dgram_on_sockperf_ready(struct loop_source *socket_source, uint32_t events);

#endif
