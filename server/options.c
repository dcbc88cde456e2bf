#include "options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "source.h"

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
    "  --stats-port N     TCP port of the counters: HTTP GET /metrics (Prometheus)\n"
    "                     and GET /stats.json, or one line of JSON to a client\n"
    "                     that sends nothing (default: the port + 1, with\n"
    "                     --port 0 too; 0 picks a free port)\n"
    "  --stats-listen ADDR\n"
    "                     address of the stats port (default 127.0.0.1 and each\n"
    "                     loopback --listen address); an address that is not\n"
    "                     loopback needs --stats-allow\n"
    "  --stats-allow CIDR let sources in CIDR (e.g. 192.0.2.0/24, 2001:db8::/32,\n"
    "                     or one address) read the stats port besides loopback;\n"
    "                     repeat for several (at most 8). Everyone else is refused\n"
    "  --no-stats         no stats port\n"
    "  --sockperf-port N  also answer sockperf's clients (ping-pong, under-load)\n"
    "                     in sockperf's format, TCP and UDP on port N of every\n"
    "                     --listen address (0 picks a free port; off by default)\n"
    "  --cpu N            pin shoutd to CPU N before serving\n"
    "  --udp-rate-per-ip R\n"
    "                     UDP replies per second to one source address (default\n"
    "                     1000; 0 for no limit); the rest are dropped and counted\n"
    "  --udp-rate-burst N replies one source may get at once (default 2 x R)\n"
    "  --udp-rate-loopback\n"
    "                     apply both UDP budgets to loopback sources too (127/8\n"
    "                     and ::1 are exempt by default: they cannot be spoofed\n"
    "                     from outside)\n"
    "  --max-conns N      open TCP connections at most (default 10000); one more\n"
    "                     is accepted and closed at once, and counted\n"
    "  --max-conns-per-ip N\n"
    "                     open TCP connections per source address (default a\n"
    "                     quarter of --max-conns; 0: no limit); loopback too\n"
    "  --ipv6-prefix N    count IPv6 sources by their first N bits, 1 to 128\n"
    "                     (default 64: one /64 is one source), for both\n"
    "                     --max-conns-per-ip and --udp-rate-per-ip; IPv4 (and\n"
    "                     IPv4-mapped IPv6) sources are counted per address\n"
    "  --udp-rate R       UDP replies per second, all non-loopback sources\n"
    "                     (default 100000, burst one second's worth; 0: no limit)\n"
    "                     UDP from source port 0, below 1024, or shoutd's own\n"
    "                     port is never answered\n"
    "  --max-output BYTES queued replies per TCP connection at which shoutd stops\n"
    "                     reading from it until it drains (default the larger of\n"
    "                     1M and one whole reply frame; at most 1G)\n"
    "  --max-buffered BYTES\n"
    "                     bytes the TCP connections' buffers may hold, all\n"
    "                     together (K, M and G suffixes are binary; default half\n"
    "                     of the cgroup's memory.max, or a quarter of the\n"
    "                     machine's memory without one); past it the largest\n"
    "                     holders are closed and counted\n"
    "  --max-buffered-per-ip BYTES\n"
    "                     the same for one source address (default a quarter\n"
    "                     of --max-buffered; 0: no per-source share)\n"
    "  --frame-timeout S  close a TCP connection that has sent nothing since it\n"
    "                     connected, or holds part of a frame, when no frame has\n"
    "                     completed for S seconds (default 10; 0: off, and the\n"
    "                     idle timeout watches such a connection instead)\n"
    "  --idle-timeout S   close a TCP connection with nothing in flight when no\n"
    "                     byte has moved for S seconds (default 60; 0: off)\n"
    "  --write-timeout S  reset a TCP connection whose queued replies the client\n"
    "                     has taken none of for S seconds (default 10; 0: off)\n"
    "  --busy-poll USEC   after each batch of events, keep asking epoll for more\n"
    "                     (a zero timeout) for USEC microseconds before sleeping:\n"
    "                     no wake-up to pay when the next request comes within it,\n"
    "                     at the price of a CPU spinning meanwhile (default 0:\n"
    "                     sleep at once; at most 1000000). Give shoutd a CPU of\n"
    "                     its own (--cpu) when it spins\n"
    "  --backlog N        listen backlog of the TCP ports, the stats port's too\n"
    "                     (default 511; the kernel caps it at net.core.somaxconn)\n"
    "  --user NAME        once every socket is bound, drop root privileges to\n"
    "                     user NAME (shoutd warns when it runs as root without it)\n"
    "  --no-sandbox       do not confine shoutd to its seccomp allow-list of\n"
    "                     system calls after start-up (on by default)\n"
    "  --grace S          on SIGTERM or SIGINT, seconds to answer what was read\n"
    "                     and close every connection (default 5); the rest are\n"
    "                     then cut, and shoutd still exits 0\n"
    "  --help             print this help and exit\n"
    "  --version          print the version and exit\n"
    "\n"
    "Once every socket listens, shoutd prints the port alone on a line to\n"
    "standard output, then 'stats N' (unless --no-stats) and 'sockperf N'\n"
    "(with --sockperf-port) on lines of their own. Logs go to standard error;\n"
    "refusals and drops by a limit are logged at most once a second per reason,\n"
    "with counts.\n"
    "SIGINT and SIGTERM stop it with exit status 0; SIGHUP is logged and\n"
    "ignored (there is no configuration file to reload); SIGUSR1 writes the\n"
    "counters to standard error. A bad option (or a --user\n"
    "that cannot be had) exits with status 2, and a failure to start (a port\n"
    "in use, a privilege drop or sandbox that fails) with status 1.\n";

