/*
 * merge: shout merge, which adds up the result files of several load
 * generators that ran against one server at the same time, as if one client
 * had done all their work. Part of report.h.
 *
 * Memory: report_merge_main holds every file's struct run_result at once
 * (about 75 KiB each) in one allocation it frees before returning.
 */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MERGE_EXIT_OK      0
#define MERGE_EXIT_FAILURE 1 /* a file that cannot be read or written */
#define MERGE_EXIT_USAGE   2 /* a bad command line, or files that do not go together */
#define MERGE_MAX_FILES    4096

static const char merge_usage[] =
    "Usage: shout merge FILE.json... [--json OUT]\n"
    "\n"
    "Merge the results of several shout ping or shout load runs that measured one\n"
    "server at the same time (one run per client machine, say) into one result, and\n"
    "print its table. The files must agree on command, TCP or UDP, framing, request\n"
    "size and pacing. Latency histograms, counts, connections, threads, rate and\n"
    "client CPU are added; the elapsed time is the longest. The server's counters\n"
    "are taken from one file only, and only if every file measured the same server\n"
    "(host and port): each saw all of the server over the same time.\n"
    "\n"
    "Each run has a random id (run_id); a merged file lists the ids it adds up\n"
    "(run_ids). Files of another format version, the same run given twice (also\n"
    "inside merged files), and more than 256 runs in all are refused. Files\n"
    "without \"format\" (shout before format 1) are read, without that check.\n"
    "\n"
    "A FILE - is standard input (once). A file or stream over 64 MiB (no result\n"
    "is near that size) is refused: shout stops reading it there.\n"
    "\n"
    "  --json OUT   also write the merged result to OUT, in the same JSON format\n"
    "               (OUT - is standard output; the table then goes to stderr)\n"
    "  -h, --help   show this help and exit\n"
    "\n"
    "Exit status: 0 merged; 1 a file could not be read or written; 2 usage error,\n"
    "or files that cannot be merged.\n"
    "\n"
    "Examples:\n"
    "  shout merge a.json b.json --json all.json\n"
    "  ssh box2 cat load.json | shout merge load.json -\n";

int report_merge_check(const struct run_result *a, const struct run_result *b, char *why,
                       size_t why_cap)
{
    const struct run_config *x = &a->config, *y = &b->config;
    if (strcmp(x->command, y->command) != 0)
        snprintf(why, why_cap, "different commands (%s and %s)", x->command, y->command);
    else if (x->udp != y->udp)
        snprintf(why, why_cap, "different transports (%s and %s)", x->udp ? "UDP" : "TCP",
                 y->udp ? "UDP" : "TCP");
    else if (x->framed != y->framed || x->sockperf != y->sockperf)
        snprintf(why, why_cap, "different framing (%s and %s)",
                 x->sockperf ? "sockperf"
                 : x->framed ? "framed"
                             : "text",
                 y->sockperf ? "sockperf"
                 : y->framed ? "framed"
                             : "text");
    else if (x->size != y->size)
        snprintf(why, why_cap, "different request sizes (%" PRIu32 " and %" PRIu32 " bytes)",
                 x->size, y->size);
    else if ((x->rate > 0) != (y->rate > 0))
        snprintf(why, why_cap,
                 "one run is paced and the other closed loop: their latencies "
                 "are measured from different moments");
    else
        return 0;
    return -EINVAL;
}

int report_merge_check_ids(const struct run_result *runs, size_t n, size_t *first, size_t *second,
                           char *why, size_t why_cap)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += runs[i].id_count;
    if (total > RESULT_MAX_IDS) {
        snprintf(why, why_cap, "%zu runs in all: at most %d can be merged", total, RESULT_MAX_IDS);
        *first = *second = 0;
        return -E2BIG;
    }
    /* At most 256 ids: the quadratic search is cheaper than sorting with the file kept. */
    for (size_t a = 0; a < n; a++)
        for (uint32_t i = 0; i < runs[a].id_count; i++)
            for (size_t b = a; b < n; b++)
                for (uint32_t j = b == a ? i + 1 : 0; j < runs[b].id_count; j++)
                    if (runs[a].ids[i] == runs[b].ids[j]) {
                        snprintf(why, why_cap, "run %016llx is in both: the same run twice",
                                 (unsigned long long)runs[a].ids[i]);
                        *first = a;
                        *second = b;
                        return -EEXIST;
                    }
    return 0;
}

static bool merge_same_server(const struct run_result *a, const struct run_result *b)
{
    return strcmp(a->config.host, b->config.host) == 0 && a->config.port == b->config.port;
}

