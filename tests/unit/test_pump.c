/*
 * Unit tests for server/pump.c, the connection pump, through its seams: a
 * scripted fake kernel (struct kernel) that fails the way real sockets do,
 * a failing allocator (buf_set_allocator), and once the real syscalls
 * (kernel_system) over a socketpair.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "pump.h"
#include "support.h"

#define FAKE_FD    5
#define SCRIPT_MAX 16

/* One scripted result: bytes moved (at most n), or -1 with err. */
struct fake_call {
    ssize_t n;
    int err;
};

static struct fake {
    struct fake_call recvs[SCRIPT_MAX];
    size_t recv_count, recv_at;
    struct fake_call sends[SCRIPT_MAX];
    size_t send_count, send_at;
    const uint8_t *peer; /* what the peer sends, served in order */
    size_t peer_len, peer_at;
    struct bytes sent;
    int shutdowns;
    int shutdown_err;
} fake;

static ssize_t fake_result(const struct fake_call *call)
{
    if (call->n < 0)
        errno = call->err;
    return call->n;
}

static ssize_t fake_recv(int fd, void *buf, size_t len, int flags)
{
    (void)flags;
    assert_int_equal(fd, FAKE_FD);
    assert_true(fake.recv_at < fake.recv_count);
    struct fake_call call = fake.recvs[fake.recv_at++];
    if (call.n <= 0)
        return fake_result(&call);
    size_t n = (size_t)call.n < len ? (size_t)call.n : len;
    assert_true(n <= fake.peer_len - fake.peer_at);
    memcpy(buf, fake.peer + fake.peer_at, n);
    fake.peer_at += n;
    return (ssize_t)n;
}

static ssize_t fake_send(int fd, const void *buf, size_t len, int flags)
{
    assert_int_equal(fd, FAKE_FD);
    assert_true(flags & MSG_NOSIGNAL);
    assert_int_equal(fake.shutdowns, 0);
    /* Past the script, the socket takes everything. */
    struct fake_call call = {.n = (ssize_t)len};
    if (fake.send_at < fake.send_count)
        call = fake.sends[fake.send_at++];
    if (call.n < 0)
        return fake_result(&call);
    size_t n = (size_t)call.n < len ? (size_t)call.n : len;
    bytes_add(&fake.sent, buf, n);
    return (ssize_t)n;
}

static int fake_shutdown(int fd, int how)
{
    assert_int_equal(fd, FAKE_FD);
    assert_int_equal(how, SHUT_WR);
    fake.shutdowns++;
    if (fake.shutdown_err) {
        errno = fake.shutdown_err;
        return -1;
    }
    return 0;
}

static int fake_close(int fd)
{
    (void)fd;
    fail_msg("the pump must leave closing to its caller");
    return -1;
}

static int fake_accept4(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags)
{
    (void)fd;
    (void)addr;
    (void)addr_len;
    (void)flags;
    fail_msg("the pump never accepts");
    return -1;
}

static const struct kernel fake_io = {
    .recv = fake_recv,
    .send = fake_send,
    .shutdown = fake_shutdown,
    .close = fake_close,
    .accept4 = fake_accept4,
};

static void script_recv(ssize_t n, int err)
{
    assert_true(fake.recv_count < SCRIPT_MAX);
    fake.recvs[fake.recv_count++] = (struct fake_call){.n = n, .err = err};
}

static void script_send(ssize_t n, int err)
{
    assert_true(fake.send_count < SCRIPT_MAX);
    fake.sends[fake.send_count++] = (struct fake_call){.n = n, .err = err};
}

struct rig {
    struct conn engine;
    struct conn_counters counters;
    uint8_t scratch[CONN_FEED_MAX];
    struct pump pump;
};

static struct rig *rig_new(const void *peer, size_t peer_len, size_t max_output)
{
    struct rig *r = calloc(1, sizeof *r);
    assert_non_null(r);
    bytes_free(&fake.sent);
    fake = (struct fake){.peer = peer, .peer_len = peer_len};
    struct conn_limits limits = {.max_payload = 1024, .max_output = max_output};
    conn_init(&r->engine, &limits, &r->counters);
    r->pump = (struct pump){.engine = &r->engine,
                            .fd = FAKE_FD,
                            .kernel = &fake_io,
                            .scratch = r->scratch,
                            .scratch_len = sizeof r->scratch};
    return r;
}

static void rig_free(struct rig *r)
{
    conn_free(&r->engine);
    free(r);
    bytes_free(&fake.sent);
}

static void assert_sent(const char *want)
{
    assert_int_equal(fake.sent.len, strlen(want));
    assert_memory_equal(fake.sent.at, want, fake.sent.len);
}

