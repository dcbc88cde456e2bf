/*
 * cli: shout's option table and what is generated from it (cli.h).
 */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "load.h"
#include "units.h"

#define S CLI_TAKES(CLI_SEND)
#define P CLI_TAKES(CLI_PING)
#define L CLI_TAKES(CLI_LOAD)

/* poll() takes an int of milliseconds, so no wait can be longer. */
#define CLI_MAX_SECONDS 2147483.0

/*
 * The rows, in the order --help lists them. short_name is {send, ping, load}.
 * An option whose default differs per subcommand has one row per default.
 * clang-format is off here: laid out one field a line, the table would no
 * longer read as one.
 */
/* clang-format off */
static const struct cli_option cli_table[] = {
    {CLI_HOST, "host", {0, 0, 0}, S | P | L, CLI_ARG_TEXT, "HOST", "127.0.0.1", NULL, 0, 0,
     "the server: a name, or an IPv4 or IPv6 address\n"
     "without brackets or port; each of its addresses\n"
     "is tried in turn (-6 with no --host: ::1)"},
    {CLI_PORT, "port", {'p', 'p', 'p'}, S | P | L, CLI_ARG_PORT, "PORT", "7680", NULL, 1, 65535,
     "the server's port"},
    {CLI_UDP, "udp", {'u', 'u', 'u'}, S | P | L, CLI_ARG_NONE, NULL, NULL, "TCP", 0, 0,
     "use UDP, one datagram per request"},
    {CLI_IPV4, "ipv4", {'4', '4', '4'}, S | P | L, CLI_ARG_NONE, NULL, NULL, NULL, 0, 0,
     "use only the host's IPv4 addresses"},
    {CLI_IPV6, "ipv6", {'6', '6', '6'}, S | P | L, CLI_ARG_NONE, NULL, NULL, NULL, 0, 0,
     "use only the host's IPv6 addresses"},
    {CLI_FRAMED, "framed", {0, 0, 0}, S | P | L, CLI_ARG_NONE, NULL, NULL, "text mode", 0, 0,
     "use the framed protocol (16-byte header, ids)"},
    {CLI_TIMEOUT, "timeout", {'w', 0, 0}, S, CLI_ARG_SECONDS, "SECONDS", "5", NULL,
     0.001, CLI_MAX_SECONDS,
     "TCP: the limit to connect, and for no byte\n"
     "moving either way; UDP: the wait for each reply"},
    {CLI_TIMEOUT, "timeout", {0, 'W', 0}, P | L, CLI_ARG_SECONDS, "SECONDS", NULL,
     "1 over UDP, 10 over TCP", 0.001, CLI_MAX_SECONDS,
     "UDP: a later reply is counted lost; TCP: a later\n"
     "reply fails the run (exit 4); also the limit to\n"
     "connect"},
    {CLI_SIZE, "size", {0, 's', 0}, P | L, CLI_ARG_SIZE, "BYTES", "64", NULL, 0, FLOW_SIZE_MAX,
     "payload bytes per request; K, M binary (16K = 16384)"},
    {CLI_DURATION, "duration", {0, 't', 'd'}, P | L, CLI_ARG_SECONDS, "SECONDS", "5", NULL,
     0.001, CLI_MAX_SECONDS,
     "seconds to measure"},
    {CLI_COUNT, "count", {0, 'c', 0}, P | L, CLI_ARG_WHOLE, "N", NULL, "--duration decides",
     1, 1e12,
     "measure exactly N requests instead (load: in all)"},
    {CLI_WARMUP, "warmup", {0, 0, 0}, P | L, CLI_ARG_SECONDS, "SECONDS", "1", NULL,
     0, CLI_MAX_SECONDS,
     "seconds of traffic before measuring, not recorded"},
    {CLI_CONNECTIONS, "connections", {0, 0, 'c'}, L, CLI_ARG_WHOLE, "N", "1", NULL,
     1, LOAD_MAX_CONNECTIONS,
     "connections (UDP: connected sockets)"},
    {CLI_THREADS, "threads", {0, 0, 't'}, L, CLI_ARG_WHOLE, "N", "1", NULL, 1, LOAD_MAX_THREADS,
     "threads, at most one per connection; connection\n"
     "c runs on thread c mod N"},
    {CLI_PIPELINE, "pipeline", {0, 0, 0}, L, CLI_ARG_WHOLE, "N", "1", NULL, 1, FLOW_WINDOW_MAX,
     "requests in flight per connection (UDP: the window)"},
    {CLI_RATE, "rate", {0, 0, 'R'}, L, CLI_ARG_RATE, "PER_S", NULL, "closed loop", 0.001, 1e9,
     "requests/s over all connections: open loop,\n"
     "latency from each request's intended send time"},
    {CLI_SOCKPERF, "sockperf", {0, 0, 0}, P, CLI_ARG_NONE, NULL, NULL, NULL, 0, 0,
     "speak sockperf's format to a sockperf server;\n"
     "--size is then the whole message (at least 14)"},
    {CLI_CPU, "cpu", {0, 0, 0}, P, CLI_ARG_CPUS, "CPU", NULL, "not pinned", 0, 0,
     "pin the client to this CPU"},
    {CLI_CPU, "cpu", {0, 0, 0}, L, CLI_ARG_CPUS, "LIST", NULL, "not pinned", 0, 0,
     "CPUs separated by commas, one per thread at\n"
     "most, given to the threads in turn"},
    {CLI_BUSY_POLL, "busy-poll", {0, 0, 0}, P | L, CLI_ARG_NONE, NULL, NULL, NULL, 0, 0,
     "wait for replies by spinning (a CPU at 100% per\n"
     "thread); pin it (--cpu) away from shoutd's CPU"},
    {CLI_JSON, "json", {0, 0, 0}, P | L, CLI_ARG_TEXT, "FILE", NULL, NULL, 0, 0,
     "also write the result as JSON (FILE - is stdout;\n"
     "the table then goes to stderr)"},
    /* Under 10 ms a line would cost more than the interval it describes. */
    {CLI_PROGRESS, "progress", {0, 0, 0}, P | L, CLI_ARG_NONE, NULL, NULL, "on a terminal", 0, 0,
     "a progress line on stderr each interval (runs\n"
     "over 2 s)"},
    {CLI_INTERVAL, "interval", {0, 0, 0}, P | L, CLI_ARG_SECONDS, "SECONDS", NULL, "1",
     0.01, CLI_MAX_SECONDS,
     "seconds per progress line and per entry of the\n"
     "JSON's results.intervals; turns progress on"},
    {CLI_QUIET, "quiet", {0, 0, 0}, P | L, CLI_ARG_NONE, NULL, NULL, NULL, 0, 0,
     "no progress lines, not even on a terminal"},
    {CLI_STATS_PORT, "stats-port", {0, 0, 0}, P | L, CLI_ARG_PORT, "PORT", NULL, "PORT + 1",
     1, 65535,
     "the server's stats port, for its CPU and counters"},
    {CLI_NO_STATS, "no-server-stats", {0, 0, 0}, P | L, CLI_ARG_NONE, NULL, NULL, NULL, 0, 0,
     "do not ask the server's stats port"},
    {CLI_HELP, "help", {'h', 'h', 'h'}, S | P | L, CLI_ARG_NONE, NULL, NULL, NULL, 0, 0,
     "show this help and exit"},
    {CLI_VERSION, "version", {0, 0, 0}, S | P | L, CLI_ARG_NONE, NULL, NULL, NULL, 0, 0,
     "show the version and exit"},
};
/* clang-format on */

