/*
 * shout: the client's command line. It picks the subcommand, parses its
 * options from the one table in cli.c (into a send_options for send.c, a
 * measure_options for ping.c and load.c) and hands over; merge goes to
 * merge.c. It also answers --help and --version. Usage errors exit 2 with a
 * one-line message on stderr.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cli.h"
#include "flow.h"
#include "load.h"
#include "measure.h"
#include "pin.h"
#include "ping.h"
#include "report.h"
#include "send.h"

static int shout_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int shout_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("shout: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return SEND_EXIT_USAGE;
}

static int shout_flush_stdout(void)
{
    return fflush(stdout) == 0 ? SEND_EXIT_OK : SEND_EXIT_LOCAL;
}

/*
 * A host with a port ("127.0.0.1:7680", "name:80") or in brackets ("[::1]")
 * would only fail later as "host not found", which reads as a network
 * problem; it is a usage error. An IPv6 literal has two colons or more.
 */
static int shout_check_host(const char *host)
{
    if (host[0] == '[')
        return shout_usage_error("--host takes an address without brackets, such as --host ::1");
    const char *colon = strchr(host, ':');
    if (colon && !strchr(colon + 1, ':'))
        return shout_usage_error("--host takes no port: give --host %.*s --port %s",
                                 (int)(colon - host), host, colon + 1);
    return -1;
}

/*
 * -4 or -6 against the host. With no --host, -6 means ::1: the default
 * 127.0.0.1 could never be reached. An address literal of the other family
 * is a contradiction on the command line, so a usage error, not the lookup
 * failure (exit 3) getaddrinfo would make of it. A name is left to the
 * lookup: only it knows which families the name has.
 */
static int shout_check_family(const char **host, bool host_given, int family)
{
    if (family == AF_INET6 && !host_given)
        *host = "::1";
    unsigned char addr[sizeof(struct in6_addr)];
    int other = family == AF_INET ? AF_INET6 : AF_INET;
    if (family == AF_UNSPEC || inet_pton(other, *host, addr) != 1)
        return -1;
    return shout_usage_error("%s: --host %s is an IPv%c address", family == AF_INET ? "-4" : "-6",
                             *host, other == AF_INET ? '4' : '6');
}

/* One option's value into the subcommand's options: -1 to go on, or an exit status. */
typedef int (*shout_option_fn)(void *ctx, const struct cli_option *o, const char *text,
                               double value);

/*
 * Parse argv (argv[0] is the subcommand) with cmd's rows of the table: first
 * every default, through the same code as a value typed on the command line,
 * then the options. Returns -1 with optind at the first operand, or an exit
 * status. ctx goes to store.
 */
static int shout_parse(enum cli_cmd cmd, int argc, char **argv, shout_option_fn store, void *ctx)
{
    char why[256];
    double value;
    for (size_t i = 0; cli_row(i); i++) {
        const struct cli_option *o = cli_row(i);
        if (!(o->takes & CLI_TAKES(cmd)) || !o->default_value)
            continue;
        if (cli_value(o, o->default_value, &value, why, sizeof why) != 0)
            return shout_usage_error("internal: default %s", why);
        int rc = store(ctx, o, o->default_value, value);
        if (rc >= 0)
            return rc;
    }
    struct option longopts[CLI_LONGOPTS_MAX];
    char shortopts[CLI_SHORTOPTS_MAX];
    /*
     * send: '+', options stop at the first TEXT, so words like "-v" later are
     * text. ':' makes a missing value come back as ':', not as unknown.
     */
    cli_getopt(cmd, cmd == CLI_SEND ? "+:" : ":", longopts, shortopts);
    /*
     * Our own messages, in the "shout: " form, instead of getopt's; optind 0,
     * not 1, so that glibc starts afresh (with 1 it keeps its scan pointer
     * inside the last argv it read).
     */
    opterr = 0;
    optind = 0;
    const char *name = cli_cmd_name(cmd);
    int c, longindex = -1;
    while ((c = getopt_long(argc, argv, shortopts, longopts, &longindex)) != -1) {
        if (c == ':')
            return shout_usage_error("option '%s' needs a value", argv[optind - 1]);
        if (c == '?') {
            /* optopt is the unknown short option's letter, or 0 for a long one. */
            if (optopt > 0 && optopt < CLI_HELP)
                return shout_usage_error("unknown option '-%c' (see shout %s --help)", optopt,
                                         name);
            return shout_usage_error("unknown option '%s' (see shout %s --help)", argv[optind - 1],
                                     name);
        }
        int id = c < CLI_HELP ? cli_short_id(cmd, c) : c;
        const struct cli_option *o = cli_find(cmd, (enum cli_id)id);
        if (!o)
            return shout_usage_error("option '--%s' is not one of %s's (see shout %s --help)",
                                     longopts[longindex].name, name, name);
        if (id == CLI_HELP) {
            cli_print_help(cmd, stdout);
            return shout_flush_stdout();
        }
        if (id == CLI_VERSION) {
            puts("shout " SHOUT_VERSION);
            return shout_flush_stdout();
        }
        if (cli_value(o, optarg ? optarg : "", &value, why, sizeof why) != 0)
            return shout_usage_error("%s", why);
        int rc = store(ctx, o, optarg, value);
        if (rc >= 0)
            return rc;
    }
    return -1;
}

