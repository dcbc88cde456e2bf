/*
 * cli: shout's options as one table (name, short name per subcommand,
 * argument kind, default, range, help text, the subcommands that take it),
 * and what is made from it: getopt_long's arrays, the checking of each value
 * against its kind and range, and every subcommand's --help. Because the
 * parser applies each default by parsing the same text that --help prints,
 * the help and the defaults cannot disagree.
 *
 * Short options follow one peer per subcommand, so that the letters mean what
 * users of that peer already type: send follows nc(1) (-u, -w TIMEOUT, -4,
 * -6), ping follows ping(8) (-c COUNT, -s SIZE, -W TIMEOUT) and iperf3 (-p
 * PORT, -t TIME), load follows wrk (-c CONNECTIONS, -d DURATION, -t THREADS)
 * and wrk2 (-R RATE). -p, -u, -4 and -6 mean the same everywhere.
 *
 * Memory: the table and the texts are static; cli_getopt fills arrays the
 * caller owns. Messages go to a caller's buffer; nothing is allocated.
 */
#ifndef SHOUT_CLI_H
#define SHOUT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cli_cmd {
    CLI_SEND,
    CLI_PING,
    CLI_LOAD,
    CLI_CMD_COUNT,
};

#define CLI_TAKES(cmd) (1u << (cmd))
#define CLI_ALL        (CLI_TAKES(CLI_SEND) | CLI_TAKES(CLI_PING) | CLI_TAKES(CLI_LOAD))
#define CLI_MEASURE    (CLI_TAKES(CLI_PING) | CLI_TAKES(CLI_LOAD))

/* Ids start past any char, so that getopt_long's short letters cannot collide with them. */
enum cli_id {
    CLI_HELP = 256,
    CLI_VERSION,
    CLI_UDP,
    CLI_FRAMED,
    CLI_HOST,
    CLI_PORT,
    CLI_IPV4,
    CLI_IPV6,
    CLI_TIMEOUT,
    CLI_SIZE,
    CLI_DURATION,
    CLI_COUNT,
    CLI_WARMUP,
    CLI_CPU,
    CLI_JSON,
    CLI_PROGRESS,
    CLI_INTERVAL,
    CLI_QUIET,
    CLI_STATS_PORT,
    CLI_NO_STATS,
    CLI_SOCKPERF,
    CLI_BUSY_POLL,
    CLI_CONNECTIONS,
    CLI_THREADS,
    CLI_PIPELINE,
    CLI_RATE,
};

enum cli_arg {
    CLI_ARG_NONE,    /* a flag */
    CLI_ARG_TEXT,    /* any non-empty text */
    CLI_ARG_PORT,    /* decimal digits, within the range */
    CLI_ARG_WHOLE,   /* decimal digits, within the range */
    CLI_ARG_SIZE,    /* decimal digits with an optional K or M (binary) */
    CLI_ARG_SECONDS, /* decimal seconds such as 5, 0.5 or .25 */
    CLI_ARG_RATE,    /* a decimal number per second */
    CLI_ARG_CPUS,    /* a CPU list, checked by pin.c */
};

struct cli_option {
    enum cli_id id;
    const char *name;               /* the long name, without "--" */
    char short_name[CLI_CMD_COUNT]; /* per subcommand; 0 for none */
    unsigned takes;                 /* CLI_TAKES() of the subcommands that take it */
    enum cli_arg arg;
    const char *metavar;       /* NULL for a flag */
    const char *default_value; /* parsed before argv; NULL if none */
    const char *default_text;  /* shown when the default is not one value */
    double min, max;           /* the range of a number */
    const char *help;          /* lines after the first start with '\n' */
};

/* The option `id` as subcommand cmd takes it (rows may differ per subcommand), or NULL. */
const struct cli_option *cli_find(enum cli_cmd cmd, enum cli_id id);

/* The option named `name` (a long name) for any subcommand, or NULL. */
const struct cli_option *cli_find_name(const char *name);

/* Every option row in turn: i from 0 until it returns NULL. */
const struct cli_option *cli_row(size_t i);

#define CLI_LONGOPTS_MAX  48
#define CLI_SHORTOPTS_MAX 64

struct option;

/*
 * getopt_long's arrays for cmd: every long option any subcommand takes (so
 * that one of another subcommand is named as such, not as unknown) and the
 * short letters of cmd. `prefix` starts the short string ("+:" or ":").
 */
void cli_getopt(enum cli_cmd cmd, const char *prefix, struct option *longopts,
                char shortopts[CLI_SHORTOPTS_MAX]);

/* The option id that cmd's short letter c stands for, or 0. */
int cli_short_id(enum cli_cmd cmd, int c);

/*
 * Check `text` against o's kind and range. On success the number (or 0 for
 * text) is in *value and 0 is returned; else a one-line reason that names the
 * option and its real range is in why, and -1 is returned.
 */
int cli_value(const struct cli_option *o, const char *text, double *value, char *why,
              size_t why_cap);

/* cmd's --help: usage, a summary, its options only, the peer its short options follow, examples. */
void cli_print_help(enum cli_cmd cmd, FILE *out);

/* shout --help: the subcommands and the exit statuses. */
void cli_print_overview(FILE *out);

/* "send", "ping" or "load". */
const char *cli_cmd_name(enum cli_cmd cmd);

#endif
