#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * AddressSanitizer (with LeakSanitizer) makes syscalls of its own in the
 * running process: see sandbox_add_sanitizer_rules.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif
#ifndef SANDBOX_SANITIZER
#define SANDBOX_SANITIZER 0
#endif

int sandbox_find_user(const char *name, struct sandbox_user *user)
{
    *user = (struct sandbox_user){.drop = false};
    if (name[0] == '\0')
        return 0;
    errno = 0;
    const struct passwd *pw = getpwnam(name);
    if (pw == NULL) {
        /* glibc reports "no such user" as NULL with errno 0, ENOENT or ESRCH. */
        if (errno == 0 || errno == ENOENT || errno == ESRCH)
            fprintf(stderr, "shoutd: --user %s: no such user\n", name);
        else
            fprintf(stderr, "shoutd: --user %s: cannot look the user up: %s\n", name,
                    strerror(errno));
        return -1;
    }
    if (pw->pw_uid == 0) {
        fprintf(stderr, "shoutd: --user %s: has uid 0, dropping to it would keep root\n", name);
        return -1;
    }
    if (geteuid() != 0) {
        fprintf(stderr,
                "shoutd: --user %s: only root can change user (shoutd runs as uid %u); "
                "start it as root or leave --user out\n",
                name, (unsigned)geteuid());
        return -1;
    }
    user->drop = true;
    user->uid = pw->pw_uid;
    user->gid = pw->pw_gid;
    snprintf(user->name, sizeof user->name, "%s", name);
    return 0;
}

int sandbox_drop_privileges(const struct sandbox_user *user)
{
    if (!user->drop) {
        if (geteuid() == 0)
            fprintf(stderr, "shoutd: warning: running as root; --user NAME would drop to NAME "
                            "once the sockets are bound\n");
        return 0;
    }
    /* No supplementary groups at all: shoutd opens no files, so a group can only grant. */
    if (setgroups(0, NULL) != 0) {
        fprintf(stderr, "shoutd: --user %s: setgroups: %s\n", user->name, strerror(errno));
        return -1;
    }
    /* The group first: once the uid is not root, the gid can no longer be changed. */
    if (setgid(user->gid) != 0) {
        fprintf(stderr, "shoutd: --user %s: setgid(%u): %s\n", user->name, (unsigned)user->gid,
                strerror(errno));
        return -1;
    }
    if (setuid(user->uid) != 0) {
        fprintf(stderr, "shoutd: --user %s: setuid(%u): %s\n", user->name, (unsigned)user->uid,
                strerror(errno));
        return -1;
    }
    /* Real, effective and saved ids must all have changed: root must not come back. */
    if (setuid(0) == 0 || setgid(0) == 0 || getuid() != user->uid || geteuid() != user->uid ||
        getgid() != user->gid || getegid() != user->gid) {
        fprintf(stderr, "shoutd: --user %s: root privileges could be regained, refusing to run\n",
                user->name);
        return -1;
    }
#if SANDBOX_SANITIZER
    /*
     * Changing uid makes the process non-dumpable, and LeakSanitizer's exit
     * check must ptrace the process from a clone of it, which a non-dumpable
     * process refuses. Sanitizer builds only: a release shoutd stays
     * non-dumpable, so no other process of the same user can ptrace it.
     */
    if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) {
        fprintf(stderr, "shoutd: --user %s: PR_SET_DUMPABLE: %s\n", user->name, strerror(errno));
        return -1;
    }
#endif
    fprintf(stderr, "shoutd: running as user %s (uid %u, gid %u)\n", user->name,
            (unsigned)user->uid, (unsigned)user->gid);
    return 0;
}

int sandbox_no_new_privs(void)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        fprintf(stderr, "shoutd: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * The syscalls the running loop makes (found with strace -f over every
 * integration test, not guessed), allowed whatever their arguments. The
 * ones allowed with restricted arguments are in sandbox_add_rules.
 */
static const int sandbox_plain_syscalls[] = {
    /* The event loop. */
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_ctl),
    /* Connections and datagrams (server/kernel.c: stream.c, dgram.c, stats.c call through it). */
    SCMP_SYS(accept4),
    SCMP_SYS(recvfrom),
    SCMP_SYS(recvmsg),
    SCMP_SYS(recvmmsg),
    SCMP_SYS(sendto),
    SCMP_SYS(sendmsg),
    SCMP_SYS(sendmmsg),
    SCMP_SYS(shutdown),
    SCMP_SYS(getsockopt),
    SCMP_SYS(close),
    /* The signalfd (SIGTERM, SIGINT, SIGUSR1, SIGHUP) and the loop's alarm (a timerfd, loop.c). */
    SCMP_SYS(read),
    SCMP_SYS(timerfd_settime),
    /* Time and the stats port's process figures (the vDSO usually answers the clocks). */
    SCMP_SYS(clock_gettime),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(getrusage),
    SCMP_SYS(getcpu),
    SCMP_SYS(getpid),
    /* malloc. */
    SCMP_SYS(brk),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(madvise),
    /* Signals and the end: abort() blocks signals, then raises SIGABRT on its own thread. */
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(gettid),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
};

