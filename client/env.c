/*
 * env: where a run happened and what it cost the client: kernel, CPU model,
 * hostname, CPU count and start time, and the client's own CPU time. Part of
 * report.h.
 */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* /proc/cpuinfo is a few KiB per CPU; the model is on the first CPU's lines. */
#define ENV_CPUINFO_MAX_LINES 4096

/* The first "model name : ..." of /proc/cpuinfo, or "" (some architectures have none). */
static void env_read_cpu_model(char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    for (int i = 0; i < ENV_CPUINFO_MAX_LINES && fgets(line, sizeof line, f); i++) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        const char *value = strchr(line, ':');
        if (!value)
            continue;
        value += 1 + strspn(value + 1, " \t");
        size_t len = strcspn(value, "\n");
        if (len >= cap)
            len = cap - 1;
        memcpy(out, value, len);
        out[len] = '\0';
        break;
    }
    fclose(f);
}

void report_capture_env(struct run_env *env)
{
    memset(env, 0, sizeof *env);
    struct utsname uts;
    if (uname(&uts) == 0) {
        /* A release string past the field is cut, which is fine for a label. */
        int n = snprintf(env->kernel, sizeof env->kernel, "%s %s", uts.sysname, uts.release);
        if (n < 0)
            env->kernel[0] = '\0';
    }
    env_read_cpu_model(env->cpu_model, sizeof env->cpu_model);
    /* gethostname does not promise a terminator when the name is cut. */
    if (gethostname(env->hostname, sizeof env->hostname - 1) != 0)
        env->hostname[0] = '\0';
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    env->online_cpus = online > 0 ? (uint32_t)online : 0;
    env->server_cpu = env->server_pinned = env->shared_cpu = -1;
    time_t now = time(NULL);
    struct tm utc;
    if (gmtime_r(&now, &utc))
        strftime(env->started_at, sizeof env->started_at, "%Y-%m-%dT%H:%M:%SZ", &utc);
}

static double env_seconds(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

struct run_cpu report_cpu_now(void)
{
    /* RUSAGE_SELF adds up every thread of the process, live or finished. */
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0)
        return (struct run_cpu){.known = false};
    return (struct run_cpu){
        .known = true,
        .user_s = env_seconds(usage.ru_utime),
        .system_s = env_seconds(usage.ru_stime),
    };
}

double report_us_per_message(const struct run_cpu *cpu, uint64_t messages)
{
    if (!cpu->known || messages == 0)
        return NAN;
    return (cpu->user_s + cpu->system_s) * 1e6 / (double)messages;
}