static void text_is_read_answered_sent_and_more_is_awaited(void **state)
{
    (void)state;
    struct rig *r = rig_new("hello", 5, 1024);
    script_recv(5, 0);
    struct pump_outcome out = pump_serve(&r->pump, true);
    assert_int_equal(out.next, PUMP_WAIT);
    assert_true(out.want_read);
    assert_false(out.want_write);
    assert_sent("HELLO");
    rig_free(r);
}

static void try_again_errors_on_recv_keep_the_connection_waiting(void **state)
{
    (void)state;
    int errs[] = {EAGAIN, EINTR};
    for (size_t i = 0; i < 2; i++) {
        struct rig *r = rig_new("", 0, 1024);
        script_recv(-1, errs[i]);
        struct pump_outcome out = pump_serve(&r->pump, true);
        assert_int_equal(out.next, PUMP_WAIT);
        assert_true(out.want_read);
        assert_int_equal(fake.sent.len, 0);
        rig_free(r);
    }
}

static void short_write_keeps_the_rest_queued_until_writable(void **state)
{
    (void)state;
    struct rig *r = rig_new("hello", 5, 1024);
    script_recv(5, 0);
    script_send(2, 0);
    script_send(-1, EAGAIN);
    struct pump_outcome out = pump_serve(&r->pump, true);
    assert_int_equal(out.next, PUMP_WAIT);
    assert_true(out.want_write);
    assert_sent("HE");
    /* What the deadlines count as progress: this round read 5 and sent 2. */
    assert_int_equal(out.bytes_read, 5);
    assert_int_equal(out.bytes_sent, 2);

    script_send(-1, EINTR);
    out = pump_serve(&r->pump, false);
    assert_int_equal(out.next, PUMP_WAIT);
    assert_true(out.want_write);
    assert_sent("HE");
    assert_int_equal(out.bytes_read, 0);
    assert_int_equal(out.bytes_sent, 0);

    out = pump_serve(&r->pump, false);
    assert_int_equal(out.next, PUMP_WAIT);
    assert_false(out.want_write);
    assert_sent("HELLO");
    assert_int_equal(out.bytes_sent, 3);
    assert_int_equal(fake.recv_at, 1); /* not readable: no read */
    rig_free(r);
}

static void a_reset_on_recv_or_send_is_a_reset(void **state)
{
    (void)state;
    struct rig *r = rig_new("abc", 3, 1024);
    script_recv(-1, ECONNRESET);
    assert_int_equal(pump_serve(&r->pump, true).next, PUMP_RESET);
    rig_free(r);

    r = rig_new("abc", 3, 1024);
    script_recv(3, 0);
    script_send(1, 0);
    script_send(-1, EPIPE);
    assert_int_equal(pump_serve(&r->pump, true).next, PUMP_RESET);
    assert_sent("A");
    rig_free(r);
}

static void eof_after_the_answers_are_sent_closes(void **state)
{
    (void)state;
    struct rig *r = rig_new("abc", 3, 1024);
    script_recv(3, 0);
    script_recv(0, 0);
    assert_int_equal(pump_serve(&r->pump, true).next, PUMP_WAIT);
    assert_int_equal(pump_serve(&r->pump, true).next, PUMP_CLOSE);
    assert_sent("ABC");
    assert_int_equal(fake.shutdowns, 0);
    rig_free(r);
}

static void held_input_stops_reading_until_the_output_drains(void **state)
{
    (void)state;
    struct rig *r = rig_new("abcdefgh", 8, 4);
    script_recv(8, 0);
    script_send(-1, EAGAIN);
    struct pump_outcome out = pump_serve(&r->pump, true);
    assert_int_equal(out.next, PUMP_WAIT);
    assert_false(out.want_read);
    assert_true(out.want_write);

    /* Readable or not, nothing is read while the engine holds input back. */
    script_send(-1, EAGAIN);
    assert_int_equal(pump_serve(&r->pump, true).next, PUMP_WAIT);
    assert_int_equal(fake.recv_at, 1);

    out = pump_serve(&r->pump, false);
    assert_true(out.want_read);
    assert_sent("ABCDEFGH");
    rig_free(r);
}