#define CLI_ROWS (sizeof cli_table / sizeof cli_table[0])

struct cli_command {
    const char *name;
    const char *usage;
    const char *summary;
    const char *peers;
    const char *examples;
};

static const struct cli_command cli_commands[CLI_CMD_COUNT] = {
    [CLI_SEND] = {"send", "shout send [OPTIONS] [TEXT...]",
                  "Send TEXT (the words joined by spaces), or else each line of standard\n"
                  "input, to shoutd and print each reply, checked to be the request with\n"
                  "a-z made A-Z. Options come before TEXT; use -- before TEXT that starts\n"
                  "with '-'. If standard output is closed early (shout send | head), shout\n"
                  "stops quietly with exit 141, as a filter killed by SIGPIPE would.",
                  "Short options follow nc(1): -u, -w TIMEOUT, -4, -6; -p PORT follows\n"
                  "iperf3 (nc's -p is the source port).",
                  "  shout send hello                 prints HELLO\n"
                  "  shout send -u -p 7680 hello      over UDP\n"
                  "  printf 'a\\nb\\n' | shout send    one request per line\n"},
    [CLI_PING] = {"ping", "shout ping [OPTIONS]",
                  "Closed-loop ping-pong: one request in flight, the next sent when the reply\n"
                  "to the last has come and been checked. Prints the round-trip time's\n"
                  "percentiles (the full RTT, not RTT/2) and round trips/s.",
                  "Short options follow ping(8): -c COUNT, -s SIZE, -W TIMEOUT; and\n"
                  "iperf3: -p PORT, -t TIME, -u, -4, -6.",
                  "  shout ping -c 1000                  1000 round trips over TCP\n"
                  "  shout ping -u -s 1K -t 10s          UDP, 1 KiB, 10 seconds\n"
                  "  shout ping --framed --json ping.json\n"},
    [CLI_LOAD] = {"load", "shout load [OPTIONS]",
                  "Many connections over many threads. Without --rate it is closed loop at\n"
                  "the highest throughput, --pipeline requests in flight per connection;\n"
                  "with --rate it is open loop, and latency is measured from each request's\n"
                  "intended send time (coordinated omission is corrected).",
                  "Short options follow wrk: -c CONNECTIONS, -d DURATION, -t THREADS;\n"
                  "and wrk2: -R RATE. -p PORT, -u, -4, -6 as in iperf3.",
                  "  shout load -c 8 -t 2 -d 10           8 connections on 2 threads\n"
                  "  shout load -u -c 4 -R 50000          open loop, 50000 requests/s\n"
                  "  shout load --pipeline 16 --json load.json\n"},
};