/* One rule: the action for a syscall whose arguments pass every comparison. */
struct sandbox_rule {
    uint32_t action;
    int syscall;
    unsigned int count; /* comparisons used in args */
    struct scmp_arg_cmp args[2];
};

/*
 * Comparisons of a syscall's arguments. libseccomp's own SCMP_A0..SCMP_A5
 * leave datum_b out, which clang's -Wextra reports.
 */

/* (argument & mask) == value. */
static struct scmp_arg_cmp sandbox_arg_masked(unsigned int arg, scmp_datum_t mask,
                                              scmp_datum_t value)
{
    return (struct scmp_arg_cmp){
        .arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = mask, .datum_b = value};
}

/* An int argument compared on its low 32 bits, whatever the kernel sees above them. */
static struct scmp_arg_cmp sandbox_arg_int(unsigned int arg, int value)
{
    return sandbox_arg_masked(arg, 0xffffffff, (uint32_t)value);
}

static int sandbox_add(scmp_filter_ctx ctx, const struct sandbox_rule *rules, size_t count)
{
    int err = 0;
    for (size_t i = 0; err == 0 && i < count; i++)
        err = seccomp_rule_add_array(ctx, rules[i].action, rules[i].syscall, rules[i].count,
                                     rules[i].args);
    return err;
}

static int sandbox_add_rules(scmp_filter_ctx ctx)
{
    int err = 0;
    for (size_t i = 0; err == 0 && i < sizeof sandbox_plain_syscalls / sizeof(int); i++)
        err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sandbox_plain_syscalls[i], 0);
    const struct sandbox_rule rules[] = {
        /* Logs and the SIGUSR1 dump go to stderr; stdout was flushed at start-up. */
        {SCMP_ACT_ALLOW, SCMP_SYS(write), 1, {sandbox_arg_int(0, STDERR_FILENO)}},
        {SCMP_ACT_ALLOW, SCMP_SYS(write), 1, {sandbox_arg_int(0, STDOUT_FILENO)}},
        /* glibc's last words on a FORTIFY or stack-protector failure, before abort(). */
        {SCMP_ACT_ALLOW, SCMP_SYS(writev), 1, {sandbox_arg_int(0, STDERR_FILENO)}},
        /* abort(): SIGABRT to this process, nothing else to anyone. */
        {SCMP_ACT_ALLOW,
         SCMP_SYS(tgkill),
         2,
         {sandbox_arg_int(0, (int)getpid()), sandbox_arg_int(2, SIGABRT)}},
        /*
         * The spare descriptor (stream.c) reopens /dev/null after EMFILE:
         * open() is openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC). seccomp
         * cannot read the path, but the flags rule out writing, creating and
         * truncating.
         */
        {SCMP_ACT_ALLOW,
         SCMP_SYS(openat),
         2,
         {sandbox_arg_int(0, AT_FDCWD), sandbox_arg_int(2, O_RDONLY | O_CLOEXEC)}},
        /* Per connection: TCP_NODELAY at accept, SO_LINGER to reset one. No other option. */
        {SCMP_ACT_ALLOW,
         SCMP_SYS(setsockopt),
         2,
         {sandbox_arg_int(1, IPPROTO_TCP), sandbox_arg_int(2, TCP_NODELAY)}},
        {SCMP_ACT_ALLOW,
         SCMP_SYS(setsockopt),
         2,
         {sandbox_arg_int(1, SOL_SOCKET), sandbox_arg_int(2, SO_LINGER)}},
        /* malloc maps memory, never executable memory: shoutd generates no code. */
        {SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, {sandbox_arg_masked(2, PROT_EXEC, 0)}},
        {SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, {sandbox_arg_masked(2, PROT_EXEC, 0)}},
    };
    if (err == 0)
        err = sandbox_add(ctx, rules, sizeof rules / sizeof rules[0]);
    return err;
}

#if SANDBOX_SANITIZER
/*
 * Sanitizer builds (the asan preset) only, never a release: what the
 * AddressSanitizer and LeakSanitizer runtimes need in the running process,
 * found by running every integration test with the filter logging instead
 * of killing, and by tests/unit/test_sandbox.c (a leak check and an
 * AddressSanitizer report under the filter). At exit LeakSanitizer stops the
 * world: it clones a tracer (CLONE_VM | CLONE_FS | CLONE_FILES |
 * CLONE_UNTRACED: no new process image), which ptraces this process, lists
 * /proc/PID/task, reads /proc/self/maps, and is waited for. A report would
 * start llvm-symbolizer: its pipes, fork and execve fail with EPERM instead
 * of killing, so the report still prints, with addresses instead of names.
 * One thread is assumed: ptrace is allowed on this process's pid only.
 */
