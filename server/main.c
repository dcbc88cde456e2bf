/*
 * shoutd: the shout server. main reads the options, binds every socket
 * (server.h), then confines the process (sandbox.h: --user, no new
 * privileges, the seccomp allow-list) and runs the server until SIGINT or
 * SIGTERM. Everything but the sandbox is the shoutd_lib library, which the
 * fuzz targets link too.
 */
#include <stdio.h>

#include "resolve.h"
#include "sandbox.h"
#include "server.h"

int main(int argc, char **argv)
{
    static struct server server;
    switch (options_parse(&server.opts, argc, argv)) {
    case OPTIONS_EXIT_OK:
        return 0;
    case OPTIONS_EXIT_USAGE:
        return 2;
    case OPTIONS_RUN:
        break;
    }
    /* Names first: the sandbox, later, allows no resolver. A name that fails is a usage error. */
    if (resolve_listen(&server.opts) != 0)
        return 2;
    /* --user is looked up before anything is bound, so a wrong name costs nothing. */
    struct sandbox_user user;
    if (sandbox_find_user(server.opts.user, &user) != 0)
        return 2;
    server_init(&server, &kernel_system);
    if (server.opts.cpu >= 0 && server_pin_cpu(server.opts.cpu) != 0)
        return 2;
    if (server_start(&server) != 0)
        return 1;
    /* Every socket is bound: root is not needed any more, and neither are most syscalls. */
    int err = sandbox_drop_privileges(&user);
    if (err == 0)
        err = server.opts.sandbox ? sandbox_enter() : sandbox_no_new_privs();
    if (err == 0 && !server.opts.sandbox)
        fprintf(stderr, "shoutd: --no-sandbox: no seccomp filter\n");
    if (err == 0)
        err = server_run(&server);
    server_stop(&server);
    return err == 0 ? 0 : 1;
}
