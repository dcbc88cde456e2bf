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
#include "units.h"

/*
 * What --help says before and after the options. The options themselves are
 * written from options_table, the one place that names them, so the help,
 * the defaults and the man page (help2man reads --help) cannot disagree.
 */
static const char usage_head[] =
    "Usage: shoutd [OPTIONS]\n"
    "\n"
    "The shout server: answers every byte it receives, uppercased (ASCII a-z\n"
    "only, like Python's bytes.upper()), over TCP and UDP on the same port.\n"
    "A TCP connection or UDP datagram whose first byte is 0xF5 speaks the\n"
    "framed protocol (docs/protocol.md); anything else is text.\n"
    "\n"
    "Sizes take K, M, G and T suffixes, binary (1K = 1KiB = 1024); durations\n"
    "take ms, s, m and h (10s, 2m; a bare number is seconds). Short options\n"
    "follow iperf3's server: -p PORT, -B ADDR, -v, -h.\n"
    "\n"
    "Options:\n";

static const char usage_tail[] =
    "\n"
    "Once every socket listens, shoutd prints the port alone on a line to\n"
    "standard output, then 'stats N' (unless --no-stats) and 'sockperf N'\n"
    "(with --sockperf-port) on lines of their own. Logs go to standard error,\n"
    "each line prefixed 'shoutd: '; refusals and drops by a limit are logged at\n"
    "most once a second per reason, with counts.\n"
    "\n"
    "Signals: SIGINT and SIGTERM stop it with exit status 0; SIGHUP is logged\n"
    "and ignored (there is no configuration file to reload); SIGUSR1 writes the\n"
    "counters to standard error.\n"
    "\n"
    "Exit status: 0 after a signal or --help; 2 for a bad option, options that\n"
    "contradict each other, a --listen name that does not resolve or a --user\n"
    "that cannot be had; 1 for a failure to start (a port in use, a privilege\n"
    "drop or sandbox that fails).\n";

/* How an option's argument is read; the message for a bad one is made from it. */
enum options_kind {
    OPTIONS_FLAG,    /* no argument */
    OPTIONS_PORT,    /* 0 to 65535 */
    OPTIONS_COUNT,   /* a plain decimal number within [min, max] */
    OPTIONS_SIZE,    /* lib/units size, binary suffixes */
    OPTIONS_SECONDS, /* lib/units duration, whole seconds */
    OPTIONS_TEXT,    /* anything: the option checks it */
};

/* The options, in --help's order; options_id below follows the same order. */
enum options_id {
    OPT_LISTEN,
    OPT_PORT,
    OPT_MAX_FRAME,
    OPT_STATS_PORT,
    OPT_STATS_LISTEN,
    OPT_STATS_ALLOW,
    OPT_NO_STATS,
    OPT_SOCKPERF_PORT,
    OPT_CPU,
    OPT_UDP_RATE_PER_IP,
    OPT_UDP_RATE_BURST,
    OPT_UDP_RATE_LOOPBACK,
    OPT_UDP_RATE,
    OPT_MAX_CONNS,
    OPT_MAX_CONNS_PER_IP,
    OPT_IPV6_PREFIX,
    OPT_MAX_OUTPUT,
    OPT_MAX_BUFFERED,
    OPT_MAX_BUFFERED_PER_IP,
    OPT_FRAME_TIMEOUT,
    OPT_IDLE_TIMEOUT,
    OPT_WRITE_TIMEOUT,
    OPT_BUSY_POLL,
    OPT_BACKLOG,
    OPT_USER,
    OPT_NO_SANDBOX,
    OPT_GRACE,
    OPT_HELP,
    OPT_VERSION,
    OPT_COUNT
};

struct options_spec {
    const char *name;
    char short_name; /* 0: none */
    enum options_kind kind;
    const char *arg;  /* the argument's name in --help */
    bool has_default; /* def is stored before parsing and printed as the default */
    uint64_t def;
    const char *def_text; /* a default that is not one number (printed as is), or NULL */
    uint64_t min, max;    /* for numbers; printed as the range */
    const char *help;
};

