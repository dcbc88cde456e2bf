/*
 * engine_support: how the unit tests drive the connection engine
 * (lib/conn.h) the way an event loop would, shared by the text/framed tests
 * (test_conn.c) and the sockperf-mode tests (test_sockperf.c). Include it
 * after cmocka.h and support.h. The engine and its counters live in the
 * caller's struct engine; what the engine sends is appended to the caller's
 * struct bytes.
 */
#ifndef SHOUT_TEST_ENGINE_SUPPORT_H
#define SHOUT_TEST_ENGINE_SUPPORT_H

#include <errno.h>
#include <string.h>

#include "conn.h"
#include "support.h"

struct engine {
    struct conn c;
    struct conn_counters counters;
};

/* A fresh engine with zeroed counters; CONN_MODE_UNDECIDED lets the first byte choose. */
static inline void engine_init_mode(struct engine *e, uint32_t max_payload, size_t max_output,
                                    enum conn_mode mode)
{
    memset(&e->counters, 0, sizeof e->counters);
    struct conn_limits limits = {.max_payload = max_payload, .max_output = max_output};
    conn_init_mode(&e->c, &limits, &e->counters, mode);
}

/*
 * Feed at most feed_step bytes while the engine wants input, otherwise send
 * at most drain_step bytes of output into out. Checks on every step that
 * queued output stays within out_bound, that input is refused while not
 * wanted, and that the engine never stalls (no output to send, yet no input
 * wanted, yet not finished).
 */
static inline void engine_pump(struct conn *c, const uint8_t *in, size_t in_len, size_t feed_step,
                               size_t drain_step, size_t out_bound, struct bytes *out)
{
    size_t fed = 0;
    for (long rounds = 0;; rounds++) {
        assert_true(rounds < 10000000);
        size_t len;
        const uint8_t *p = conn_output(c, &len);
        assert_true(len <= out_bound);
        if (fed < in_len && conn_wants_input(c)) {
            size_t n = in_len - fed < feed_step ? in_len - fed : feed_step;
            assert_int_equal(conn_feed(c, in + fed, n), 0);
            fed += n;
            continue;
        }
        if (len == 0) {
            if (conn_finished(c) || (fed == in_len && conn_wants_input(c)))
                return;
            fail_msg("engine stalled: fed %zu of %zu, nothing to send, no input wanted", fed,
                     in_len);
        }
        if (fed < in_len) {
            uint8_t probe = 'x';
            assert_int_equal(conn_feed(c, &probe, 1), -EINVAL);
        }
        size_t n = len < drain_step ? len : drain_step;
        bytes_add(out, p, n);
        conn_output_sent(c, n);
    }
}

#endif