/* Add the client CPUs b ran on to a's list, once each. */
static void merge_cpus_seen(struct run_env *a, const struct run_env *b)
{
    for (uint32_t i = 0; i < b->client_cpus_seen_count && i < RESULT_MAX_CPUS; i++) {
        bool seen = false;
        for (uint32_t j = 0; j < a->client_cpus_seen_count && !seen; j++)
            seen = a->client_cpus_seen[j] == b->client_cpus_seen[i];
        if (!seen && a->client_cpus_seen_count < RESULT_MAX_CPUS)
            a->client_cpus_seen[a->client_cpus_seen_count++] = b->client_cpus_seen[i];
    }
}

/* Everything but the server's counters: b's work added to *into. */
static void merge_add(struct run_result *into, const struct run_result *b)
{
    struct run_config *c = &into->config;
    c->connections += b->config.connections;
    c->threads += b->config.threads;
    c->rate += b->config.rate;
    c->count += b->config.count;
    if (b->config.duration_s > c->duration_s)
        c->duration_s = b->config.duration_s;

    struct run_env *e = &into->env;
    if (strcmp(b->env.started_at, e->started_at) < 0) /* ISO 8601 UTC sorts as text */
        memcpy(e->started_at, b->env.started_at, sizeof e->started_at);
    merge_cpus_seen(e, &b->env);
    /* Shared if any client shared a CPU with the server; unknown if any does not know. */
    if (e->shared_cpu == 1 || b->env.shared_cpu == 1)
        e->shared_cpu = 1;
    else if (e->shared_cpu < 0 || b->env.shared_cpu < 0)
        e->shared_cpu = -1;

    if (b->elapsed_s > into->elapsed_s)
        into->elapsed_s = b->elapsed_s;
    hist_merge(&into->latency, &b->latency);
    hist_merge(&into->service, &b->service);

    struct run_counts *n = &into->counts;
    n->sent += b->counts.sent;
    n->received += b->counts.received;
    n->mismatches += b->counts.mismatches;
    n->lost += b->counts.lost;
    n->duplicates += b->counts.duplicates;
    n->reordered += b->counts.reordered;
    n->error_frames += b->counts.error_frames;
    n->refused += b->counts.refused;
    n->unanswered += b->counts.unanswered;
    n->bytes_sent += b->counts.bytes_sent;
    n->bytes_received += b->counts.bytes_received;

    struct run_cpu *cpu = &into->client_cpu;
    cpu->known = cpu->known && b->client_cpu.known;
    cpu->user_s = cpu->known ? cpu->user_s + b->client_cpu.user_s : 0;
    cpu->system_s = cpu->known ? cpu->system_s + b->client_cpu.system_s : 0;
    into->merged_from += b->merged_from;
    into->interrupted = into->interrupted || b->interrupted;
    for (uint32_t i = 0; i < b->id_count && into->id_count < RESULT_MAX_IDS; i++)
        into->ids[into->id_count++] = b->ids[i];
    /* Both ran the same server at the same time: its drops are counted once, below. */
    /* Any run that measured its client taints the sum; the busiest thread and server stand. */
    into->client_bound = into->client_bound || b->client_bound;
    if (b->client_thread_share > into->client_thread_share)
        into->client_thread_share = b->client_thread_share;
    if (b->server_share > into->server_share)
        into->server_share = b->server_share;
}

static bool merge_all_same_server(const struct run_result *runs, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (!merge_same_server(&runs[0], &runs[i]))
            return false;
    return true;
}

/* The run whose server counters stand for all: known, and the longest window. */
static int merge_pick_server(const struct run_result *runs, size_t n)
{
    if (!merge_all_same_server(runs, n))
        return -1;
    int best = -1;
    for (size_t i = 0; i < n; i++)
        if (runs[i].server.known && (best < 0 || runs[i].elapsed_s > runs[best].elapsed_s))
            best = (int)i;
    return best;
}

int report_merge(const struct run_result *runs, size_t n, struct run_result *out, int *server_from,
                 char *why, size_t why_cap)
{
    *server_from = -1;
    if (n == 0 || n > MERGE_MAX_FILES) {
        snprintf(why, why_cap, "between 1 and %d results can be merged", MERGE_MAX_FILES);
        return -EINVAL;
    }
    for (size_t i = 1; i < n; i++)
        if (report_merge_check(&runs[0], &runs[i], why, why_cap) < 0)
            return -EINVAL;
    *out = runs[0];
    for (size_t i = 1; i < n; i++)
        merge_add(out, &runs[i]);
    int from = merge_pick_server(runs, n);
    memset(&out->server, 0, sizeof out->server);
    out->env.server_cpu = out->env.server_pinned = -1;
    if (from >= 0) {
        out->server = runs[from].server;
        out->env.server_cpu = runs[from].env.server_cpu;
        out->env.server_pinned = runs[from].env.server_pinned;
    }
    *server_from = from;
    return 0;
}

