/* The durable spool: replay after restart per consumer, out-of-order acks,
 * reclaim, the size cap's back-pressure, torn and corrupt tails, rewind, and a
 * process that dies without closing. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/spool/spool.h"

static char g_dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/kvs-spool-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static spool *open2(int64_t max_bytes, int64_t segment_bytes)
{
    spool_opts o = {.dir = g_dir,
                    .max_bytes = max_bytes,
                    .segment_bytes = segment_bytes,
                    .consumers = {"kinesis", "s3"},
                    .nconsumers = 2};
    kerr err = {0};
    spool *s = spool_open(&o, &err);
    if (!s) fail_msg("%s", err.msg);
    return s;
}

static void append_n(spool *s, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char rec[64];
        int len = snprintf(rec, sizeof rec, "event-%04d", i);
        uint64_t seq;
        assert_int_equal(spool_append(s, rec, (size_t)len, &seq, 1000, NULL), KERR_OK);
    }
}

/* Reads everything pending for consumer c; checks the payload order. */
static int drain(spool *s, int c, bool ack, int *first)
{
    int count = 0;
    uint64_t seq;
    void *data;
    size_t len;
    while (spool_next(s, c, &seq, &data, &len, 0, NULL) == KERR_OK) {
        char text[32] = {0}; /* records are bytes, not strings */
        memcpy(text, data, len < sizeof text - 1 ? len : sizeof text - 1);
        int idx = atoi(text + 6);
        if (count == 0 && first) *first = idx;
        free(data);
        if (ack) assert_int_equal(spool_ack(s, c, seq, NULL), KERR_OK);
        count++;
    }
    return count;
}

static void replay_per_consumer(void **state)
{
    (void)state;
    spool *s = open2(0, 0);
    append_n(s, 0, 10);
    assert_int_equal(drain(s, 0, true, NULL), 10);  /* kinesis done */
    assert_int_equal(drain(s, 1, false, NULL), 10); /* s3 read but never acknowledged */
    spool_stats st;
    spool_get_stats(s, &st);
    assert_int_equal(st.records, 10);
    assert_int_equal(st.pending[0], 0);
    assert_int_equal(st.pending[1], 10);
    assert_true(st.oldest_unacked_ms > 0);
    spool_close(s);
    s = open2(0, 0); /* restart */
    int first = -1;
    assert_int_equal(drain(s, 0, true, NULL), 0);
    assert_int_equal(drain(s, 1, true, &first), 10);
    assert_int_equal(first, 0);
    spool_get_stats(s, &st);
    assert_int_equal(st.records, 0);
    append_n(s, 10, 1); /* sequence numbers continue after a restart */
    uint64_t seq;
    void *data;
    size_t len;
    assert_int_equal(spool_next(s, 0, &seq, &data, &len, 0, NULL), KERR_OK);
    assert_int_equal(seq, 11);
    free(data);
    spool_close(s);
}

static void out_of_order_acks(void **state)
{
    (void)state;
    spool *s = open2(0, 0);
    append_n(s, 0, 3);
    uint64_t seqs[3];
    for (int i = 0; i < 3; i++) {
        void *data;
        size_t len;
        assert_int_equal(spool_next(s, 0, &seqs[i], &data, &len, 0, NULL), KERR_OK);
        free(data);
    }
    drain(s, 1, true, NULL);
    assert_int_equal(spool_ack(s, 0, seqs[2], NULL), KERR_OK);
    spool_close(s);
    s = open2(0, 0); /* only the watermark persists: 1 and 2 were not done, so 1..3 come back */
    int first = -1;
    assert_int_equal(drain(s, 0, true, &first), 3);
    assert_int_equal(first, 0);
    spool_close(s);
}

static int count_segments(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '^seg-'", g_dir);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (fscanf(p, "%d", &n) != 1) n = -1;
    pclose(p);
    return n;
}

static void rotation_and_reclaim(void **state)
{
    (void)state;
    spool *s = open2(0, 200); /* ~5 records per segment */
    append_n(s, 0, 40);
    assert_true(count_segments() >= 8);
    drain(s, 0, true, NULL);
    assert_true(count_segments() >= 8); /* s3 has not acknowledged yet */
    drain(s, 1, true, NULL);
    assert_int_equal(count_segments(), 1); /* only the active one stays */
    spool_stats st;
    spool_get_stats(s, &st);
    assert_int_equal(st.records, 0);
    spool_close(s);
}

