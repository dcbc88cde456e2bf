/*
 * fuzz_upper: every uppercase kernel this CPU can run (lib/upper.h: word,
 * SSE2, AVX2, and whichever upper_ascii chose) against the scalar reference,
 * and the reference against the definition.
 *
 * Input: one byte whose value modulo 64 is the source's offset in a
 * 64-byte line (and so the destination's, in another allocation), then the
 * bytes to uppercase.
 *
 * Oracles:
 * - the reference maps 'a'..'z' to 'A'..'Z' and copies every other byte;
 * - every kernel writes exactly the reference's bytes, out of place and in
 *   place, at that alignment;
 * - none writes a byte outside dst[0..len) (guard bytes around it) nor reads
 *   past src + len (the source is a heap copy of exactly len bytes, so ASan
 *   sees it).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_model.h"
#include "upper.h"

#define ALIGN_SPAN 64
#define GUARD      32
#define GUARD_BYTE 'g' /* lowercase: a stray pass over it would change it */

static void check_kernel(const struct upper_kernel_entry *kernel, const uint8_t *src,
                         const uint8_t *want, size_t len, size_t align)
{
    uint8_t *area = malloc(GUARD + align + len + GUARD);
    FUZZ_CHECK(area != NULL, "out of memory");
    memset(area, GUARD_BYTE, GUARD + align + len + GUARD);
    uint8_t *dst = area + GUARD + align;
    kernel->run(dst, src, len);
    FUZZ_CHECK(memcmp(dst, want, len) == 0, "kernel %s, length %zu, alignment %zu", kernel->name,
               len, align);
    memcpy(dst, src, len);
    kernel->run(dst, dst, len);
    FUZZ_CHECK(memcmp(dst, want, len) == 0, "kernel %s in place, length %zu, alignment %zu",
               kernel->name, len, align);
    for (size_t i = 0; i < GUARD + align; i++)
        FUZZ_CHECK(area[i] == GUARD_BYTE, "kernel %s wrote before dst", kernel->name);
    for (size_t i = 0; i < GUARD; i++)
        FUZZ_CHECK(dst[len + i] == GUARD_BYTE, "kernel %s wrote past dst + %zu", kernel->name, len);
    free(area);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t align = data[0] % ALIGN_SPAN;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    /* A source at the chosen offset of an allocation that ends right at src + len. */
    uint8_t *block = malloc(align + len + 1);
    FUZZ_CHECK(block != NULL, "out of memory");
    uint8_t *src = block + align;
    memcpy(src, in, len);
    uint8_t *want = malloc(len + 1);
    FUZZ_CHECK(want != NULL, "out of memory");
    upper_ascii_scalar(want, src, len);
    for (size_t i = 0; i < len; i++) {
        FUZZ_CHECK(want[i] == fuzz_model_upper(src[i]), "the reference maps byte 0x%02x to 0x%02x",
                   src[i], want[i]);
    }
    size_t count;
    const struct upper_kernel_entry *kernels = upper_kernels(&count);
    for (size_t k = 0; k < count; k++)
        if (kernels[k].usable)
            check_kernel(&kernels[k], src, want, len, align);
    check_kernel(&(struct upper_kernel_entry){"upper_ascii", upper_ascii, 1}, src, want, len,
                 (align * 7) % ALIGN_SPAN);
    free(want);
    free(block);
    return 0;
}
