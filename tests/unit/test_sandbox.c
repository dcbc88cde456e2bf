/*
 * Unit tests for server/sandbox.c. Each test forks a child that enters the
 * very sandbox shoutd enters (sandbox_enter: no new privileges, then the
 * seccomp allow-list) and then makes calls: what the running loop makes
 * must work, and anything else must kill the child with SIGSYS. The child
 * reports through its exit status, and ends with _exit so that no exit
 * handler (LeakSanitizer's) runs where a test did not ask for it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

/* The same test as sandbox.c's: sanitizer builds answer process creation with EPERM. */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define TEST_SANITIZER 1
#endif
#endif
#ifndef TEST_SANITIZER
#define TEST_SANITIZER 0
#endif

#define CHILD_TIMEOUT_MS 20000 /* a sanitizer build's exit can take a while */
#define ENTER_FAILED     90    /* the child could not enter the sandbox */

struct child {
    int status;          /* from waitpid */
    char err_text[4096]; /* what the child wrote on stderr, NUL-terminated */
};

/*
 * Fork; the child runs body with its stderr in a file the parent reads
 * afterwards. The child is waited for at most CHILD_TIMEOUT_MS, then killed.
 */
static void run_child(void (*body)(void), struct child *out)
{
    char name[] = "/tmp/shout-test-sandbox-XXXXXX";
    int log_fd = mkstemp(name);
    assert_true(log_fd >= 0);
    unlink(name);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(log_fd, STDERR_FILENO);
        body();
        _exit(0);
    }
    int status = 0;
    pid_t done = 0;
    for (int waited_ms = 0; done == 0; waited_ms += 5) {
        done = waitpid(pid, &status, WNOHANG);
        if (done == 0 && waited_ms >= CHILD_TIMEOUT_MS) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("the child did not end within %d ms", CHILD_TIMEOUT_MS);
        }
        if (done == 0)
            nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
    }
    assert_int_equal(done, pid);
    out->status = status;
    ssize_t got = pread(log_fd, out->err_text, sizeof out->err_text - 1, 0);
    out->err_text[got > 0 ? got : 0] = '\0';
    close(log_fd);
}

static void enter_or_die(void)
{
    if (sandbox_enter() != 0)
        _exit(ENTER_FAILED);
}

static void assert_exited(const struct child *child, int code)
{
    if (!WIFEXITED(child->status))
        fail_msg("the child did not exit: status 0x%x (signal %d); stderr: %s", child->status,
                 WIFSIGNALED(child->status) ? WTERMSIG(child->status) : 0, child->err_text);
    if (WEXITSTATUS(child->status) != code)
        fail_msg("the child exited %d, not %d; stderr: %s", WEXITSTATUS(child->status), code,
                 child->err_text);
}

static void assert_killed_by_sigsys(void (*body)(void))
{
    struct child child;
    run_child(body, &child);
    if (!WIFSIGNALED(child.status) || WTERMSIG(child.status) != SIGSYS)
        fail_msg("expected death by SIGSYS, got status 0x%x (exit %d, signal %d); stderr: %s",
                 child.status, WIFEXITED(child.status) ? WEXITSTATUS(child.status) : -1,
                 WIFSIGNALED(child.status) ? WTERMSIG(child.status) : 0, child.err_text);
}

/* Whether /proc/self/status has this exact line, read with the calls the sandbox allows. */
static int status_has(const char *line)
{
    char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    return strstr(buf, line) != NULL;
}

/* --- what the running loop does: all allowed ---------------------------------------------- */

