/*
 * fuzz_alloc: make one buffer allocation fail, the one the fuzzer chose,
 * through lib/buf.h's replaceable allocator (buf_set_allocator), the seam
 * every allocation in lib/ goes through.
 *
 * A target arms it with the number of the allocation to fail (counting from
 * 1; 0 fails none) before each run of the code under test, and asks after
 * each call whether that call saw the failure, so that its oracle can say
 * "an allocation failed: the only right answer is the out-of-memory error"
 * and "none failed: that error must not appear". The state is reset by every
 * arming, so inputs stay independent; fuzz_alloc_disarm restores malloc.
 */
#ifndef SHOUT_FUZZ_ALLOC_H
#define SHOUT_FUZZ_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "buf.h"

struct fuzz_alloc_state {
    size_t count;   /* allocations so far since arming */
    size_t fail_at; /* the one that fails; 0 for none */
    bool failed;    /* it failed since fuzz_alloc_took_failure last asked */
};

static struct fuzz_alloc_state fuzz_alloc_state;

static inline void *fuzz_alloc_maybe_fail(size_t size)
{
    if (++fuzz_alloc_state.count == fuzz_alloc_state.fail_at) {
        fuzz_alloc_state.failed = true;
        return NULL;
    }
    return malloc(size);
}

static inline void fuzz_alloc_arm(size_t fail_at)
{
    fuzz_alloc_state = (struct fuzz_alloc_state){.fail_at = fail_at};
    buf_set_allocator(fuzz_alloc_maybe_fail, free);
}

static inline void fuzz_alloc_disarm(void)
{
    buf_set_allocator(NULL, NULL);
}

/* Whether an allocation failed since the last time this was asked. */
static inline bool fuzz_alloc_took_failure(void)
{
    bool failed = fuzz_alloc_state.failed;
    fuzz_alloc_state.failed = false;
    return failed;
}

#endif