static enum options_result options_usage_error(const char *message, const char *value)
{
    fprintf(stderr, "shoutd: %s%s%s\n", message, value ? ": " : "", value ? value : "");
    fprintf(stderr, "shoutd: try 'shoutd --help'\n");
    return OPTIONS_EXIT_USAGE;
}

/* A whole decimal number with an optional K, M or G (binary) suffix, and nothing else. */
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
    else if (*end == 'G' || *end == 'g')
        scale = 1024 * 1024 * 1024;
    if (scale != 1)
        end++;
    if (*end != '\0' || number > max / scale)
        return -EINVAL;
    *value = number * scale;
    return 0;
}

/* An IPv4 or IPv6 address (IPv6 optionally in brackets), port left 0. */
static int options_parse_addr(const char *text, struct listen_addr *where)
{
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
    return 0;
}

static int options_add_listen(struct options *opts, const char *text)
{
    if (opts->listen_count == OPTIONS_MAX_LISTEN)
        return -ENOSPC;
    int err = options_parse_addr(text, &opts->listen[opts->listen_count]);
    if (err == 0)
        opts->listen_count++;
    return err;
}

/* A port number, 0 to 65535, without the size suffixes. */
static int options_parse_port(const char *text, uint16_t *port)
{
    uint64_t value;
    if (options_parse_size(text, 65535, &value) != 0 || strpbrk(text, "kKmMgG"))
        return -EINVAL;
    *port = (uint16_t)value;
    return 0;
}

/* A plain decimal count, without the size suffixes. */
static int options_parse_count(const char *text, uint64_t max, uint64_t *value)
{
    if (options_parse_size(text, max, value) != 0 || strpbrk(text, "kKmMgG"))
        return -EINVAL;
    return 0;
}

/* Whole seconds, 0 (off) to a day. */
static int options_parse_timeout(const char *text, uint32_t *seconds)
{
    uint64_t value;
    if (options_parse_count(text, OPTIONS_MAX_TIMEOUT_S, &value) != 0)
        return -EINVAL;
    *seconds = (uint32_t)value;
    return 0;
}