/* The files and --json OUT of the command line; exit status 2 on a usage error, else -1. */
static int merge_parse_args(int argc, char **argv, const char **files, size_t *file_count,
                            const char **json_out)
{
    bool options_done = false;
    *file_count = 0;
    *json_out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)) {
            fputs(merge_usage, stdout);
            return MERGE_EXIT_OK;
        } else if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true;
        } else if (!options_done && strcmp(arg, "--json") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "shout: --json needs a file name\n");
                return MERGE_EXIT_USAGE;
            }
            *json_out = argv[++i];
        } else if (!options_done && strncmp(arg, "--json=", 7) == 0) {
            *json_out = arg + 7;
        } else if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "shout: unknown option %s (see shout merge --help)\n", arg);
            return MERGE_EXIT_USAGE;
        } else if (*file_count == MERGE_MAX_FILES) {
            fprintf(stderr, "shout: at most %d files\n", MERGE_MAX_FILES);
            return MERGE_EXIT_USAGE;
        } else {
            for (size_t j = 0; strcmp(arg, "-") == 0 && j < *file_count; j++)
                if (strcmp(files[j], "-") == 0) {
                    fprintf(stderr, "shout: - (standard input) can be given once\n");
                    return MERGE_EXIT_USAGE;
                }
            files[(*file_count)++] = arg;
        }
    }
    if (*json_out && (*json_out)[0] == '\0') {
        fprintf(stderr, "shout: --json needs a file name\n");
        return MERGE_EXIT_USAGE;
    }
    if (*file_count == 0) {
        fprintf(stderr, "shout: no result files (see shout merge --help)\n");
        return MERGE_EXIT_USAGE;
    }
    return -1;
}

/* Read and check every file, merge, print, write. */
static int merge_files(const char **files, size_t n, const char *json_out, struct run_result *runs,
                       struct run_result *merged)
{
    for (size_t i = 0; i < n; i++)
        if (report_read_json(files[i], &runs[i]) < 0)
            return MERGE_EXIT_FAILURE; /* the reader said which file and why */
    char why[256];
    for (size_t i = 1; i < n; i++) {
        if (report_merge_check(&runs[0], &runs[i], why, sizeof why) < 0) {
            fprintf(stderr, "shout: %s and %s cannot be merged: %s\n", files[0], files[i], why);
            return MERGE_EXIT_USAGE;
        }
    }
    size_t first, second;
    if (report_merge_check_ids(runs, n, &first, &second, why, sizeof why) < 0) {
        fprintf(stderr, "shout: %s and %s: %s\n", files[first], files[second], why);
        return MERGE_EXIT_USAGE;
    }
    int server_from;
    if (report_merge(runs, n, merged, &server_from, why, sizeof why) < 0) {
        fprintf(stderr, "shout: %s\n", why);
        return MERGE_EXIT_USAGE;
    }
    /* A merged result is a new result: its own id, beside the ids it adds up. */
    if (getrandom(&merged->run_id, sizeof merged->run_id, 0) != sizeof merged->run_id)
        merged->run_id = 0;
    /* With the JSON on standard output, the table moves out of its way. */
    FILE *table = json_out && strcmp(json_out, "-") == 0 ? stderr : stdout;
    report_print_table(merged, table);
    if (n > 1 && !merge_all_same_server(runs, n))
        fprintf(table, "server counters: n/a: the files measured different servers\n");
    else if (n > 1 && server_from >= 0)
        fprintf(table,
                "server counters: from %s only; all %zu files measured %s port %u over the same "
                "time, so adding them would count the server %zu times\n",
                files[server_from], n, merged->config.host, (unsigned)merged->config.port, n);
    if (fflush(table) != 0) {
        fprintf(stderr, "shout: cannot write the table: %s\n", strerror(errno));
        return MERGE_EXIT_FAILURE;
    }
    if (json_out && report_write_json(merged, json_out) < 0)
        return MERGE_EXIT_FAILURE;
    return MERGE_EXIT_OK;
}

int report_merge_main(int argc, char **argv)
{
    const char **files = calloc(MERGE_MAX_FILES, sizeof *files);
    if (!files) {
        fprintf(stderr, "shout: out of memory\n");
        return MERGE_EXIT_FAILURE;
    }
    size_t n;
    const char *json_out;
    int status = merge_parse_args(argc, argv, files, &n, &json_out);
    if (status >= 0) {
        free(files);
        return status;
    }
    /* runs[n] is the merged result. */
    struct run_result *runs = calloc(n + 1, sizeof *runs);
    if (!runs) {
        fprintf(stderr, "shout: out of memory for %zu results\n", n);
        free(files);
        return MERGE_EXIT_FAILURE;
    }
    status = merge_files(files, n, json_out, runs, &runs[n]);
    free(runs);
    free(files);
    return status;
}