#define OPTIONS_NUMBER(def_) .has_default = true, .def = (def_)

static const struct options_spec options_table[OPT_COUNT] = {
    [OPT_LISTEN] = {"listen", 'B', OPTIONS_TEXT, "ADDR", .def_text = "127.0.0.1, loopback only",
                    .help = "address to listen on: IPv4, IPv6 (::1 or [::1]) or a host name, "
                            "resolved at start-up (localhost: 127.0.0.1 and ::1); repeat for "
                            "several, at most 16, each once"},
    [OPT_PORT] = {"port", 'p', OPTIONS_PORT, "N", OPTIONS_NUMBER(OPTIONS_DEFAULT_PORT),
                  .max = 65535,
                  .help = "TCP and UDP port; 0 picks a port that is free for both, and prints it"},
    [OPT_MAX_FRAME] = {"max-frame", 0, OPTIONS_SIZE, "BYTES",
                       OPTIONS_NUMBER(OPTIONS_DEFAULT_MAX_FRAME), .max = OPTIONS_MAX_MAX_FRAME,
                       .help = "largest framed payload accepted; a longer frame gets error 4 "
                               "before any of its payload is stored"},
    [OPT_STATS_PORT] = {"stats-port", 0, OPTIONS_PORT, "N",
                        .def_text = "--port + 1, with --port "
                                    "0 too",
                        .max = 65535,
                        .help = "TCP port of the counters: HTTP GET /metrics (Prometheus) and GET "
                                "/stats.json, or one line of JSON to a client that sends nothing; "
                                "0 picks a free port"},
    [OPT_STATS_LISTEN] = {"stats-listen", 0, OPTIONS_TEXT, "ADDR",
                          .def_text = "127.0.0.1, each loopback --listen address, and ::1 "
                                      "for --listen ::",
                          .help = "address of the stats port (IPv4 or IPv6); one that is not "
                                  "loopback needs --stats-allow"},
    [OPT_STATS_ALLOW] = {"stats-allow", 0, OPTIONS_TEXT, "CIDR",
                         .help = "let sources in CIDR (192.0.2.0/24, 2001:db8::/32, or one "
                                 "address) read the stats port besides loopback; repeat for "
                                 "several (at most 8). Everyone else is refused"},
    [OPT_NO_STATS] = {"no-stats", 0, OPTIONS_FLAG, NULL, .help = "no stats port"},
    [OPT_SOCKPERF_PORT] = {"sockperf-port", 0, OPTIONS_PORT, "N", .def_text = "off", .max = 65535,
                           .help = "also answer sockperf's clients (ping-pong, under-load) in "
                                   "sockperf's format, TCP and UDP on port N of every --listen "
                                   "address; 0 picks a free port"},
    [OPT_CPU] = {"cpu", 0, OPTIONS_COUNT, "N", .def_text = "not pinned", .max = CPU_SETSIZE - 1,
                 .help = "pin shoutd to CPU N before serving"},
    [OPT_UDP_RATE_PER_IP] = {"udp-rate-per-ip", 0, OPTIONS_COUNT, "R",
                             OPTIONS_NUMBER(OPTIONS_DEFAULT_UDP_RATE_PER_IP),
                             .max = RATELIMIT_MAX_RATE,
                             .help = "UDP replies per second to one source address (0: no "
                                     "limit); the rest are dropped and counted"},
    [OPT_UDP_RATE_BURST] = {"udp-rate-burst", 0, OPTIONS_COUNT, "N",
                            .def_text = "2 x --udp-rate-per-ip", .min = 1,
                            .max = RATELIMIT_MAX_BURST,
                            .help = "replies one source may get at once"},
    [OPT_UDP_RATE_LOOPBACK] = {"udp-rate-loopback", 0, OPTIONS_FLAG, NULL,
                               .help = "apply both UDP budgets to loopback sources too (127/8 and "
                                       "::1 are exempt by default: they cannot be spoofed from "
                                       "outside)"},
    [OPT_UDP_RATE] = {"udp-rate", 0, OPTIONS_COUNT, "R", OPTIONS_NUMBER(OPTIONS_DEFAULT_UDP_RATE),
                      .max = RATELIMIT_MAX_RATE,
                      .help = "UDP replies per second, all non-loopback sources together, burst "
                              "one second's worth (0: no limit). UDP from source port 0, below "
                              "1024, or shoutd's own port is never answered"},
    [OPT_MAX_CONNS] = {"max-conns", 0, OPTIONS_COUNT, "N",
                       OPTIONS_NUMBER(OPTIONS_DEFAULT_MAX_CONNS), .min = 1,
                       .max = OPTIONS_MAX_MAX_CONNS,
                       .help = "open TCP connections at most; one more is accepted and closed "
                               "at once, and counted"},
    [OPT_MAX_CONNS_PER_IP] = {"max-conns-per-ip", 0, OPTIONS_COUNT, "N",
                              .def_text = "a quarter of --max-conns", .max = OPTIONS_MAX_MAX_CONNS,
                              .help = "open TCP connections per source address, loopback too; 0: "
                                      "no limit, and not above --max-conns"},
    [OPT_IPV6_PREFIX] = {"ipv6-prefix", 0, OPTIONS_COUNT, "N",
                         OPTIONS_NUMBER(SOURCE_DEFAULT_IPV6_PREFIX), .min = 1,
                         .max = SOURCE_MAX_IPV6_PREFIX,
                         .help = "count IPv6 sources by their first N bits (one /64 is one "
                                 "source by default), for --max-conns-per-ip and "
                                 "--udp-rate-per-ip; IPv4 (and IPv4-mapped IPv6) sources are "
                                 "counted per address"},
    [OPT_MAX_OUTPUT] = {"max-output", 0, OPTIONS_SIZE, "BYTES",
                        .def_text = "the larger of 1M and one whole reply frame", .min = 1,
                        .max = OPTIONS_MAX_MAX_OUTPUT,
                        .help = "queued replies per TCP connection at which shoutd stops reading "
                                "from it until it drains"},
    [OPT_MAX_BUFFERED] = {"max-buffered", 0, OPTIONS_SIZE, "BYTES",
                          .def_text = "half of the cgroup's memory.max, or a quarter of the "
                                      "machine's memory without one",
                          .min = 1, .max = OPTIONS_MAX_MAX_BUFFERED,
                          .help = "bytes the TCP connections' buffers may hold, all together; "
                                  "past it the largest holders are closed and counted"},
    [OPT_MAX_BUFFERED_PER_IP] = {"max-buffered-per-ip", 0, OPTIONS_SIZE, "BYTES",
                                 .def_text = "a quarter of --max-buffered",
                                 .max = OPTIONS_MAX_MAX_BUFFERED,
                                 .help = "the same for one source address (0: no per-source "
                                         "share)"},
    [OPT_FRAME_TIMEOUT] = {"frame-timeout", 0, OPTIONS_SECONDS, "TIME",
                           OPTIONS_NUMBER(OPTIONS_DEFAULT_FRAME_TIMEOUT_S),
                           .max = OPTIONS_MAX_TIMEOUT_S,
                           .help = "close a TCP connection that has sent nothing since it "
                                   "connected, or holds part of a frame, when no frame has "
                                   "completed for TIME (0: off, and the idle timeout watches such "
                                   "a connection instead)"},
    [OPT_IDLE_TIMEOUT] = {"idle-timeout", 0, OPTIONS_SECONDS, "TIME",
                          OPTIONS_NUMBER(OPTIONS_DEFAULT_IDLE_TIMEOUT_S),
                          .max = OPTIONS_MAX_TIMEOUT_S,
                          .help = "close a TCP connection with nothing in flight when no byte has "
                                  "moved for TIME (0: off)"},
    [OPT_WRITE_TIMEOUT] = {"write-timeout", 0, OPTIONS_SECONDS, "TIME",
                           OPTIONS_NUMBER(OPTIONS_DEFAULT_WRITE_TIMEOUT_S),
                           .max = OPTIONS_MAX_TIMEOUT_S,
                           .help = "reset a TCP connection whose queued replies the client has "
                                   "taken none of for TIME (0: off)"},
    [OPT_BUSY_POLL] = {"busy-poll", 0, OPTIONS_COUNT, "USEC", OPTIONS_NUMBER(0),
                       .max = OPTIONS_MAX_BUSY_POLL_US,
                       .help = "after each batch of events, keep asking epoll for more for USEC "
                               "microseconds before sleeping: no wake-up to pay when the next "
                               "request comes within it, at the price of a CPU spinning (0: "
                               "sleep at once). Give shoutd a CPU of its own (--cpu) when it "
                               "spins"},
    [OPT_BACKLOG] = {"backlog", 0, OPTIONS_COUNT, "N", OPTIONS_NUMBER(OPTIONS_DEFAULT_BACKLOG),
                     .min = 1, .max = OPTIONS_MAX_BACKLOG,
                     .help = "listen backlog of the TCP ports, the stats port's too (the kernel "
                             "caps it at net.core.somaxconn)"},
    [OPT_USER] = {"user", 0, OPTIONS_TEXT, "NAME",
                  .help = "once every socket is bound, drop root privileges to user NAME "
                          "(shoutd warns when it runs as root without it)"},
    [OPT_NO_SANDBOX] = {"no-sandbox", 0, OPTIONS_FLAG, NULL,
                        .help = "do not confine shoutd to its seccomp allow-list of system calls "
                                "after start-up (on by default)"},
    [OPT_GRACE] = {"grace", 0, OPTIONS_SECONDS, "TIME", OPTIONS_NUMBER(OPTIONS_DEFAULT_GRACE_S),
                   .max = OPTIONS_MAX_GRACE_S,
                   .help = "on SIGTERM or SIGINT, time to answer what was read and close every "
                           "connection; the rest are then cut, and shoutd still exits 0"},
    [OPT_HELP] = {"help", 'h', OPTIONS_FLAG, NULL, .help = "print this help and exit"},
    [OPT_VERSION] = {"version", 'v', OPTIONS_FLAG, NULL, .help = "print the version and exit"},
};