const char *cli_cmd_name(enum cli_cmd cmd)
{
    return cli_commands[cmd].name;
}

const struct cli_option *cli_row(size_t i)
{
    return i < CLI_ROWS ? &cli_table[i] : NULL;
}

const struct cli_option *cli_find(enum cli_cmd cmd, enum cli_id id)
{
    for (size_t i = 0; i < CLI_ROWS; i++)
        if (cli_table[i].id == id && (cli_table[i].takes & CLI_TAKES(cmd)))
            return &cli_table[i];
    return NULL;
}

const struct cli_option *cli_find_name(const char *name)
{
    for (size_t i = 0; i < CLI_ROWS; i++)
        if (strcmp(cli_table[i].name, name) == 0)
            return &cli_table[i];
    return NULL;
}

void cli_getopt(enum cli_cmd cmd, const char *prefix, struct option *longopts,
                char shortopts[CLI_SHORTOPTS_MAX])
{
    size_t n = 0;
    for (size_t i = 0; i < CLI_ROWS && n + 1 < CLI_LONGOPTS_MAX; i++) {
        const struct cli_option *o = &cli_table[i];
        /* A name with several rows is listed once; the row is chosen by cmd later. */
        if (cli_find_name(o->name) != o)
            continue;
        longopts[n++] = (struct option){
            o->name, o->arg == CLI_ARG_NONE ? no_argument : required_argument, NULL, (int)o->id};
    }
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    size_t len = strlen(prefix);
    memcpy(shortopts, prefix, len);
    for (size_t i = 0; i < CLI_ROWS && len + 3 < CLI_SHORTOPTS_MAX; i++) {
        const struct cli_option *o = &cli_table[i];
        char c = o->short_name[cmd];
        if (c == 0 || !(o->takes & CLI_TAKES(cmd)))
            continue;
        shortopts[len++] = c;
        if (o->arg != CLI_ARG_NONE)
            shortopts[len++] = ':';
    }
    shortopts[len] = '\0';
}