static void size_cap_pushes_back(void **state)
{
    (void)state;
    spool *s = open2(400, 100); /* room for about 10 records */
    int ok = 0;
    kerr err = {0};
    for (int i = 0; i < 40; i++) {
        char rec[16] = "event-0000";
        uint64_t seq;
        kerr_code rc = spool_append(s, rec, 10, &seq, 20, &err);
        if (rc == KERR_AGAIN) break;
        assert_int_equal(rc, KERR_OK);
        ok++;
    }
    assert_true(ok >= 5 && ok < 40);
    assert_non_null(strstr(err.msg, "spool full"));
    drain(s, 0, true, NULL);
    drain(s, 1, true, NULL);
    uint64_t seq;
    assert_int_equal(spool_append(s, "event-9999", 10, &seq, 1000, NULL), KERR_OK);
    spool_close(s);
}

static char *last_segment(char *out, size_t len)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ls '%s'/seg-* | sort | tail -n 1", g_dir);
    FILE *p = popen(cmd, "r");
    if (!fgets(out, (int)len, p)) out[0] = '\0';
    pclose(p);
    out[strcspn(out, "\n")] = '\0';
    return out;
}

static void torn_tail_is_cut(void **state)
{
    (void)state;
    spool *s = open2(0, 0);
    append_n(s, 0, 5);
    spool_close(s);
    /* a crash in the middle of a write: half a record at the end */
    char path[256];
    last_segment(path, sizeof path);
    /* the newest segment is the empty active one: find the one with data */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "ls -S '%s'/seg-* | head -n 1", g_dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(fgets(path, sizeof path, p));
    pclose(p);
    path[strcspn(path, "\n")] = '\0';
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 4), 0);
    s = open2(0, 0);
    spool_stats ss;
    spool_get_stats(s, &ss);
    assert_true(ss.corrupt_bytes > 0);
    assert_int_equal(drain(s, 0, true, NULL), 4);
    spool_close(s);
}

static void corrupt_record_is_detected(void **state)
{
    (void)state;
    spool *s = open2(0, 0);
    append_n(s, 0, 6);
    spool_close(s);
    char path[256], cmd[300];
    snprintf(cmd, sizeof cmd, "ls -S '%s'/seg-* | head -n 1", g_dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(fgets(path, sizeof path, p));
    pclose(p);
    path[strcspn(path, "\n")] = '\0';
    int fd = open(path, O_WRONLY);
    /* flip a payload byte of the 4th record: 28-byte header + 10-byte payload each */
    assert_int_equal(pwrite(fd, "X", 1, 3 * 38 + 28 + 2), 1);
    close(fd);
    s = open2(0, 0);
    assert_int_equal(drain(s, 0, true, NULL), 3); /* the three before it replay */
    spool_close(s);
}

static void rewind_hands_out_again(void **state)
{
    (void)state;
    spool *s = open2(0, 0);
    append_n(s, 0, 4);
    assert_int_equal(drain(s, 0, false, NULL), 4);
    assert_int_equal(drain(s, 0, false, NULL), 0);
    spool_rewind(s, 0);
    assert_int_equal(drain(s, 0, true, NULL), 4);
    spool_close(s);
}

static void crash_without_close_loses_nothing(void **state)
{
    (void)state;
    pid_t pid = fork();
    if (pid == 0) {
        spool_opts o = {.dir = g_dir, .consumers = {"kinesis", "s3"}, .nconsumers = 2};
        spool *s = spool_open(&o, NULL);
        for (int i = 0; s && i < 25; i++) {
            uint64_t seq;
            spool_append(s, "event-0000", 10, &seq, 1000, NULL);
        }
        _exit(0); /* no close: like kill -9 */
    }
    int status;
    waitpid(pid, &status, 0);
    spool *s = open2(0, 0);
    assert_int_equal(drain(s, 0, true, NULL), 25);
    assert_int_equal(drain(s, 1, true, NULL), 25);
    spool_close(s);
}

/* Issue 9.3: a record larger than max_bytes waited forever for room that
 * could never come. */
static void record_larger_than_the_cap_is_refused(void **state)
{
    (void)state;
    spool *s = open2(1000, 0);
    char big[2000] = {0};
    uint64_t seq;
    kerr err = {0};
    assert_int_equal(spool_append(s, big, sizeof big, &seq, 5000, &err), KERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "can never fit"));
    spool_close(s);
}