enum options_result options_parse(struct options *opts, int argc, char **argv)
{
    enum {
        OPT_LISTEN = 256,
        OPT_PORT,
        OPT_MAX_FRAME,
        OPT_STATS_PORT,
        OPT_STATS_LISTEN,
        OPT_NO_STATS,
        OPT_STATS_ALLOW,
        OPT_SOCKPERF_PORT,
        OPT_CPU,
        OPT_UDP_RATE_PER_IP,
        OPT_UDP_RATE_BURST,
        OPT_UDP_RATE_LOOPBACK,
        OPT_UDP_RATE,
        OPT_MAX_CONNS,
        OPT_MAX_CONNS_PER_IP,
        OPT_IPV6_PREFIX,
        OPT_GRACE,
        OPT_MAX_OUTPUT,
        OPT_MAX_BUFFERED,
        OPT_MAX_BUFFERED_PER_IP,
        OPT_FRAME_TIMEOUT,
        OPT_IDLE_TIMEOUT,
        OPT_WRITE_TIMEOUT,
        OPT_BACKLOG,
        OPT_BUSY_POLL,
        OPT_USER,
        OPT_NO_SANDBOX,
        OPT_HELP,
        OPT_VERSION
    };
    static const struct option long_options[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"port", required_argument, NULL, OPT_PORT},
        {"max-frame", required_argument, NULL, OPT_MAX_FRAME},
        {"stats-port", required_argument, NULL, OPT_STATS_PORT},
        {"stats-listen", required_argument, NULL, OPT_STATS_LISTEN},
        {"no-stats", no_argument, NULL, OPT_NO_STATS},
        {"stats-allow", required_argument, NULL, OPT_STATS_ALLOW},
        {"sockperf-port", required_argument, NULL, OPT_SOCKPERF_PORT},
        {"cpu", required_argument, NULL, OPT_CPU},
        {"udp-rate-per-ip", required_argument, NULL, OPT_UDP_RATE_PER_IP},
        {"udp-rate-burst", required_argument, NULL, OPT_UDP_RATE_BURST},
        {"udp-rate-loopback", no_argument, NULL, OPT_UDP_RATE_LOOPBACK},
        {"udp-rate", required_argument, NULL, OPT_UDP_RATE},
        {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
        {"max-conns-per-ip", required_argument, NULL, OPT_MAX_CONNS_PER_IP},
        {"ipv6-prefix", required_argument, NULL, OPT_IPV6_PREFIX},
        {"grace", required_argument, NULL, OPT_GRACE},
        {"max-output", required_argument, NULL, OPT_MAX_OUTPUT},
        {"max-buffered", required_argument, NULL, OPT_MAX_BUFFERED},
        {"max-buffered-per-ip", required_argument, NULL, OPT_MAX_BUFFERED_PER_IP},
        {"frame-timeout", required_argument, NULL, OPT_FRAME_TIMEOUT},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"write-timeout", required_argument, NULL, OPT_WRITE_TIMEOUT},
        {"backlog", required_argument, NULL, OPT_BACKLOG},
        {"busy-poll", required_argument, NULL, OPT_BUSY_POLL},
        {"user", required_argument, NULL, OPT_USER},
        {"no-sandbox", no_argument, NULL, OPT_NO_SANDBOX},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    *opts = (struct options){
        .port = OPTIONS_DEFAULT_PORT,
        .max_frame = OPTIONS_DEFAULT_MAX_FRAME,
        .stats_enabled = true,
        .cpu = -1,
        .grace_s = OPTIONS_DEFAULT_GRACE_S,
        .udp_rate_per_ip = OPTIONS_DEFAULT_UDP_RATE_PER_IP,
        .udp_rate = OPTIONS_DEFAULT_UDP_RATE,
        .max_conns = OPTIONS_DEFAULT_MAX_CONNS,
        .ipv6_prefix = SOURCE_DEFAULT_IPV6_PREFIX,
        .frame_timeout_s = OPTIONS_DEFAULT_FRAME_TIMEOUT_S,
        .idle_timeout_s = OPTIONS_DEFAULT_IDLE_TIMEOUT_S,
        .write_timeout_s = OPTIONS_DEFAULT_WRITE_TIMEOUT_S,
        .backlog = OPTIONS_DEFAULT_BACKLOG,
        .sandbox = true,
    };
    bool max_conns_per_ip_given = false;
    bool stats_port_given = false;
    options_parse_addr(OPTIONS_DEFAULT_STATS_LISTEN, &opts->stats_listen);
    opts->stats_listen_default = true;