static void body_loop_calls(void)
{
    /* Made before the sandbox, as shoutd makes its sockets before it. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        _exit(80);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        _exit(81);
    int alarm = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (alarm < 0)
        _exit(82);
    enter_or_die();

    /* The loop's alarm (server/loop.c): set, fired, read. */
    struct itimerspec soon = {.it_value = {.tv_nsec = 1000000}};
    if (timerfd_settime(alarm, 0, &soon, NULL) != 0)
        _exit(20);
    uint64_t expirations;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, alarm, &(struct epoll_event){.events = EPOLLIN}) != 0)
        _exit(21);
    struct epoll_event alarm_event;
    if (epoll_wait(ep, &alarm_event, 1, 1000) != 1 ||
        read(alarm, &expirations, sizeof expirations) != (ssize_t)sizeof expirations)
        _exit(22);
    if (epoll_ctl(ep, EPOLL_CTL_DEL, alarm, NULL) != 0)
        _exit(23);

    struct epoll_event ev = {.events = EPOLLIN, .data.fd = sv[0]};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) != 0)
        _exit(1);
    if (send(sv[1], "shout", 5, MSG_DONTWAIT | MSG_NOSIGNAL) != 5)
        _exit(2);
    struct epoll_event got[4];
    if (epoll_wait(ep, got, 4, 1000) != 1)
        _exit(3);
    char buf[16];
    if (recv(sv[0], buf, sizeof buf, MSG_DONTWAIT) != 5)
        _exit(4);
    /* Not meaningful on a Unix socket, but the filter lets them through: EOPNOTSUPP, not death. */
    int one = 1;
    (void)setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct linger abort_on_close = {.l_onoff = 1, .l_linger = 0};
    if (setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close) != 0)
        _exit(5);
    int soerr;
    socklen_t soerr_len = sizeof soerr;
    if (getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &soerr, &soerr_len) != 0)
        _exit(6);
    if (shutdown(sv[1], SHUT_WR) != 0)
        _exit(7);
    /* The spare descriptor's reopening of /dev/null. */
    int spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (spare < 0)
        _exit(8);
    close(spare);
    /* Clocks, stats, logging, memory. */
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) != 0)
        _exit(9);
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0 || getpid() <= 0 || sched_getcpu() < 0)
        _exit(10);
    if (write(STDERR_FILENO, "", 0) != 0)
        _exit(11);
    void *big = malloc(8 << 20); /* mmap'ed by malloc */
    void *small = malloc(100);
    if (big == NULL || small == NULL)
        _exit(12);
    memset(big, 1, 8 << 20);
    free(big);
    free(small);
    close(sv[0]);
    close(sv[1]);
    close(ep);
    if (!status_has("NoNewPrivs:\t1\n"))
        _exit(13);
    if (!status_has("Seccomp:\t2\n"))
        _exit(14);
    _exit(0);
}

static void the_loops_calls_are_allowed_and_the_child_exits_normally(void **state)
{
    (void)state;
    struct child child;
    run_child(body_loop_calls, &child);
    assert_exited(&child, 0);
}

static void body_no_new_privs_only(void)
{
    if (sandbox_no_new_privs() != 0)
        _exit(ENTER_FAILED);
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        _exit(1);
    if (!status_has("Seccomp:\t0\n"))
        _exit(2);
    /* Without the filter, a socket is no crime. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        _exit(3);
    close(fd);
    _exit(0);
}

static void no_new_privs_alone_sets_the_flag_and_filters_nothing(void **state)
{
    (void)state;
    struct child child;
    run_child(body_no_new_privs_only, &child);
    assert_exited(&child, 0);
}

/* --- outside the list: death by SIGSYS ------------------------------------------------------ */

static void body_socket(void)
{
    enter_or_die();
    syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    _exit(0);
}

static void a_new_socket_kills(void **state)
{
    (void)state;
    assert_killed_by_sigsys(body_socket);
}

static void body_open_for_writing(void)
{
    enter_or_die();
    syscall(SYS_openat, AT_FDCWD, "/tmp/shout-test-sandbox-never", O_WRONLY | O_CREAT | O_CLOEXEC,
            0600);
    _exit(0);
}

static void opening_a_file_for_writing_kills(void **state)
{
    (void)state;
    assert_killed_by_sigsys(body_open_for_writing);
}

static void body_exec_memory(void)
{
    enter_or_die();
    syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
            -1, 0);
    _exit(0);
}

static void executable_memory_kills(void **state)
{
    (void)state;
    assert_killed_by_sigsys(body_exec_memory);
}

static void body_other_socket_option(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    enter_or_die();
    int one = 1;
    syscall(SYS_setsockopt, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    _exit(0);
}

static void a_socket_option_off_the_list_kills(void **state)
{
    (void)state;
    assert_killed_by_sigsys(body_other_socket_option);
}

static void body_write_elsewhere(void)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    enter_or_die();
    syscall(SYS_write, fd, "x", 1);
    _exit(0);
}

static void writing_to_anything_but_stdout_or_stderr_kills(void **state)
{
    (void)state;
    assert_killed_by_sigsys(body_write_elsewhere);
}

