/*
 * pin: CPU placement for the client's measuring threads. It parses a --cpu
 * list, pins the calling thread to one CPU, and records the CPUs a thread
 * was actually seen on (sched_getcpu), so that a result says where the
 * client ran and whether it shared a CPU with the server. Unpinned loopback
 * runs flip between same-CPU and cross-CPU round trips that differ 15-18x,
 * which is why placement is both controlled and captured.
 *
 * Errors are negative errno values. Memory: every array belongs to the
 * caller; nothing allocates.
 */
#ifndef SHOUT_PIN_H
#define SHOUT_PIN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse "N" or "N,M,..." (decimal CPU numbers, each below the CPUs the
 * kernel can have) into cpus[0..*n). 0, or -EINVAL with a one-line reason
 * in why (a bad number, an empty item, more than cap CPUs).
 */
int pin_parse_list(const char *text, int *cpus, uint32_t cap, uint32_t *n, char *why,
                   size_t why_cap);

/* Pin the calling thread to cpu: 0, or a negative errno (-EINVAL: no such CPU online). */
int pin_thread(int cpu);

/* The CPU the calling thread runs on now; -1 if the kernel cannot say. */
int pin_current_cpu(void);

/* Add cpu to the set seen[0..*n) (cap at most) unless it is there or negative. */
void pin_note(int *seen, uint32_t *n, uint32_t cap, int cpu);

/* True when cpu is one of cpus[0..n). */
int pin_contains(const int *cpus, uint32_t n, int cpu);

#endif