    opterr = 0;
    /*
     * 0, not 1: glibc then starts afresh. With 1 it keeps its scan pointer
     * inside the last argv it read (after "-hh" stopped at the first 'h'),
     * and the next parse would read a stale, maybe freed, string.
     */
    optind = 0;
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
            if (options_parse_port(optarg, &opts->port) != 0)
                return options_usage_error("--port needs a number from 0 to 65535", optarg);
            break;
        case OPT_STATS_PORT:
            if (options_parse_port(optarg, &opts->stats_port) != 0)
                return options_usage_error("--stats-port needs a number from 0 to 65535", optarg);
            stats_port_given = true;
            break;
        case OPT_STATS_LISTEN:
            if (options_parse_addr(optarg, &opts->stats_listen) != 0)
                return options_usage_error("--stats-listen needs an IPv4 or IPv6 address", optarg);
            opts->stats_listen_default = false;
            break;
        case OPT_NO_STATS:
            opts->stats_enabled = false;
            break;
        case OPT_STATS_ALLOW:
            if (opts->stats_allow_count == STATS_ALLOW_MAX)
                return options_usage_error("--stats-allow may be given at most 8 times", optarg);
            if (stats_allow_parse(optarg, &opts->stats_allow[opts->stats_allow_count]) != 0)
                return options_usage_error("--stats-allow needs an address or ADDR/BITS", optarg);
            opts->stats_allow_count++;
            break;
        case OPT_SOCKPERF_PORT:
            if (options_parse_port(optarg, &opts->sockperf_port) != 0)
                return options_usage_error("--sockperf-port needs a number from 0 to 65535",
                                           optarg);
            opts->sockperf_enabled = true;
            break;
        case OPT_CPU:
            /* Whether the CPU exists and may be used is checked when pinning. */
            if (options_parse_size(optarg, CPU_SETSIZE - 1, &value) != 0 ||
                strpbrk(optarg, "kKmMgG"))
                return options_usage_error("--cpu needs a CPU number", optarg);
            opts->cpu = (int)value;
            break;
        case OPT_UDP_RATE_PER_IP:
            if (options_parse_count(optarg, RATELIMIT_MAX_RATE, &value) != 0)
                return options_usage_error("--udp-rate-per-ip needs a rate from 0 to 100000000",
                                           optarg);
            opts->udp_rate_per_ip = (uint32_t)value;
            break;
        case OPT_UDP_RATE_BURST:
            if (options_parse_count(optarg, RATELIMIT_MAX_BURST, &value) != 0 || value == 0)
                return options_usage_error("--udp-rate-burst needs a count from 1 to 1000000000",
                                           optarg);
            opts->udp_rate_burst = (uint32_t)value;
            break;
        case OPT_UDP_RATE_LOOPBACK:
            opts->udp_rate_loopback = true;
            break;
        case OPT_UDP_RATE:
            if (options_parse_count(optarg, RATELIMIT_MAX_RATE, &value) != 0)
                return options_usage_error("--udp-rate needs a rate from 0 to 100000000", optarg);
            opts->udp_rate = (uint32_t)value;
            break;
        case OPT_MAX_CONNS:
            if (options_parse_count(optarg, OPTIONS_MAX_MAX_CONNS, &value) != 0 || value == 0)
                return options_usage_error("--max-conns needs a count from 1 to 10000000", optarg);
            opts->max_conns = (uint32_t)value;
            break;
        case OPT_MAX_CONNS_PER_IP:
            if (options_parse_count(optarg, OPTIONS_MAX_MAX_CONNS, &value) != 0)
                return options_usage_error("--max-conns-per-ip needs a count from 0 to 10000000",
                                           optarg);
            opts->max_conns_per_ip = (uint32_t)value;
            max_conns_per_ip_given = true;
            break;
        case OPT_IPV6_PREFIX:
            if (options_parse_count(optarg, SOURCE_MAX_IPV6_PREFIX, &value) != 0 || value == 0)
                return options_usage_error("--ipv6-prefix needs a prefix length from 1 to 128",
                                           optarg);
            opts->ipv6_prefix = (uint32_t)value;
            break;
        case OPT_MAX_FRAME:
            if (options_parse_size(optarg, OPTIONS_MAX_MAX_FRAME, &value) != 0)
                return options_usage_error("--max-frame needs a size from 0 to 256M", optarg);
            opts->max_frame = (uint32_t)value;
            break;
        case OPT_GRACE:
            if (options_parse_count(optarg, OPTIONS_MAX_GRACE_S, &value) != 0)
                return options_usage_error("--grace needs seconds from 0 to 3600", optarg);
            opts->grace_s = (uint32_t)value;
            break;
        case OPT_MAX_OUTPUT:
            if (options_parse_size(optarg, OPTIONS_MAX_MAX_OUTPUT, &value) != 0 || value == 0)
                return options_usage_error("--max-output needs a size from 1 to 1G", optarg);
            opts->max_output = (uint32_t)value;
            break;
        case OPT_MAX_BUFFERED:
            if (options_parse_size(optarg, OPTIONS_MAX_MAX_BUFFERED, &value) != 0 || value == 0)
                return options_usage_error("--max-buffered needs a size from 1 to 1024G", optarg);
            opts->max_buffered = value;
            break;
        case OPT_MAX_BUFFERED_PER_IP:
            if (options_parse_size(optarg, OPTIONS_MAX_MAX_BUFFERED, &value) != 0)
                return options_usage_error("--max-buffered-per-ip needs a size from 0 to 1024G",
                                           optarg);
            opts->max_buffered_per_ip = value;
            opts->max_buffered_per_ip_given = true;
            break;
        case OPT_FRAME_TIMEOUT:
            if (options_parse_timeout(optarg, &opts->frame_timeout_s) != 0)
                return options_usage_error("--frame-timeout needs whole seconds from 0 to 86400",
                                           optarg);
            break;
        case OPT_IDLE_TIMEOUT:
            if (options_parse_timeout(optarg, &opts->idle_timeout_s) != 0)
                return options_usage_error("--idle-timeout needs whole seconds from 0 to 86400",
                                           optarg);
            break;
        case OPT_WRITE_TIMEOUT:
            if (options_parse_timeout(optarg, &opts->write_timeout_s) != 0)
                return options_usage_error("--write-timeout needs whole seconds from 0 to 86400",
                                           optarg);
            break;
        case OPT_BACKLOG:
            if (options_parse_count(optarg, OPTIONS_MAX_BACKLOG, &value) != 0 || value == 0)
                return options_usage_error("--backlog needs a count from 1 to 65535", optarg);
            opts->backlog = (int)value;
            break;
        case OPT_BUSY_POLL:
            if (options_parse_count(optarg, OPTIONS_MAX_BUSY_POLL_US, &value) != 0)
                return options_usage_error("--busy-poll needs microseconds from 0 to 1000000",
                                           optarg);
            opts->busy_poll_us = (uint32_t)value;
            break;
        case OPT_USER:
            if (optarg[0] == '\0' || strlen(optarg) >= sizeof opts->user)
                return options_usage_error("--user needs a user name (at most 63 bytes)", optarg);
            memcpy(opts->user, optarg, strlen(optarg) + 1);
            break;
        case OPT_NO_SANDBOX:
            opts->sandbox = false;
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
    if (opts->udp_rate_burst == 0)
        opts->udp_rate_burst = opts->udp_rate_per_ip == 0 ? 1 : 2 * opts->udp_rate_per_ip;
    if (!max_conns_per_ip_given)
        /* One source must not be able to take the whole server. */
        opts->max_conns_per_ip = opts->max_conns < 4 ? 1 : opts->max_conns / 4;
    if (opts->listen_count == 0)
        options_add_listen(opts, "127.0.0.1");
    /*
     * The counters say how loaded the server is and which limits it hits:
     * binding them beyond loopback must be a decision, not a typo.
     */
    if (opts->stats_enabled && opts->stats_allow_count == 0 &&
        !stats_addr_is_loopback(&opts->stats_listen.addr)) {
        fprintf(stderr,
                "shoutd: --stats-listen %s is not loopback: give --stats-allow CIDR to let "
                "other machines read the counters\n",
                opts->stats_listen.text);
        return OPTIONS_EXIT_USAGE;
    }
    if (opts->stats_enabled && !stats_port_given) {
        if (opts->port == 65535)
            return options_usage_error("the default stats port (--port + 1) would be 65536; "
                                       "give --stats-port or --no-stats",
                                       NULL);
        opts->stats_port = opts->port == 0 ? 0 : (uint16_t)(opts->port + 1);
    }
    opts->stats_port_follows = opts->stats_enabled && !stats_port_given;
    return OPTIONS_RUN;
}

