/* Skips that ctest can see. cmocka's skip() leaves the program's exit code at
 * 0, so a case skipped for a missing model reads as passed. A case skipped
 * here says why on stderr and makes the program exit 77 (ctest's
 * SKIP_RETURN_CODE) when nothing failed. Where set-up is known to have run
 * (KVS_REQUIRE_PREREQS=1, as in CI) a missing prerequisite fails the case. */
#ifndef KVS_TEST_SKIP_H
#define KVS_TEST_SKIP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_cases_skipped;

static inline int prereqs_required(void)
{
    const char *v = getenv("KVS_REQUIRE_PREREQS");
    return v && strcmp(v, "1") == 0;
}

/* A prerequisite that scripts/setup.sh provides (a model, a tool) is missing. */
#define SKIP_MISSING(...)                                                                          \
    do {                                                                                           \
        fprintf(stderr, "SKIP (missing prerequisite): " __VA_ARGS__);                              \
        fputc('\n', stderr);                                                                       \
        if (prereqs_required()) fail_msg("KVS_REQUIRE_PREREQS=1 and a prerequisite is missing");   \
        g_cases_skipped++;                                                                         \
        skip();                                                                                    \
    } while (0)

/* A case that does not apply here (e.g. a full-size model under valgrind). */
#define SKIP_CASE(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "SKIP: " __VA_ARGS__);                                                     \
        fputc('\n', stderr);                                                                       \
        g_cases_skipped++;                                                                         \
        skip();                                                                                    \
    } while (0)

/* main's return value: cmocka's failure count, else 77 when a case skipped. */
static inline int test_exit(int failures)
{
    if (failures) return failures;
    if (g_cases_skipped) fprintf(stderr, "%d case(s) skipped\n", g_cases_skipped);
    return g_cases_skipped ? 77 : 0;
}

#endif