/* Issue 9.3: delivered segments waited for a 16 MiB rotation before deletion. */
static void delivered_data_does_not_stay_on_disk(void **state)
{
    (void)state;
    spool *s = open2(0, 0); /* default 16 MiB segments */
    static char rec[64 << 10];
    for (int i = 0; i < 40; i++) { /* 2.5 MiB */
        uint64_t seq;
        assert_int_equal(spool_append(s, rec, sizeof rec, &seq, 1000, NULL), KERR_OK);
    }
    uint64_t seq;
    void *data;
    size_t len;
    for (int c = 0; c < 2; c++)
        while (spool_next(s, c, &seq, &data, &len, 0, NULL) == KERR_OK) {
            free(data);
            assert_int_equal(spool_ack(s, c, seq, NULL), KERR_OK);
        }
    spool_stats st;
    spool_get_stats(s, &st);
    assert_int_equal(st.records, 0);
    assert_true(st.bytes < (1 << 20));
    spool_close(s);
}

/* Issue 9.3: rm -rf of the spool folder mid-run made every read fail (with
 * "Success" as the reason) and every delivery thread spin. */
static void deleted_folder_keeps_records_and_recovers(void **state)
{
    (void)state;
    spool *s = open2(0, 0);
    append_n(s, 0, 3);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    assert_int_equal(system(cmd), 0);
    int first = -1;
    assert_int_equal(drain(s, 0, true, &first), 3); /* still readable */
    assert_int_equal(first, 0);
    append_n(s, 3, 2); /* a new segment in the recreated folder */
    assert_true(count_segments() >= 1);
    assert_int_equal(drain(s, 0, true, &first), 2);
    assert_int_equal(first, 3);
    assert_int_equal(drain(s, 1, true, &first), 5);
    spool_stats st;
    spool_get_stats(s, &st);
    assert_int_equal(st.records, 0);
    spool_close(s);
    s = open2(0, 0); /* nothing comes back after a restart */
    assert_int_equal(drain(s, 0, false, NULL), 0);
    spool_close(s);
}

/* The counters kept per record match a recount, through acks in any order. */
static void stats_follow_acks(void **state)
{
    (void)state;
    spool *s = open2(0, 0);
    append_n(s, 0, 10);
    uint64_t seqs[10], seq;
    void *data;
    size_t len;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(spool_next(s, 1, &seqs[i], &data, &len, 0, NULL), KERR_OK);
        free(data);
    }
    for (int i = 9; i >= 0; i -= 2)
        assert_int_equal(spool_ack(s, 1, seqs[i], NULL), KERR_OK);
    assert_int_equal(spool_ack(s, 1, seqs[9], NULL), KERR_OK); /* twice: counted once */
    spool_stats st;
    spool_get_stats(s, &st);
    assert_int_equal(st.pending[0], 10);
    assert_int_equal(st.pending[1], 5);
    assert_int_equal(st.records, 10);
    assert_int_equal(drain(s, 0, true, NULL), 10);
    spool_get_stats(s, &st);
    assert_int_equal(st.pending[0], 0);
    assert_int_equal(st.records, 5);
    assert_true(st.oldest_unacked_ms > 0);
    (void)seq;
    spool_close(s);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)
    const struct CMUnitTest tests[] = {
        T(replay_per_consumer),
        T(out_of_order_acks),
        T(rotation_and_reclaim),
        T(size_cap_pushes_back),
        T(torn_tail_is_cut),
        T(corrupt_record_is_detected),
        T(rewind_hands_out_again),
        T(crash_without_close_loses_nothing),
        T(record_larger_than_the_cap_is_refused),
        T(delivered_data_does_not_stay_on_disk),
        T(deleted_folder_keeps_records_and_recovers),
        T(stats_follow_acks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
