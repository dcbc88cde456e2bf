/*
 * shout: the client's command line. It picks the subcommand, parses its
 * options (into a send_options for send.c, a load_options for ping.c and
 * load.c) and hands over; merge goes to report.c. It also answers --help
 * and --version. Usage errors exit 2 with a hint to stderr.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "load.h"
#include "measure.h"
#include "pin.h"
#include "ping.h"
#include "report.h"
#include "send.h"

#define SHOUT_DEFAULT_HOST      "127.0.0.1"
#define SHOUT_DEFAULT_PORT      "7680"
#define SHOUT_DEFAULT_TIMEOUT_S 5.0
/* poll() takes an int of milliseconds. */
#define SHOUT_MAX_TIMEOUT_S 2147483

static const char shout_help[] =
    "Usage: shout send [OPTIONS] [TEXT...]\n"
    "       shout ping [OPTIONS]\n"
    "       shout load [OPTIONS]\n"
    "       shout merge A.json B.json... [--json OUT]\n"
    "       shout --help | -h\n"
    "       shout --version\n"
    "\n"
    "Send text to a shoutd server and print its reply, the text with ASCII a-z made\n"
    "A-Z. Every reply is checked: it must be exactly the request uppercased (every\n"
    "byte other than a-z unchanged, the same length), or shout fails.\n"
    "\n"
    "shout send [OPTIONS] TEXT...\n"
    "  The TEXT arguments joined by single spaces are sent as one request, and the\n"
    "  reply is printed followed by a newline.\n"
    "shout send [OPTIONS]\n"
    "  Each line of standard input, with its trailing newline if it has one, is sent\n"
    "  as one request (a line may be of any length). Each reply is printed as soon as\n"
    "  it has come and been checked, with a newline added only if it does not end in\n"
    "  one. Requests go one at a time: the next line is read after the reply to the\n"
    "  last one is printed. Over TCP all lines share one connection.\n"
    "\n"
    "Options (they come before TEXT; use -- before TEXT that starts with '-'):\n"
    "  --udp          use UDP, one datagram per request (default: TCP)\n"
    "  --framed       use the framed protocol (default: text mode)\n"
    "  --host H       the server: a name or an IPv4 or IPv6 address\n"
    "                 (default: " SHOUT_DEFAULT_HOST "). Over TCP each address H resolves to\n"
    "                 is tried in turn; over UDP the next one is tried only while\n"
    "                 the current one refuses (ICMP port unreachable) and has not\n"
    "                 answered yet.\n"
    "  --port P       the server's port, 1-65535 (default: " SHOUT_DEFAULT_PORT ")\n"
    "  --timeout S    seconds, a decimal number over 0 such as 0.5 (default: 5).\n"
    "                 TCP: the limit for connecting to each address, and the\n"
    "                 exchange fails if no byte moves either way for S seconds.\n"
    "                 UDP: how long to wait for each reply.\n"
    "  -h, --help     show this help and exit\n"
    "      --version  show the version and exit\n"
    "\n"
    "Modes:\n"
    "  text (default)  The request's bytes are sent as they are, and exactly as many\n"
    "                  bytes are read back. Over TCP the request is sent while the\n"
    "                  reply is read, so a request of any size cannot deadlock.\n"
    "                  The server reads a leading byte 0xF5 (the frame magic) as a\n"
    "                  frame, so it may not start the first request over TCP nor\n"
    "                  any request over UDP. A UDP request is 1 to 65507 bytes.\n"
    "  framed          Each request is one type-1 frame (a 16-byte header, then the\n"
    "                  text) with a fresh id, from 1 up. The reply must be a type-2\n"
    "                  frame with the same id and length; an error frame (type 3)\n"
    "                  is reported with its code and reason (a payload over the\n"
    "                  server's limit gets error 4). Over UDP one frame goes per\n"
    "                  datagram and the text is at most 65491 bytes.\n"
    "  UDP requests are never sent again: a lost datagram is a timeout.\n"
    "\n"
    "Exit status (a one-line message starting \"shout: \" goes to stderr):\n"
    "  0  success: every reply came, was right, and was printed\n"
    "  1  local failure: out of memory, or reading stdin or writing stdout failed\n"
    "  2  usage error: unknown option, bad number, missing subcommand, or a request\n"
    "     the transport cannot carry (see Modes)\n"
    "  3  network error: host not found, connection refused or reset, or the\n"
    "     server closed the connection before the whole reply came\n"
    "  4  timeout: connecting, or no byte moved (TCP) or no reply came (UDP)\n"
    "     within the timeout\n"
    "  5  the server sent an error frame: \"server error CODE (REASON)\"\n"
    "  6  a reply that is not the uppercased request (wrong bytes, id, type or\n"
    "     length); the message says where, e.g. \"reply mismatch at byte 3\"\n"
    "     (byte offsets count from 0 within the reply text or payload)\n"
    "\n"
    "shout ping [OPTIONS]\n"
    "  Closed-loop ping-pong: one request in flight, the next sent when the reply\n"
    "  to the last has come and been checked. Prints min, p50, p90, p99, p99.9,\n"
    "  p99.99, max, mean and stdev of the round-trip time (the full RTT, not RTT/2)\n"
    "  and round trips/s.\n"
    "shout load [OPTIONS]\n"
    "  Many connections over many threads (each thread its own epoll loop). Without\n"
    "  --rate it is closed loop at the highest throughput, --pipeline requests in\n"
    "  flight per connection. With --rate it is open loop: requests are due on a\n"
    "  fixed schedule, latency is measured from each request's intended send time\n"
    "  (a stalled server cannot hide: coordinated omission is corrected) and\n"
    "  service time from its actual send; both are printed. Requests are written\n"
    "  in batches: over TCP all that the window takes in one send(), over UDP up\n"
    "  to 64 in one sendmsg the kernel cuts into datagrams (UDP_SEGMENT). A\n"
    "  request's sent time is when the write that carried its first byte began,\n"
    "  so requests written together share it. The busiest client thread's CPU\n"
    "  and the server's (stats port) are printed as shares of a core; a client\n"
    "  thread over 90% beside a server under 90% is warned about (\"shout:\n"
    "  client-bound: ...\"): the figures are then the client's limit.\n"
    "shout merge A.json B.json... [--json OUT]\n"
    "  Add up the JSON results of several load generators: histograms, counts, CPU.\n"
    "\n"
    "Options of ping and load:\n"
    "  --udp, --framed, --host H, --port P   as for send\n"
    "  --size BYTES    payload bytes per request, K and M suffixes binary (default\n"
    "                  64). Payloads are lowercase letters that differ per request\n"
    "                  and start with a 12-letter sequence tag; UDP text needs at\n"
    "                  least 12 bytes so that replies can be matched.\n"
    "  --duration S    seconds to measure (default 5)\n"
    "  --count N       measure exactly N requests instead (load: over all\n"
    "                  connections)\n"
    "  --warmup S      seconds of traffic before measuring, not recorded (default 1)\n"
    "  --timeout S     UDP: a reply later than S is counted lost and the run goes on\n"
    "                  (default 1). TCP: a reply later than S fails the run (exit\n"
    "                  4) (default 10). Also the limit for connecting.\n"
    "  --cpu N         ping: pin the client to CPU N; load: --cpu LIST, CPUs\n"
    "                  separated by commas, given to the threads round robin. The\n"
    "                  CPUs the client ran on are recorded either way.\n"
    "  --json FILE     write the configuration, environment and results as JSON\n"
    "                  (format 1: docs/result.schema.json); FILE - is stdout, the\n"
    "                  table then goes to stderr. FILE is opened before any\n"
    "                  traffic: one that cannot be written exits 2 at once.\n"
    "  --progress      a progress line on stderr each interval (on by default when\n"
    "                  stderr is a terminal; only for runs over 2 s)\n"
    "  --interval S    seconds per progress line and per entry of the JSON's\n"
    "                  results.intervals (default 1); turns progress on, into a\n"
    "                  file too, for runs of any length\n"
    "  --quiet         no progress lines, not even on a terminal\n"
    "  --stats-port N  the server's stats port, read before and after the measured\n"
    "                  phase for the server's CPU time and counters (default: the\n"
    "                  port + 1; if it does not answer, one warning and no server\n"
    "                  figures)\n"
    "  --no-server-stats  do not ask the server's stats port\n"
    "  --busy-poll    wait for replies by polling without sleeping (ping: a\n"
    "                 non-blocking receive in a loop; load: epoll with a zero\n"
    "                 timeout): no wake-up to pay, which across CPUs is most of a\n"
    "                 round trip, for a CPU at 100% per thread (so load never\n"
    "                 calls itself client-bound then). Pin the client (--cpu) to\n"
    "                 CPUs other than shoutd's: pinned to the CPU the stats port\n"
    "                 says shoutd is pinned to, shout exits 2 (two spinning ends\n"
    "                 on one CPU livelock). Pair it with shoutd --busy-poll USEC.\n"
    "ping only:\n"
    "  --sockperf      speak sockperf's format (14-byte header) to a `sockperf server`\n"
    "                  or shoutd's sockperf port; --size is then the whole message\n"
    "                  like sockperf's --msg-size (at least 14). The server may echo\n"
    "                  or uppercase the payload; every reply must agree with the\n"
    "                  first. No stats port is asked unless --stats-port is given.\n"
    "load only:\n"
    "  --connections N  connections (UDP: connected sockets) (default 1)\n"
    "  --threads N     threads; connection c runs on thread c mod N (default 1)\n"
    "  --pipeline N    requests in flight per connection; the UDP window (default 1)\n"
    "  --rate R        requests/s over all connections: open loop (default: closed)\n"
    "Every reply is checked. UDP losses, duplicates and reordered replies are\n"
    "counted and printed; a mismatch exits 6, a network error 3, a TCP reply that\n"
    "never comes 4, a server error frame 5, a usage error 2. TCP never loses: a\n"
    "connection the server closed is \"refused\", its requests \"unanswered\".\n"
    "Exit 7: most of the loss was shoutd's own limits on purpose (UDP rate limits,\n"
    "connection caps; the stats port names them in the table and JSON). Ctrl-C or\n"
    "SIGTERM ends a run early with its table and JSON (\"interrupted\": true) and\n"
    "exit 130; a second one ends shout at once.\n";

