/*
 * sandbox: shoutd's process confinement, applied once every socket is bound.
 * Three steps, in this order: drop root to --user (setgroups, setgid,
 * setuid, each checked, then proven by setuid(0) failing); set
 * PR_SET_NO_NEW_PRIVS; load a seccomp allow-list of exactly the syscalls the
 * running loop makes, anything else killing the process with SIGSYS
 * (--no-sandbox leaves the allow-list out). docs/hardening.md ("Process")
 * lists the syscalls and why each is there.
 *
 * Memory: nothing outlives a call. struct sandbox_user belongs to the caller;
 * the seccomp filter is built, loaded and freed inside sandbox_enter (the
 * kernel keeps its own copy). This module is linked into shoutd and its unit
 * test only, not into shoutd_lib: the fuzz targets do not need libseccomp.
 */
#ifndef SHOUTD_SANDBOX_H
#define SHOUTD_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

/* Who --user names, looked up before binding, switched to after. */
struct sandbox_user {
    bool drop; /* false: no --user, stay as started */
    uid_t uid;
    gid_t gid;
    char name[64];
};

/*
 * Before binding: look up --user NAME (name "" when there is none). 0; or -1
 * with a one-line message on stderr (exit status 2: the command line asks for
 * what cannot be done) when NAME is unknown, is uid 0, or shoutd does not run
 * as root.
 */
int sandbox_find_user(const char *name, struct sandbox_user *user);

/*
 * After binding: drop to the user sandbox_find_user found: no supplementary
 * groups, then its gid, then its uid, and check that root cannot be taken
 * back. 0, or -1 with a one-line message on stderr. Without --user, a root
 * process only gets a warning on stderr and stays root.
 */
int sandbox_drop_privileges(const struct sandbox_user *user);

/* PR_SET_NO_NEW_PRIVS: no execve can raise privileges. 0, or -1 with a message. */
int sandbox_no_new_privs(void);

/*
 * PR_SET_NO_NEW_PRIVS, then the seccomp allow-list: from here on a syscall
 * the list does not name kills the process with SIGSYS. 0 (and a line
 * "shoutd: sandboxed: ..." on stderr), or -1 with a one-line message on
 * stderr (the process is then not confined).
 */
int sandbox_enter(void);

#endif
