/*
 * flow_rx: a flow's reply judge, apart from its sockets. The receive path
 * (flow_receive) reads bytes and the clock and hands them here; what the
 * bytes mean is decided here alone, so that the same code is run by shout,
 * unit-tested and fuzzed (fuzz/fuzz_flow.c) against a model of the server.
 *
 * Pure: state and bytes in, verdict out. No syscalls and no clock: the time
 * a reply completed is passed in. The state is the struct flow (flow.h),
 * which a test may set up with flow_open(f, cfg, -1), a flow without a
 * socket; its counts, why and late say what the judge concluded, and each
 * right reply is handed to on_sample (may be NULL) exactly once, with the
 * timings given when its request was tracked and done_ns = now_ns.
 *
 * Memory: the caller owns the bytes passed in; nothing is kept of them but
 * a partial TCP reply header and up to an error frame's code and reason.
 */
#ifndef SHOUT_FLOW_RX_H
#define SHOUT_FLOW_RX_H

#include <stddef.h>
#include <stdint.h>

#include "flow.h"

/*
 * Request next_seq is in flight: due at intended_ns (0: when it is sent)
 * and sent at sent_ns. Its slot, the window and the sent counts are taken.
 * The caller checks flow_can_send first. (flow.c: the send path calls it
 * for every request it queues.)
 */
void flow_track_request(struct flow *f, uint64_t intended_ns, uint64_t sent_ns);

/*
 * TCP: take the stream bytes in[0..len), which arrived at now_ns, as the
 * replies, in order, of the requests in flight. Returns the number of
 * requests completed (right, wrong or by an error frame), or -EPROTO when
 * the stream can no longer be read as replies (a bad header, or bytes with
 * no request in flight): the mismatch is counted and the flow is dead.
 */
int flow_tcp_take(struct flow *f, const uint8_t *in, size_t len, uint64_t now_ns,
                  flow_sample_fn on_sample, void *ctx);

/*
 * UDP: take one datagram d of n bytes that arrived at now_ns (n may be
 * more than was stored: a longer datagram is judged on its length alone,
 * before d is read). Returns 1 when it completed a request in flight, right
 * or wrong; 0 when it completed none (a mismatch that names no request, an
 * error frame, a duplicate, or a late reply; each is counted).
 */
int flow_udp_take(struct flow *f, const uint8_t *d, size_t n, uint64_t now_ns,
                  flow_sample_fn on_sample, void *ctx);

#endif
