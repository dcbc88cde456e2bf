/* Unit tests for server/options.c: parsing shoutd's command line, more than once in a process. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "options.h"

static enum options_result parse(struct options *opts, char **argv)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    return options_parse(opts, argc, argv);
}

/* --help's text goes to stdout: out of the test's way. */
static int quiet_stdout(void **state)
{
    (void)state;
    return freopen("/dev/null", "w", stdout) == NULL;
}

/*
 * "-hh" stops at the first 'h' (help printed). A parse after it must start
 * afresh, not carry on from the second 'h' of a string it no longer owns.
 */
static void test_parse_after_stopping_inside_a_cluster_starts_afresh(void **state)
{
    (void)state;
    static char arg0[] = "shoutd", cluster[] = "-hh", port_flag[] = "--port", port[] = "5";
    char *help_argv[] = {arg0, cluster, NULL};
    char *run_argv[] = {arg0, port_flag, port, NULL};
    struct options opts;
    assert_int_equal(parse(&opts, help_argv), OPTIONS_EXIT_OK);
    assert_int_equal(parse(&opts, run_argv), OPTIONS_RUN);
    assert_int_equal(opts.port, 5);
}

/* The same after an error in the middle of a cluster of short options. */
static void test_parse_after_an_unknown_short_option_starts_afresh(void **state)
{
    (void)state;
    static char arg0[] = "shoutd", cluster[] = "-hx", bad[] = "-xh", port_flag[] = "--port",
                port[] = "6";
    char *bad_argv[] = {arg0, bad, NULL};
    char *help_argv[] = {arg0, cluster, NULL};
    char *run_argv[] = {arg0, port_flag, port, NULL};
    struct options opts;
    assert_int_equal(parse(&opts, bad_argv), OPTIONS_EXIT_USAGE);
    assert_int_equal(parse(&opts, run_argv), OPTIONS_RUN);
    assert_int_equal(opts.port, 6);
    assert_int_equal(parse(&opts, help_argv), OPTIONS_EXIT_OK);
    assert_int_equal(parse(&opts, run_argv), OPTIONS_RUN);
    assert_int_equal(opts.port, 6);
}

static enum options_result parse_args(struct options *opts, const char *args)
{
    static char copy[512];
    static char *argv[32];
    static char arg0[] = "shoutd";
    snprintf(copy, sizeof copy, "%s", args);
    int argc = 0;
    argv[argc++] = arg0;
    for (char *word = strtok(copy, " "); word && argc < 31; word = strtok(NULL, " "))
        argv[argc++] = word;
    argv[argc] = NULL;
    return options_parse(opts, argc, argv);
}

static void test_defaults_are_the_tables(void **state)
{
    (void)state;
    struct options opts;
    assert_int_equal(parse_args(&opts, ""), OPTIONS_RUN);
    assert_int_equal(opts.port, OPTIONS_DEFAULT_PORT);
    assert_int_equal(opts.max_frame, OPTIONS_DEFAULT_MAX_FRAME);
    assert_int_equal(opts.grace_s, OPTIONS_DEFAULT_GRACE_S);
    assert_int_equal(opts.frame_timeout_s, OPTIONS_DEFAULT_FRAME_TIMEOUT_S);
    assert_int_equal(opts.idle_timeout_s, OPTIONS_DEFAULT_IDLE_TIMEOUT_S);
    assert_int_equal(opts.write_timeout_s, OPTIONS_DEFAULT_WRITE_TIMEOUT_S);
    assert_int_equal(opts.max_conns, OPTIONS_DEFAULT_MAX_CONNS);
    assert_int_equal(opts.max_conns_per_ip, OPTIONS_DEFAULT_MAX_CONNS / 4);
    assert_int_equal(opts.backlog, OPTIONS_DEFAULT_BACKLOG);
    assert_int_equal(opts.stats_port, OPTIONS_DEFAULT_PORT + 1);
    assert_int_equal(opts.cpu, -1);
    assert_true(opts.sandbox && opts.stats_enabled);
}

