/*
 * deadline: which deadline a TCP connection of shoutd is under after a round
 * of serving it, and whether that round restarts it. A connection is under
 * one deadline at a time:
 * - replies queued and the socket full: the write deadline, restarted by
 *   every byte the client takes (nginx's send_timeout);
 * - a request begun, or none yet since accept: the frame deadline,
 *   restarted only when a request completes, so that dribbling a byte at a
 *   time does not keep a slowloris alive;
 * - otherwise nothing is in flight: the idle deadline, restarted by any
 *   byte read or sent.
 * A kind turned off (timeout 0) gives way to the next, so that the idle
 * deadline still watches a connection nothing else does. A connection that
 * moves from one kind to another starts the new one afresh. The lingering
 * close's deadline is set by the close itself, never chosen here.
 *
 * Pure: the caller owns every argument; nothing is kept.
 */
#ifndef SHOUT_DEADLINE_H
#define SHOUT_DEADLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum deadline_kind {
    DEADLINE_FRAME,  /* --frame-timeout: a request begun, or none yet since accept */
    DEADLINE_IDLE,   /* --idle-timeout: nothing in flight */
    DEADLINE_WRITE,  /* --write-timeout: replies queued, the socket full */
    DEADLINE_LINGER, /* a lingering close */
    DEADLINE_KINDS,  /* also: under none yet */
};

/* Each kind's timeout in ms; 0 turns that kind off. */
struct deadline_timeouts {
    uint64_t frame_ms;
    uint64_t idle_ms;
    uint64_t write_ms;
};

/* What one round of serving did and left. */
struct deadline_round {
    bool want_write;   /* replies are still queued */
    bool mid_request;  /* part of a request is held (or none has come since accept) */
    bool request_done; /* at least one request completed in this round */
    size_t bytes_read;
    size_t bytes_sent;
};

struct deadline_choice {
    enum deadline_kind kind;
    bool restart; /* set the deadline afresh from now; false: keep the one running */
};

struct deadline_choice deadline_choose(const struct deadline_timeouts *timeouts,
                                       enum deadline_kind current,
                                       const struct deadline_round *round);

#endif