static int shout_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int shout_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("shout: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'shout --help' for more information.\n", stderr);
    va_end(ap);
    return SEND_EXIT_USAGE;
}

static int shout_print_help(void)
{
    fputs(shout_help, stdout);
    return fflush(stdout) == 0 ? SEND_EXIT_OK : SEND_EXIT_LOCAL;
}

/*
 * A port is 1 to 65535 in decimal digits only, so "0x50" or "80abc" is
 * refused; ten digits at most, so strtol cannot overflow.
 */
static int shout_parse_port(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 10 || strspn(s, "0123456789") != n)
        return -1;
    long port = strtol(s, NULL, 10);
    return port >= 1 && port <= 65535 ? (int)port : -1;
}

/*
 * Seconds as plain decimal digits with at most one point ("5", "0.5", ".25"):
 * strtod alone would also take "inf", "1e9", hex and leading blanks.
 */
static int shout_parse_timeout(const char *s, double *seconds, int *ms)
{
    size_t n = strlen(s);
    size_t digits = strspn(s, "0123456789");
    if (s[digits] == '.')
        digits += 1 + strspn(s + digits + 1, "0123456789");
    if (n == 0 || digits != n || strcmp(s, ".") == 0)
        return -1;
    double v = strtod(s, NULL);
    if (!(v > 0) || v > SHOUT_MAX_TIMEOUT_S)
        return -1;
    double v_ms = v * 1000.0;
    int whole = (int)v_ms;
    /* Round up, so a timeout never becomes shorter than asked, nor 0. */
    *ms = whole < v_ms ? whole + 1 : whole;
    if (*ms < 1)
        *ms = 1;
    *seconds = v;
    return 0;
}

