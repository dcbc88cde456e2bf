/* Unit tests for server/options.c: parsing shoutd's command line, more than once in a process. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_after_stopping_inside_a_cluster_starts_afresh),
        cmocka_unit_test(test_parse_after_an_unknown_short_option_starts_afresh),
    };
    return cmocka_run_group_tests(tests, quiet_stdout, NULL);
}
