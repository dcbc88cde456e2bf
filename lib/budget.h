/*
 * budget: the arithmetic of shoutd's memory budget for connection buffers
 * (docs/hardening.md, "Memory"). The budget bounds the bytes that every TCP
 * connection's engine holds (lib/conn.h, conn_bytes_held: storage as
 * allocated), all connections together and per source address; over it,
 * shoutd closes the largest holders rather than let the kernel's OOM killer
 * (or a cgroup's memory.max) end the process.
 *
 * What is here: whether totals are over their limits and which limit to
 * shed for (with a low-water mark, so that a total hovering at its limit
 * does not cost a close per read); the size class a holder is filed under,
 * so the largest can be found without a scan; the default budget from the
 * cgroup's memory.max or the machine's memory; and when freed memory is
 * worth handing back to the kernel (malloc_trim), rate-limited.
 *
 * Pure: numbers and text in, verdicts out; no syscalls, no allocation. The
 * caller reads the files (server/memlimit.c) and closes the connections
 * (server/stream.c).
 */
#ifndef SHOUT_BUDGET_H
#define SHOUT_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct budget_limits {
    size_t max_total;      /* bytes held by every connection together */
    size_t max_per_source; /* bytes held by one source's connections; 0: no per-source share */
};

enum budget_verdict {
    BUDGET_OK,          /* nothing to shed */
    BUDGET_OVER_TOTAL,  /* close the largest holder of all */
    BUDGET_OVER_SOURCE, /* close the largest holder of this source */
};

/* Where shedding brings a total it started on: 7/8 of its limit. */
size_t budget_low_water(size_t limit);

/*
 * Whether to shed, and for which limit, given the total held, the total of
 * the source that just grew, and what is being shed for already (BUDGET_OK
 * when shedding has not started): a limit not being shed for is crossed
 * when a total goes over it; the one being shed for is kept to until its
 * total is at or under its low-water mark. The total comes first: it is what
 * keeps the process alive.
 */
enum budget_verdict budget_judge(const struct budget_limits *limits, size_t total,
                                 size_t source_total, enum budget_verdict shedding);

/*
 * Holders are filed by size class: class 0 holds nothing, class k holds
 * 2^(k-1) to 2^k - 1 bytes. The largest class with anyone in it holds the
 * largest holder within a factor of two.
 */
#define BUDGET_SIZE_CLASSES 65
unsigned budget_size_class(size_t held);

/*
 * The cgroup v2 path in the text of /proc/self/cgroup (its "0::PATH" line)
 * copied into path[0..cap), e.g. "/system.slice/shoutd.service". 0, or
 * -ENOENT when there is no v2 line, -ENAMETOOLONG when it does not fit.
 */
int budget_cgroup_path(const char *proc_cgroup, char *path, size_t cap);

/*
 * A memory.max file's text: 0 with *bytes set, -ENOENT for "max" (no limit),
 * -EINVAL for anything else.
 */
int budget_parse_memory_max(const char *text, uint64_t *bytes);

/* Where the default budget came from. */
enum budget_origin {
    BUDGET_FROM_CGROUP,   /* half of the cgroup's memory.max */
    BUDGET_FROM_PHYSICAL, /* a quarter of the machine's memory */
    BUDGET_FROM_FIXED,    /* neither was known */
};

/* Used when neither a cgroup limit nor the machine's memory is known. */
#define BUDGET_FALLBACK_BYTES (256u * 1024 * 1024)

/*
 * The default budget: half of cgroup_max when there is one (not 0), else a
 * quarter of physical (not 0), else BUDGET_FALLBACK_BYTES; never 0. The
 * default per-source share is a quarter of whatever budget applies
 * (budget_default_per_source).
 */
uint64_t budget_default(uint64_t cgroup_max, uint64_t physical, enum budget_origin *origin);
uint64_t budget_default_per_source(uint64_t max_total);

/*
 * Handing freed memory back: after a release of at least
 * BUDGET_TRIM_MIN_RELEASE bytes (held fell that far below its peak since
 * the last trim), at most once per BUDGET_TRIM_INTERVAL_MS, so that no
 * pattern of traffic can make it run per event.
 */
#define BUDGET_TRIM_MIN_RELEASE (16u * 1024 * 1024)
#define BUDGET_TRIM_INTERVAL_MS 1000

struct budget_trim {
    size_t peak;      /* most held since the last trim */
    uint64_t last_ms; /* when the last trim was; 0: never */
};

/*
 * Given the bytes held now: true when a trim is due now (and the state then
 * counts it as done); false otherwise, with *retry_ms the time at which a
 * release already seen will be due (UINT64_MAX: none is waiting).
 */
bool budget_trim_due(struct budget_trim *trim, size_t held, uint64_t now_ms, uint64_t *retry_ms);

#endif