static struct scmp_arg_cmp sandbox_arg_eq(unsigned int arg, scmp_datum_t value)
{
    return (struct scmp_arg_cmp){.arg = arg, .op = SCMP_CMP_EQ, .datum_a = value, .datum_b = 0};
}

static struct scmp_arg_cmp sandbox_arg_ne(unsigned int arg, scmp_datum_t value)
{
    return (struct scmp_arg_cmp){.arg = arg, .op = SCMP_CMP_NE, .datum_a = value, .datum_b = 0};
}

static int sandbox_add_sanitizer_rules(scmp_filter_ctx ctx)
{
    static const int plain[] = {
        /* The tracer: its stack's signal handling, waiting for the stopped process. */
        SCMP_SYS(sigaltstack),
        SCMP_SYS(rt_sigaction),
        SCMP_SYS(getppid),
        SCMP_SYS(sched_yield),
        SCMP_SYS(wait4),
        /* The runtime's own locks, contended between the tracer and this process. */
        SCMP_SYS(futex),
        /* Listing /proc/PID/task: the threads to stop. */
        SCMP_SYS(getdents),
        SCMP_SYS(lseek),
        /* A report looks for llvm-symbolizer on PATH. */
        SCMP_SYS(stat),
    };
    int err = 0;
    for (size_t i = 0; err == 0 && i < sizeof plain / sizeof(int); i++)
        err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, plain[i], 0);
    const scmp_datum_t tracer = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED;
    const struct sandbox_rule rules[] = {
        /* The tracer is a clone sharing this process's memory: only that shape of clone. */
        {SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, {sandbox_arg_eq(0, tracer)}},
        {SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, {sandbox_arg_ne(0, tracer)}},
        /* ptrace this process only (one thread: its id is the pid). */
        {SCMP_ACT_ALLOW, SCMP_SYS(ptrace), 1, {sandbox_arg_int(1, (int)getpid())}},
        /* PR_SET_PTRACER (Yama) for the tracer, PR_SET_PDEATHSIG in it, PR_GET_DUMPABLE. */
        {SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, {sandbox_arg_int(0, PR_SET_PTRACER)}},
        {SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, {sandbox_arg_int(0, PR_SET_PDEATHSIG)}},
        {SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, {sandbox_arg_int(0, PR_GET_DUMPABLE)}},
        /* Whether stderr is a terminal (isatty), to colour a report. */
        {SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, {sandbox_arg_int(1, TCGETS)}},
        /*
         * The runtime's own open() (the open syscall, not openat): /proc/PID/task
         * as a directory, /proc/PID/task/TID/status and /proc/self/maps read-only.
         */
        {SCMP_ACT_ALLOW, SCMP_SYS(open), 1, {sandbox_arg_int(1, O_RDONLY)}},
        {SCMP_ACT_ALLOW, SCMP_SYS(open), 1, {sandbox_arg_int(1, O_RDONLY | O_DIRECTORY)}},
    };
    if (err == 0)
        err = sandbox_add(ctx, rules, sizeof rules / sizeof rules[0]);
    /* llvm-symbolizer cannot be started (its pipes, fork, exec): a report goes on without it. */
    static const int spawn[] = {SCMP_SYS(pipe),  SCMP_SYS(pipe2),  SCMP_SYS(fork),
                                SCMP_SYS(vfork), SCMP_SYS(execve), SCMP_SYS(execveat)};
    for (size_t i = 0; err == 0 && i < sizeof spawn / sizeof(int); i++)
        err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), spawn[i], 0);
    return err;
}
#endif

/* What happens to a syscall the list does not name. */
#define SANDBOX_DEFAULT_ACTION SCMP_ACT_KILL_PROCESS

int sandbox_enter(void)
{
    if (sandbox_no_new_privs() != 0)
        return -1;
    scmp_filter_ctx ctx = seccomp_init(SANDBOX_DEFAULT_ACTION);
    if (ctx == NULL) {
        fprintf(stderr,
                "shoutd: cannot set up the seccomp filter (--no-sandbox runs without it)\n");
        return -1;
    }
    /* A syscall made through another ABI (int 0x80, x32) dies too. */
    int err = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (err == 0)
        err = sandbox_add_rules(ctx);
#if SANDBOX_SANITIZER
    if (err == 0)
        err = sandbox_add_sanitizer_rules(ctx);
#endif
    if (err == 0)
        err = seccomp_load(ctx);
    seccomp_release(ctx);
    if (err != 0) {
        fprintf(stderr,
                "shoutd: cannot load the seccomp filter (--no-sandbox runs without it): %s\n",
                strerror(-err));
        return -1;
    }
    fprintf(stderr, "shoutd: sandboxed: seccomp allow-list, no new privileges\n");
    return 0;
}
