/*
 * fuzz_options: shoutd's command line, options_parse and options_format in
 * server/options.c, on hostile argv vectors.
 *
 * Input: the arguments after the program's name, each ending in a NUL (a
 * last one without its NUL counts too), at most FUZZ_OPTIONS_MAX_ARGS.
 *
 * Oracles, for every vector that parses (OPTIONS_RUN):
 * - every value is within the caps the rest of shoutd relies on without
 *   checking again: the UDP budgets' rates and burst (ratelimit_init, and
 *   the global bucket, must take them), the IPv6 prefix, the descriptor and
 *   connection caps, the timeouts, the sizes, the listen table;
 * - writing the options back (options_format) and parsing that gives the
 *   same options: the same listen addresses byte for byte, and the same
 *   arguments when written again. Every field is written, so no value is
 *   lost or changed on the way.
 * And for every vector, parsing twice in a row gives the same result: no
 * state (getopt's included) survives from one parse to the next.
 */
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "options.h"
#include "ratelimit.h"
#include "source.h"

#define FUZZ_OPTIONS_MAX_ARGS 64
/* Slots for the budget check: any power of two of at least RATELIMIT_WAYS will do. */
#define FUZZ_RATE_SLOTS 16

/* Split data into argv[1..]: NUL-ended arguments in a copy that argv points into. */
static int fuzz_split_args(const uint8_t *data, size_t size, char *copy, char **argv)
{
    static char program[] = "shoutd";
    memcpy(copy, data, size);
    copy[size] = '\0';
    int argc = 0;
    argv[argc++] = program;
    for (size_t at = 0; at < size && argc < FUZZ_OPTIONS_MAX_ARGS + 1;) {
        argv[argc++] = copy + at;
        at += strlen(copy + at) + 1;
    }
    argv[argc] = NULL;
    return argc;
}

/* The caps shoutd's other modules take for granted once the options parsed. */
static void fuzz_check_caps(const struct options *o)
{
    FUZZ_CHECK(o->listen_count >= 1 && o->listen_count <= OPTIONS_MAX_LISTEN,
               "%zu listen addresses", o->listen_count);
    FUZZ_CHECK(o->max_frame <= OPTIONS_MAX_MAX_FRAME, "max_frame %u", o->max_frame);
    FUZZ_CHECK(o->cpu >= -1 && o->cpu < CPU_SETSIZE, "cpu %d", o->cpu);
    FUZZ_CHECK(o->udp_rate_per_ip <= RATELIMIT_MAX_RATE && o->udp_rate <= RATELIMIT_MAX_RATE,
               "udp rates %u, %u", o->udp_rate_per_ip, o->udp_rate);
    FUZZ_CHECK(o->udp_rate_burst >= 1 && o->udp_rate_burst <= RATELIMIT_MAX_BURST, "udp burst %u",
               o->udp_rate_burst);
    static struct ratelimit_slot slots[FUZZ_RATE_SLOTS];
    struct ratelimit_table table;
    struct source_secret secret = {0};
    FUZZ_CHECK(ratelimit_init(&table, slots, FUZZ_RATE_SLOTS, o->udp_rate_per_ip, o->udp_rate_burst,
                              &secret) == 0,
               "ratelimit_init refuses rate %u, burst %u, which options_parse accepted",
               o->udp_rate_per_ip, o->udp_rate_burst);
    FUZZ_CHECK(o->ipv6_prefix >= 1 && o->ipv6_prefix <= SOURCE_MAX_IPV6_PREFIX, "ipv6_prefix %u",
               o->ipv6_prefix);
    FUZZ_CHECK(o->max_conns >= 1 && o->max_conns <= OPTIONS_MAX_MAX_CONNS, "max_conns %u",
               o->max_conns);
    FUZZ_CHECK(o->max_conns_per_ip <= OPTIONS_MAX_MAX_CONNS, "max_conns_per_ip %u",
               o->max_conns_per_ip);
    FUZZ_CHECK(o->grace_s <= OPTIONS_MAX_GRACE_S, "grace %u", o->grace_s);
    FUZZ_CHECK(o->frame_timeout_s <= OPTIONS_MAX_TIMEOUT_S &&
                   o->idle_timeout_s <= OPTIONS_MAX_TIMEOUT_S &&
                   o->write_timeout_s <= OPTIONS_MAX_TIMEOUT_S,
               "timeouts %u, %u, %u", o->frame_timeout_s, o->idle_timeout_s, o->write_timeout_s);
    FUZZ_CHECK(o->max_output <= OPTIONS_MAX_MAX_OUTPUT, "max_output %u", o->max_output);
    FUZZ_CHECK(o->max_buffered <= OPTIONS_MAX_MAX_BUFFERED &&
                   o->max_buffered_per_ip <= OPTIONS_MAX_MAX_BUFFERED,
               "max_buffered %llu, per ip %llu", (unsigned long long)o->max_buffered,
               (unsigned long long)o->max_buffered_per_ip);
    FUZZ_CHECK(o->backlog >= 1 && o->backlog <= OPTIONS_MAX_BACKLOG, "backlog %d", o->backlog);
    FUZZ_CHECK(o->busy_poll_us <= OPTIONS_MAX_BUSY_POLL_US, "busy_poll %u", o->busy_poll_us);
    FUZZ_CHECK(memchr(o->user, '\0', sizeof o->user) != NULL, "user name not terminated");
}

/* Written back, parsed again, written again: the same options. */
static void fuzz_check_round_trip(const struct options *first)
{
    static char text[OPTIONS_FORMAT_MAX], again[OPTIONS_FORMAT_MAX];
    static char *argv[2 * OPTIONS_FORMAT_MAX + 2];
    int count = options_format(first, text, sizeof text);
    FUZZ_CHECK(count > 0, "options_format: %d", count);
    size_t text_len = 0;
    argv[0] = "shoutd";
    for (int i = 0; i < count; i++) {
        argv[i + 1] = text + text_len;
        text_len += strlen(text + text_len) + 1;
    }
    argv[count + 1] = NULL;
    struct options second;
    FUZZ_CHECK(options_parse(&second, count + 1, argv) == OPTIONS_RUN,
               "the options written back do not parse");
    FUZZ_CHECK(
        second.listen_count == first->listen_count &&
            memcmp(second.listen, first->listen, first->listen_count * sizeof first->listen[0]) ==
                0 &&
            memcmp(&second.stats_listen, &first->stats_listen, sizeof first->stats_listen) == 0,
        "the listen addresses changed on the way");
    int count_again = options_format(&second, again, sizeof again);
    size_t again_len = 0;
    for (int i = 0; i < count_again; i++)
        again_len += strlen(again + again_len) + 1;
    FUZZ_CHECK(count_again == count && again_len == text_len && memcmp(again, text, text_len) == 0,
               "parsing the options written back changed them");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    static char copy[16385];
    static char *argv[FUZZ_OPTIONS_MAX_ARGS + 2];
    int argc = fuzz_split_args(data, size, copy, argv);
    struct options opts;
    enum options_result first = options_parse(&opts, argc, argv);
    enum options_result second = options_parse(&opts, argc, argv);
    FUZZ_CHECK(first == second, "the same argv parsed %d, then %d", (int)first, (int)second);
    if (first != OPTIONS_RUN)
        return 0;
    fuzz_check_caps(&opts);
    fuzz_check_round_trip(&opts);
    return 0;
}
