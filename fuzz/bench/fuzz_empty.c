/*
 * fuzz_empty: a fuzz target that does nothing, built with exactly the flags
 * of the real ones (the libfuzzer engine: ASan, UBSan, -fsanitize=fuzzer).
 * It is the yardstick of `ci/fuzz --speed`: what libFuzzer itself costs per
 * input (mutation, coverage bookkeeping, the sanitizers' runtime), so that a
 * target's exec/s is read as a ratio to it, measured in the same run, rather
 * than against a figure from another machine or another hour.
 *
 * It lives in fuzz/bench/, out of the fuzz/fuzz_*.c glob: it has no corpus,
 * no oracle and nothing to cover, and is not replayed, fuzzed or installed.
 */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    return 0;
}
