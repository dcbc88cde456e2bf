/*
 * replay: the fuzz targets' main for any compiler, with no fuzzing engine.
 *
 * It runs one empty input (as libFuzzer does first), then every file named on
 * the command line and every file under every folder named there, once each,
 * through LLVMFuzzerTestOneInput. Folders are walked in sorted order, so a
 * replay is reproducible; names starting with '.' are skipped. Arguments
 * starting with '-' are ignored, so that a libFuzzer command line
 * (`fuzz_wire -runs=0 corpus/fuzz_wire`) works unchanged. ctest runs each
 * target's corpus through it under gcc and under the asan preset, so no clang
 * is needed to keep the corpus green.
 *
 * Each input is copied into a heap buffer of exactly its size, so that
 * AddressSanitizer reports a read one byte past the end, as under libFuzzer.
 * A failed oracle (FUZZ_CHECK) or a sanitizer aborts the process; the path of
 * the input being run is printed to stderr just before it runs.
 *
 * Exit status: 0 when every input ran; 1 when a path could not be read, a file
 * is over the size limit, or no input was found at all (an empty corpus is a
 * mistake, not a pass).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target; weak, so that a target without it still links. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

enum {
    /* Corpus files are small by design (ci/fuzz keeps them minimal); a bigger
     * one is a mistake in the corpus, not an input to run. */
    REPLAY_MAX_FILE_BYTES = 16 * 1024 * 1024,
    /* Folders nest at most this deep: bounds the walk (and a symlink loop). */
    REPLAY_MAX_DEPTH = 8,
};

struct replay_count {
    unsigned long inputs;
    unsigned long errors;
};

static void replay_bytes(const char *what, const uint8_t *bytes, size_t len)
{
    /* An exact-size copy: the caller's buffer may be larger (or, for the empty
     * input, not a heap buffer at all). */
    uint8_t *copy = malloc(len);
    if (copy == NULL && len > 0) {
        fprintf(stderr, "replay: %s: out of memory for %zu bytes\n", what, len);
        abort();
    }
    if (len > 0) {
        memcpy(copy, bytes, len);
    }
    fprintf(stderr, "replay: running %s (%zu bytes)\n", what, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
}

static void replay_file(const char *path, struct replay_count *count)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        count->errors++;
        return;
    }
    struct stat info;
    if (fstat(fileno(file), &info) != 0 || info.st_size > REPLAY_MAX_FILE_BYTES) {
        fprintf(stderr, "replay: %s: unreadable or over %d bytes\n", path, REPLAY_MAX_FILE_BYTES);
        fclose(file);
        count->errors++;
        return;
    }
    size_t len = (size_t)info.st_size;
    uint8_t *bytes = malloc(len > 0 ? len : 1);
    if (bytes == NULL) {
        fprintf(stderr, "replay: %s: out of memory for %zu bytes\n", path, len);
        abort();
    }
    size_t got = fread(bytes, 1, len, file);
    int failed = ferror(file) || got != len;
    fclose(file);
    if (failed) {
        fprintf(stderr, "replay: %s: short read (%zu of %zu bytes)\n", path, got, len);
        free(bytes);
        count->errors++;
        return;
    }
    replay_bytes(path, bytes, len);
    free(bytes);
    count->inputs++;
}

static void replay_path(const char *path, int depth, struct replay_count *count)
{
    struct stat info;
    if (stat(path, &info) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        count->errors++;
        return;
    }
    if (!S_ISDIR(info.st_mode)) {
        replay_file(path, count);
        return;
    }
    if (depth >= REPLAY_MAX_DEPTH) {
        fprintf(stderr, "replay: %s: folders nested deeper than %d\n", path, REPLAY_MAX_DEPTH);
        count->errors++;
        return;
    }
    struct dirent **entries;
    int n = scandir(path, &entries, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        count->errors++;
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *name = entries[i]->d_name;
        if (name[0] != '.') {
            char child[4096];
            int len = snprintf(child, sizeof child, "%s/%s", path, name);
            if (len < 0 || (size_t)len >= sizeof child) {
                fprintf(stderr, "replay: %s/%s: path too long\n", path, name);
                count->errors++;
            } else {
                replay_path(child, depth + 1, count);
            }
        }
        free(entries[i]);
    }
    free(entries);
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize != NULL) {
        LLVMFuzzerInitialize(&argc, &argv);
    }
    struct replay_count count = {0, 0};
    static const uint8_t empty[1];
    replay_bytes("the empty input", empty, 0);
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '-') {
            replay_path(argv[i], 0, &count);
        }
    }
    printf("replay: %lu inputs ran, %lu paths failed\n", count.inputs, count.errors);
    if (count.inputs == 0) {
        fprintf(stderr, "replay: no input found (give corpus folders or files)\n");
        return 1;
    }
    return count.errors == 0 ? 0 : 1;
}
