/*
 * test.h: the minimal harness of the C tests. CHECK records a failure with file:line and goes
 * on; TEST_DONE() prints "N passed, N failed" and returns the exit code.
 */
#ifndef UM_TEST_H
#define UM_TEST_H

#include <math.h>
#include <stdio.h>

static int um_t_pass, um_t_fail;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (cond) {                                                                            \
            um_t_pass++;                                                                       \
        } else {                                                                               \
            um_t_fail++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                                      \
    } while (0)

#define CHECKF(cond, ...)                                                                      \
    do {                                                                                       \
        if (cond) {                                                                            \
            um_t_pass++;                                                                       \
        } else {                                                                               \
            um_t_fail++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
        }                                                                                      \
    } while (0)

#define TEST_DONE()                                                                            \
    (printf("%d passed, %d failed\n", um_t_pass, um_t_fail), um_t_fail ? 1 : 0)

#endif