static void an_error_frame_is_flushed_then_the_write_side_shut_down(void **state)
{
    (void)state;
    uint8_t bad[16];
    put_header(bad, 0xF5, 0x00, 1, 1, 0, 77);
    struct rig *r = rig_new(bad, sizeof bad, 1024);
    script_recv(16, 0);
    script_send(3, 0);
    script_send(-1, EAGAIN);
    assert_int_equal(pump_serve(&r->pump, true).next, PUMP_WAIT);
    assert_int_equal(fake.shutdowns, 0);

    assert_int_equal(pump_serve(&r->pump, false).next, PUMP_LINGER);
    assert_int_equal(fake.shutdowns, 1);
    assert_true(fake.sent.len > 18);
    assert_int_equal(fake.sent.at[3], 3);             /* an error frame */
    assert_int_equal(get_be64(fake.sent.at + 8), 77); /* with the bad header's id */
    assert_int_equal(get_be16(fake.sent.at + 16), 1); /* bad magic */
    rig_free(r);
}

static void a_failed_shutdown_is_a_reset(void **state)
{
    (void)state;
    uint8_t bad[16];
    put_header(bad, 0xF5, 0x55, 9, 1, 0, 1);
    struct rig *r = rig_new(bad, sizeof bad, 1024);
    script_recv(16, 0);
    fake.shutdown_err = ENOTCONN;
    assert_int_equal(pump_serve(&r->pump, true).next, PUMP_RESET);
    rig_free(r);
}

static void discarding_lingers_until_eof_or_an_error(void **state)
{
    (void)state;
    struct rig *r = rig_new("junk", 4, 1024);
    script_recv(4, 0);
    script_recv(-1, EAGAIN);
    script_recv(-1, EINTR);
    script_recv(0, 0);
    script_recv(-1, ECONNRESET);
    assert_int_equal(pump_discard(&r->pump), PUMP_LINGER);
    assert_int_equal(pump_discard(&r->pump), PUMP_LINGER);
    assert_int_equal(pump_discard(&r->pump), PUMP_LINGER);
    assert_int_equal(pump_discard(&r->pump), PUMP_CLOSE);
    assert_int_equal(pump_discard(&r->pump), PUMP_CLOSE);
    assert_int_equal(fake.sent.len, 0);
    rig_free(r);
}

static int fail_alloc_calls;

static void *fail_alloc(size_t size)
{
    (void)size;
    fail_alloc_calls++;
    return NULL;
}

static void running_out_of_memory_closes_without_sending(void **state)
{
    (void)state;
    struct rig *r = rig_new("hello", 5, 1024);
    script_recv(5, 0);
    fail_alloc_calls = 0;
    buf_set_allocator(fail_alloc, free);
    struct pump_outcome out = pump_serve(&r->pump, true);
    buf_set_allocator(NULL, NULL);
    assert_int_equal(fail_alloc_calls, 1);
    assert_int_equal(out.next, PUMP_CLOSE);
    assert_int_equal(r->engine.state, CONN_BROKEN);
    assert_int_equal(fake.sent.len, 0);
    rig_free(r);

    /* The default allocator is back. */
    struct buf b;
    buf_init(&b, 16);
    assert_int_equal(buf_append(&b, "x", 1), 0);
    buf_free(&b);
}

static void the_system_table_moves_bytes_over_a_real_socket(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    struct rig *r = rig_new("", 0, 1024);
    r->pump.fd = fds[0];
    r->pump.kernel = &kernel_system;

    /* Nothing sent yet: EAGAIN from the real recv is a wait. */
    assert_int_equal(pump_serve(&r->pump, true).next, PUMP_WAIT);
    assert_int_equal(write(fds[1], "shout", 5), 5);
    assert_int_equal(pump_serve(&r->pump, true).next, PUMP_WAIT);
    char reply[8] = {0};
    assert_int_equal(read(fds[1], reply, sizeof reply), 5);
    assert_string_equal(reply, "SHOUT");

    assert_int_equal(shutdown(fds[1], SHUT_WR), 0);
    assert_int_equal(pump_serve(&r->pump, true).next, PUMP_CLOSE);
    assert_int_equal(kernel_system.close(fds[0]), 0);
    close(fds[1]);
    rig_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_is_read_answered_sent_and_more_is_awaited),
        cmocka_unit_test(try_again_errors_on_recv_keep_the_connection_waiting),
        cmocka_unit_test(short_write_keeps_the_rest_queued_until_writable),
        cmocka_unit_test(a_reset_on_recv_or_send_is_a_reset),
        cmocka_unit_test(eof_after_the_answers_are_sent_closes),
        cmocka_unit_test(held_input_stops_reading_until_the_output_drains),
        cmocka_unit_test(an_error_frame_is_flushed_then_the_write_side_shut_down),
        cmocka_unit_test(a_failed_shutdown_is_a_reset),
        cmocka_unit_test(discarding_lingers_until_eof_or_an_error),
        cmocka_unit_test(running_out_of_memory_closes_without_sending),
        cmocka_unit_test(the_system_table_moves_bytes_over_a_real_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
