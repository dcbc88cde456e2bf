/*
 * report_json: writes a struct run_result as the JSON file documented in the
 * README ("JSON output"). report_parse.c reads the same layout back. Part of
 * report.h.
 *
 * The file carries, beside what a reader wants (percentiles, rates, CPU per
 * message), everything needed to rebuild the run exactly: every non-empty
 * histogram bucket and the histogram's sums, so that shout merge restores
 * percentiles, mean and standard deviation as if one client had measured
 * every sample.
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drops.h"

/*
 * The tree is built with json_object_set_new, which takes the value even when
 * it fails (and fails on a NULL value or object, jansson's out of memory); one
 * flag collects every failure, checked once before writing.
 */
static void json_put(json_t *obj, const char *key, json_t *value, bool *ok)
{
    if (json_object_set_new(obj, key, value) != 0)
        *ok = false;
}

static void json_append(json_t *array, json_t *value, bool *ok)
{
    if (json_array_append_new(array, value) != 0)
        *ok = false;
}

/* JSON has no NaN or infinity: a value that is not finite is written as null. */
static json_t *json_number(double value)
{
    return isfinite(value) ? json_real(value) : json_null();
}

/*
 * jansson's integers are signed 64-bit. A count past that cannot occur in a
 * run, but if it did it is written as a real rather than wrapped negative.
 */
static json_t *json_u64(uint64_t value)
{
    if (value <= (uint64_t)LLONG_MAX)
        return json_integer((json_int_t)value);
    return json_real((double)value);
}

static json_t *json_cpu_list(const int *cpus, uint32_t count, bool *ok)
{
    json_t *list = json_array();
    for (uint32_t i = 0; i < count && i < RESULT_MAX_CPUS; i++)
        json_append(list, json_integer(cpus[i]), ok);
    return list;
}

/* -1 means unknown (or none) in struct run_env; JSON says null. */
static json_t *json_cpu_or_null(int cpu)
{
    return cpu < 0 ? json_null() : json_integer(cpu);
}

static json_t *json_config(const struct run_config *c, bool *ok)
{
    json_t *o = json_object();
    json_put(o, "command", json_string(c->command), ok);
    json_put(o, "host", json_string(c->host), ok);
    json_put(o, "port", json_integer(c->port), ok);
    json_put(o, "udp", json_boolean(c->udp), ok);
    json_put(o, "framed", json_boolean(c->framed), ok);
    json_put(o, "sockperf", json_boolean(c->sockperf), ok);
    json_put(o, "size", json_integer(c->size), ok);
    json_put(o, "duration_s", json_number(c->duration_s), ok);
    json_put(o, "count", json_u64(c->count), ok);
    json_put(o, "warmup_s", json_number(c->warmup_s), ok);
    json_put(o, "connections", json_integer(c->connections), ok);
    json_put(o, "threads", json_integer(c->threads), ok);
    json_put(o, "pipeline", json_integer(c->pipeline), ok);
    json_put(o, "rate", json_number(c->rate), ok);
    json_put(o, "timeout_s", json_number(c->timeout_s), ok);
    json_put(o, "client_cpus", json_cpu_list(c->client_cpus, c->client_cpu_count, ok), ok);
    json_put(o, "stats_port", json_integer(c->stats_port), ok);
    /* What "sent" means in service times: requests are written in batches (flow.h). */
    json_put(o, "send_stamp", json_string("write_start"), ok);
    json_put(o, "busy_poll", json_boolean(c->busy_poll), ok);
    return o;
}

static json_t *json_env(const struct run_result *r, bool *ok)
{
    const struct run_env *e = &r->env;
    json_t *o = json_object();
    json_put(o, "kernel", json_string(e->kernel), ok);
    json_put(o, "cpu_model", json_string(e->cpu_model), ok);
    json_put(o, "hostname", json_string(e->hostname), ok);
    json_put(o, "online_cpus", json_integer(e->online_cpus), ok);
    json_put(o, "client_cpus", json_cpu_list(r->config.client_cpus, r->config.client_cpu_count, ok),
             ok);
    json_put(o, "client_cpus_seen",
             json_cpu_list(e->client_cpus_seen, e->client_cpus_seen_count, ok), ok);
    json_put(o, "server_cpu", json_cpu_or_null(e->server_cpu), ok);
    json_put(o, "server_pinned", json_cpu_or_null(e->server_pinned), ok);
    json_put(o, "shared_cpu", e->shared_cpu < 0 ? json_null() : json_boolean(e->shared_cpu), ok);
    json_put(o, "started_at", json_string(e->started_at), ok);
    return o;
}