/* value as the option's kind spells it: 1M, 10s, 7680. */
static void options_format_value(enum options_kind kind, uint64_t value, char *out, size_t cap)
{
    if (kind == OPTIONS_SIZE)
        units_format_size(value, out, cap);
    else if (kind == OPTIONS_SECONDS)
        units_format_duration(value * UNITS_NS_PER_S, out, cap);
    else
        snprintf(out, cap, "%" PRIu64, value);
}

/* The range a number must be in, as the messages and --help say it: "from 0 to 256M". */
static void options_format_range(const struct options_spec *spec, char *out, size_t cap)
{
    char lo[UNITS_TEXT_MAX], hi[UNITS_TEXT_MAX];
    options_format_value(spec->kind, spec->min, lo, sizeof lo);
    options_format_value(spec->kind, spec->max, hi, sizeof hi);
    snprintf(out, cap, "%s to %s", lo, hi);
}

/* text wrapped to fit after a 22-column gutter in 80 columns. */
static void options_print_wrapped(FILE *out, const char *text, size_t column)
{
    enum { GUTTER = 22, WIDTH = 79 };
    if (column > GUTTER - 1) {
        fputc('\n', out);
        column = 0;
    }
    fprintf(out, "%*s", (int)(GUTTER - column), "");
    column = GUTTER;
    while (*text) {
        size_t word = strcspn(text, " ");
        if (column > GUTTER && column + 1 + word > WIDTH) {
            fprintf(out, "\n%*s", GUTTER, "");
            column = GUTTER;
        } else if (column > GUTTER) {
            fputc(' ', out);
            column++;
        }
        fwrite(text, 1, word, out);
        column += word;
        text += word;
        text += strspn(text, " ");
    }
    fputc('\n', out);
}