static void test_durations_and_sizes_take_units(void **state)
{
    (void)state;
    struct options opts;
    assert_int_equal(parse_args(&opts, "--idle-timeout 2m --frame-timeout 10s --grace 3000ms "
                                       "--max-frame 64KiB --max-buffered 1g"),
                     OPTIONS_RUN);
    assert_int_equal(opts.idle_timeout_s, 120);
    assert_int_equal(opts.frame_timeout_s, 10);
    assert_int_equal(opts.grace_s, 3);
    assert_int_equal(opts.max_frame, 64 * 1024);
    assert_true(opts.max_buffered == 1024ull * 1024 * 1024);
    assert_int_equal(parse_args(&opts, "--grace 0.5"), OPTIONS_EXIT_USAGE);
    assert_int_equal(parse_args(&opts, "--port 1k"), OPTIONS_EXIT_USAGE);
}

static void test_contradictions_and_duplicates_are_refused(void **state)
{
    (void)state;
    struct options opts;
    assert_int_equal(parse_args(&opts, "--no-stats --stats-port 5"), OPTIONS_EXIT_USAGE);
    assert_int_equal(parse_args(&opts, "--stats-port 5 --no-stats"), OPTIONS_EXIT_USAGE);
    assert_int_equal(parse_args(&opts, "--max-conns 10 --max-conns-per-ip 11"), OPTIONS_EXIT_USAGE);
    assert_int_equal(parse_args(&opts, "--max-conns 10 --max-conns-per-ip 10"), OPTIONS_RUN);
    assert_int_equal(parse_args(&opts, "--listen 127.0.0.1 --listen 127.0.0.1"),
                     OPTIONS_EXIT_USAGE);
    assert_int_equal(parse_args(&opts, "--listen ::1 --listen [::1]"), OPTIONS_EXIT_USAGE);
    assert_int_equal(parse_args(&opts, "--listen localhost --listen LocalHost"), OPTIONS_RUN);
}

static void test_host_names_are_kept_for_start_up(void **state)
{
    (void)state;
    struct options opts;
    assert_int_equal(parse_args(&opts, "-B localhost -p 9"), OPTIONS_RUN);
    assert_int_equal(opts.listen_count, 1);
    assert_int_equal(opts.listen[0].addr_len, 0);
    assert_string_equal(opts.listen[0].text, "localhost");
    assert_int_equal(opts.port, 9);
    assert_int_equal(parse_args(&opts, "--listen 256.0.0.1"), OPTIONS_EXIT_USAGE);
    assert_int_equal(parse_args(&opts, "--listen -x"), OPTIONS_EXIT_USAGE);
}

static void test_format_writes_units_that_parse_back(void **state)
{
    (void)state;
    struct options opts;
    assert_int_equal(parse_args(&opts, "--idle-timeout 120 --max-frame 65536"), OPTIONS_RUN);
    char text[OPTIONS_FORMAT_MAX];
    int count = options_format(&opts, text, sizeof text);
    assert_true(count > 0);
    bool idle = false, frame = false;
    for (size_t at = 0; count-- > 0; at += strlen(text + at) + 1) {
        idle |= strcmp(text + at, "--idle-timeout") == 0 && strcmp(text + at + 15, "2m") == 0;
        frame |= strcmp(text + at, "--max-frame") == 0 && strcmp(text + at + 12, "64K") == 0;
    }
    assert_true(idle && frame);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_after_stopping_inside_a_cluster_starts_afresh),
        cmocka_unit_test(test_parse_after_an_unknown_short_option_starts_afresh),
        cmocka_unit_test(test_defaults_are_the_tables),
        cmocka_unit_test(test_durations_and_sizes_take_units),
        cmocka_unit_test(test_contradictions_and_duplicates_are_refused),
        cmocka_unit_test(test_host_names_are_kept_for_start_up),
        cmocka_unit_test(test_format_writes_units_that_parse_back),
    };
    return cmocka_run_group_tests(tests, quiet_stdout, NULL);
}
