/*
 * fuzz_check: how a fuzz target says "the oracle disagrees". A failed check
 * prints what was expected and aborts, so that libFuzzer, AFL++ and the
 * plain replay driver (under gcc, without any sanitizer) all see a crash and
 * keep the input. Nothing is allocated.
 */
#ifndef SHOUT_FUZZ_CHECK_H
#define SHOUT_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: oracle failed: %s: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
