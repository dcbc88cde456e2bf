/*
 * stream: shoutd's TCP side. Accepts connections, has the pump (pump.h) move
 * bytes between each socket and its connection engine (lib/conn.h) when
 * epoll says the socket is ready, and turns the pump's outcome into epoll
 * interest, a close, or a lingering close that keeps replies: after an error
 * frame the write side is shut down and input discarded until EOF or a
 * deadline, so the peer reads the error instead of a reset. After every
 * round it keeps the memory budget's ledger (server->held) and, past
 * --max-buffered or a source's share, closes the largest holders. Every kernel
 * call on a connection goes through the server's sockio table. Streams are
 * allocated here and freed when they close; stream_close_all frees what is
 * left at exit.
 */
#ifndef SHOUTD_STREAM_H
#define SHOUTD_STREAM_H

#include "server.h"

/* How long a closing connection may keep sending before it is cut off. */
#define STREAM_LINGER_MS 2000

/* The listening socket's callback (its owner is the server): accept what is waiting. */
void stream_on_listener_ready(struct loop_source *listener, uint32_t events);
/* The same for a sockperf port: its connections speak sockperf's format from the start. */
void stream_on_sockperf_listener_ready(struct loop_source *listener, uint32_t events);

/*
 * Out of descriptors: accept the connection waiting on listener_fd with the
 * spare descriptor and close it at once, counted in refused_no_fds. With no
 * spare to be had, accepting pauses (server_pause_accepting).
 */
void stream_refuse_no_fds(struct server *server, int listener_fd);

/*
 * Act on every deadline passed by now_ms (close, or reset); returns the
 * soonest deadline still ahead (loop_now_ms's clock), UINT64_MAX if none.
 */
uint64_t stream_expire(struct server *server, uint64_t now_ms);

/*
 * SIGTERM/SIGINT (server->draining is set): every serving connection stops
 * reading and answers what it holds; a framed one then gets the
 * shutting-down error frame. Idle ones close at once, the rest the orderly
 * way (write side shut down, input discarded until EOF) as the loop runs.
 */
void stream_drain_all(struct server *server);

/* Close every connection now, however far it got; returns how many there were. */
size_t stream_close_all(struct server *server);

#endif