int cli_short_id(enum cli_cmd cmd, int c)
{
    for (size_t i = 0; i < CLI_ROWS; i++)
        if (cli_table[i].short_name[cmd] == c && (cli_table[i].takes & CLI_TAKES(cmd)))
            return (int)cli_table[i].id;
    return 0;
}

/* What a kind of value is, and how it may be written. */
static const char *cli_kind_name(enum cli_arg arg, const char **examples)
{
    switch (arg) {
    case CLI_ARG_SECONDS:
        *examples = ", such as 10, 10s, 500ms or 2m";
        return "a time";
    case CLI_ARG_SIZE:
        *examples = ", such as 64, 16K or 1M (K = 1024)";
        return "bytes";
    case CLI_ARG_RATE:
        *examples = ", such as 500, 10k or 1.5M (k = 1000)";
        return "requests per second";
    default:
        *examples = "";
        return "a whole number";
    }
}

/* The range as the same units print it, so that the message can be typed back. */
static void cli_format(enum cli_arg arg, double v, char *out, size_t cap)
{
    if (arg == CLI_ARG_SECONDS)
        units_format_duration((uint64_t)llround(v * (double)UNITS_NS_PER_S), out, cap);
    else if (arg == CLI_ARG_SIZE)
        units_format_size((uint64_t)v, out, cap);
    else if (arg == CLI_ARG_RATE)
        units_format_rate(v, out, cap);
    else
        snprintf(out, cap, "%.15g", v);
}

int cli_value(const struct cli_option *o, const char *text, double *value, char *why,
              size_t why_cap)
{
    *value = 0;
    if (o->arg == CLI_ARG_NONE || o->arg == CLI_ARG_CPUS)
        return 0;
    if (o->arg == CLI_ARG_TEXT) {
        if (text[0] != '\0')
            return 0;
        snprintf(why, why_cap, "--%s needs a value", o->name);
        return -1;
    }
    /* Durations, sizes and rates go through lib/units, as every shout program's do. */
    double v = 0;
    uint64_t u;
    int rc = -EINVAL;
    if (o->arg == CLI_ARG_SECONDS) {
        rc = units_parse_duration_ns(text, (uint64_t)(o->max * (double)UNITS_NS_PER_S), &u);
        v = (double)u / (double)UNITS_NS_PER_S;
    } else if (o->arg == CLI_ARG_SIZE) {
        rc = units_parse_size(text, (uint64_t)o->max, &u);
        v = (double)u;
    } else if (o->arg == CLI_ARG_RATE) {
        rc = units_parse_rate(text, o->max, &v);
    } else {
        /* Digits only: "0x50", "80abc" and " 80" are refused; 15 digits cannot overflow. */
        size_t n = strlen(text);
        if (n > 0 && n <= 15 && strspn(text, "0123456789") == n) {
            v = strtod(text, NULL);
            rc = 0;
        }
    }
    if (rc == 0 && v >= o->min && v <= o->max) {
        *value = v;
        return 0;
    }
    char lo[UNITS_TEXT_MAX], hi[UNITS_TEXT_MAX];
    cli_format(o->arg, o->min, lo, sizeof lo);
    cli_format(o->arg, o->max, hi, sizeof hi);
    const char *examples;
    const char *kind = cli_kind_name(o->arg, &examples);
    snprintf(why, why_cap, "bad --%s '%s': give %s from %s to %s%s", o->name, text, kind, lo, hi,
             examples);
    return -1;
}

