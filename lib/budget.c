#include "budget.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

size_t budget_low_water(size_t limit)
{
    return limit - limit / 8;
}

/* Over the limit, or, while shedding for it, still over its low-water mark. */
static bool budget_over(size_t total, size_t limit, bool shedding)
{
    return total > (shedding ? budget_low_water(limit) : limit);
}

enum budget_verdict budget_judge(const struct budget_limits *limits, size_t total,
                                 size_t source_total, enum budget_verdict shedding)
{
    if (budget_over(total, limits->max_total, shedding == BUDGET_OVER_TOTAL))
        return BUDGET_OVER_TOTAL;
    if (limits->max_per_source != 0 &&
        budget_over(source_total, limits->max_per_source, shedding == BUDGET_OVER_SOURCE))
        return BUDGET_OVER_SOURCE;
    return BUDGET_OK;
}

unsigned budget_size_class(size_t held)
{
    unsigned size_class = 0;
    for (; held != 0; held >>= 1)
        size_class++;
    return size_class;
}

int budget_cgroup_path(const char *proc_cgroup, char *path, size_t cap)
{
    /* v1 hierarchies have lines "N:controllers:PATH"; the v2 one is "0::PATH". */
    for (const char *line = proc_cgroup; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len >= 3 && memcmp(line, "0::", 3) == 0) {
            if (len - 3 >= cap)
                return -ENAMETOOLONG;
            memcpy(path, line + 3, len - 3);
            path[len - 3] = '\0';
            return 0;
        }
        line += len + (end ? 1 : 0);
    }
    return -ENOENT;
}

int budget_parse_memory_max(const char *text, uint64_t *bytes)
{
    if (strcmp(text, "max\n") == 0 || strcmp(text, "max") == 0)
        return -ENOENT;
    if (text[0] < '0' || text[0] > '9')
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || (*end != '\0' && strcmp(end, "\n") != 0))
        return -EINVAL;
    *bytes = value;
    return 0;
}

uint64_t budget_default(uint64_t cgroup_max, uint64_t physical, enum budget_origin *origin)
{
    /*
     * Under a cgroup shoutd is alone with its limit, but the kernel charges
     * the connections' socket buffers to the same cgroup: half is left for
     * them, the process's own code and heap, and malloc's slack. Without
     * one, the machine is shared with everything else on it: a quarter.
     */
    if (cgroup_max / 2 != 0) {
        *origin = BUDGET_FROM_CGROUP;
        return cgroup_max / 2;
    }
    if (physical / 4 != 0) {
        *origin = BUDGET_FROM_PHYSICAL;
        return physical / 4;
    }
    *origin = BUDGET_FROM_FIXED;
    return BUDGET_FALLBACK_BYTES;
}

uint64_t budget_default_per_source(uint64_t max_total)
{
    /* Like --max-conns-per-ip: at least four sources are needed to fill the budget. */
    return max_total / 4;
}

bool budget_trim_due(struct budget_trim *trim, size_t held, uint64_t now_ms, uint64_t *retry_ms)
{
    *retry_ms = UINT64_MAX;
    if (held > trim->peak)
        trim->peak = held;
    if (trim->peak - held < BUDGET_TRIM_MIN_RELEASE)
        return false;
    uint64_t allowed_ms = trim->last_ms == 0 ? 0 : trim->last_ms + BUDGET_TRIM_INTERVAL_MS;
    if (now_ms < allowed_ms) {
        *retry_ms = allowed_ms;
        return false;
    }
    trim->peak = held;
    /* A clock that reads 0 must still start the interval. */
    trim->last_ms = now_ms != 0 ? now_ms : 1;
    return true;
}