static void options_print_help(FILE *out)
{
    fputs(usage_head, out);
    for (int id = 0; id < OPT_COUNT; id++) {
        const struct options_spec *spec = &options_table[id];
        char lead[64], text[640];
        int lead_len =
            snprintf(lead, sizeof lead, "  %s%c%s--%s%s%s", spec->short_name ? "-" : "",
                     spec->short_name ? spec->short_name : ' ', spec->short_name ? ", " : "   ",
                     spec->name, spec->arg ? " " : "", spec->arg ? spec->arg : "");
        fputs(lead, out);
        /* "(RANGE; default X)": the range only where the kind does not say it already. */
        char notes[2][160];
        int note_count = 0;
        if (spec->kind == OPTIONS_COUNT || spec->kind == OPTIONS_SIZE ||
            spec->kind == OPTIONS_SECONDS) {
            char range[2 * UNITS_TEXT_MAX + 8];
            options_format_range(spec, range, sizeof range);
            snprintf(notes[note_count++], sizeof notes[0], "%s", range);
        }
        if (spec->has_default) {
            char value[UNITS_TEXT_MAX];
            options_format_value(spec->kind, spec->def, value, sizeof value);
            snprintf(notes[note_count++], sizeof notes[0], "default %s", value);
        } else if (spec->def_text) {
            snprintf(notes[note_count++], sizeof notes[0], "default %s", spec->def_text);
        }
        if (note_count == 0)
            snprintf(text, sizeof text, "%s", spec->help);
        else if (note_count == 1)
            snprintf(text, sizeof text, "%s (%s)", spec->help, notes[0]);
        else
            snprintf(text, sizeof text, "%s (%s; %s)", spec->help, notes[0], notes[1]);
        options_print_wrapped(out, text, (size_t)lead_len);
    }
    fputs(usage_tail, out);
}