/* The options send and ping/load share, into their places. */
struct shout_common {
    bool *udp;
    bool *framed;
    int *family;
    double *timeout_s;
};

static int shout_common_option(struct shout_common *c, const struct cli_option *o, double value)
{
    switch (o->id) {
    case CLI_UDP:
        *c->udp = true;
        return -1;
    case CLI_FRAMED:
        *c->framed = true;
        return -1;
    case CLI_IPV4:
    case CLI_IPV6: {
        int family = o->id == CLI_IPV4 ? AF_INET : AF_INET6;
        if (*c->family != AF_UNSPEC && *c->family != family)
            return shout_usage_error("-4 and -6 contradict each other: give one");
        *c->family = family;
        return -1;
    }
    case CLI_TIMEOUT:
        *c->timeout_s = value;
        return -1;
    default:
        return shout_usage_error("internal: option --%s", o->name);
    }
}

static int shout_send_option(void *ctx, const struct cli_option *o, const char *text, double value)
{
    struct send_options *opt = ctx;
    struct shout_common common = {&opt->peer.udp, &opt->framed, &opt->peer.family,
                                  &opt->peer.timeout_s};
    switch (o->id) {
    case CLI_HOST:
        opt->peer.host = text;
        return shout_check_host(text);
    case CLI_PORT:
        opt->peer.port = text;
        return -1;
    case CLI_TIMEOUT: {
        /* Round up, so a timeout never becomes shorter than asked, nor 0. */
        double ms = value * 1000.0;
        int whole = (int)ms;
        opt->peer.timeout_ms = whole < ms ? whole + 1 : whole;
        if (opt->peer.timeout_ms < 1)
            opt->peer.timeout_ms = 1;
        return shout_common_option(&common, o, value);
    }
    default:
        return shout_common_option(&common, o, value);
    }
}

/* argv[0] is "send". */
static int shout_send(int argc, char **argv)
{
    struct send_options opt = {.peer = {.family = AF_UNSPEC}};
    int rc = shout_parse(CLI_SEND, argc, argv, shout_send_option, &opt);
    if (rc >= 0)
        return rc;
    /* The table's default is the one pointer a typed --host can never be. */
    bool host_given = opt.peer.host != cli_find_name("host")->default_value;
    rc = shout_check_family(&opt.peer.host, host_given, opt.peer.family);
    if (rc >= 0)
        return rc;
    return send_run(&opt, argv + optind, (size_t)(argc - optind));
}

/* What ping and load parse into, and what the checks after parsing need to know. */
struct shout_measure {
    struct measure_options opt;
    bool is_load;
    bool stats_given, duration_given, timeout_given, no_stats_given, host_given;
};

