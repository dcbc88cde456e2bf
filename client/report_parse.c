/*
 * report_parse: reads a result file written by report_write_json back into a
 * struct run_result. Part of report.h.
 *
 * Only the recorded values are read; what the writer derives from them
 * (percentiles, mean, rates, CPU per message) is recomputed by whoever needs
 * it, so a hand-edited derived value cannot disagree with the buckets. Every
 * recorded field is required: a file that lacks one is refused, with the
 * field's path in the message, rather than merged as zeros.
 *
 * Versions: a file with "format" must say RESULT_FORMAT, and then has every
 * member of that format. A file without "format" was written by shout before
 * the format was versioned: it is read, and what it lacks (run ids, refused
 * and unanswered counts, the server's drops, "interrupted") reads as none.
 * Such a file has no run id, so merge cannot tell it was given twice.
 */
#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "drops.h"

/* A result file with every bucket filled is under 1 MiB; refuse anything far larger. */
#define PARSE_MAX_BYTES (64u << 20)
/* The first problem, with its field's path; the callers add a short prefix. */
#define PARSE_WHY_MAX 256

/*
 * The reader keeps the first problem and ignores every read after it, so the
 * field-by-field code below reads straight through without checks and the
 * caller looks once at the end (like a sticky stream error).
 */
struct parse {
    char why[PARSE_WHY_MAX];
    bool versioned; /* the file has "format": the members it added are required */
};

static bool parse_failed(const struct parse *p)
{
    return p->why[0] != '\0';
}

static void parse_fail(struct parse *p, const char *where, const char *key, const char *problem)
{
    if (!parse_failed(p))
        snprintf(p->why, sizeof p->why, "%s%s%s: %s", where, *where ? "." : "", key, problem);
}

/* obj[key], present; NULL (and the problem noted) when missing or after a failure. */
static json_t *parse_member(struct parse *p, const json_t *obj, const char *where, const char *key)
{
    if (parse_failed(p))
        return NULL;
    json_t *value = json_object_get(obj, key);
    if (!value)
        parse_fail(p, where, key, "missing");
    return value;
}

static json_t *parse_object(struct parse *p, const json_t *obj, const char *where, const char *key)
{
    json_t *value = parse_member(p, obj, where, key);
    if (value && !json_is_object(value)) {
        parse_fail(p, where, key, "not an object");
        return NULL;
    }
    return value;
}

/* A non-negative integer up to max (written as a real only past 2^63). */
static uint64_t parse_uint(struct parse *p, const json_t *obj, const char *where, const char *key,
                           uint64_t max)
{
    json_t *value = parse_member(p, obj, where, key);
    if (!value)
        return 0;
    if (json_is_integer(value) && json_integer_value(value) >= 0 &&
        (uint64_t)json_integer_value(value) <= max)
        return (uint64_t)json_integer_value(value);
    /*
     * The writer puts counts over INT64_MAX as doubles (jansson's integers are
     * signed), and every count from 2^64 - 1024 up rounds to exactly 2^64:
     * that one reads back as UINT64_MAX, the count it stood for.
     */
    if (json_is_real(value) && json_real_value(value) == 0x1p64 && max == UINT64_MAX)
        return UINT64_MAX;
    if (json_is_real(value) && json_real_value(value) >= 0x1p63 &&
        json_real_value(value) < 0x1p64 && (uint64_t)json_real_value(value) <= max)
        return (uint64_t)json_real_value(value);
    parse_fail(p, where, key, "not an integer in range");
    return 0;
}

static uint64_t parse_u64(struct parse *p, const json_t *obj, const char *where, const char *key)
{
    return parse_uint(p, obj, where, key, UINT64_MAX);
}

static uint32_t parse_u32(struct parse *p, const json_t *obj, const char *where, const char *key)
{
    return (uint32_t)parse_uint(p, obj, where, key, UINT32_MAX);
}

/* A number; null (what the writer makes of NaN and infinity) reads as NaN. */
static double parse_double(struct parse *p, const json_t *obj, const char *where, const char *key)
{
    json_t *value = parse_member(p, obj, where, key);
    if (!value || json_is_null(value))
        return NAN;
    if (!json_is_number(value)) {
        parse_fail(p, where, key, "not a number");
        return NAN;
    }
    return json_number_value(value);
}

static bool parse_bool(struct parse *p, const json_t *obj, const char *where, const char *key)
{
    json_t *value = parse_member(p, obj, where, key);
    if (value && !json_is_boolean(value))
        parse_fail(p, where, key, "not true or false");
    return json_is_true(value);
}

