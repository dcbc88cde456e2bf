/*
 * schedule: when `shout load` sends each request, as a pure function of the
 * run's plan, where a connection is in it, and the time now (passed in: no
 * clock is read here). load.c asks before every send and does what it says.
 *
 * Open loop (a rate): the run's requests are spread evenly over all its
 * connections, so connection c's request k is due at
 * t0 + (c + k * connections) / rate. A request is sent once it is due,
 * however late that is, and its latency is measured from when it was due
 * (its intended time), not from when it went out: a server that stalls
 * delays every request due during the stall, and each of them shows the
 * delay (coordinated omission corrected, as in wrk2). Closed loop (no rate):
 * a request is due whenever the window has room, and intended is 0 (flow.h:
 * due when it is sent).
 *
 * A request due before measure_ns is warm-up, not measured. Duration mode
 * ends at end_ns: no request is due from then on. Count mode (count > 0)
 * ends each connection once it has sent its quota of measured requests.
 *
 * Memory: plain values; nothing is allocated or kept.
 */
#ifndef SHOUT_SCHEDULE_H
#define SHOUT_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

struct schedule {
    uint64_t t0_ns;       /* the warm-up starts: connection 0's request 0 is due */
    uint64_t measure_ns;  /* the measured phase starts */
    uint64_t end_ns;      /* duration mode: nothing is due from then on; count mode: UINT64_MAX */
    double rate;          /* requests per second, over all connections; 0: closed loop */
    uint32_t connections; /* at least 1 */
    uint64_t count;       /* count mode: measured requests over all connections; 0: duration */
};

enum schedule_verdict {
    SCHEDULE_SEND, /* the request is due: send it now */
    SCHEDULE_WAIT, /* not yet: it is due at due_ns */
    SCHEDULE_DONE, /* the connection sends nothing more */
};

struct schedule_next {
    enum schedule_verdict verdict;
    uint64_t due_ns;      /* when it is due (closed loop: now) */
    uint64_t intended_ns; /* what flow_queue takes: due_ns when paced, 0 in closed loop */
    bool measured;        /* due in the measured phase */
};

/* Open loop: when connection index's request number k is due. */
uint64_t schedule_due_ns(const struct schedule *s, uint32_t index, uint64_t k);

/* Count mode: how many measured requests connection index sends (the remainder to the first). */
uint64_t schedule_quota(const struct schedule *s, uint32_t index);

/*
 * The verdict on connection index's request number k at now_ns, when quota
 * measured requests are still to be sent (count mode; ignored otherwise).
 */
struct schedule_next schedule_next(const struct schedule *s, uint32_t index, uint64_t k,
                                   uint64_t quota, uint64_t now_ns);

#endif