static int shout_measure_option(void *ctx, const struct cli_option *o, const char *text,
                                double value)
{
    struct shout_measure *m = ctx;
    struct measure_options *opt = &m->opt;
    struct run_config *cfg = &opt->cfg;
    struct shout_common common = {&cfg->udp, &cfg->framed, &cfg->family, &cfg->timeout_s};
    char why[160];
    switch (o->id) {
    case CLI_HOST:
        if (strlen(text) >= sizeof cfg->host)
            return shout_usage_error("--host is longer than %zu bytes", sizeof cfg->host - 1);
        snprintf(cfg->host, sizeof cfg->host, "%s", text);
        m->host_given = text != o->default_value;
        return shout_check_host(text);
    case CLI_PORT:
        cfg->port = (uint16_t)value;
        return -1;
    case CLI_TIMEOUT:
        m->timeout_given = true;
        return shout_common_option(&common, o, value);
    case CLI_SIZE:
        cfg->size = (uint32_t)value;
        return -1;
    case CLI_DURATION:
        cfg->duration_s = value;
        /* The default is parsed too; only one typed after it counts as given. */
        m->duration_given = text != o->default_value;
        return -1;
    case CLI_COUNT:
        cfg->count = (uint64_t)value;
        return -1;
    case CLI_WARMUP:
        cfg->warmup_s = value;
        return -1;
    case CLI_CPU:
        if (pin_parse_list(text, cfg->client_cpus, RESULT_MAX_CPUS, &cfg->client_cpu_count, why,
                           sizeof why) != 0)
            return shout_usage_error("%s", why);
        if (!m->is_load && cfg->client_cpu_count > 1)
            return shout_usage_error("ping runs on one thread: give --cpu one CPU");
        return -1;
    case CLI_JSON:
        opt->json_path = text;
        return -1;
    case CLI_PROGRESS:
        opt->progress = true;
        return -1;
    case CLI_INTERVAL:
        opt->interval_s = value;
        opt->progress = true;
        return -1;
    case CLI_QUIET:
        opt->quiet = true;
        return -1;
    case CLI_STATS_PORT:
        cfg->stats_port = (uint16_t)value;
        m->stats_given = true;
        return -1;
    case CLI_NO_STATS:
        opt->server_stats = false;
        m->no_stats_given = true;
        return -1;
    case CLI_SOCKPERF:
        cfg->sockperf = true;
        return -1;
    case CLI_BUSY_POLL:
        cfg->busy_poll = true;
        return -1;
    case CLI_CONNECTIONS:
        cfg->connections = (uint32_t)value;
        return -1;
    case CLI_THREADS:
        cfg->threads = (uint32_t)value;
        return -1;
    case CLI_PIPELINE:
        cfg->pipeline = (uint32_t)value;
        return -1;
    case CLI_RATE:
        cfg->rate = value;
        return -1;
    default:
        return shout_common_option(&common, o, value);
    }
}

