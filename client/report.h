/*
 * report: everything around a measuring run that is not the measuring: the
 * environment it ran in, the client's and the server's CPU time, the human
 * table, the JSON file, and shout merge (progress lines: interval.h). The JSON layout
 * is documented in the README ("JSON output"); report_read_json reads back
 * exactly what report_write_json writes.
 *
 * Memory: functions fill or read a struct run_result the caller owns.
 */
#ifndef SHOUT_REPORT_H
#define SHOUT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "result.h"

/* Kernel, CPU model, hostname, start time; client CPUs and sharing are filled later. */
void report_capture_env(struct run_env *env);

/* getrusage(RUSAGE_SELF) now, for a before/after delta. */
struct run_cpu report_cpu_now(void);

/*
 * Read the server's counters from its stats port (host:port, TCP, loopback by
 * default). 0, or a negative errno; *snapshot is untouched on failure.
 */
int report_fetch_server(const char *host, uint16_t stats_port, struct server_counters *snapshot,
                        int *server_cpu, int *server_pinned);
/*
 * What report_fetch_server does with the answer: the stats port's JSON in
 * text[0..len) into *snapshot, *server_cpu and *server_pinned (either may be
 * NULL). 0, or -EBADMSG (not a JSON object) or -EPROTO (a member missing or
 * of the wrong type); on failure nothing is written.
 */
int report_parse_stats(const char *text, size_t len, struct server_counters *snapshot,
                       int *server_cpu, int *server_pinned);
/* after - before, field by field, into *delta (known only if both are). */
void report_server_delta(const struct server_counters *before, const struct server_counters *after,
                         struct server_counters *delta);

/* The human table, to out. */
void report_print_table(const struct run_result *r, FILE *out);

/*
 * A result file opened before the run, so that an unwritable path fails
 * before any traffic: "-" is standard output; any other path is created if
 * missing and truncated only when the result is written.
 */
struct report_json_file {
    const char *path; /* the caller's string */
    int fd;
    bool is_stdout;
    bool created; /* report_json_discard removes it again */
};
/* 0, or a negative errno with a one-line message on stderr. */
int report_json_open(const char *path, struct report_json_file *file);
/* No result after all (the run failed before measuring): close, and remove a file it created. */
void report_json_discard(struct report_json_file *file);
/* Write r into the opened file and close it. 0, or a negative errno with a message on stderr. */
int report_write_json_file(const struct run_result *r, struct report_json_file *file);
/* report_json_open and report_write_json_file in one. */
int report_write_json(const struct run_result *r, const char *path);
/*
 * A histogram as result files write it ("results.latency": count, min, max,
 * mean, stdev, percentiles, sums, and every non-empty bucket as
 * [low_ns, count]), for other writers of the same layout (shout-bench's
 * histogram files). A new jansson object (json_t of <jansson.h>) the caller
 * owns, or NULL when memory ran out.
 */
struct json_t *report_json_hist(const struct hist *h);
/* The result files' "counts" object, for shout-bench likewise; owned and NULL as above. */
struct json_t *report_json_counts(const struct run_counts *c);
/*
 * Pure: jansson's text in to out (cap bytes, at least strlen(in) + 64),
 * every real number rewritten in the shortest form that reads back as the
 * same double; strings and integers untouched. Returns the length written.
 */
size_t report_json_shorten(const char *in, char *out, size_t cap);
/*
 * root as result files are written: indented, every real in its shortest
 * exact form, a newline at the end. A new string the caller frees, its
 * length in *len; NULL when memory ran out.
 */
char *report_json_text(const struct json_t *root, size_t *len);
/* The whole of text to fd, EINTR retried. 0 or a negative errno. */
int report_write_all(int fd, const char *text, size_t len);
int report_read_json(const char *path, struct run_result *r);
/*
 * What report_read_json does after reading the file: text[0..len) (no NUL
 * needed) into *r. 0, or -EBADMSG (-EFBIG over 64 MiB) with the reason, one
 * line, in why. On failure *r holds whatever was read before the problem:
 * zeros and some fields, never to be used.
 */
int report_parse_json(const char *text, size_t len, struct run_result *r, char *why,
                      size_t why_cap);

/* shout merge A.json B.json ... [--json OUT]: argv[0] is "merge". Returns the exit status. */
int report_merge_main(int argc, char **argv);

/*
 * CPU microseconds per message: (user + system) * 1e6 / messages; NAN when
 * the CPU time is unknown or there were no messages (JSON writes it as null).
 */
double report_us_per_message(const struct run_cpu *cpu, uint64_t messages);

/*
 * The messages the server answered over the run, the divisor of its CPU per
 * message: framed and sockperf requests, UDP datagrams, and over TCP text
 * mode (which has no message boundaries) text bytes / the request size.
 */
uint64_t report_server_messages(const struct run_result *r);

/*
 * Whether b can be merged with a: the same command, transport, framing, size
 * and pacing (a paced run's latency is from the intended send, a closed
 * loop's from the actual send; adding them would mix two measures).
 * 0, or -EINVAL with the reason in why.
 */
int report_merge_check(const struct run_result *a, const struct run_result *b, char *why,
                       size_t why_cap);

/*
 * Whether runs[0..n) can be merged without counting one run twice: every run
 * id (run_ids) at most once over all of them, and at most RESULT_MAX_IDS in
 * all. 0, or -EEXIST (the two files' indexes in *first and *second) or
 * -E2BIG, with the reason in why. Files without ids are not checked.
 */
int report_merge_check_ids(const struct run_result *runs, size_t n, size_t *first, size_t *second,
                           char *why, size_t why_cap);

/*
 * Merge n >= 1 runs of load generators that ran at the same time into *out:
 * histograms, counts, client CPU and connections added, elapsed the longest.
 * The server's counters come from one run only, and only when all runs
 * measured the same server (host and port): each of them saw the whole
 * server over the same time, so adding them would count it n times.
 * *server_from is that run's index, or -1 when the servers differ or none
 * knew its counters. 0, or -EINVAL (with why) when two runs are incompatible.
 */
int report_merge(const struct run_result *runs, size_t n, struct run_result *out, int *server_from,
                 char *why, size_t why_cap);

#endif