/* A member that results written by an older shout lack: absent reads as false. */
static bool parse_optional_bool(struct parse *p, const json_t *obj, const char *where,
                                const char *key)
{
    return obj && json_object_get(obj, key) ? parse_bool(p, obj, where, key) : false;
}

/* A CPU number; null reads as -1 (unknown, or not pinned). */
static int parse_cpu(struct parse *p, const json_t *obj, const char *where, const char *key)
{
    json_t *value = parse_member(p, obj, where, key);
    if (!value || json_is_null(value))
        return -1;
    if (!json_is_integer(value) || json_integer_value(value) < 0 ||
        json_integer_value(value) > 1 << 20) {
        parse_fail(p, where, key, "not a CPU number or null");
        return -1;
    }
    return (int)json_integer_value(value);
}

static void parse_text(struct parse *p, const json_t *obj, const char *where, const char *key,
                       char *out, size_t cap)
{
    out[0] = '\0';
    json_t *value = parse_member(p, obj, where, key);
    if (!value)
        return;
    if (!json_is_string(value) || json_string_length(value) >= cap ||
        strlen(json_string_value(value)) != json_string_length(value)) {
        parse_fail(p, where, key, "not a string of the expected length");
        return;
    }
    memcpy(out, json_string_value(value), json_string_length(value) + 1);
}

static void parse_cpu_list(struct parse *p, const json_t *obj, const char *where, const char *key,
                           int *cpus, uint32_t *count)
{
    *count = 0;
    json_t *list = parse_member(p, obj, where, key);
    if (!list)
        return;
    if (!json_is_array(list) || json_array_size(list) > RESULT_MAX_CPUS) {
        parse_fail(p, where, key, "not a list of at most 64 CPUs");
        return;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *cpu = json_array_get(list, i);
        if (!json_is_integer(cpu) || json_integer_value(cpu) < 0 ||
            json_integer_value(cpu) > 1 << 20) {
            parse_fail(p, where, key, "not a list of CPU numbers");
            return;
        }
        cpus[(*count)++] = (int)json_integer_value(cpu);
    }
}

static void parse_config(struct parse *p, const json_t *root, struct run_config *c)
{
    const char *w = "config";
    const json_t *o = parse_object(p, root, "", w);
    parse_text(p, o, w, "command", c->command, sizeof c->command);
    parse_text(p, o, w, "host", c->host, sizeof c->host);
    c->port = (uint16_t)parse_uint(p, o, w, "port", UINT16_MAX);
    c->udp = parse_bool(p, o, w, "udp");
    c->framed = parse_bool(p, o, w, "framed");
    c->sockperf = parse_bool(p, o, w, "sockperf");
    c->size = parse_u32(p, o, w, "size");
    c->duration_s = parse_double(p, o, w, "duration_s");
    c->count = parse_u64(p, o, w, "count");
    c->warmup_s = parse_double(p, o, w, "warmup_s");
    c->connections = parse_u32(p, o, w, "connections");
    c->threads = parse_u32(p, o, w, "threads");
    c->pipeline = parse_u32(p, o, w, "pipeline");
    c->rate = parse_double(p, o, w, "rate");
    c->timeout_s = parse_double(p, o, w, "timeout_s");
    parse_cpu_list(p, o, w, "client_cpus", c->client_cpus, &c->client_cpu_count);
    c->stats_port = (uint16_t)parse_uint(p, o, w, "stats_port", UINT16_MAX);
    /* Results written before --busy-poll existed have none: they did not spin. */
    c->busy_poll = parse_optional_bool(p, o, w, "busy_poll");
}

static void parse_env(struct parse *p, const json_t *root, struct run_env *e)
{
    const char *w = "environment";
    const json_t *o = parse_object(p, root, "", w);
    parse_text(p, o, w, "kernel", e->kernel, sizeof e->kernel);
    parse_text(p, o, w, "cpu_model", e->cpu_model, sizeof e->cpu_model);
    parse_text(p, o, w, "hostname", e->hostname, sizeof e->hostname);
    e->online_cpus = parse_u32(p, o, w, "online_cpus");
    /* environment.client_cpus repeats config.client_cpus, which is the one read. */
    parse_cpu_list(p, o, w, "client_cpus_seen", e->client_cpus_seen, &e->client_cpus_seen_count);
    e->server_cpu = parse_cpu(p, o, w, "server_cpu");
    e->server_pinned = parse_cpu(p, o, w, "server_pinned");
    json_t *shared = parse_member(p, o, w, "shared_cpu");
    e->shared_cpu = json_is_boolean(shared) ? json_is_true(shared) : -1;
    if (shared && !json_is_boolean(shared) && !json_is_null(shared))
        parse_fail(p, w, "shared_cpu", "not true, false or null");
    parse_text(p, o, w, "started_at", e->started_at, sizeof e->started_at);
}