static void body_ptrace_parent(void)
{
    pid_t parent = getppid();
    enter_or_die();
    syscall(SYS_ptrace, PTRACE_ATTACH, parent, NULL, NULL);
    _exit(0);
}

static void ptrace_of_another_process_kills(void **state)
{
    (void)state;
    assert_killed_by_sigsys(body_ptrace_parent);
}

static void body_kill_parent(void)
{
    pid_t parent = getppid();
    enter_or_die();
    syscall(SYS_kill, parent, 0);
    _exit(0);
}

static void signalling_another_process_kills(void **state)
{
    (void)state;
    assert_killed_by_sigsys(body_kill_parent);
}

static void body_setuid(void)
{
    enter_or_die();
    syscall(SYS_setuid, 0);
    _exit(0);
}

static void changing_user_kills(void **state)
{
    (void)state;
    assert_killed_by_sigsys(body_setuid);
}

static void body_prctl(void)
{
    enter_or_die();
    syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0);
    _exit(0);
}

static void prctl_kills(void **state)
{
    (void)state;
    assert_killed_by_sigsys(body_prctl);
}

/*
 * execve and fork: death in a release; in a sanitizer build EPERM (so that a
 * sanitizer report survives its symbolizer not starting), and still nothing
 * runs. The child exits 0 when the call failed with EPERM, 1 otherwise.
 */
static void body_execve(void)
{
    enter_or_die();
    char *const argv[] = {(char *)"/bin/true", NULL};
    char *const envp[] = {NULL};
    long r = syscall(SYS_execve, "/bin/true", argv, envp);
    _exit(r == -1 && errno == EPERM ? 0 : 1);
}

static void body_fork(void)
{
    enter_or_die();
    pid_t pid = fork();
    if (pid == 0)
        _exit(3);
    _exit(pid == -1 && errno == EPERM ? 0 : 1);
}

static void assert_spawn_refused(void (*body)(void))
{
    if (!TEST_SANITIZER) {
        assert_killed_by_sigsys(body);
        return;
    }
    struct child child;
    run_child(body, &child);
    assert_exited(&child, 0);
}

static void execve_is_refused(void **state)
{
    (void)state;
    assert_spawn_refused(body_execve);
}

static void fork_is_refused(void **state)
{
    (void)state;
    assert_spawn_refused(body_fork);
}

#if TEST_SANITIZER
/* Sanitizer builds: the runtime's own work at exit and on a report survives the filter. */

static void body_exit_runs_leak_check(void)
{
    enter_or_die();
    exit(0); /* LeakSanitizer's check runs, under the filter */
}

static void leak_sanitizer_runs_at_exit_under_the_filter(void **state)
{
    (void)state;
    struct child child;
    run_child(body_exit_runs_leak_check, &child);
    assert_exited(&child, 0);
}

static char *volatile overflow_target;

static void body_heap_overflow(void)
{
    overflow_target = malloc(8);
    enter_or_die();
    overflow_target[8] = 'x'; /* one past the end: AddressSanitizer reports and exits 1 */
    _exit(0);
}

static void an_address_sanitizer_report_is_still_printed(void **state)
{
    (void)state;
    struct child child;
    run_child(body_heap_overflow, &child);
    assert_exited(&child, 1);
    assert_non_null(strstr(child.err_text, "ERROR: AddressSanitizer: heap-buffer-overflow"));
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_loops_calls_are_allowed_and_the_child_exits_normally),
        cmocka_unit_test(no_new_privs_alone_sets_the_flag_and_filters_nothing),
        cmocka_unit_test(a_new_socket_kills),
        cmocka_unit_test(opening_a_file_for_writing_kills),
        cmocka_unit_test(executable_memory_kills),
        cmocka_unit_test(a_socket_option_off_the_list_kills),
        cmocka_unit_test(writing_to_anything_but_stdout_or_stderr_kills),
        cmocka_unit_test(ptrace_of_another_process_kills),
        cmocka_unit_test(signalling_another_process_kills),
        cmocka_unit_test(changing_user_kills),
        cmocka_unit_test(prctl_kills),
        cmocka_unit_test(execve_is_refused),
        cmocka_unit_test(fork_is_refused),
#if TEST_SANITIZER
        cmocka_unit_test(leak_sanitizer_runs_at_exit_under_the_filter),
        cmocka_unit_test(an_address_sanitizer_report_is_still_printed),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