/* One line, one prefix: what was wrong, with what, and where to read more. */
static enum options_result options_usage_error(const char *message, const char *value)
{
    fprintf(stderr, "shoutd: %s%s%s (see shoutd --help)\n", message, value ? ": " : "",
            value ? value : "");
    return OPTIONS_EXIT_USAGE;
}

/* The message for a bad value of a numeric option, made from its table entry. */
static enum options_result options_bad_value(const struct options_spec *spec, const char *value,
                                             int err)
{
    char range[2 * UNITS_TEXT_MAX + 8];
    options_format_range(spec, range, sizeof range);
    static const char *const what[] = {
        [OPTIONS_PORT] = "a port number",
        [OPTIONS_COUNT] = "a whole number",
        [OPTIONS_SIZE] = "a size (K, M, G, T binary)",
        [OPTIONS_SECONDS] = "whole seconds (10, 10s, 2m)",
    };
    fprintf(stderr, "shoutd: --%s %s: %sneeds %s from %s (see shoutd --help)\n", spec->name, value,
            err == -ERANGE ? "out of range, " : "", what[spec->kind], range);
    return OPTIONS_EXIT_USAGE;
}

/* Reads a numeric option's argument by its kind; 0, -EINVAL or -ERANGE. */
static int options_parse_number(const struct options_spec *spec, const char *text, uint64_t *value)
{
    int err;
    if (spec->kind == OPTIONS_SIZE) {
        err = units_parse_size(text, spec->max, value);
    } else if (spec->kind == OPTIONS_SECONDS) {
        uint64_t ns;
        err = units_parse_duration_ns(text, spec->max * UNITS_NS_PER_S, &ns);
        /* Timers here tick in seconds: 0.5 would be silently 0 or 1. */
        if (err == 0 && ns % UNITS_NS_PER_S != 0)
            err = -EINVAL;
        if (err == 0)
            *value = ns / UNITS_NS_PER_S;
    } else {
        /* Counts and ports take no suffix: 1k connections reads as a size. */
        if (strspn(text, "0123456789") != strlen(text))
            return -EINVAL;
        err = units_parse_size(text, spec->max, value);
    }
    if (err == 0 && *value < spec->min)
        err = -ERANGE;
    return err;
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

/*
 * A host name as RFC 1123 spells one: letters, digits, '-' and '.', not
 * starting with '-' or '.'. Kept unresolved (addr_len 0): options_resolve
 * asks getaddrinfo at start-up, so that parsing stays pure (and fuzzable).
 */
static int options_parse_host(const char *text, struct listen_addr *where)
{
    size_t len = strlen(text);
    if (len == 0 || len >= sizeof where->text || text[0] == '-' || text[0] == '.' ||
        strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != len)
        return -EINVAL;
    /* All digits and dots is a bad IPv4 address (256.0.0.1), not a name. */
    if (strspn(text, "0123456789.") == len)
        return -EINVAL;
    memset(where, 0, sizeof *where);
    memcpy(where->text, text, len + 1);
    return 0;
}

static bool options_same_listen(const struct listen_addr *a, const struct listen_addr *b)
{
    if (a->addr_len == 0 || b->addr_len == 0)
        return a->addr_len == b->addr_len && strcmp(a->text, b->text) == 0;
    return a->addr_len == b->addr_len && memcmp(&a->addr, &b->addr, a->addr_len) == 0;
}

static enum options_result options_add_listen(struct options *opts, const char *text)
{
    if (opts->listen_count == OPTIONS_MAX_LISTEN)
        return options_usage_error("--listen may be given at most 16 times", text);
    struct listen_addr *where = &opts->listen[opts->listen_count];
    if (options_parse_addr(text, where) != 0 && options_parse_host(text, where) != 0)
        return options_usage_error("--listen needs an IPv4 or IPv6 address or a host name", text);
    /* Binding one address twice fails later as "port 0: Address already in use". */
    for (size_t i = 0; i < opts->listen_count; i++) {
        if (options_same_listen(&opts->listen[i], where))
            return options_usage_error("--listen given twice for the same address", text);
    }
    opts->listen_count++;
    return OPTIONS_RUN;
}

/* Stores a numeric option's value; the table's defaults go through here too. */
static void options_store(struct options *opts, enum options_id id, uint64_t value)
{
    switch (id) {
    case OPT_PORT:
        opts->port = (uint16_t)value;
        break;
    case OPT_MAX_FRAME:
        opts->max_frame = (uint32_t)value;
        break;
    case OPT_STATS_PORT:
        opts->stats_port = (uint16_t)value;
        break;
    case OPT_SOCKPERF_PORT:
        opts->sockperf_port = (uint16_t)value;
        opts->sockperf_enabled = true;
        break;
    case OPT_CPU:
        opts->cpu = (int)value;
        break;
    case OPT_UDP_RATE_PER_IP:
        opts->udp_rate_per_ip = (uint32_t)value;
        break;
    case OPT_UDP_RATE_BURST:
        opts->udp_rate_burst = (uint32_t)value;
        break;
    case OPT_UDP_RATE:
        opts->udp_rate = (uint32_t)value;
        break;
    case OPT_MAX_CONNS:
        opts->max_conns = (uint32_t)value;
        break;
    case OPT_MAX_CONNS_PER_IP:
        opts->max_conns_per_ip = (uint32_t)value;
        break;
    case OPT_IPV6_PREFIX:
        opts->ipv6_prefix = (uint32_t)value;
        break;
    case OPT_MAX_OUTPUT:
        opts->max_output = (uint32_t)value;
        break;
    case OPT_MAX_BUFFERED:
        opts->max_buffered = value;
        break;
    case OPT_MAX_BUFFERED_PER_IP:
        opts->max_buffered_per_ip = value;
        opts->max_buffered_per_ip_given = true;
        break;
    case OPT_FRAME_TIMEOUT:
        opts->frame_timeout_s = (uint32_t)value;
        break;
    case OPT_IDLE_TIMEOUT:
        opts->idle_timeout_s = (uint32_t)value;
        break;
    case OPT_WRITE_TIMEOUT:
        opts->write_timeout_s = (uint32_t)value;
        break;
    case OPT_BUSY_POLL:
        opts->busy_poll_us = (uint32_t)value;
        break;
    case OPT_BACKLOG:
        opts->backlog = (int)value;
        break;
    case OPT_GRACE:
        opts->grace_s = (uint32_t)value;
        break;
    default:
        break;
    }
}

/* An option whose argument is text, or a flag. */
static enum options_result options_apply(struct options *opts, enum options_id id, const char *arg)
{
    switch (id) {
    case OPT_LISTEN:
        return options_add_listen(opts, arg);
    case OPT_STATS_LISTEN:
        if (options_parse_addr(arg, &opts->stats_listen) != 0)
            return options_usage_error("--stats-listen needs an IPv4 or IPv6 address", arg);
        opts->stats_listen_default = false;
        break;
    case OPT_STATS_ALLOW:
        if (opts->stats_allow_count == STATS_ALLOW_MAX)
            return options_usage_error("--stats-allow may be given at most 8 times", arg);
        if (stats_allow_parse(arg, &opts->stats_allow[opts->stats_allow_count]) != 0)
            return options_usage_error("--stats-allow needs an address or ADDR/BITS", arg);
        opts->stats_allow_count++;
        break;
    case OPT_NO_STATS:
        opts->stats_enabled = false;
        break;
    case OPT_UDP_RATE_LOOPBACK:
        opts->udp_rate_loopback = true;
        break;
    case OPT_USER:
        if (arg[0] == '\0' || strlen(arg) >= sizeof opts->user)
            return options_usage_error("--user needs a user name (at most 63 bytes)", arg);
        memcpy(opts->user, arg, strlen(arg) + 1);
        break;
    case OPT_NO_SANDBOX:
        opts->sandbox = false;
        break;
    case OPT_HELP:
        options_print_help(stdout);
        return OPTIONS_EXIT_OK;
    case OPT_VERSION:
        printf("shoutd %s\n", SHOUT_VERSION);
        return OPTIONS_EXIT_OK;
    default:
        break;
    }
    return OPTIONS_RUN;
}

/* What the options say together: contradictions refused, derived defaults filled in. */
static enum options_result options_finish(struct options *opts, const bool given[OPT_COUNT])
{
    if (!opts->stats_enabled && given[OPT_STATS_PORT])
        return options_usage_error("--no-stats and --stats-port contradict each other", NULL);
    if (given[OPT_MAX_CONNS_PER_IP] && opts->max_conns_per_ip > opts->max_conns) {
        char message[128];
        snprintf(message, sizeof message,
                 "--max-conns-per-ip %u is above --max-conns %u: one source could never reach it",
                 opts->max_conns_per_ip, opts->max_conns);
        return options_usage_error(message, NULL);
    }
    if (opts->udp_rate_burst == 0)
        opts->udp_rate_burst = opts->udp_rate_per_ip == 0 ? 1 : 2 * opts->udp_rate_per_ip;
    if (!given[OPT_MAX_CONNS_PER_IP])
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
    if (opts->stats_enabled && !given[OPT_STATS_PORT]) {
        if (opts->port == 65535)
            return options_usage_error("the default stats port (--port + 1) would be 65536; "
                                       "give --stats-port or --no-stats",
                                       NULL);
        opts->stats_port = opts->port == 0 ? 0 : (uint16_t)(opts->port + 1);
    }
    opts->stats_port_follows = opts->stats_enabled && !given[OPT_STATS_PORT];
    return OPTIONS_RUN;
}

enum options_result options_parse(struct options *opts, int argc, char **argv)
{
    /* getopt's tables, made from options_table; val is the option's id. */
    struct option long_options[OPT_COUNT + 1];
    char short_options[2 * OPT_COUNT + 2] = ":";
    size_t short_len = 1;
    for (int id = 0; id < OPT_COUNT; id++) {
        const struct options_spec *spec = &options_table[id];
        long_options[id] = (struct option){
            spec->name, spec->kind == OPTIONS_FLAG ? no_argument : required_argument, NULL, id};
        if (spec->short_name) {
            short_options[short_len++] = spec->short_name;
            if (spec->kind != OPTIONS_FLAG)
                short_options[short_len++] = ':';
        }
    }
    short_options[short_len] = '\0';
    long_options[OPT_COUNT] = (struct option){NULL, 0, NULL, 0};

    *opts = (struct options){.stats_enabled = true, .cpu = -1, .sandbox = true};
    for (int id = 0; id < OPT_COUNT; id++) {
        if (options_table[id].has_default)
            options_store(opts, (enum options_id)id, options_table[id].def);
    }
    options_parse_addr(OPTIONS_DEFAULT_STATS_LISTEN, &opts->stats_listen);
    opts->stats_listen_default = true;
    bool given[OPT_COUNT] = {false};

    opterr = 0;
    /*
     * 0, not 1: glibc then starts afresh. With 1 it keeps its scan pointer
     * inside the last argv it read (after "-hh" stopped at the first 'h'),
     * and the next parse would read a stale, maybe freed, string.
     */
    optind = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
        int id;
        if (opt == ':')
            return options_usage_error("option needs a value", argv[optind - 1]);
        if (opt < OPT_COUNT && opt >= 0) {
            id = opt;
        } else {
            /* A short option: getopt gives its letter. */
            id = OPT_COUNT;
            for (int i = 0; i < OPT_COUNT; i++) {
                if (options_table[i].short_name && options_table[i].short_name == opt)
                    id = i;
            }
        }
        if (id == OPT_COUNT)
            return options_usage_error("unknown option", argv[optind - 1]);
        const struct options_spec *spec = &options_table[id];
        given[id] = true;
        if (spec->kind == OPTIONS_FLAG || spec->kind == OPTIONS_TEXT) {
            enum options_result result = options_apply(opts, (enum options_id)id, optarg);
            if (result != OPTIONS_RUN)
                return result;
            continue;
        }
        uint64_t value;
        int err = options_parse_number(spec, optarg, &value);
        if (err != 0)
            return options_bad_value(spec, optarg, err);
        options_store(opts, (enum options_id)id, value);
    }
    if (optind < argc)
        return options_usage_error("unexpected argument", argv[optind]);
    return options_finish(opts, given);
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

/* Sizes and durations as a user would write them (1M, 2m): lib/units reads them back. */
static void options_write_size(struct options_writer *w, const char *flag, uint64_t bytes)
{
    char text[UNITS_TEXT_MAX];
    units_format_size(bytes, text, sizeof text);
    options_write(w, flag);
    options_write(w, text);
}

static void options_write_seconds(struct options_writer *w, const char *flag, uint32_t seconds)
{
    char text[UNITS_TEXT_MAX];
    units_format_duration((uint64_t)seconds * UNITS_NS_PER_S, text, sizeof text);
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
    options_write_size(&w, "--max-frame", opts->max_frame);
    /* Derived from --port when it follows, so the second parse derives it the same way. */
    if (opts->stats_enabled && !opts->stats_port_follows)
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
    options_write_seconds(&w, "--grace", opts->grace_s);
    options_write_number(&w, "--max-conns", opts->max_conns);
    options_write_number(&w, "--max-conns-per-ip", opts->max_conns_per_ip);
    options_write_number(&w, "--ipv6-prefix", opts->ipv6_prefix);
    options_write_seconds(&w, "--frame-timeout", opts->frame_timeout_s);
    options_write_seconds(&w, "--idle-timeout", opts->idle_timeout_s);
    options_write_seconds(&w, "--write-timeout", opts->write_timeout_s);
    /* 0 means "derive it", which no flag spells: leave those out. */
    if (opts->max_output != 0)
        options_write_size(&w, "--max-output", opts->max_output);
    if (opts->max_buffered != 0)
        options_write_size(&w, "--max-buffered", opts->max_buffered);
    if (opts->max_buffered_per_ip_given)
        options_write_size(&w, "--max-buffered-per-ip", opts->max_buffered_per_ip);
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
