#include "memlimit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "budget.h"

/* Where the cgroup v2 hierarchy is mounted on every distribution that has one. */
#define MEMLIMIT_CGROUP_ROOT "/sys/fs/cgroup"

/* A small text file into text[0..cap) (NUL-terminated): 0, or a negative errno. */
static int memlimit_read_text(const struct kernel *k, const char *path, char *text, size_t cap)
{
    int fd = k->open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = k->read(fd, text + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    k->close(fd);
    text[len] = '\0';
    return 0;
}

/* memory.max of the cgroup at path (under the v2 root): its bytes, or 0 for none. */
static uint64_t memlimit_one(const struct kernel *k, const char *path)
{
    char file[PATH_MAX];
    char text[64];
    uint64_t bytes;
    if (snprintf(file, sizeof file, "%s%s/memory.max", MEMLIMIT_CGROUP_ROOT, path) >=
            (int)sizeof file ||
        memlimit_read_text(k, file, text, sizeof text) != 0 ||
        budget_parse_memory_max(text, &bytes) != 0)
        return 0;
    return bytes;
}

uint64_t memlimit_cgroup_max(const struct kernel *k)
{
    /* A process may be in a deep hierarchy: /proc/self/cgroup is small, but not tiny on v1. */
    char proc[4096];
    char path[PATH_MAX];
    if (memlimit_read_text(k, "/proc/self/cgroup", proc, sizeof proc) != 0 ||
        budget_cgroup_path(proc, path, sizeof path) != 0)
        return 0;
    /*
     * A parent's limit binds its children too (a slice's MemoryMax=), so
     * every ancestor counts. The root cgroup has no memory.max file; in a
     * container with its own cgroup namespace, "/" is the container's
     * cgroup, which has one.
     */
    uint64_t smallest = 0;
    for (;;) {
        uint64_t bytes = memlimit_one(k, strcmp(path, "/") == 0 ? "" : path);
        if (bytes != 0 && (smallest == 0 || bytes < smallest))
            smallest = bytes;
        char *slash = strrchr(path, '/');
        if (slash == NULL || strcmp(path, "/") == 0)
            break;
        if (slash == path)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
    return smallest;
}

uint64_t memlimit_physical(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long page_size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0)
        return 0;
    return (uint64_t)pages * (uint64_t)page_size;
}