static json_t *json_counts(const struct run_counts *c, bool *ok)
{
    json_t *o = json_object();
    json_put(o, "sent", json_u64(c->sent), ok);
    json_put(o, "received", json_u64(c->received), ok);
    json_put(o, "mismatches", json_u64(c->mismatches), ok);
    json_put(o, "lost", json_u64(c->lost), ok);
    json_put(o, "duplicates", json_u64(c->duplicates), ok);
    json_put(o, "reordered", json_u64(c->reordered), ok);
    json_put(o, "error_frames", json_u64(c->error_frames), ok);
    json_put(o, "refused", json_u64(c->refused), ok);
    json_put(o, "unanswered", json_u64(c->unanswered), ok);
    json_put(o, "bytes_sent", json_u64(c->bytes_sent), ok);
    json_put(o, "bytes_received", json_u64(c->bytes_received), ok);
    return o;
}

static json_t *json_rates(const struct run_result *r, bool *ok)
{
    /* elapsed 0 gives infinity or NaN here, which json_number writes as null. */
    double elapsed_s = r->elapsed_s;
    json_t *o = json_object();
    json_put(o, "requests_per_s", json_number((double)r->counts.received / elapsed_s), ok);
    json_put(o, "bytes_sent_per_s", json_number((double)r->counts.bytes_sent / elapsed_s), ok);
    json_put(o, "bytes_received_per_s", json_number((double)r->counts.bytes_received / elapsed_s),
             ok);
    return o;
}

static const struct {
    const char *key;
    double pct;
} json_percentiles[] = {
    {"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99_9", 99.9}, {"p99_99", 99.99},
};

static json_t *json_hist(const struct hist *h, bool *ok)
{
    /* An empty histogram has no min, max, mean or percentiles: null, not a made-up 0. */
    bool empty = h->count == 0;
    json_t *o = json_object();
    json_put(o, "unit", json_string("ns"), ok);
    json_put(o, "count", json_u64(h->count), ok);
    json_put(o, "min", empty ? json_null() : json_u64(h->min_ns), ok);
    json_put(o, "max", empty ? json_null() : json_u64(h->max_ns), ok);
    json_put(o, "mean", empty ? json_null() : json_number(hist_mean(h)), ok);
    json_put(o, "stdev", empty ? json_null() : json_number(hist_stdev(h)), ok);
    for (size_t i = 0; i < sizeof json_percentiles / sizeof json_percentiles[0]; i++)
        json_put(o, json_percentiles[i].key,
                 empty ? json_null() : json_u64(hist_percentile(h, json_percentiles[i].pct)), ok);
    json_put(o, "clamped", json_u64(h->clamped), ok);
    /* A sum of whole nanoseconds: an integer (exact below 2^53 ns, 104 days of samples). */
    json_put(o, "sum_ns", json_u64((uint64_t)llround(h->sum_ns)), ok);
    json_put(o, "m2_ns", json_number(h->m2_ns), ok);
    json_t *buckets = json_array();
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        if (h->buckets[i] == 0)
            continue;
        json_t *pair = json_array();
        json_append(pair, json_u64(hist_bucket_low(i)), ok);
        json_append(pair, json_u64(h->buckets[i]), ok);
        json_append(buckets, pair, ok);
    }
    json_put(o, "buckets", buckets, ok);
    return o;
}

/* o, or NULL (o freed) when building it failed somewhere. */
static json_t *json_built(json_t *o, bool ok)
{
    if (ok)
        return o;
    json_decref(o);
    return NULL;
}

json_t *report_json_hist(const struct hist *h)
{
    bool ok = true;
    json_t *o = json_hist(h, &ok);
    return json_built(o, ok);
}

json_t *report_json_counts(const struct run_counts *c)
{
    bool ok = true;
    json_t *o = json_counts(c, &ok);
    return json_built(o, ok);
}

static json_t *json_client_cpu(const struct run_result *r, bool *ok)
{
    const struct run_cpu *cpu = &r->client_cpu;
    if (!cpu->known)
        return json_null();
    json_t *o = json_object();
    json_put(o, "user_s", json_number(cpu->user_s), ok);
    json_put(o, "system_s", json_number(cpu->system_s), ok);
    json_put(o, "us_per_message", json_number(report_us_per_message(cpu, r->counts.sent)), ok);
    return o;
}