enum shout_send_option {
    SHOUT_OPT_UDP = 256,
    SHOUT_OPT_FRAMED,
    SHOUT_OPT_HOST,
    SHOUT_OPT_PORT,
    SHOUT_OPT_TIMEOUT,
};

/* argv[0] is "send". */
/*
 * Before each parse: our own messages, in the "shout: " form, instead of
 * getopt's; and optind 0, not 1, so that glibc starts afresh. With 1 it
 * keeps its scan pointer inside the last argv it read (after "-hh" stopped
 * at the first 'h'), and the next parse would read a stale string.
 */
static void shout_getopt_start(void)
{
    opterr = 0;
    optind = 0;
}

static int shout_send(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"udp", no_argument, NULL, SHOUT_OPT_UDP},
        {"framed", no_argument, NULL, SHOUT_OPT_FRAMED},
        {"host", required_argument, NULL, SHOUT_OPT_HOST},
        {"port", required_argument, NULL, SHOUT_OPT_PORT},
        {"timeout", required_argument, NULL, SHOUT_OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct send_options opt = {
        .peer =
            {
                .host = SHOUT_DEFAULT_HOST,
                .port = SHOUT_DEFAULT_PORT,
                .timeout_s = SHOUT_DEFAULT_TIMEOUT_S,
                .timeout_ms = (int)(SHOUT_DEFAULT_TIMEOUT_S * 1000),
            },
    };
    shout_getopt_start();
    /*
     * '+': options stop at the first TEXT, so words like "-v" later are text;
     * ':': a missing value comes back as ':', not as an unknown option.
     */
    int c;
    while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
        switch (c) {
        case SHOUT_OPT_UDP:
            opt.peer.udp = true;
            break;
        case SHOUT_OPT_FRAMED:
            opt.framed = true;
            break;
        case SHOUT_OPT_HOST:
            if (optarg[0] == '\0')
                return shout_usage_error("--host needs a name or address");
            opt.peer.host = optarg;
            break;
        case SHOUT_OPT_PORT:
            if (shout_parse_port(optarg) < 0)
                return shout_usage_error("bad port '%s': give 1 to 65535", optarg);
            opt.peer.port = optarg;
            break;
        case SHOUT_OPT_TIMEOUT:
            if (shout_parse_timeout(optarg, &opt.peer.timeout_s, &opt.peer.timeout_ms) != 0)
                return shout_usage_error("bad timeout '%s': give seconds over 0, such as 0.5",
                                         optarg);
            break;
        case 'h':
            return shout_print_help();
        case ':':
            return shout_usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            /* optopt is the unknown short option's letter, or 0 for a long one. */
            if (optopt > 0 && optopt < SHOUT_OPT_UDP)
                return shout_usage_error("unknown option '-%c'", optopt);
            return shout_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    return send_run(&opt, argv + optind, (size_t)(argc - optind));
}

/* Seconds as plain decimal digits with at most one point; 0 allowed only when zero_ok. */
static int shout_parse_seconds(const char *s, bool zero_ok, double *seconds)
{
    int ms;
    if (zero_ok && strspn(s, "0.") == strlen(s) && strcmp(s, ".") != 0 && s[0] != '\0') {
        *seconds = 0;
        return 0;
    }
    return shout_parse_timeout(s, seconds, &ms);
}

/* A whole number 1..max in decimal digits (with an optional K or M binary suffix if units). */
static int shout_parse_count(const char *s, uint64_t max, bool units, uint64_t *value)
{
    size_t digits = strspn(s, "0123456789");
    uint64_t scale = 1;
    if (units && digits > 0 && (s[digits] == 'K' || s[digits] == 'k') && s[digits + 1] == '\0')
        scale = 1024;
    else if (units && digits > 0 && s[digits] == 'M' && s[digits + 1] == '\0')
        scale = 1024 * 1024;
    else if (s[digits] != '\0')
        return -1;
    if (digits == 0 || digits > 15)
        return -1;
    uint64_t v = strtoull(s, NULL, 10) * scale;
    if (v > max || (v == 0 && !units))
        return -1;
    *value = v;
    return 0;
}

enum shout_measure_option {
    SHOUT_OPT_SIZE = 300,
    SHOUT_OPT_DURATION,
    SHOUT_OPT_COUNT,
    SHOUT_OPT_WARMUP,
    SHOUT_OPT_CPU,
    SHOUT_OPT_JSON,
    SHOUT_OPT_PROGRESS,
    SHOUT_OPT_STATS_PORT,
    SHOUT_OPT_NO_STATS,
    SHOUT_OPT_SOCKPERF,
    SHOUT_OPT_BUSY_POLL,
    SHOUT_OPT_CONNECTIONS,
    SHOUT_OPT_THREADS,
    SHOUT_OPT_PIPELINE,
    SHOUT_OPT_RATE,
    SHOUT_OPT_INTERVAL,
    SHOUT_OPT_QUIET,
};

/* One option of ping or load into opt; returns -1 to go on, or an exit status. */
static int shout_measure_option(int c, bool is_load, struct measure_options *opt, bool *stats_given)
{
    struct run_config *cfg = &opt->cfg;
    uint64_t v;
    char why[160];
    switch (c) {
    case SHOUT_OPT_SIZE:
        if (shout_parse_count(optarg, FLOW_SIZE_MAX, true, &v) != 0)
            return shout_usage_error("bad size '%s': give bytes, such as 64 or 16K", optarg);
        cfg->size = (uint32_t)v;
        return -1;
    case SHOUT_OPT_DURATION:
        if (shout_parse_seconds(optarg, false, &cfg->duration_s) != 0)
            return shout_usage_error("bad duration '%s': give seconds over 0", optarg);
        return -1;
    case SHOUT_OPT_COUNT:
        if (shout_parse_count(optarg, UINT64_C(1000000000000), false, &cfg->count) != 0)
            return shout_usage_error("bad count '%s': give a whole number over 0", optarg);
        return -1;
    case SHOUT_OPT_WARMUP:
        if (shout_parse_seconds(optarg, true, &cfg->warmup_s) != 0)
            return shout_usage_error("bad warm-up '%s': give seconds, 0 or more", optarg);
        return -1;
    case SHOUT_OPT_CPU:
        if (pin_parse_list(optarg, cfg->client_cpus, RESULT_MAX_CPUS, &cfg->client_cpu_count, why,
                           sizeof why) != 0)
            return shout_usage_error("%s", why);
        if (!is_load && cfg->client_cpu_count > 1)
            return shout_usage_error("ping runs on one thread: give --cpu one CPU");
        return -1;
    case SHOUT_OPT_JSON:
        opt->json_path = optarg;
        return -1;
    case SHOUT_OPT_PROGRESS:
        opt->progress = true;
        return -1;
    case SHOUT_OPT_INTERVAL:
        /* Under 10 ms a line would cost more than the interval it describes. */
        if (shout_parse_seconds(optarg, false, &opt->interval_s) != 0 || opt->interval_s < 0.01)
            return shout_usage_error("bad interval '%s': give seconds, 0.01 or more", optarg);
        opt->progress = true;
        return -1;
    case SHOUT_OPT_QUIET:
        opt->quiet = true;
        return -1;
    case SHOUT_OPT_STATS_PORT: {
        int port = shout_parse_port(optarg);
        if (port < 0)
            return shout_usage_error("bad stats port '%s': give 1 to 65535", optarg);
        cfg->stats_port = (uint16_t)port;
        *stats_given = true;
        return -1;
    }
    case SHOUT_OPT_NO_STATS:
        opt->server_stats = false;
        return -1;
    case SHOUT_OPT_SOCKPERF:
        cfg->sockperf = true;
        return -1;
    case SHOUT_OPT_BUSY_POLL:
        cfg->busy_poll = true;
        return -1;
    case SHOUT_OPT_CONNECTIONS:
    case SHOUT_OPT_THREADS:
    case SHOUT_OPT_PIPELINE: {
        uint64_t max = c == SHOUT_OPT_CONNECTIONS ? LOAD_MAX_CONNECTIONS
                       : c == SHOUT_OPT_THREADS   ? LOAD_MAX_THREADS
                                                  : FLOW_WINDOW_MAX;
        if (shout_parse_count(optarg, max, false, &v) != 0)
            return shout_usage_error("bad number '%s': give 1 to %llu", optarg,
                                     (unsigned long long)max);
        uint32_t *field = c == SHOUT_OPT_CONNECTIONS ? &cfg->connections
                          : c == SHOUT_OPT_THREADS   ? &cfg->threads
                                                     : &cfg->pipeline;
        *field = (uint32_t)v;
        return -1;
    }
    case SHOUT_OPT_RATE:
        if (shout_parse_seconds(optarg, false, &cfg->rate) != 0)
            return shout_usage_error("bad rate '%s': give requests per second over 0", optarg);
        return -1;
    default:
        return shout_usage_error("internal: option %d", c);
    }
}

/* Defaults, cross-checks and the stats port once every option is in. */
static int shout_measure_finish(struct measure_options *opt, bool stats_given, bool duration_given)
{
    struct run_config *cfg = &opt->cfg;
    if (cfg->count > 0 && duration_given)
        return shout_usage_error("give --duration or --count, not both");
    if (cfg->count > 0)
        cfg->duration_s = 0;
    if (cfg->sockperf && cfg->framed)
        return shout_usage_error("--sockperf and --framed are two formats: give one");
    if (cfg->rate > 0 && cfg->rate < 0.001)
        return shout_usage_error("--rate is below one request in 1000 s");
    if (cfg->connections > LOAD_MAX_CONNECTIONS || cfg->pipeline > FLOW_WINDOW_MAX)
        return shout_usage_error("too many connections or requests in flight");
    /* sockperf's server has no stats port: ask one only when told where. */
    if (cfg->sockperf && !stats_given)
        opt->server_stats = false;
    if (!stats_given)
        cfg->stats_port = cfg->port < 65535 ? (uint16_t)(cfg->port + 1) : 0;
    if (!opt->server_stats)
        cfg->stats_port = 0;
    struct flow_config fc;
    char why[FLOW_WHY_MAX];
    measure_flow_config(cfg, &fc);
    if (flow_config_check(&fc, why, sizeof why) != 0)
        return shout_usage_error("%s", why);
    return -1;
}

/* argv[0] is "ping" or "load". */
static int shout_measure(int argc, char **argv, bool is_load)
{
    static const struct option longopts[] = {
        {"udp", no_argument, NULL, SHOUT_OPT_UDP},
        {"framed", no_argument, NULL, SHOUT_OPT_FRAMED},
        {"host", required_argument, NULL, SHOUT_OPT_HOST},
        {"port", required_argument, NULL, SHOUT_OPT_PORT},
        {"timeout", required_argument, NULL, SHOUT_OPT_TIMEOUT},
        {"size", required_argument, NULL, SHOUT_OPT_SIZE},
        {"duration", required_argument, NULL, SHOUT_OPT_DURATION},
        {"count", required_argument, NULL, SHOUT_OPT_COUNT},
        {"warmup", required_argument, NULL, SHOUT_OPT_WARMUP},
        {"cpu", required_argument, NULL, SHOUT_OPT_CPU},
        {"json", required_argument, NULL, SHOUT_OPT_JSON},
        {"progress", no_argument, NULL, SHOUT_OPT_PROGRESS},
        {"interval", required_argument, NULL, SHOUT_OPT_INTERVAL},
        {"quiet", no_argument, NULL, SHOUT_OPT_QUIET},
        {"stats-port", required_argument, NULL, SHOUT_OPT_STATS_PORT},
        {"no-server-stats", no_argument, NULL, SHOUT_OPT_NO_STATS},
        {"sockperf", no_argument, NULL, SHOUT_OPT_SOCKPERF},
        {"busy-poll", no_argument, NULL, SHOUT_OPT_BUSY_POLL},
        {"connections", required_argument, NULL, SHOUT_OPT_CONNECTIONS},
        {"threads", required_argument, NULL, SHOUT_OPT_THREADS},
        {"pipeline", required_argument, NULL, SHOUT_OPT_PIPELINE},
        {"rate", required_argument, NULL, SHOUT_OPT_RATE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static struct measure_options opt;
    opt = (struct measure_options){
        .cfg =
            {
                .port = 7680,
                .size = 64,
                .duration_s = 5,
                .warmup_s = 1,
                .connections = 1,
                .threads = 1,
                .pipeline = 1,
            },
        .server_stats = true,
    };
    snprintf(opt.cfg.command, sizeof opt.cfg.command, "%s", is_load ? "load" : "ping");
    snprintf(opt.cfg.host, sizeof opt.cfg.host, "%s", SHOUT_DEFAULT_HOST);
    bool stats_given = false, duration_given = false, timeout_given = false;
    shout_getopt_start();
    int c;
    int longindex = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, &longindex)) != -1) {
        int rc = -1;
        int ms;
        switch (c) {
        case SHOUT_OPT_UDP:
            opt.cfg.udp = true;
            break;
        case SHOUT_OPT_FRAMED:
            opt.cfg.framed = true;
            break;
        case SHOUT_OPT_HOST:
            if (optarg[0] == '\0' || strlen(optarg) >= sizeof opt.cfg.host)
                return shout_usage_error("--host needs a name or address (at most %zu bytes)",
                                         sizeof opt.cfg.host - 1);
            snprintf(opt.cfg.host, sizeof opt.cfg.host, "%s", optarg);
            break;
        case SHOUT_OPT_PORT:
            if (shout_parse_port(optarg) < 0)
                return shout_usage_error("bad port '%s': give 1 to 65535", optarg);
            opt.cfg.port = (uint16_t)shout_parse_port(optarg);
            break;
        case SHOUT_OPT_TIMEOUT:
            if (shout_parse_timeout(optarg, &opt.cfg.timeout_s, &ms) != 0)
                return shout_usage_error("bad timeout '%s': give seconds over 0, such as 0.5",
                                         optarg);
            timeout_given = true;
            break;
        case 'h':
            return shout_print_help();
        case ':':
            return shout_usage_error("option '%s' needs a value", argv[optind - 1]);
        case '?':
            if (optopt > 0 && optopt < SHOUT_OPT_UDP)
                return shout_usage_error("unknown option '-%c'", optopt);
            return shout_usage_error("unknown option '%s'", argv[optind - 1]);
        default: {
            bool load_only = c == SHOUT_OPT_CONNECTIONS || c == SHOUT_OPT_THREADS ||
                             c == SHOUT_OPT_PIPELINE || c == SHOUT_OPT_RATE;
            bool ping_only = c == SHOUT_OPT_SOCKPERF;
            if ((load_only && !is_load) || (ping_only && is_load))
                return shout_usage_error("option '--%s' is not one of %s's",
                                         longopts[longindex].name, argv[0]);
            duration_given |= c == SHOUT_OPT_DURATION;
            rc = shout_measure_option(c, is_load, &opt, &stats_given);
        }
        }
        if (rc >= 0)
            return rc;
    }
    if (optind < argc)
        return shout_usage_error("unexpected argument '%s'", argv[optind]);
    if (!timeout_given)
        opt.cfg.timeout_s = opt.cfg.udp ? MEASURE_UDP_TIMEOUT_S : MEASURE_TCP_TIMEOUT_S;
    int rc = shout_measure_finish(&opt, stats_given, duration_given);
    if (rc >= 0)
        return rc;
    return is_load ? load_run(&opt) : ping_run(&opt);
}

int main(int argc, char **argv)
{
    /* A server that closes early must be an error we report, not a signal that kills us. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        return shout_usage_error("missing subcommand (try 'shout send TEXT')");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return shout_print_help();
    if (strcmp(cmd, "--version") == 0) {
        puts("shout " SHOUT_VERSION);
        return fflush(stdout) == 0 ? SEND_EXIT_OK : SEND_EXIT_LOCAL;
    }
    if (strcmp(cmd, "send") == 0)
        return shout_send(argc - 1, argv + 1);
    if (strcmp(cmd, "ping") == 0 || strcmp(cmd, "load") == 0)
        return shout_measure(argc - 1, argv + 1, cmd[0] == 'l');
    if (strcmp(cmd, "merge") == 0)
        return report_merge_main(argc - 1, argv + 1);
    if (cmd[0] == '-')
        return shout_usage_error("unknown option '%s'", cmd);
    return shout_usage_error("unknown subcommand '%s'", cmd);
}
