/* The spool's open when memory runs short (issue 23 follow-up): a segment
 * that cannot be mapped, or whose index runs out of memory, is kept with its
 * clip files; no acknowledgement passes its unread records and no seq is
 * given twice; a later start with memory delivers every record. The short
 * memory is a child process's RLIMIT_AS, which ASan and valgrind cannot run
 * under (both reserve far more address space): skipped there. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/spool/spool.h"
#include "test_skip.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static char g_dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/kvs-spool-unread-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static bool starts_with_b(const void *payload, size_t len)
{
    return len > 0 && *(const char *)payload == 'B';
}

static spool *open1(void)
{
    spool_opts o = {.dir = g_dir,
                    .fsync = SPOOL_FSYNC_NEVER,
                    .consumers = {"kinesis"},
                    .nconsumers = 1,
                    .is_bulk = starts_with_b};
    return spool_open(&o, NULL);
}

/* A clip record of n bytes in its file; its seq, or 0. */
static uint64_t append_clip(spool *s, size_t n)
{
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/clip", g_dir);
    FILE *f = fopen(tmp, "wb");
    if (!f) return 0;
    for (size_t i = 0; i < n; i++)
        fputc('a' + (int)(i % 26), f);
    fclose(f);
    uint64_t seq = 0;
    return spool_append_file(s, "B", 1, tmp, INT64_MAX, &seq, NULL) == KERR_OK ? seq : 0;
}

static bool file_of(spool *s, uint64_t seq, off_t size)
{
    char path[4400];
    struct stat st;
    spool_file_path(s, seq, path, sizeof path);
    return stat(path, &st) == 0 && st.st_size == size;
}

static void skip_if_unlimitable(void)
{
    if (UNDER_ASAN) SKIP_CASE("RLIMIT_AS cannot be used under AddressSanitizer");
    if (getenv("KVS_UNDER_VALGRIND")) SKIP_CASE("RLIMIT_AS cannot be used under valgrind");
}

/* The address space in use now plus extra: what the child may have. */
static void limit_memory(size_t extra)
{
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%lu", &pages) != 1) _exit(90);
    fclose(f);
    rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + extra;
    struct rlimit rl = {cap, cap};
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(91);
}

/* In the child: the spool opened short of memory. The records it can read are
 * delivered and acknowledged, and a new one with them: its seq must be above
 * every seq on disk (above last) and the acknowledgements must not pass the
 * unread records. Exits with the line of the first failed check. */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) _exit(__LINE__ % 250 + 1);                                                       \
    } while (0)

static void child(size_t extra, uint64_t first_clip, uint64_t last)
{
    limit_memory(extra);
    spool *s = open1();
    CHECK(s);
    CHECK(file_of(s, first_clip, 100) && file_of(s, last, 200));
    uint64_t seq;
    void *data;
    size_t len;
    while (spool_next(s, 0, &seq, &data, &len, 0, NULL) == KERR_OK) {
        free(data);
        CHECK(spool_ack(s, 0, seq, NULL) == KERR_OK);
    }
    uint64_t q = append_clip(s, 300);
    CHECK(q > last);
    CHECK(spool_next(s, 0, &seq, &data, &len, 0, NULL) == KERR_OK && seq == q);
    free(data);
    CHECK(spool_ack(s, 0, q, NULL) == KERR_OK);
    spool_close(s);
    _exit(0);
}

static void run_child(size_t extra, uint64_t first_clip, uint64_t last)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) child(extra, first_clip, last);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status)) fail_msg("child check at line %d failed", WEXITSTATUS(status) - 1);
}

/* With memory again: every record from the first not delivered before, in
 * order, the last clip among them with its file. */
static void check_all_delivered(uint64_t from, uint64_t last)
{
    spool *s = open1();
    assert_non_null(s);
    assert_true(file_of(s, last, 200));
    uint64_t seq, want = from;
    void *data;
    size_t len;
    for (; want <= last; want++) {
        assert_int_equal(spool_next(s, 0, &seq, &data, &len, 0, NULL), KERR_OK);
        free(data);
        assert_int_equal(seq, want);
    }
    spool_close(s);
}

/* A 15 MiB segment that cannot be mapped (8 MiB of address space left). */
static void segment_that_cannot_be_mapped_is_kept(void **state)
{
    (void)state;
    skip_if_unlimitable();
    spool *s = open1();
    assert_non_null(s);
    assert_int_equal(append_clip(s, 100), 1);
    char *big = calloc(1, 5 << 20);
    assert_non_null(big);
    uint64_t seq;
    for (int i = 0; i < 3; i++)
        assert_int_equal(spool_append(s, big, 5 << 20, &seq, 0, NULL), KERR_OK);
    free(big);
    assert_int_equal(append_clip(s, 200), 5);
    spool_close(s);
    run_child(8 << 20, 1, 5);
    check_all_delivered(1, 5);
}

/* 300,000 records mapped, but their index (48 bytes each) does not fit: the
 * segment is indexed in part. */
static void segment_indexed_in_part_is_kept(void **state)
{
    (void)state;
    skip_if_unlimitable();
    enum { N = 300000 };
    spool *s = open1();
    assert_non_null(s);
    assert_int_equal(append_clip(s, 100), 1);
    uint64_t seq;
    for (int i = 0; i < N; i++)
        assert_int_equal(spool_append(s, "e", 1, &seq, 0, NULL), KERR_OK);
    assert_int_equal(append_clip(s, 200), N + 2);
    spool_close(s);
    run_child((size_t)N * 29 + (6 << 20), 1, N + 2);
    /* the child delivered those it indexed: the rest come now */
    char ack[128];
    snprintf(ack, sizeof ack, "%s/ack-kinesis", g_dir);
    FILE *f = fopen(ack, "r");
    assert_non_null(f);
    unsigned long long w = 0;
    assert_int_equal(fscanf(f, "%llu", &w), 1);
    fclose(f);
    assert_true(w >= 1 && w < N + 2); /* a part was indexed; the watermark stopped there */
    check_all_delivered(w + 1, N + 2);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)
    const struct CMUnitTest tests[] = {
        T(segment_that_cannot_be_mapped_is_kept),
        T(segment_indexed_in_part_is_kept),
    };
    return test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