static json_t *json_server(const struct run_result *r, bool *ok)
{
    const struct server_counters *s = &r->server;
    if (!s->known)
        return json_null();
    /* Server CPU may be missing while its counters are known: then user_s is null. */
    bool cpu_known = s->cpu.known;
    json_t *o = json_object();
    json_put(o, "user_s", cpu_known ? json_number(s->cpu.user_s) : json_null(), ok);
    json_put(o, "system_s", cpu_known ? json_number(s->cpu.system_s) : json_null(), ok);
    json_put(o, "us_per_message",
             json_number(report_us_per_message(&s->cpu, report_server_messages(r))), ok);
    json_put(o, "messages", json_u64(report_server_messages(r)), ok);
    json_put(o, "requests", json_u64(s->requests), ok);
    json_put(o, "text_bytes", json_u64(s->text_bytes), ok);
    json_put(o, "udp_replies", json_u64(s->udp_replies), ok);
    json_put(o, "bytes_in", json_u64(s->bytes_in), ok);
    json_put(o, "bytes_out", json_u64(s->bytes_out), ok);
    json_put(o, "errors", json_u64(s->errors), ok);
    return o;
}

/* What the server dropped on purpose, by its stats names; null when not known. */
static json_t *json_drops(const struct run_result *r, bool *ok)
{
    const struct server_drops *d = &r->server.drops;
    if (!r->server.known || !d->known)
        return json_null();
    json_t *o = json_object();
    for (unsigned i = 0; i < DROPS_REASONS; i++)
        json_put(o, drops_name(i), json_u64(drops_value(d, i)), ok);
    return o;
}

/* A share of one core, or null when not known. */
static json_t *json_share(double share)
{
    return share >= 0 ? json_number(share) : json_null();
}

/* A latency in µs, or null for an interval without replies (interval.h says -1). */
static json_t *json_interval_us(double us)
{
    return us >= 0 ? json_number(us) : json_null();
}

/* The interval series: one object per interval, in order; empty after shout merge. */
static json_t *json_intervals(const struct run_result *r, bool *ok)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < r->interval_count && i < RESULT_MAX_INTERVALS; i++) {
        const struct run_interval *e = &r->intervals[i];
        json_t *o = json_object();
        json_put(o, "t_s", json_number(e->t_s), ok);
        json_put(o, "span_s", json_number(e->span_s), ok);
        json_put(o, "replies", json_u64(e->replies), ok);
        json_put(o, "replies_per_s", json_number(e->replies_per_s), ok);
        json_put(o, "p50_us", json_interval_us(e->p50_us), ok);
        json_put(o, "p99_us", json_interval_us(e->p99_us), ok);
        json_put(o, "lost", json_u64(e->lost), ok);
        json_put(o, "errors", json_u64(e->errors), ok);
        json_append(a, o, ok);
    }
    return a;
}

static json_t *json_results(const struct run_result *r, bool *ok)
{
    json_t *o = json_object();
    json_put(o, "elapsed_s", json_number(r->elapsed_s), ok);
    json_put(o, "counts", json_counts(&r->counts, ok), ok);
    json_put(o, "rates", json_rates(r, ok), ok);
    json_put(o, "latency", json_hist(&r->latency, ok), ok);
    json_put(o, "service", json_hist(&r->service, ok), ok);
    json_t *cpu = json_object();
    json_put(cpu, "client", json_client_cpu(r, ok), ok);
    json_put(cpu, "server", json_server(r, ok), ok);
    json_put(cpu, "client_thread_share", json_share(r->client_thread_share), ok);
    json_put(cpu, "server_share", json_share(r->server_share), ok);
    json_put(cpu, "client_bound", json_boolean(r->client_bound), ok);
    json_put(o, "cpu", cpu, ok);
    json_put(o, "server_drops", json_drops(r, ok), ok);
    json_put(o, "intervals", json_intervals(r, ok), ok);
    return o;
}

/* The whole document; NULL when memory ran out. */
static json_t *json_result(const struct run_result *r)
{
    bool ok = true;
    json_t *root = json_object();
    json_put(root, "format", json_integer(RESULT_FORMAT), &ok);
    json_put(root, "shout_version", json_string(SHOUT_VERSION), &ok);
    char id[17];
    snprintf(id, sizeof id, "%016" PRIx64, r->run_id);
    json_put(root, "run_id", json_string(id), &ok);
    json_t *ids = json_array();
    /* A result always stands for at least its own run. */
    if (r->id_count == 0)
        json_append(ids, json_string(id), &ok);
    for (uint32_t i = 0; i < r->id_count && i < RESULT_MAX_IDS; i++) {
        snprintf(id, sizeof id, "%016" PRIx64, r->ids[i]);
        json_append(ids, json_string(id), &ok);
    }
    json_put(root, "run_ids", ids, &ok);
    json_put(root, "interrupted", json_boolean(r->interrupted), &ok);
    json_put(root, "command", json_string(r->config.command), &ok);
    json_put(root, "config", json_config(&r->config, &ok), &ok);
    json_put(root, "environment", json_env(r, &ok), &ok);
    json_put(root, "results", json_results(r, &ok), &ok);
    json_put(root, "merged_from", json_integer(r->merged_from), &ok);
    if (ok)
        return root;
    json_decref(root);
    return NULL;
}

