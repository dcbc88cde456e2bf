#include "bench_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long shoutd may take to print its port, and to exit after SIGTERM. */
#define BENCH_SERVER_START_MS 5000
#define BENCH_SERVER_STOP_MS  5000
/* The most of shoutd's log that is copied out when something went wrong. */
#define BENCH_SERVER_LOG_MAX 8192

static pid_t bench_server_child;
/* shoutd's standard error: a memory file, shown only when it failed. */
static int bench_server_log = -1;

static uint64_t bench_server_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void bench_server_show_log(void)
{
    if (bench_server_log < 0 || lseek(bench_server_log, 0, SEEK_SET) != 0)
        return;
    char text[BENCH_SERVER_LOG_MAX];
    ssize_t n = read(bench_server_log, text, sizeof text);
    if (n > 0)
        fprintf(stderr, "shout-bench: shoutd said:\n%.*s", (int)n, text);
}

/*
 * Wait at most timeout_ms for the child to exit; returns its wait status, or
 * -1 if it is still running. Polls, because a signal handler would belong
 * to the whole process, which is Google Benchmark's as much as ours.
 */
static int bench_server_reap(int timeout_ms)
{
    uint64_t deadline = bench_server_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int status;
        pid_t pid = waitpid(bench_server_child, &status, WNOHANG);
        if (pid == bench_server_child || (pid < 0 && errno != EINTR))
            return pid == bench_server_child ? status : 0;
        if (bench_server_now_ms() >= deadline)
            return -1;
        struct timespec tick = {.tv_nsec = 10 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
}

/* In the child: never returns. Only async-signal-safe calls from here on. */
static void bench_server_exec(char **argv, const cpu_set_t *allowed, int out_fd, pid_t parent)
{
    /* Die with shout-bench, and check it did not die before that was set. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(127);
    if (sched_setaffinity(0, sizeof *allowed, allowed) != 0)
        _exit(127);
    if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(bench_server_log, STDERR_FILENO) < 0)
        _exit(127);
    execv(argv[0], argv);
    _exit(127);
}

/* Read the first line of the child's output, the port, within the start deadline. */
static int bench_server_read_port(int fd, char *why, size_t why_cap)
{
    char line[16];
    size_t len = 0;
    uint64_t deadline = bench_server_now_ms() + BENCH_SERVER_START_MS;
    while (len < sizeof line - 1) {
        uint64_t now = bench_server_now_ms();
        if (now >= deadline) {
            snprintf(why, why_cap, "shoutd did not print its port within %d ms",
                     BENCH_SERVER_START_MS);
            return -ETIMEDOUT;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - now)) < 0 && errno != EINTR)
            return -errno;
        ssize_t n = read(fd, line + len, 1);
        if (n == 0) {
            snprintf(why, why_cap, "shoutd exited before printing its port");
            return -ECHILD;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        if (n == 1 && line[len++] == '\n')
            break;
    }
    line[len] = '\0';
    char *end;
    long port = strtol(line, &end, 10);
    if (port <= 0 || port > 65535 || *end != '\n') {
        snprintf(why, why_cap, "shoutd's first line is not a port: %.15s", line);
        return -EPROTO;
    }
    return (int)port;
}

int bench_server_start(const char *path, const cpu_set_t *allowed, int cpu, char *why,
                       size_t why_cap)
{
    if (bench_server_child > 0) {
        snprintf(why, why_cap, "a server is running already");
        return -EBUSY;
    }
    /* argv is built before fork: the child may only make async-signal-safe calls. */
    char path_copy[4096];
    char cpu_text[16];
    char opt_port[] = "--port", zero[] = "0", opt_no_stats[] = "--no-stats", opt_cpu[] = "--cpu";
    snprintf(path_copy, sizeof path_copy, "%s", path);
    snprintf(cpu_text, sizeof cpu_text, "%d", cpu);
    char *argv[7] = {path_copy, opt_port, zero, opt_no_stats};
    if (cpu >= 0) {
        argv[4] = opt_cpu;
        argv[5] = cpu_text;
    }

    bench_server_log = memfd_create("shoutd-stderr", MFD_CLOEXEC);
    int out[2];
    if (bench_server_log < 0 || pipe2(out, O_CLOEXEC) != 0) {
        int err = -errno;
        snprintf(why, why_cap, "cannot set up shoutd's output: %s", strerror(errno));
        bench_server_stop();
        return err;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        bench_server_exec(argv, allowed, out[1], parent);
    close(out[1]);
    if (pid < 0) {
        int err = -errno;
        snprintf(why, why_cap, "fork: %s", strerror(errno));
        close(out[0]);
        bench_server_stop();
        return err;
    }
    bench_server_child = pid;
    int port = bench_server_read_port(out[0], why, why_cap);
    /* shoutd --no-stats writes nothing after the port line; SIGPIPE cannot kill it. */
    close(out[0]);
    if (port < 0) {
        bench_server_show_log();
        bench_server_stop();
    }
    return port;
}

pid_t bench_server_pid(void)
{
    return bench_server_child;
}

void bench_server_stop(void)
{
    if (bench_server_child > 0) {
        kill(bench_server_child, SIGTERM);
        int status = bench_server_reap(BENCH_SERVER_STOP_MS);
        if (status == -1) {
            fprintf(stderr, "shout-bench: shoutd (pid %d) ignored SIGTERM; killing it\n",
                    (int)bench_server_child);
            kill(bench_server_child, SIGKILL);
            status = bench_server_reap(BENCH_SERVER_STOP_MS);
        }
        if (status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
            bench_server_show_log();
        bench_server_child = 0;
    }
    if (bench_server_log >= 0) {
        close(bench_server_log);
        bench_server_log = -1;
    }
}
