/*
 * shout: the client's command line. It picks the subcommand, parses its
 * options into a send_options and hands over to send.c; it also answers
 * --help and --version. Usage errors exit 2 with a hint to stderr.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "send.h"

#define SHOUT_DEFAULT_HOST      "127.0.0.1"
#define SHOUT_DEFAULT_PORT      "7680"
#define SHOUT_DEFAULT_TIMEOUT_S 5.0
/* poll() takes an int of milliseconds. */
#define SHOUT_MAX_TIMEOUT_S 2147483

static const char shout_help[] =
    "Usage: shout send [OPTIONS] [TEXT...]\n"
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
    "     (byte offsets count from 0 within the reply text or payload)\n";

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
    /* Our own messages, in the "shout: " form, instead of getopt's. */
    opterr = 0;
    optind = 1;
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
    if (cmd[0] == '-')
        return shout_usage_error("unknown option '%s'", cmd);
    return shout_usage_error("unknown subcommand '%s'", cmd);
}