/* Where options_format writes: arguments, each ending in a NUL. */
struct options_writer {
    char *out;
    size_t cap;
    size_t len;
    int count;
    bool overflow;
};

static void options_write(struct options_writer *w, const char *arg)
{
    size_t n = strlen(arg) + 1;
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->out + w->len, arg, n);
    w->len += n;
    w->count++;
}

static void options_write_number(struct options_writer *w, const char *flag, uint64_t value)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, value);
    options_write(w, flag);
    options_write(w, text);
}

int options_format(const struct options *opts, char *out, size_t cap)
{
    struct options_writer w = {.out = out, .cap = cap};
    for (size_t i = 0; i < opts->listen_count; i++) {
        options_write(&w, "--listen");
        options_write(&w, opts->listen[i].text);
    }
    options_write_number(&w, "--port", opts->port);
    options_write_number(&w, "--max-frame", opts->max_frame);
    /* Derived from --port when it follows, so the second parse derives it the same way. */
    if (!opts->stats_port_follows)
        options_write_number(&w, "--stats-port", opts->stats_port);
    if (!opts->stats_listen_default) {
        options_write(&w, "--stats-listen");
        options_write(&w, opts->stats_listen.text);
    }
    if (!opts->stats_enabled)
        options_write(&w, "--no-stats");
    for (size_t i = 0; i < opts->stats_allow_count; i++) {
        char cidr[STATS_ALLOW_TEXT_MAX];
        stats_allow_format(&opts->stats_allow[i], cidr, sizeof cidr);
        options_write(&w, "--stats-allow");
        options_write(&w, cidr);
    }
    if (opts->sockperf_enabled)
        options_write_number(&w, "--sockperf-port", opts->sockperf_port);
    if (opts->cpu >= 0)
        options_write_number(&w, "--cpu", (uint64_t)opts->cpu);
    options_write_number(&w, "--udp-rate-per-ip", opts->udp_rate_per_ip);
    if (opts->udp_rate_burst != 0)
        options_write_number(&w, "--udp-rate-burst", opts->udp_rate_burst);
    if (opts->udp_rate_loopback)
        options_write(&w, "--udp-rate-loopback");
    options_write_number(&w, "--udp-rate", opts->udp_rate);
    options_write_number(&w, "--grace", opts->grace_s);
    options_write_number(&w, "--max-conns", opts->max_conns);
    options_write_number(&w, "--max-conns-per-ip", opts->max_conns_per_ip);
    options_write_number(&w, "--ipv6-prefix", opts->ipv6_prefix);
    options_write_number(&w, "--frame-timeout", opts->frame_timeout_s);
    options_write_number(&w, "--idle-timeout", opts->idle_timeout_s);
    options_write_number(&w, "--write-timeout", opts->write_timeout_s);
    /* 0 means "derive it", which no flag spells: leave those out. */
    if (opts->max_output != 0)
        options_write_number(&w, "--max-output", opts->max_output);
    if (opts->max_buffered != 0)
        options_write_number(&w, "--max-buffered", opts->max_buffered);
    if (opts->max_buffered_per_ip_given)
        options_write_number(&w, "--max-buffered-per-ip", opts->max_buffered_per_ip);
    options_write_number(&w, "--backlog", (uint64_t)opts->backlog);
    options_write_number(&w, "--busy-poll", opts->busy_poll_us);
    if (opts->user[0] != '\0') {
        options_write(&w, "--user");
        options_write(&w, opts->user);
    }
    if (!opts->sandbox)
        options_write(&w, "--no-sandbox");
    return w.overflow ? -ENOSPC : w.count;
}