/* Defaults that depend on other options, and options that contradict each other. */
static int shout_measure_finish(struct shout_measure *m)
{
    struct measure_options *opt = &m->opt;
    struct run_config *cfg = &opt->cfg;
    const char *host = cfg->host;
    int rc = shout_check_family(&host, m->host_given, cfg->family);
    if (rc >= 0)
        return rc;
    if (host != cfg->host)
        snprintf(cfg->host, sizeof cfg->host, "%s", host);
    if (!m->timeout_given)
        cfg->timeout_s = cfg->udp ? MEASURE_UDP_TIMEOUT_S : MEASURE_TCP_TIMEOUT_S;
    if (cfg->count > 0 && m->duration_given)
        return shout_usage_error("give --duration or --count, not both");
    if (cfg->count > 0)
        cfg->duration_s = 0;
    if (cfg->sockperf && cfg->framed)
        return shout_usage_error("--sockperf and --framed are two formats: give one");
    /* A warning, not a refusal: scripts add --no-server-stats to a line that names the port. */
    if (m->stats_given && m->no_stats_given)
        fprintf(stderr, "shout: --no-server-stats wins: stats port %u is not asked\n",
                (unsigned)cfg->stats_port);
    /*
     * A thread without a connection would do nothing; the run uses one thread
     * per connection at most, and the report must say how many it really had.
     */
    if (cfg->threads > cfg->connections) {
        fprintf(stderr, "shout: --threads %u is more than --connections %u: running %u threads\n",
                (unsigned)cfg->threads, (unsigned)cfg->connections, (unsigned)cfg->connections);
        cfg->threads = cfg->connections;
    }
    uint32_t threads = m->is_load ? cfg->threads : 1;
    if (cfg->client_cpu_count > threads)
        return shout_usage_error("--cpu lists %u CPUs for %u thread%s: give at most %u, or "
                                 "more --threads",
                                 (unsigned)cfg->client_cpu_count, (unsigned)threads,
                                 threads == 1 ? "" : "s", (unsigned)threads);
    /* sockperf's server has no stats port: ask one only when told where. */
    if (cfg->sockperf && !m->stats_given)
        opt->server_stats = false;
    if (!m->stats_given)
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
    /* Static: a run_result-sized config is too big for a comfortable stack frame. */
    static struct shout_measure m;
    m = (struct shout_measure){.is_load = is_load, .opt = {.server_stats = true}};
    struct run_config *cfg = &m.opt.cfg;
    cfg->connections = cfg->threads = cfg->pipeline = 1;
    snprintf(cfg->command, sizeof cfg->command, "%s", is_load ? "load" : "ping");
    int rc = shout_parse(is_load ? CLI_LOAD : CLI_PING, argc, argv, shout_measure_option, &m);
    if (rc >= 0)
        return rc;
    if (optind < argc)
        return shout_usage_error("unexpected argument '%s'", argv[optind]);
    rc = shout_measure_finish(&m);
    if (rc >= 0)
        return rc;
    return is_load ? load_run(&m.opt) : ping_run(&m.opt);
}

/*
 * `shout --port 5 send x`: an option of a subcommand before it. Named as
 * such, since "unknown option" would send the user looking for a typo.
 */
static int shout_misplaced_option(int argc, char **argv)
{
    const char *arg = argv[1];
    char name[64];
    size_t len = strcspn(arg + 2, "=");
    bool known = false;
    if (strncmp(arg, "--", 2) == 0 && len > 0 && len < sizeof name) {
        memcpy(name, arg + 2, len);
        name[len] = '\0';
        known = cli_find_name(name) != NULL;
    } else if (arg[0] == '-' && arg[1] != '\0' && arg[1] != '-') {
        for (int cmd = 0; cmd < CLI_CMD_COUNT; cmd++)
            known |= cli_short_id((enum cli_cmd)cmd, (unsigned char)arg[1]) != 0;
    }
    if (!known)
        return -1;
    const char *cmd = "send|ping|load";
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "send") == 0 || strcmp(argv[i], "ping") == 0 ||
            strcmp(argv[i], "load") == 0) {
            cmd = argv[i];
            break;
        }
    }
    return shout_usage_error("options come after the subcommand: shout %s %s ...", cmd, arg);
}

int main(int argc, char **argv)
{
    /* A server that closes early must be an error we report, not a signal that kills us. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        return shout_usage_error("missing subcommand (try 'shout send TEXT' or 'shout --help')");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        cli_print_overview(stdout);
        return shout_flush_stdout();
    }
    if (strcmp(cmd, "--version") == 0) {
        puts("shout " SHOUT_VERSION);
        return shout_flush_stdout();
    }
    if (strcmp(cmd, "send") == 0)
        return shout_send(argc - 1, argv + 1);
    if (strcmp(cmd, "ping") == 0 || strcmp(cmd, "load") == 0)
        return shout_measure(argc - 1, argv + 1, cmd[0] == 'l');
    if (strcmp(cmd, "merge") == 0)
        return report_merge_main(argc - 1, argv + 1);
    if (cmd[0] == '-') {
        int rc = shout_misplaced_option(argc, argv);
        if (rc >= 0)
            return rc;
        return shout_usage_error("unknown option '%s' (see shout --help)", cmd);
    }
    return shout_usage_error("unknown subcommand '%s' (see shout --help)", cmd);
}