/* "  -p, --port PORT" padded to a column, then the help lines and the default. */
static void cli_print_option(const struct cli_option *o, enum cli_cmd cmd, FILE *out)
{
    enum { COLUMN = 26 };
    char left[64];
    char c = o->short_name[cmd];
    int n = snprintf(left, sizeof left, "  %c%c%s--%s%s%s", c ? '-' : ' ', c ? c : ' ',
                     c ? ", " : "  ", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
    fputs(left, out);
    if (n >= COLUMN - 1)
        fprintf(out, "\n%*s", COLUMN, "");
    else
        fprintf(out, "%*s", COLUMN - n, "");
    size_t line = COLUMN;
    for (const char *p = o->help; *p; p++) {
        fputc(*p, out);
        line++;
        if (*p == '\n') {
            fprintf(out, "%*s", COLUMN, "");
            line = COLUMN;
        }
    }
    /* The range and the default, after the help or on a line of their own if it is full. */
    char tail[96] = "";
    const char *dflt = o->default_value ? o->default_value : o->default_text;
    bool ranged = o->arg == CLI_ARG_PORT || o->arg == CLI_ARG_WHOLE;
    if (ranged && dflt)
        snprintf(tail, sizeof tail, "(%.15g-%.15g; default: %s)", o->min, o->max, dflt);
    else if (ranged)
        snprintf(tail, sizeof tail, "(%.15g-%.15g)", o->min, o->max);
    else if (dflt)
        snprintf(tail, sizeof tail, "(default: %s)", dflt);
    if (tail[0] && line + 1 + strlen(tail) > 79)
        fprintf(out, "\n%*s%s\n", COLUMN, "", tail);
    else
        fprintf(out, "%s%s\n", tail[0] ? " " : "", tail);
}

void cli_print_help(enum cli_cmd cmd, FILE *out)
{
    const struct cli_command *c = &cli_commands[cmd];
    fprintf(out, "Usage: %s\n\n%s\n\nOptions:\n", c->usage, c->summary);
    for (size_t i = 0; i < CLI_ROWS; i++)
        if (cli_table[i].takes & CLI_TAKES(cmd))
            cli_print_option(&cli_table[i], cmd, out);
    fprintf(out, "\n%s\n\nExamples:\n%s\nExit statuses: see shout --help.\n", c->peers,
            c->examples);
}

void cli_print_overview(FILE *out)
{
    /* "  or:" lines, as GNU tools print them: help2man makes them the man page's SYNOPSIS. */
    fputs("Usage: shout send [OPTIONS] [TEXT...]\n"
          "  or:  shout ping [OPTIONS]\n"
          "  or:  shout load [OPTIONS]\n"
          "  or:  shout merge FILE.json... [--json OUT]\n"
          "  or:  shout --help | --version\n"
          "\n"
          "Subcommands:\n"
          "  send    send text, print the checked reply\n"
          "  ping    ping-pong latency, one request in flight\n"
          "  load    throughput, closed or open loop\n"
          "  merge   add up the results of several runs\n"
          "\n"
          "The client of shoutd, which replies to each request with its ASCII a-z made\n"
          "A-Z. Every reply is checked. Options come after the subcommand, and each\n"
          "subcommand lists its own: shout send --help, shout ping --help,\n"
          "shout load --help, shout merge --help.\n"
          "\n"
          "Exit status (a one-line message starting \"shout: \" goes to stderr):\n"
          "  0    success: every reply came, was right, and was printed\n"
          "  1    local failure: out of memory, or reading stdin or writing stdout failed\n"
          "  2    usage error: unknown option, bad value, options that contradict each\n"
          "       other, a --host with a port or brackets or of the family -4/-6\n"
          "       excludes, or a request the transport cannot carry\n"
          "  3    network error: host not found, connection refused or reset, or the\n"
          "       server closed the connection before the whole reply came\n"
          "  4    timeout: connecting, or no byte moved (TCP) or no reply came (UDP)\n"
          "  5    the server sent an error frame: \"server error CODE (REASON)\"\n"
          "  6    a reply that is not the uppercased request (\"reply mismatch at byte 3\")\n"
          "  7    ping, load: most of the loss was shoutd's own limits, on purpose\n"
          "  130  ping, load: Ctrl-C or SIGTERM ended the run (the table is printed)\n"
          "  141  send: standard output was closed early (EPIPE), quietly, like a filter\n",
          out);
}
