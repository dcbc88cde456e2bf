/*
 * Unit tests for client/report_stats.c: the client side of shoutd's stats
 * port, against a forked one-shot server on a free loopback port that writes
 * a fixed answer, and the before/after delta of the server's counters.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

static const char stats_sample[] =
    "{\"shoutd\":\"0.1.0\",\"pid\":1234,\"uptime_s\":12.5,\"cpu\":1,\"pinned_cpu\":-1,"
    "\"rusage\":{\"user_s\":0.12,\"system_s\":0.34},"
    "\"tcp\":{\"accepted\":1,\"closed\":0,\"resets\":0,\"refused_no_fds\":0,"
    "\"lingers_expired\":0,\"requests\":10,\"text_bytes\":7,\"bytes_in\":260,\"bytes_out\":250,"
    "\"bytes_discarded\":0},"
    "\"udp\":{\"datagrams\":4,\"replies\":3,\"bytes_in\":40,\"bytes_out\":30,\"dropped_empty\":0,"
    "\"dropped_short\":1,\"send_failed\":0},"
    "\"sockperf\":{\"messages\":5,\"replies\":5},"
    "\"errors\":{\"bad_magic\":1,\"bad_version\":2,\"bad_type\":0,\"too_large\":3,"
    "\"unexpected_type\":0,\"length_mismatch\":0,\"shutting_down\":0,\"no_memory\":0}}\n";

/*
 * A one-shot stats server: a forked child accepts one connection on a free
 * loopback port, writes len bytes of answer and closes. Returns the port.
 */
static uint16_t fake_stats_start(const char *answer, size_t len, pid_t *pid)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t addr_len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &addr_len), 0);
    fflush(NULL);
    *pid = fork();
    assert_true(*pid >= 0);
    if (*pid == 0) {
        alarm(10); /* the parent kills it sooner; this bounds it if the parent died */
        int conn = accept(fd, NULL, NULL);
        for (size_t sent = 0; conn >= 0 && sent < len;) {
            ssize_t n = send(conn, answer + sent, len - sent, MSG_NOSIGNAL);
            if (n <= 0)
                break;
            sent += (size_t)n;
        }
        _exit(0);
    }
    close(fd);
    return ntohs(addr.sin_port);
}

static void fake_stats_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int fetch_from_fake(const char *answer, size_t len, struct server_counters *snapshot,
                           int *cpu, int *pinned)
{
    pid_t pid;
    uint16_t port = fake_stats_start(answer, len, &pid);
    int rc = report_fetch_server("127.0.0.1", port, snapshot, cpu, pinned);
    fake_stats_stop(pid);
    return rc;
}

static void fetch_server_maps_the_stats_object(void **state)
{
    (void)state;
    struct server_counters s = {0};
    int cpu = 99, pinned = 99;
    assert_int_equal(fetch_from_fake(stats_sample, strlen(stats_sample), &s, &cpu, &pinned), 0);
    assert_true(s.known);
    assert_int_equal(s.requests, 10 + 5); /* TCP framed + sockperf */
    assert_int_equal(s.text_bytes, 7);
    assert_int_equal(s.udp_replies, 3);
    assert_int_equal(s.bytes_in, 260 + 40);
    assert_int_equal(s.bytes_out, 250 + 30);
    assert_int_equal(s.errors, 1 + 2 + 3);
    assert_true(s.cpu.known);
    assert_true(s.cpu.user_s == 0.12);
    assert_true(s.cpu.system_s == 0.34);
    assert_int_equal(cpu, 1);
    assert_int_equal(pinned, -1);
}

static void fetch_server_refuses_a_bad_answer_and_keeps_the_snapshot(void **state)
{
    (void)state;
    struct server_counters s = {.requests = 4242};
    int cpu = 99, pinned = 99;
    const char garbage[] = "HELLO\n";
    assert_int_equal(fetch_from_fake(garbage, strlen(garbage), &s, &cpu, &pinned), -EBADMSG);
    const char partial[] = "{\"cpu\":1,\"pinned_cpu\":-1,\"tcp\":{\"requests\":1}}\n";
    assert_int_equal(fetch_from_fake(partial, strlen(partial), &s, &cpu, &pinned), -EPROTO);
    /* Over 64 KiB is not a stats object: refused before it is parsed. */
    size_t big_len = 70 * 1024;
    char *big = malloc(big_len);
    assert_non_null(big);
    memset(big, ' ', big_len);
    assert_int_equal(fetch_from_fake(big, big_len, &s, &cpu, &pinned), -EMSGSIZE);
    free(big);
    assert_int_equal(s.requests, 4242);
    assert_false(s.known);
    assert_int_equal(cpu, 99);
}

static void fetch_server_reports_a_closed_port(void **state)
{
    (void)state;
    /* A port just released: nothing listens there. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t addr_len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &addr_len), 0);
    close(fd);
    struct server_counters s = {0};
    assert_int_equal(report_fetch_server("127.0.0.1", ntohs(addr.sin_port), &s, NULL, NULL),
                     -ECONNREFUSED);
}

static void server_delta_subtracts_every_counter(void **state)
{
    (void)state;
    struct server_counters before = {.known = true,
                                     .requests = 10,
                                     .text_bytes = 1,
                                     .udp_replies = 2,
                                     .bytes_in = 3,
                                     .bytes_out = 4,
                                     .errors = 5,
                                     .cpu = {true, 1.0, 2.0}};
    struct server_counters after = {.known = true,
                                    .requests = 110,
                                    .text_bytes = 11,
                                    .udp_replies = 22,
                                    .bytes_in = 33,
                                    .bytes_out = 44,
                                    .errors = 55,
                                    .cpu = {true, 1.5, 2.25}};
    struct server_counters d;
    report_server_delta(&before, &after, &d);
    assert_true(d.known);
    assert_int_equal(d.requests, 100);
    assert_int_equal(d.text_bytes, 10);
    assert_int_equal(d.udp_replies, 20);
    assert_int_equal(d.bytes_in, 30);
    assert_int_equal(d.bytes_out, 40);
    assert_int_equal(d.errors, 50);
    assert_true(d.cpu.known);
    assert_true(d.cpu.user_s == 0.5 && d.cpu.system_s == 0.25);

    /* A counter that went backwards: the server restarted between the reads. */
    after.errors = 1;
    report_server_delta(&before, &after, &d);
    assert_false(d.known);
    after.errors = 55;
    before.known = false;
    report_server_delta(&before, &after, &d);
    assert_false(d.known);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fetch_server_maps_the_stats_object),
        cmocka_unit_test(fetch_server_refuses_a_bad_answer_and_keeps_the_snapshot),
        cmocka_unit_test(fetch_server_reports_a_closed_port),
        cmocka_unit_test(server_delta_subtracts_every_counter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
