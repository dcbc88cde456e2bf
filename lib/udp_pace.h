/*
 * udp_pace: how many datagrams shoutd asks the kernel for on its next read
 * of one UDP socket. One at a time, with recvfrom and sendto, when the
 * traffic is ping-pong (each read finds one datagram); a whole batch, with
 * recvmmsg and sendmmsg, when datagrams queue up.
 *
 * Why not always a batch: on loopback, a recvmmsg that finds one datagram
 * still tries for a second, and the mmsg calls cost more than the plain
 * ones. Measured on a same-CPU ping-pong, that is about 0.6 µs of a 13 µs
 * round trip (docs/performance.md). Why not always one: under load, a batch
 * of 64 is one syscall where single reads are 64 (and 64 epoll_waits).
 *
 * The switch: a batch read that finds at most one datagram goes back to
 * single reads. A single read cannot see a queue behind the datagram it
 * took (level-triggered epoll just reports the socket again), so every
 * UDP_PACE_PROBE_EVERY-th single read is a batch: a queue is found within
 * that many reads, and ping-pong pays for one batch read in that many.
 *
 * Pure: no syscalls; the caller owns the state, one per socket.
 */
#ifndef SHOUT_UDP_PACE_H
#define SHOUT_UDP_PACE_H

#include <stdbool.h>

#define UDP_PACE_PROBE_EVERY 16

struct udp_pace {
    bool batching;    /* the last batch read found a queue */
    unsigned singles; /* single reads since the last batch read */
};

/* A fresh socket reads one datagram at a time until a probe finds a queue. */
void udp_pace_init(struct udp_pace *pace);

/* How many datagrams to ask for next: 1, or batch_max. */
unsigned udp_pace_next(const struct udp_pace *pace, unsigned batch_max);

/* After a read that asked for `asked` datagrams and got `got` (0 when none was waiting). */
void udp_pace_saw(struct udp_pace *pace, unsigned asked, unsigned got);

#endif
