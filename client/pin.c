#include "pin.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pin_parse_list(const char *text, int *cpus, uint32_t cap, uint32_t *n, char *why,
                   size_t why_cap)
{
    *n = 0;
    const char *p = text;
    for (;;) {
        size_t digits = strspn(p, "0123456789");
        /* Four digits at most: CPU_SETSIZE is 1024, and strtol cannot overflow. */
        if (digits == 0 || digits > 4 || (p[digits] != ',' && p[digits] != '\0')) {
            snprintf(why, why_cap, "bad CPU list '%s': give CPU numbers such as 0 or 0,2,3", text);
            return -EINVAL;
        }
        long cpu = strtol(p, NULL, 10);
        if (cpu >= CPU_SETSIZE) {
            snprintf(why, why_cap, "CPU %ld is over the largest CPU number %d", cpu,
                     CPU_SETSIZE - 1);
            return -EINVAL;
        }
        if (*n == cap) {
            snprintf(why, why_cap, "more than %u CPUs in '%s'", cap, text);
            return -EINVAL;
        }
        cpus[(*n)++] = (int)cpu;
        if (p[digits] == '\0')
            return 0;
        p += digits + 1;
    }
}

int pin_thread(int cpu)
{
    if (cpu < 0 || cpu >= CPU_SETSIZE)
        return -EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    /* pthread_setaffinity_np returns the error instead of setting errno. */
    return -pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

int pin_current_cpu(void)
{
    int cpu = sched_getcpu();
    return cpu >= 0 ? cpu : -1;
}

int pin_contains(const int *cpus, uint32_t n, int cpu)
{
    for (uint32_t i = 0; i < n; i++)
        if (cpus[i] == cpu)
            return 1;
    return 0;
}

void pin_note(int *seen, uint32_t *n, uint32_t cap, int cpu)
{
    if (cpu < 0 || pin_contains(seen, *n, cpu) || *n >= cap)
        return;
    seen[(*n)++] = cpu;
}
