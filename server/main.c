/*
 * shoutd: the shout server. main reads the options and runs the server
 * (server.h) until SIGINT or SIGTERM; everything else is the shoutd_lib
 * library, which the fuzz targets link too.
 */
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
    server_init(&server);
    if (server.opts.cpu >= 0 && server_pin_cpu(server.opts.cpu) != 0)
        return 2;
    if (server_start(&server) != 0)
        return 1;
    int err = server_run(&server);
    server_stop(&server);
    return err == 0 ? 0 : 1;
}