static void parse_counts(struct parse *p, const json_t *results, struct run_counts *c)
{
    const char *w = "results.counts";
    const json_t *o = parse_object(p, results, "results", "counts");
    c->sent = parse_u64(p, o, w, "sent");
    c->received = parse_u64(p, o, w, "received");
    c->mismatches = parse_u64(p, o, w, "mismatches");
    c->lost = parse_u64(p, o, w, "lost");
    c->duplicates = parse_u64(p, o, w, "duplicates");
    c->reordered = parse_u64(p, o, w, "reordered");
    c->error_frames = parse_u64(p, o, w, "error_frames");
    c->bytes_sent = parse_u64(p, o, w, "bytes_sent");
    c->bytes_received = parse_u64(p, o, w, "bytes_received");
    if (p->versioned) {
        c->refused = parse_u64(p, o, w, "refused");
        c->unanswered = parse_u64(p, o, w, "unanswered");
    }
}

/* The buckets, then the summary; the bucket total must equal "count". */
static void parse_hist(struct parse *p, const json_t *results, const char *key, const char *w,
                       struct hist *h)
{
    hist_init(h);
    const json_t *o = parse_object(p, results, "results", key);
    json_t *unit = parse_member(p, o, w, "unit");
    if (unit && (!json_is_string(unit) || strcmp(json_string_value(unit), "ns") != 0))
        parse_fail(p, w, "unit", "not \"ns\"");
    uint64_t count = parse_u64(p, o, w, "count");
    json_t *buckets = parse_member(p, o, w, "buckets");
    if (buckets && (!json_is_array(buckets) || json_array_size(buckets) > HIST_BUCKETS))
        parse_fail(p, w, "buckets", "not a list of at most one pair per bucket");
    for (size_t i = 0; !parse_failed(p) && i < json_array_size(buckets); i++) {
        json_t *pair = json_array_get(buckets, i);
        json_t *low = json_array_get(pair, 0), *n = json_array_get(pair, 1);
        if (json_array_size(pair) != 2 || !json_is_integer(low) || !json_is_integer(n) ||
            json_integer_value(low) < 0 || (uint64_t)json_integer_value(low) > HIST_MAX_NS ||
            json_integer_value(n) < 0 || (uint64_t)json_integer_value(n) > UINT64_MAX - h->count) {
            parse_fail(p, w, "buckets", "not [low_ns, count] pairs in range");
            break;
        }
        hist_add_bucket(h, (uint64_t)json_integer_value(low), (uint64_t)json_integer_value(n));
    }
    if (!parse_failed(p) && h->count != count)
        parse_fail(p, w, "count", "does not match the buckets' total");
    uint64_t clamped = parse_u64(p, o, w, "clamped");
    double sum_ns = parse_double(p, o, w, "sum_ns");
    double m2_ns = parse_double(p, o, w, "m2_ns");
    if (count == 0 || parse_failed(p)) {
        hist_restore_summary(h, UINT64_MAX, 0, 0.0, 0.0, clamped);
        return;
    }
    uint64_t min_ns = parse_uint(p, o, w, "min", HIST_MAX_NS);
    uint64_t max_ns = parse_uint(p, o, w, "max", HIST_MAX_NS);
    if (!parse_failed(p) && (min_ns > max_ns || !isfinite(sum_ns) || !isfinite(m2_ns)))
        parse_fail(p, w, "min", "min, max and sums do not describe the buckets");
    hist_restore_summary(h, min_ns, max_ns, sum_ns, m2_ns, clamped);
}

/* null, or {user_s, system_s, ...}; user_s null means the CPU time is unknown. */
static void parse_cpu_time(struct parse *p, const json_t *o, const char *w, struct run_cpu *cpu)
{
    *cpu = (struct run_cpu){.known = false};
    if (!o)
        return;
    cpu->user_s = parse_double(p, o, w, "user_s");
    cpu->system_s = parse_double(p, o, w, "system_s");
    cpu->known = !isnan(cpu->user_s) && !isnan(cpu->system_s);
    if (!cpu->known)
        cpu->user_s = cpu->system_s = 0;
}

/* null, or an object; anything else is a problem. */
static const json_t *parse_nullable_object(struct parse *p, const json_t *obj, const char *where,
                                           const char *key)
{
    json_t *value = parse_member(p, obj, where, key);
    if (!value || json_is_null(value))
        return NULL;
    if (!json_is_object(value)) {
        parse_fail(p, where, key, "not an object or null");
        return NULL;
    }
    return value;
}

