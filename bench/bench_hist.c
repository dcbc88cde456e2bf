#include "bench_hist.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "report.h"

/* The layout version of a histogram file ("format"). */
#define BENCH_HIST_FORMAT 1
#define BENCH_HIST_KIND   "shout-bench histogram"

static struct {
    bool enabled;
    char dir[PATH_MAX];
    struct run_env env; /* captured once: started_at is shout-bench's start */
} hist_out;

/* mkdir -p: each missing component of path, the last one included. 0 or -errno. */
static int hist_make_dirs(char *path)
{
    for (char *slash = strchr(path + 1, '/');; slash = strchr(slash + 1, '/')) {
        if (slash)
            *slash = '\0';
        int rc = mkdir(path, 0777) == 0 || errno == EEXIST ? 0 : -errno;
        if (slash)
            *slash = '/';
        if (rc < 0)
            return rc;
        if (!slash || slash[1] == '\0')
            return 0;
    }
}

int bench_hist_setup(void)
{
    const char *dir = getenv("SHOUT_BENCH_HISTOGRAMS");
    if (!dir || !*dir)
        return 0;
    const char *why = NULL;
    int err = 0;
    struct stat st;
    if (strlen(dir) >= sizeof hist_out.dir) {
        err = ENAMETOOLONG;
    } else {
        memcpy(hist_out.dir, dir, strlen(dir) + 1);
        err = -hist_make_dirs(hist_out.dir);
        if (err != 0)
            why = "cannot create the directory";
        else if (stat(hist_out.dir, &st) != 0)
            err = errno;
        else if (!S_ISDIR(st.st_mode))
            err = ENOTDIR;
        else if (access(hist_out.dir, W_OK | X_OK) != 0)
            err = errno;
    }
    if (err != 0) {
        fprintf(stderr, "shout-bench: SHOUT_BENCH_HISTOGRAMS=%s: %s%s%s\n", dir, why ? why : "",
                why ? ": " : "", strerror(err));
        return -1;
    }
    report_capture_env(&hist_out.env);
    hist_out.enabled = true;
    return 0;
}

bool bench_hist_enabled(void)
{
    return hist_out.enabled;
}

/*
 * A run id for the tail gate, which refuses one run counted twice: random,
 * as shout's own. Should getrandom fail, the clock and a counter still make
 * the ids of one process differ.
 */
static uint64_t hist_run_id(void)
{
    static uint64_t made;
    uint64_t id;
    if (getrandom(&id, sizeof id, 0) == (ssize_t)sizeof id)
        return id;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 40) ^
           ++made;
}

/* As report_json.c: every failure of the tree's building goes into one flag. */
static void hist_put(json_t *obj, const char *key, json_t *value, bool *ok)
{
    if (json_object_set_new(obj, key, value) != 0)
        *ok = false;
}

static json_t *hist_cpu(int cpu)
{
    return cpu < 0 ? json_null() : json_integer(cpu);
}

static json_t *hist_config(const struct bench_hist_config *c, bool *ok)
{
    json_t *o = json_object();
    hist_put(o, "pattern", json_string(c->pattern), ok);
    hist_put(o, "udp", json_boolean(c->udp), ok);
    hist_put(o, "framed", json_boolean(c->framed), ok);
    hist_put(o, "size", json_integer(c->size), ok);
    hist_put(o, "in_flight", json_integer(c->in_flight), ok);
    hist_put(o, "warmup", json_integer(c->warmup), ok);
    hist_put(o, "timeout_s", json_real(c->timeout_s), ok);
    hist_put(o, "host", json_string(c->host), ok);
    hist_put(o, "port", json_integer(c->port), ok);
    hist_put(o, "client_cpu", hist_cpu(c->client_cpu), ok);
    hist_put(o, "server_cpu", hist_cpu(c->server_cpu), ok);
    hist_put(o, "placement", json_string(c->placement), ok);
    hist_put(o, "shoutd", json_string(c->shoutd), ok);
    return o;
}

static json_t *hist_env(bool *ok)
{
    const struct run_env *e = &hist_out.env;
    json_t *o = json_object();
    hist_put(o, "kernel", json_string(e->kernel), ok);
    hist_put(o, "cpu_model", json_string(e->cpu_model), ok);
    hist_put(o, "hostname", json_string(e->hostname), ok);
    hist_put(o, "online_cpus", json_integer(e->online_cpus), ok);
    hist_put(o, "started_at", json_string(e->started_at), ok);
    return o;
}

/* The whole document; NULL when memory ran out. */
static json_t *hist_document(const struct gbench_run *run, const char *run_id,
                             const struct bench_hist_config *config, const struct hist *latency,
                             const struct run_counts *counts)
{
    bool ok = true;
    json_t *root = json_object();
    hist_put(root, "format", json_integer(BENCH_HIST_FORMAT), &ok);
    hist_put(root, "kind", json_string(BENCH_HIST_KIND), &ok);
    hist_put(root, "shout_version", json_string(SHOUT_VERSION), &ok);
    hist_put(root, "benchmark", json_string(run->name), &ok);
    hist_put(root, "run_id", json_string(run_id), &ok);
    hist_put(root, "repetition_index", json_integer(run->repetition_index), &ok);
    hist_put(root, "repetitions", json_integer(run->repetitions), &ok);
    hist_put(root, "iterations", json_integer(run->iterations), &ok);
    hist_put(root, "config", hist_config(config, &ok), &ok);
    hist_put(root, "environment", hist_env(&ok), &ok);
    json_t *results = json_object();
    hist_put(results, "latency", report_json_hist(latency), &ok);
    hist_put(results, "counts", report_json_counts(counts), &ok);
    hist_put(root, "results", results, &ok);
    if (ok)
        return root;
    json_decref(root);
    return NULL;
}

/* The whole of text into a new file at path (never an existing one). 0 or -errno. */
static int hist_write_new(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0)
        return -errno;
    int rc = report_write_all(fd, text, len);
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        unlink(path);
    return rc;
}

int bench_hist_write(const struct gbench_run *run, const struct bench_hist_config *config,
                     const struct hist *latency, const struct run_counts *counts)
{
    char run_id[17];
    snprintf(run_id, sizeof run_id, "%016" PRIx64, hist_run_id());
    char name[256];
    int n = snprintf(name, sizeof name, "%s.r%" PRId64 ".%s.json", run->name, run->repetition_index,
                     run_id);
    char path[PATH_MAX];
    int m = n > 0 && (size_t)n < sizeof name
                ? snprintf(path, sizeof path, "%s/%s", hist_out.dir, name)
                : -1;
    if (m < 0 || (size_t)m >= sizeof path) {
        fprintf(stderr, "shout-bench: %s: the histogram file's path is too long\n", run->name);
        return -1;
    }
    /* A run name's '/' would be a directory: '_' instead, in the file's name only. */
    for (char *c = path + strlen(hist_out.dir) + 1; *c; c++)
        if (*c == '/')
            *c = '_';

    json_t *root = hist_document(run, run_id, config, latency, counts);
    size_t len = 0;
    char *text = root ? report_json_text(root, &len) : NULL;
    json_decref(root);
    int rc = text ? hist_write_new(path, text, len) : -ENOMEM;
    free(text);
    if (rc < 0) {
        fprintf(stderr, "shout-bench: cannot write %s: %s\n", path, strerror(-rc));
        return -1;
    }
    return 0;
}
