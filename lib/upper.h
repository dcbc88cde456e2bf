/*
 * upper: the ASCII uppercase kernel, with the semantics of Python's
 * bytes.upper(): bytes 'a'..'z' become 'A'..'Z' and every other byte, UTF-8
 * included, is copied unchanged, so the output always has the input's length.
 *
 * upper_ascii() is the fast path: on x86-64, AVX2 (32 bytes a step) where
 * the CPU has it, chosen once at start-up, else SSE2 (16 bytes a step,
 * which every x86-64 has); on other CPUs, eight bytes a step in a 64-bit
 * word. upper_ascii_scalar() is the obviously-correct reference every fast
 * path is tested and fuzzed against, and each fast path is callable by
 * itself (upper_kernels) so that the tests cover the ones this CPU would
 * not choose. All write len bytes to dst, which may be src itself (in
 * place) but must not otherwise overlap it. None allocates.
 */
#ifndef SHOUT_UPPER_H
#define SHOUT_UPPER_H

#include <stddef.h>
#include <stdint.h>

typedef void upper_kernel(uint8_t *dst, const uint8_t *src, size_t len);

upper_kernel upper_ascii;
upper_kernel upper_ascii_scalar;

/* Every kernel this build has, by name; run only those with usable set. */
struct upper_kernel_entry {
    const char *name; /* "scalar", "word", "sse2", "avx2" */
    upper_kernel *run;
    int usable; /* this CPU can run it */
};

/* The table, and how many entries it has (in *count). */
const struct upper_kernel_entry *upper_kernels(size_t *count);

/* The name of the kernel upper_ascii uses on this CPU. */
const char *upper_ascii_kernel_name(void);

#endif