/*
 * The shares of a core and the client-bound verdict: optional, since
 * results written before shout measured them have none (not known).
 */
static double parse_share(struct parse *p, const json_t *cpu, const char *key)
{
    const json_t *value = cpu ? json_object_get(cpu, key) : NULL;
    if (!value || json_is_null(value))
        return -1;
    double share = parse_double(p, cpu, "results.cpu", key);
    if (!parse_failed(p) && share < 0)
        parse_fail(p, "results.cpu", key, "negative");
    return share;
}

static void parse_shares(struct parse *p, const json_t *cpu, struct run_result *r)
{
    r->client_thread_share = parse_share(p, cpu, "client_thread_share");
    r->server_share = parse_share(p, cpu, "server_share");
    r->client_bound = parse_optional_bool(p, cpu, "results.cpu", "client_bound");
}

static void parse_cpu_section(struct parse *p, const json_t *results, struct run_result *r)
{
    const json_t *cpu = parse_object(p, results, "results", "cpu");
    const json_t *client = parse_nullable_object(p, cpu, "results.cpu", "client");
    parse_cpu_time(p, client, "results.cpu.client", &r->client_cpu);
    parse_shares(p, cpu, r);

    const char *w = "results.cpu.server";
    const json_t *server = parse_nullable_object(p, cpu, "results.cpu", "server");
    struct server_counters *s = &r->server;
    memset(s, 0, sizeof *s);
    if (!server)
        return;
    parse_cpu_time(p, server, w, &s->cpu);
    s->requests = parse_u64(p, server, w, "requests");
    s->text_bytes = parse_u64(p, server, w, "text_bytes");
    s->udp_replies = parse_u64(p, server, w, "udp_replies");
    s->bytes_in = parse_u64(p, server, w, "bytes_in");
    s->bytes_out = parse_u64(p, server, w, "bytes_out");
    s->errors = parse_u64(p, server, w, "errors");
    s->known = true;
}

/* "server_drops": null, or every reason's count. */
static void parse_drops(struct parse *p, const json_t *results, struct server_drops *d)
{
    memset(d, 0, sizeof *d);
    const json_t *o = parse_nullable_object(p, results, "results", "server_drops");
    if (!o)
        return;
    for (unsigned i = 0; i < DROPS_REASONS; i++)
        *drops_field(d, i) = parse_u64(p, o, "results.server_drops", drops_name(i));
    d->known = true;
}

/* A run id: 16 hex digits. */
static uint64_t parse_id(struct parse *p, const json_t *value, const char *key)
{
    const char *text = json_string_value(value);
    char *end = NULL;
    uint64_t id = text && strlen(text) == 16 ? strtoull(text, &end, 16) : 0;
    if (!end || *end != '\0' || text[0] == '-' || text[0] == '+' || text[0] == ' ')
        parse_fail(p, "", key, "not a run id (16 hex digits)");
    return id;
}

/* format, run_id, run_ids and interrupted; a file without "format" has none of them. */
static void parse_version(struct parse *p, const json_t *root, struct run_result *r)
{
    const json_t *format = json_object_get(root, "format");
    if (!format)
        return;
    if (!json_is_integer(format) || json_integer_value(format) != RESULT_FORMAT) {
        char problem[96];
        snprintf(problem, sizeof problem,
                 "not %d: written by another version of shout; this one "
                 "reads format %d",
                 RESULT_FORMAT, RESULT_FORMAT);
        parse_fail(p, "", "format", problem);
        return;
    }
    p->versioned = true;
    r->run_id = parse_id(p, parse_member(p, root, "", "run_id"), "run_id");
    const json_t *ids = parse_member(p, root, "", "run_ids");
    if (ids &&
        (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > RESULT_MAX_IDS))
        parse_fail(p, "", "run_ids", "not a list of 1 to 256 run ids");
    for (size_t i = 0; !parse_failed(p) && i < json_array_size(ids); i++)
        r->ids[r->id_count++] = parse_id(p, json_array_get(ids, i), "run_ids");
    r->interrupted = parse_bool(p, root, "", "interrupted");
}