/*
 * The shortest "%.*g" of value that reads back as the same double: a
 * reader gets 0.2, not 0.20000000000000001, and still every bit.
 */
static void json_shortest(double value, char *out, size_t cap)
{
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(out, cap, "%.*g", precision, value);
        if (strtod(out, NULL) == value)
            break;
    }
    /* Still a real to a JSON reader that tells integers from reals (jansson does). */
    if (!strpbrk(out, ".eEn"))
        snprintf(out + strlen(out), cap - strlen(out), ".0");
}

size_t report_json_shorten(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    bool in_string = false;
    for (size_t i = 0; in[i] != '\0' && o + 32 < cap;) {
        char c = in[i];
        if (in_string) {
            out[o++] = c;
            i++;
            if (c == '\\' && in[i] != '\0')
                out[o++] = in[i++];
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
            out[o++] = in[i++];
            continue;
        }
        if (c != '-' && (c < '0' || c > '9')) {
            out[o++] = in[i++];
            continue;
        }
        size_t len = strspn(in + i, "-+0123456789.eE");
        bool real =
            memchr(in + i, '.', len) || memchr(in + i, 'e', len) || memchr(in + i, 'E', len);
        if (!real || len >= 64) {
            memcpy(out + o, in + i, len < cap - o - 1 ? len : cap - o - 1);
            o += len < cap - o - 1 ? len : cap - o - 1;
            i += len;
            continue;
        }
        char number[64];
        memcpy(number, in + i, len);
        number[len] = '\0';
        char shortest[40];
        json_shortest(strtod(number, NULL), shortest, sizeof shortest);
        size_t n = strlen(shortest);
        memcpy(out + o, shortest, n);
        o += n;
        i += len;
    }
    out[o] = '\0';
    return o;
}

int report_json_open(const char *path, struct report_json_file *file)
{
    *file = (struct report_json_file){.path = path, .fd = -1};
    if (strcmp(path, "-") == 0) {
        file->fd = STDOUT_FILENO;
        file->is_stdout = true;
        return 0;
    }
    /* Not truncated yet: an existing file keeps its contents until there is a result. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0)
        file->created = true;
    else if (errno == EEXIST)
        fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        fprintf(stderr, "shout: cannot write %s: %s\n", path, strerror(-rc));
        return rc;
    }
    file->fd = fd;
    return 0;
}

void report_json_discard(struct report_json_file *file)
{
    if (file->fd < 0 || file->is_stdout)
        return;
    close(file->fd);
    if (file->created)
        unlink(file->path);
    file->fd = -1;
}

int report_write_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        text += n;
        len -= (size_t)n;
    }
    return 0;
}

char *report_json_text(const json_t *root, size_t *len)
{
    /* 17 significant digits so that nothing is lost; report_json_shorten then drops what is
     * not needed. */
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    size_t cap = text ? strlen(text) + 2 + 64 : 0;
    char *shorter = text ? malloc(cap) : NULL;
    if (shorter) {
        *len = report_json_shorten(text, shorter, cap);
        shorter[(*len)++] = '\n';
    }
    free(text);
    return shorter;
}

int report_write_json_file(const struct run_result *r, struct report_json_file *file)
{
    json_t *root = json_result(r);
    if (!root) {
        fprintf(stderr, "shout: %s: out of memory building the JSON\n", file->path);
        report_json_discard(file);
        return -ENOMEM;
    }
    size_t len = 0;
    char *text = report_json_text(root, &len);
    json_decref(root);
    int rc = 0;
    if (!text) {
        rc = -ENOMEM;
    } else {
        if (!file->is_stdout && ftruncate(file->fd, 0) != 0)
            rc = -errno;
        if (rc == 0)
            rc = report_write_all(file->fd, text, len);
    }
    free(text);
    if (!file->is_stdout && close(file->fd) != 0 && rc == 0)
        rc = -errno;
    file->fd = -1;
    if (rc < 0)
        fprintf(stderr, "shout: cannot write %s: %s\n", file->path, strerror(-rc));
    return rc;
}

int report_write_json(const struct run_result *r, const char *path)
{
    struct report_json_file file;
    int rc = report_json_open(path, &file);
    return rc < 0 ? rc : report_write_json_file(r, &file);
}
