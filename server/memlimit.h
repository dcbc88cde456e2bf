/*
 * memlimit: what memory shoutd runs under, read once at start-up (before
 * the seccomp sandbox, which allows no file to be opened): the limit of its
 * cgroup v2 (memory.max of its own cgroup and every ancestor, the smallest
 * wins), and the machine's physical memory. lib/budget.h turns them into
 * the default memory budget; server_start logs which one applied.
 *
 * Reads /proc/self/cgroup and /sys/fs/cgroup/.../memory.max with the
 * kernel table's open/read into stack buffers: nothing is allocated, nothing is kept open.
 */
#ifndef SHOUTD_MEMLIMIT_H
#define SHOUTD_MEMLIMIT_H

#include <stdint.h>

#include "kernel.h"

/* The smallest memory.max on the way from shoutd's cgroup to the root; 0: none ("max" or no v2). */
uint64_t memlimit_cgroup_max(const struct kernel *kernel);

/* Physical memory in bytes (sysconf); 0 if it cannot be known. */
uint64_t memlimit_physical(void);

#endif