static void parse_result(struct parse *p, const json_t *root, struct run_result *r)
{
    if (!json_is_object(root)) {
        parse_fail(p, "", "(top)", "not a JSON object");
        return;
    }
    parse_version(p, root, r);
    parse_config(p, root, &r->config);
    parse_env(p, root, &r->env);
    const json_t *results = parse_object(p, root, "", "results");
    r->elapsed_s = parse_double(p, results, "results", "elapsed_s");
    parse_counts(p, results, &r->counts);
    parse_hist(p, results, "latency", "results.latency", &r->latency);
    parse_hist(p, results, "service", "results.service", &r->service);
    parse_cpu_section(p, results, r);
    if (p->versioned)
        parse_drops(p, results, &r->server.drops);
    r->merged_from = parse_u32(p, root, "", "merged_from");
    if (!parse_failed(p) && r->merged_from == 0)
        parse_fail(p, "", "merged_from", "0 (a result stands for at least one run)");
}

/* The tree to *r: 0, or -EBADMSG with the first problem in why. */
static int parse_root(const json_t *root, struct run_result *r, char *why, size_t why_cap)
{
    struct parse p = {.why = ""};
    memset(r, 0, sizeof *r);
    parse_result(&p, root, r);
    if (!parse_failed(&p))
        return 0;
    snprintf(why, why_cap, "not a shout result: %s", p.why);
    return -EBADMSG;
}

/*
 * jansson's error text quotes the bytes near the error, raw: a newline or an
 * escape sequence from a hostile file would otherwise reach the terminal.
 */
static void parse_printable(char *text)
{
    for (; *text; text++)
        if ((unsigned char)*text < 0x20 || (unsigned char)*text >= 0x7f)
            *text = '?';
}

int report_parse_json(const char *text, size_t len, struct run_result *r, char *why, size_t why_cap)
{
    if (len > PARSE_MAX_BYTES) {
        snprintf(why, why_cap, "over %u MiB, not a shout result", PARSE_MAX_BYTES >> 20);
        return -EFBIG;
    }
    json_error_t error;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        parse_printable(error.text);
        snprintf(why, why_cap, "not JSON: line %d: %s", error.line, error.text);
        return -EBADMSG;
    }
    int rc = parse_root(root, r, why, why_cap);
    json_decref(root);
    return rc;
}

/*
 * jansson's own json_loadf reads until the stream ends: from a pipe (shout
 * merge -) or a FIFO that is forever. This reader hands it at most
 * PARSE_MAX_BYTES and fails the load on the byte after.
 */
struct parse_stream {
    FILE *in;
    size_t left;
    bool too_big;
    bool read_failed;
};

static size_t parse_stream_read(void *buffer, size_t cap, void *data)
{
    struct parse_stream *s = data;
    if (s->left == 0) {
        s->too_big = fgetc(s->in) != EOF;
        s->read_failed = ferror(s->in);
        return s->too_big || s->read_failed ? (size_t)-1 : 0;
    }
    size_t got = fread(buffer, 1, cap < s->left ? cap : s->left, s->in);
    s->left -= got;
    s->read_failed = got == 0 && ferror(s->in);
    return s->read_failed ? (size_t)-1 : got;
}

static int parse_refuse_size(const char *path)
{
    fprintf(stderr, "shout: %s: over %u MiB, not a shout result\n", path, PARSE_MAX_BYTES >> 20);
    return -EFBIG;
}

int report_read_json(const char *path, struct run_result *r)
{
    /* "-" is standard input, as for any filter; shout merge takes it once. */
    bool from_stdin = strcmp(path, "-") == 0;
    FILE *in = from_stdin ? stdin : fopen(path, "r");
    if (!in) {
        int rc = -errno;
        fprintf(stderr, "shout: cannot read %s: %s\n", path, strerror(-rc));
        return rc;
    }
    /* A file known to be too big is refused before a byte of it is parsed. */
    struct stat st;
    if (fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > PARSE_MAX_BYTES) {
        if (!from_stdin)
            fclose(in);
        return parse_refuse_size(path);
    }
    /* The tree then goes through the same reader as report_parse_json's. */
    struct parse_stream stream = {.in = in, .left = PARSE_MAX_BYTES};
    json_error_t error;
    json_t *root = json_load_callback(parse_stream_read, &stream, JSON_REJECT_DUPLICATES, &error);
    if (!from_stdin)
        fclose(in);
    if (!root) {
        if (stream.too_big)
            return parse_refuse_size(path);
        if (stream.read_failed)
            fprintf(stderr, "shout: cannot read %s: read error\n", path);
        else {
            parse_printable(error.text);
            fprintf(stderr, "shout: %s: not JSON: line %d: %s\n", path, error.line, error.text);
        }
        return stream.read_failed ? -EIO : -EBADMSG;
    }
    char why[PARSE_WHY_MAX + 32];
    int rc = parse_root(root, r, why, sizeof why);
    json_decref(root);
    if (rc < 0)
        fprintf(stderr, "shout: %s: %s\n", path, why);
    return rc;
}
