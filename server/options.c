#include "options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: shoutd [OPTIONS]\n"
    "\n"
    "The shout server: answers every byte it receives, uppercased (ASCII a-z\n"
    "only, like Python's bytes.upper()), over TCP and UDP on the same port.\n"
    "A TCP connection or UDP datagram whose first byte is 0xF5 speaks the\n"
    "framed protocol (docs/protocol.md); anything else is text.\n"
    "\n"
    "options:\n"
    "  --listen ADDR      address to listen on, IPv4 or IPv6 (e.g. ::1 or [::1]);\n"
    "                     repeat for several (default 127.0.0.1, loopback only)\n"
    "  --port N           TCP and UDP port (default 7680); 0 picks a port that is\n"
    "                     free for both, and prints it\n"
    "  --max-frame BYTES  largest framed payload accepted (default 1M, at most\n"
    "                     256M; K and M suffixes are binary); a longer frame gets\n"
    "                     error 4 before any of its payload is stored\n"
    "  --help             print this help and exit\n"
    "  --version          print the version and exit\n"
    "\n"
    "Once every socket listens, shoutd prints the port alone on a line to\n"
    "standard output. Logs go to standard error. SIGINT and SIGTERM stop it\n"
    "with exit status 0; a bad option exits with status 2.\n";

static enum options_result options_usage_error(const char *message, const char *value)
{
    fprintf(stderr, "shoutd: %s%s%s\n", message, value ? ": " : "", value ? value : "");
    fprintf(stderr, "shoutd: try 'shoutd --help'\n");
    return OPTIONS_EXIT_USAGE;
}

/* A whole decimal number with an optional K or M (binary) suffix, and nothing else. */
static int options_parse_size(const char *text, uint64_t max, uint64_t *value)
{
    if (text[0] < '0' || text[0] > '9')
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long number = strtoull(text, &end, 10);
    if (errno != 0)
        return -EINVAL;
    unsigned long long scale = 1;
    if (*end == 'K' || *end == 'k')
        scale = 1024;
    else if (*end == 'M' || *end == 'm')
        scale = 1024 * 1024;
    if (scale != 1)
        end++;
    if (*end != '\0' || number > max / scale)
        return -EINVAL;
    *value = number * scale;
    return 0;
}

static int options_add_listen(struct options *opts, const char *text)
{
    if (opts->listen_count == OPTIONS_MAX_LISTEN)
        return -ENOSPC;
    struct listen_addr *where = &opts->listen[opts->listen_count];
    char bare[64];
    size_t len = strlen(text);
    /* Accept [::1] as well as ::1, the way URLs write IPv6 addresses. */
    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        text++;
        len -= 2;
    }
    if (len >= sizeof bare)
        return -EINVAL;
    memcpy(bare, text, len);
    bare[len] = '\0';

    memset(where, 0, sizeof *where);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&where->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&where->addr;
    if (inet_pton(AF_INET, bare, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        where->addr_len = sizeof *v4;
    } else if (inet_pton(AF_INET6, bare, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        where->addr_len = sizeof *v6;
    } else {
        return -EINVAL;
    }
    snprintf(where->text, sizeof where->text, "%s", bare);
    opts->listen_count++;
    return 0;
}

enum options_result options_parse(struct options *opts, int argc, char **argv)
{
    enum { OPT_LISTEN = 256, OPT_PORT, OPT_MAX_FRAME, OPT_HELP, OPT_VERSION };
    static const struct option long_options[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"port", required_argument, NULL, OPT_PORT},
        {"max-frame", required_argument, NULL, OPT_MAX_FRAME},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    *opts = (struct options){.port = OPTIONS_DEFAULT_PORT, .max_frame = OPTIONS_DEFAULT_MAX_FRAME};

    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        uint64_t value;
        switch (opt) {
        case OPT_LISTEN:
            if (options_add_listen(opts, optarg) != 0)
                return options_usage_error("--listen needs an IPv4 or IPv6 address (at most 16)",
                                           optarg);
            break;
        case OPT_PORT:
            if (options_parse_size(optarg, 65535, &value) != 0 || strpbrk(optarg, "kKmM"))
                return options_usage_error("--port needs a number from 0 to 65535", optarg);
            opts->port = (uint16_t)value;
            break;
        case OPT_MAX_FRAME:
            if (options_parse_size(optarg, OPTIONS_MAX_MAX_FRAME, &value) != 0)
                return options_usage_error("--max-frame needs a size from 0 to 256M", optarg);
            opts->max_frame = (uint32_t)value;
            break;
        case 'h':
        case OPT_HELP:
            fputs(usage_text, stdout);
            return OPTIONS_EXIT_OK;
        case OPT_VERSION:
            printf("shoutd %s\n", SHOUT_VERSION);
            return OPTIONS_EXIT_OK;
        case ':':
            return options_usage_error("option needs a value", argv[optind - 1]);
        default:
            return options_usage_error("unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return options_usage_error("unexpected argument", argv[optind]);
    if (opts->listen_count == 0)
        options_add_listen(opts, "127.0.0.1");
    return OPTIONS_RUN;
}
