/*
 * Unit tests for server/loop.c, the event loop, over real epoll and
 * eventfds: one batch in which a callback deletes other sources (the
 * SIGTERM drain that freed connections whose events were still further down
 * the batch), deletes its own, or deletes one and registers it again.
 *
 * A deleted source is not freed here but marked, so that a callback that
 * reaches it is counted (and the test fails) whatever the build, not only
 * under AddressSanitizer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop.h"

#define SOURCES 8

struct test_source {
    struct loop_source source;
    bool deleted;
    int calls;
};

static struct fixture {
    struct loop loop;
    struct test_source sources[SOURCES];
    int calls_on_deleted;
    int calls;
    /* What the next callback does to the others: see the callbacks below. */
    int target;
} fx;

static struct test_source *test_source_of(struct loop_source *source)
{
    return source->owner;
}

static void fixture_count_call(struct test_source *ts)
{
    fx.calls++;
    ts->calls++;
    if (ts->deleted)
        fx.calls_on_deleted++;
}

static void fixture_delete(struct test_source *ts)
{
    loop_del(&fx.loop, &ts->source);
    ts->deleted = true;
}

/* Every source ready at once: one batch holds all of them. */
static int fixture_setup(loop_callback *on_ready)
{
    fx = (struct fixture){.target = -1};
    assert_int_equal(loop_init(&fx.loop, &kernel_system), 0);
    for (int i = 0; i < SOURCES; i++) {
        struct test_source *ts = &fx.sources[i];
        int fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
        assert_true(fd >= 0);
        ts->source = (struct loop_source){.fd = fd, .on_ready = on_ready, .owner = ts};
        assert_int_equal(loop_add(&fx.loop, &ts->source, EPOLLIN), 0);
    }
    return 0;
}

static void fixture_teardown(void)
{
    for (int i = 0; i < SOURCES; i++)
        if (fx.sources[i].source.fd >= 0)
            close(fx.sources[i].source.fd);
    loop_free(&fx.loop);
}

/* What the first callback of the batch does to every other source. */
static void (*fx_to_the_others)(struct test_source *other);

static void on_ready_act_on_the_others(struct loop_source *source, uint32_t events)
{
    (void)events;
    struct test_source *self = test_source_of(source);
    fixture_count_call(self);
    if (fx.calls != 1)
        return;
    for (int i = 0; i < SOURCES; i++)
        if (&fx.sources[i] != self)
            fx_to_the_others(&fx.sources[i]);
}

/* One batch, every source ready, the first callback acting on all the others: only it runs. */
static void assert_only_the_first_callback_runs(void (*to_the_others)(struct test_source *))
{
    fx_to_the_others = to_the_others;
    fixture_setup(on_ready_act_on_the_others);
    assert_int_equal(loop_run_once(&fx.loop), 0);
    assert_int_equal(fx.calls_on_deleted, 0);
    assert_int_equal(fx.calls, 1);
    fixture_teardown();
}

/* As the drain does: delete (and, in shoutd, free) connections further down the batch. */
static void loop_skips_sources_an_earlier_callback_deleted(void **state)
{
    (void)state;
    assert_only_the_first_callback_runs(fixture_delete);
}

/* The descriptor closed first (epoll forgets it by itself), then the source deleted. */
static void close_then_delete(struct test_source *other)
{
    close(other->source.fd);
    fixture_delete(other);
    other->source.fd = -1;
}

static void loop_skips_sources_deleted_after_their_descriptor_closed(void **state)
{
    (void)state;
    assert_only_the_first_callback_runs(close_then_delete);
}

/*
 * Deleted, then registered again under a new descriptor that is not ready
 * (a freed stream whose memory a new connection got): the old event must
 * not reach the new registration.
 */
static void delete_and_register_again(struct test_source *other)
{
    loop_del(&fx.loop, &other->source);
    close(other->source.fd);
    other->source.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(other->source.fd >= 0);
    assert_int_equal(loop_add(&fx.loop, &other->source, EPOLLIN), 0);
}

static void loop_does_not_hand_a_stale_event_to_a_source_registered_again(void **state)
{
    (void)state;
    assert_only_the_first_callback_runs(delete_and_register_again);
}

/* Each callback deletes itself: the rest of the batch still runs, once each. */
static void on_ready_delete_self(struct loop_source *source, uint32_t events)
{
    (void)events;
    struct test_source *self = test_source_of(source);
    fixture_count_call(self);
    fixture_delete(self);
}

static void loop_calls_every_source_that_deletes_only_itself(void **state)
{
    (void)state;
    fixture_setup(on_ready_delete_self);
    assert_int_equal(loop_run_once(&fx.loop), 0);
    assert_int_equal(fx.calls, SOURCES);
    for (int i = 0; i < SOURCES; i++)
        assert_int_equal(fx.sources[i].calls, 1);
    /* Nothing is left in epoll, so nothing reaches a deleted source on the next batch. */
    fixture_teardown();
}

/* A callback that deletes nothing: every ready source is called once per batch. */
static void on_ready_count(struct loop_source *source, uint32_t events)
{
    assert_true(events & EPOLLIN);
    fixture_count_call(test_source_of(source));
}

static void loop_calls_every_ready_source_once(void **state)
{
    (void)state;
    fixture_setup(on_ready_count);
    assert_int_equal(loop_run_once(&fx.loop), 0);
    assert_int_equal(fx.calls, SOURCES);
    for (int i = 0; i < SOURCES; i++)
        assert_int_equal(fx.sources[i].calls, 1);
    fixture_teardown();
}

/* A deletion outside any batch (between two waits) leaves nothing behind either. */
static void loop_del_outside_a_batch_stops_the_source(void **state)
{
    (void)state;
    fixture_setup(on_ready_count);
    for (int i = 0; i < SOURCES / 2; i++)
        fixture_delete(&fx.sources[i]);
    assert_int_equal(loop_run_once(&fx.loop), 0);
    assert_int_equal(fx.calls_on_deleted, 0);
    assert_int_equal(fx.calls, SOURCES - SOURCES / 2);
    fixture_teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loop_skips_sources_an_earlier_callback_deleted),
        cmocka_unit_test(loop_skips_sources_deleted_after_their_descriptor_closed),
        cmocka_unit_test(loop_does_not_hand_a_stale_event_to_a_source_registered_again),
        cmocka_unit_test(loop_calls_every_source_that_deletes_only_itself),
        cmocka_unit_test(loop_calls_every_ready_source_once),
        cmocka_unit_test(loop_del_outside_a_batch_stops_the_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
