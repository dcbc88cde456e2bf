/*
 * afl_driver: the fuzz targets' main under AFL++ (built by afl-clang-fast).
 *
 * Persistent mode with shared-memory input: afl-fuzz writes each test case
 * straight into __AFL_FUZZ_TESTCASE_BUF and the process loops in __AFL_LOOP,
 * so an execution costs no fork, no exec and no file. __AFL_INIT (the
 * deferred fork server) comes after LLVMFuzzerInitialize, so that set-up is
 * done once, not once per execution.
 *
 * Each test case is copied into a heap buffer of exactly its size, so that
 * AddressSanitizer sees a read past the end (the shared buffer itself is
 * larger than the input).
 *
 * Outside afl-fuzz it runs one input read from stdin, which is how a finding
 * is reproduced: `build/fuzz-afl/fuzz/fuzz_wire < crash`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* read(): __AFL_FUZZ_TESTCASE_LEN reads stdin outside afl-fuzz */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target; weak, so that a target without it still links. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

__AFL_FUZZ_INIT();

/* Executions before afl-fuzz restarts the process: a bound on whatever state
 * a target might leak from one input to the next. */
enum { AFL_DRIVER_LOOPS = 10000 };

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize != NULL) {
        LLVMFuzzerInitialize(&argc, &argv);
    }
    __AFL_INIT();
    /* After __AFL_INIT and before __AFL_LOOP, as AFL++'s persistent mode requires. */
    const unsigned char *testcase = __AFL_FUZZ_TESTCASE_BUF;
    while (__AFL_LOOP(AFL_DRIVER_LOOPS)) {
        size_t len = (size_t)__AFL_FUZZ_TESTCASE_LEN;
        uint8_t *copy = malloc(len);
        if (copy == NULL && len > 0) {
            abort();
        }
        if (len > 0) {
            memcpy(copy, testcase, len);
        }
        LLVMFuzzerTestOneInput(copy, len);
        free(copy);
    }
    return 0;
}
