/* The durable spool: replay after restart per consumer, out-of-order acks,
 * reclaim, the size cap's back-pressure, torn and corrupt tails, rewind, and a
 * process that dies without closing. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
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
    char cmd[160];
    /* full_disk_waits_for_room's tmpfs, still mounted when it failed */
    snprintf(cmd, sizeof cmd, "umount -l '%s/small' 2>/dev/null; rm -rf '%s'", g_dir, g_dir);
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

/* The segment with the records (the newest one is the empty active one). */
static void data_segment(char *path, size_t len)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "ls -S '%s'/seg-* | head -n 1", g_dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(fgets(path, (int)len, p));
    pclose(p);
    path[strcspn(path, "\n")] = '\0';
}

/* Files in g_dir/sub; with del, deletes them (no fork: the bit-flip test
 * does this a thousand times). */
static int count_files_del(const char *sub, bool del)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", g_dir, sub);
    DIR *d = opendir(path);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char f[600];
        snprintf(f, sizeof f, "%s/%s", path, de->d_name);
        n++;
        if (del) unlink(f);
    }
    closedir(d);
    return n;
}

static int count_files(const char *sub)
{
    return count_files_del(sub, false);
}

/* Issue 26.12: a bad record in the middle cut off every record after it. */
static void corrupt_middle_record_is_skipped(void **state)
{
    (void)state;
    spool *s = open2(0, 0);
    append_n(s, 0, 6);
    spool_close(s);
    char path[256];
    data_segment(path, sizeof path);
    int fd = open(path, O_WRONLY);
    /* flip a payload byte of the 4th record: 28-byte header + 10-byte payload each */
    assert_int_equal(pwrite(fd, "X", 1, 3 * 38 + 28 + 2), 1);
    close(fd);
    for (int start = 0; start < 2; start++) {
        s = open2(0, 0);
        spool_stats ss;
        spool_get_stats(s, &ss);
        /* reported once: the copy aside marks it as known at the next start */
        assert_int_equal(ss.corrupt_records, start == 0 ? 1 : 0);
        assert_int_equal(ss.corrupt_bytes, start == 0 ? 38 : 0);
        int first = -1;
        assert_int_equal(drain(s, 0, false, &first), 5); /* all but the bad one */
        assert_int_equal(first, 0);
        spool_close(s);
    }
    assert_int_equal(count_files("corrupt"), 1);
    char copy[300];
    snprintf(copy, sizeof copy, "%s/corrupt/seg-%020d-at-%d.bad", g_dir, 1, 3 * 38);
    struct stat st;
    assert_int_equal(stat(copy, &st), 0);
    assert_int_equal(st.st_size, 38);
}

enum { FLIP_RECORDS = 9 };

/* Record i of the bit-flip segment: "event-000i" and i*5 bytes of padding. */
static size_t flip_payload(int i, char *out)
{
    int n = sprintf(out, "event-%04d", i);
    memset(out + n, 'a' + i, (size_t)i * 5);
    return (size_t)n + (size_t)i * 5;
}

/* Opens the spool on seg (one bit flipped) and checks that every record but
 * the damaged one comes back whole, in order, and the damage is reported. */
static void check_flipped(const unsigned char *seg, size_t size, size_t bit, int bad)
{
    char path[300];
    count_files_del("corrupt", true);
    count_files_del("", true); /* segments, acks, lock; corrupt/ itself stays */
    snprintf(path, sizeof path, "%s/seg-%020d.log", g_dir, 1);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(seg, 1, size, f), size);
    fclose(f);
    spool_opts o = {.dir = g_dir, .fsync = SPOOL_FSYNC_NEVER, .consumers = {"k"}, .nconsumers = 1};
    spool *s = spool_open(&o, NULL);
    assert_non_null(s);
    uint64_t seq;
    void *data;
    size_t len;
    for (int i = 0; i < FLIP_RECORDS; i++) {
        if (i == bad) continue;
        if (spool_next(s, 0, &seq, &data, &len, 0, NULL) != KERR_OK)
            fail_msg("bit %zu (record %d flipped): record %d not delivered", bit, bad, i);
        char want[128];
        size_t wlen = flip_payload(i, want);
        assert_int_equal(seq, i + 1);
        assert_int_equal(len, wlen);
        assert_memory_equal(data, want, wlen);
        free(data);
    }
    assert_int_equal(spool_next(s, 0, &seq, &data, &len, 0, NULL), KERR_AGAIN);
    spool_stats st;
    spool_get_stats(s, &st);
    assert_int_equal(st.corrupt_records, 1);
    spool_close(s);
    assert_int_equal(count_files("corrupt"), 1);
}

/* Issue 26 "done when": a bit flipped anywhere in a segment (every 7th bit
 * of a 9-record segment: headers, checksums, payloads) costs exactly the
 * record it hit; every intact record is delivered. */
static void any_bit_flip_costs_only_its_record(void **state)
{
    (void)state;
    unsigned char seg[2048];
    size_t size = 0, starts[FLIP_RECORDS + 1];
    spool_opts o = {.dir = g_dir, .fsync = SPOOL_FSYNC_NEVER, .consumers = {"k"}, .nconsumers = 1};
    spool *s = spool_open(&o, NULL);
    for (int i = 0; i < FLIP_RECORDS; i++) {
        char rec[128];
        uint64_t seq;
        starts[i] = size;
        size_t n = flip_payload(i, rec);
        assert_int_equal(spool_append(s, rec, n, &seq, 1000, NULL), KERR_OK);
        size += 28 + n;
    }
    starts[FLIP_RECORDS] = size;
    spool_close(s);
    char path[300];
    snprintf(path, sizeof path, "%s/seg-%020d.log", g_dir, 1);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(seg, 1, sizeof seg, f), size);
    fclose(f);
    for (size_t bit = 0; bit < size * 8; bit += 7) {
        int bad = 0;
        while (starts[bad + 1] <= bit / 8)
            bad++;
        seg[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        check_flipped(seg, size, bit, bad);
        seg[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}

/* Issue 26.13: two processes on one folder wrote the same segment names and
 * each other's acks. The second is refused, naming the first's pid. */
static void second_process_is_refused(void **state)
{
    (void)state;
    int go[2], res[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(res), 0);
    pid_t pid = fork(); /* before the spool exists: the child inherits nothing of it */
    if (pid == 0) {
        char c;
        if (read(go[0], &c, 1) != 1) _exit(3);
        spool_opts o = {.dir = g_dir, .consumers = {"kinesis", "s3"}, .nconsumers = 2};
        kerr err = {0};
        spool *t = spool_open(&o, &err);
        if (write(res[1], err.msg, strlen(err.msg)) < 0) _exit(3);
        spool_close(t);
        _exit(t ? 1 : err.code == KERR_BUSY ? 0 : 2);
    }
    close(go[0]), close(res[1]);
    spool *s = open2(0, 0);
    append_n(s, 0, 3);
    assert_int_equal(write(go[1], "g", 1), 1);
    close(go[1]);
    char msg[512] = {0};
    ssize_t got = read(res[0], msg, sizeof msg - 1);
    close(res[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(got > 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char want[64];
    snprintf(want, sizeof want, "is in use by pid %d", (int)getpid());
    if (!strstr(msg, want)) fail_msg("refusal without the holder: %s", msg);
    assert_int_equal(drain(s, 0, true, NULL), 3); /* the holder's records untouched */
    spool_close(s);
    s = open2(0, 0); /* free again once closed */
    assert_int_equal(drain(s, 1, true, NULL), 3);
    spool_close(s);
}

static void *ack_all_later(void *arg)
{
    spool *s = arg;
    clock_sleep_ns(300000000LL);
    drain(s, 0, true, NULL);
    drain(s, 1, true, NULL);
    return NULL;
}

/* Issue 26.8: a full disk made append fail at once (KERR_IO), uncounted as
 * waiting; it is back-pressure like a full spool: wait for room, count it. */
static void full_disk_waits_for_room(void **state)
{
    (void)state;
    char small[128], cmd[300];
    snprintf(small, sizeof small, "%s/small", g_dir);
    mkdir(small, 0755);
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=128k tmpfs '%s' 2>/dev/null", small);
    if (system(cmd) != 0) skip(); /* needs root or a container that allows mount */
    spool_opts o = {.dir = small, .consumers = {"kinesis", "s3"}, .nconsumers = 2};
    spool *s = spool_open(&o, NULL);
    assert_non_null(s);
    static char rec[4000];
    uint64_t seq;
    kerr err = {0};
    kerr_code rc = KERR_OK;
    int n = 0;
    while (n < 100 && (rc = spool_append(s, rec, sizeof rec, &seq, 100, &err)) == KERR_OK)
        n++;
    assert_true(n > 5 && n < 100);
    assert_int_equal(rc, KERR_AGAIN);
    assert_non_null(strstr(err.msg, "No space left"));
    assert_true(spool_take_full_wait(s) >= 0.05);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, ack_all_later, s), 0);
    rc = spool_append(s, rec, sizeof rec, &seq, 10000, &err); /* room comes with the acks */
    pthread_join(t, NULL);
    assert_int_equal(rc, KERR_OK);
    assert_true(spool_take_full_wait(s) >= 0.2);
    spool_close(s);
    snprintf(cmd, sizeof cmd, "umount -l '%s'", small);
    assert_int_equal(system(cmd), 0);
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
    spool_opts o = {.dir = g_dir, .consumers = {"kinesis", "s3"}, .nconsumers = 2};
    kerr err = {0};
    assert_null(spool_open(&o, &err)); /* the recreated folder is locked again */
    assert_int_equal(err.code, KERR_BUSY);
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

static bool starts_with_b(const void *payload, size_t len)
{
    return len > 0 && *(const char *)payload == 'B';
}

/* Two consumers, small segments, records starting with 'B' bulk. */
static spool_opts bulk_opts(int64_t max_bytes)
{
    return (spool_opts){.dir = g_dir,
                        .max_bytes = max_bytes,
                        .segment_bytes = 300,
                        .consumers = {"kinesis", "s3"},
                        .nconsumers = 2,
                        .is_bulk = starts_with_b};
}

/* Review (clips fill the spool): bulk records never wait and stay within
 * their share of the folder, whether the consumers keep up or not; their
 * bytes are known again after a restart and freed with their segments. */
static void bulk_records_stay_within_their_share(void **state)
{
    (void)state;
    spool_opts o = bulk_opts(4000);
    spool *s = spool_open(&o, NULL);
    assert_non_null(s);
    char bulk[172] = "B"; /* 200 bytes with its header */
    uint64_t seq;
    kerr err = {0};
    int64_t t0 = clock_mono_ns();
    int kept = 0;
    for (int i = 0; i < 10; i++)
        kept += spool_append_bulk(s, bulk, sizeof bulk, 1000, &seq, &err) == KERR_OK;
    assert_true(clock_mono_ns() - t0 < 200000000LL); /* no waiting */
    assert_int_equal(kept, 5);                       /* 5 x 200 = the 1000-byte share */
    assert_non_null(strstr(err.msg, "share of the spool is full"));
    append_n(s, 0, 20); /* ordinary records still find room */
    spool_stats st;
    spool_get_stats(s, &st);
    assert_int_equal(st.bulk_bytes, 1000);
    spool_close(s);
    s = spool_open(&o, NULL); /* a restart: the bulk bytes are counted again */
    spool_get_stats(s, &st);
    assert_int_equal(st.bulk_bytes, 1000);
    assert_int_equal(spool_append_bulk(s, bulk, sizeof bulk, 1000, &seq, NULL), KERR_AGAIN);
    drain(s, 0, true, NULL);
    drain(s, 1, true, NULL);
    spool_get_stats(s, &st);
    assert_true(st.bulk_bytes < 1000); /* the delivered segments went with their bulk bytes */
    assert_int_equal(spool_append_bulk(s, bulk, sizeof bulk, 1000, &seq, NULL), KERR_OK);
    /* no room in the folder at all: refused at once too */
    for (int rc = KERR_OK; rc == KERR_OK;)
        rc = spool_append(s, bulk + 1, 100, &seq, 0, NULL);
    t0 = clock_mono_ns();
    assert_int_equal(spool_append_bulk(s, bulk, sizeof bulk, 4000, &seq, NULL), KERR_AGAIN);
    assert_true(clock_mono_ns() - t0 < 200000000LL);
    spool_close(s);
}

/* A file of n bytes at g_dir/name (a clip thread's temporary MP4). */
static void make_file(const char *name, size_t n, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fputc('a' + (int)(i % 26), f);
    fclose(f);
}

static int count_spool_files(void)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/files", g_dir);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Issue 23 (clips off the heap): a bulk record whose bytes are a file moved
 * into the spool, readable while the record lives, counted toward the cap
 * and the bulk share, deleted with its segment. */
static void record_file_moves_in_and_goes_with_its_segment(void **state)
{
    (void)state;
    spool_opts o = bulk_opts(100000);
    spool *s = spool_open(&o, NULL);
    assert_non_null(s);
    char tmp[128], in_spool[4400];
    make_file("clip-a", 5000, tmp, sizeof tmp);
    uint64_t seq;
    kerr err = {0};
    /* over the bulk share: refused, and the file stays the caller's */
    assert_int_equal(spool_append_file(s, "B", 1, tmp, 4000, &seq, &err), KERR_AGAIN);
    assert_int_equal(access(tmp, F_OK), 0);
    assert_int_equal(count_spool_files(), 0);
    assert_int_equal(spool_append_file(s, "B", 1, tmp, 10000, &seq, &err), KERR_OK);
    assert_int_equal(access(tmp, F_OK), -1); /* moved, not copied */
    spool_file_path(s, seq, in_spool, sizeof in_spool);
    struct stat st;
    assert_int_equal(stat(in_spool, &st), 0);
    assert_int_equal(st.st_size, 5000);
    spool_stats ss;
    spool_get_stats(s, &ss);
    assert_int_equal(ss.bulk_bytes, 29 + 5000);
    assert_true(ss.bytes >= 29 + 5000);
    /* a second file over the share with the first: refused */
    make_file("clip-b", 5000, tmp, sizeof tmp);
    assert_int_equal(spool_append_file(s, "B", 1, tmp, 10000, &seq, &err), KERR_AGAIN);
    unlink(tmp);
    spool_close(s);
    s = spool_open(&o, NULL); /* a restart: the file is its record's again, counted */
    spool_get_stats(s, &ss);
    assert_int_equal(ss.bulk_bytes, 29 + 5000);
    assert_int_equal(stat(in_spool, &st), 0);
    append_n(s, 0, 20); /* later segments, so the file's can go */
    drain(s, 0, true, NULL);
    assert_int_equal(count_spool_files(), 1); /* one consumer still needs it */
    drain(s, 1, true, NULL);
    append_n(s, 20, 1);
    assert_int_equal(count_spool_files(), 0);
    spool_get_stats(s, &ss);
    assert_int_equal(ss.bulk_bytes, 0);
    spool_close(s);
}

/* kill -9 between the file's arrival and its record's write (the file is
 * moved first): the next open removes the file without a record and keeps
 * the one with a record. */
static void file_without_record_is_removed_at_open(void **state)
{
    (void)state;
    spool_opts o = {.dir = g_dir,
                    .max_bytes = 100000,
                    .consumers = {"kinesis"},
                    .nconsumers = 1,
                    .is_bulk = starts_with_b};
    spool *s = spool_open(&o, NULL);
    assert_non_null(s);
    char tmp[128], kept[4400], orphan[4400];
    make_file("clip", 1000, tmp, sizeof tmp);
    uint64_t seq;
    assert_int_equal(spool_append_file(s, "B", 1, tmp, 10000, &seq, NULL), KERR_OK);
    spool_file_path(s, seq, kept, sizeof kept);
    spool_file_path(s, seq + 1, orphan, sizeof orphan); /* the next record's, never written */
    spool_close(s);
    make_file("x", 700, tmp, sizeof tmp);
    assert_int_equal(rename(tmp, orphan), 0);
    s = spool_open(&o, NULL);
    assert_non_null(s);
    assert_int_equal(access(kept, F_OK), 0);
    assert_int_equal(access(orphan, F_OK), -1);
    spool_stats ss;
    spool_get_stats(s, &ss);
    assert_int_equal(ss.bulk_bytes, 29 + 1000);
    spool_close(s);
}

/* One consumer, a segment per clip record (records starting with 'B' bulk). */
static spool_opts one_per_segment(void)
{
    return (spool_opts){.dir = g_dir,
                        .segment_bytes = 40,
                        .consumers = {"kinesis"},
                        .nconsumers = 1,
                        .is_bulk = starts_with_b};
}

/* Appends a clip record of n bytes in its file; its seq. */
static uint64_t append_clip(spool *s, size_t n)
{
    char tmp[128];
    uint64_t seq = 0;
    make_file("clip", n, tmp, sizeof tmp);
    assert_int_equal(spool_append_file(s, "B", 1, tmp, INT64_MAX, &seq, NULL), KERR_OK);
    return seq;
}

static bool file_of(spool *s, uint64_t seq, off_t size)
{
    char path[4400];
    struct stat st;
    spool_file_path(s, seq, path, sizeof path);
    return stat(path, &st) == 0 && st.st_size == size;
}

/* Issue 23 follow-up: a segment that cannot be read at open (here a folder
 * in its place) is kept with its records' files, no acknowledgement passes
 * its records and no seq is given twice; once it reads again, its record is
 * delivered with its clip. */
static void unreadable_segment_keeps_its_files(void **state)
{
    (void)state;
    spool_opts o = one_per_segment();
    spool *s = spool_open(&o, NULL);
    assert_non_null(s);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(append_clip(s, 100u * (size_t)i), (uint64_t)i);
    spool_close(s);
    char seg1[128], aside[128];
    snprintf(seg1, sizeof seg1, "%s/seg-%020d.log", g_dir, 1);
    snprintf(aside, sizeof aside, "%s/aside", g_dir);
    assert_int_equal(rename(seg1, aside), 0);
    assert_int_equal(mkdir(seg1, 0755), 0);
    kerr err = {0};
    s = spool_open(&o, &err);
    if (!s) fail_msg("%s", err.msg);
    assert_true(file_of(s, 1, 100)); /* its record is only unread, not gone */
    assert_int_equal(drain(s, 0, true, NULL), 2);
    uint64_t q = append_clip(s, 400);
    assert_true(q > 3);
    append_n(s, 0, 3); /* later segments: the unread one must still not go */
    assert_true(file_of(s, 1, 100));
    assert_int_equal(access(seg1, F_OK), 0);
    spool_close(s);
    assert_int_equal(rmdir(seg1), 0); /* the disk is back */
    assert_int_equal(rename(aside, seg1), 0);
    s = spool_open(&o, NULL);
    assert_non_null(s);
    uint64_t seq;
    void *data;
    size_t len;
    assert_int_equal(spool_next(s, 0, &seq, &data, &len, 0, NULL), KERR_OK);
    free(data);
    assert_int_equal(seq, 1); /* not acknowledged in passing */
    assert_true(file_of(s, 1, 100));
    assert_true(file_of(s, q, 400));
    spool_rewind(s, 0);
    drain(s, 0, true, NULL);
    append_n(s, 3, 1);
    assert_int_equal(count_spool_files(), 0); /* delivered: gone with their segments */
    spool_close(s);
}

/* Writes 'X' over the byte at off of segment id (a flipped bit the checksum
 * finds) and opens the spool again. */
static spool *damage_and_reopen(const spool_opts *o, int id, off_t off)
{
    char seg[128];
    snprintf(seg, sizeof seg, "%s/seg-%020d.log", g_dir, id);
    int fd = open(seg, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, off), 1);
    close(fd);
    spool *s = spool_open(o, NULL);
    assert_non_null(s);
    return s;
}

/* The size of the clip of seq that segment seg's cut put aside in corrupt/
 * (suffix: "-2" and on for a later cut of the same seq), or -1: none. */
static off_t aside_size(int seg, int seq, const char *suffix)
{
    char path[200];
    snprintf(path, sizeof path, "%s/corrupt/seg-%020d-file-%020d%s.bin", g_dir, seg, seq, suffix);
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* A clip record lost to a flipped bit: its bytes were copied to corrupt/ but
 * its MP4 was removed as a file without a record. It goes to corrupt/ too;
 * the clips of the intact records stay theirs. */
static void corrupt_record_file_goes_aside(void **state)
{
    (void)state;
    spool_opts o = one_per_segment();
    o.segment_bytes = 0; /* the three records in one segment */
    spool *s = spool_open(&o, NULL);
    assert_non_null(s);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(append_clip(s, 100u * (size_t)i), (uint64_t)i);
    spool_close(s);
    s = damage_and_reopen(&o, 1, 29 + 28); /* record 2's payload */
    assert_true(file_of(s, 1, 100));
    assert_false(file_of(s, 2, 200));
    assert_true(file_of(s, 3, 300));
    assert_int_equal(aside_size(1, 2, ""), 200);
    assert_int_equal(drain(s, 0, true, NULL), 2);
    spool_close(s);
}

/* Review: the clip of the last record of the last segment lost to a flipped
 * bit goes to corrupt/ too (its seq is given again after the cut, so it
 * must not be removed, nor its copy replaced when that seq is cut again). */
static void corrupt_last_record_file_goes_aside(void **state)
{
    (void)state;
    spool_opts o = one_per_segment();
    o.segment_bytes = 0; /* the records in one segment */
    spool *s = spool_open(&o, NULL);
    assert_non_null(s);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(append_clip(s, 100u * (size_t)i), (uint64_t)i);
    spool_close(s);
    s = damage_and_reopen(&o, 1, 29 * 2 + 28); /* record 3's payload */
    assert_true(file_of(s, 1, 100));
    assert_true(file_of(s, 2, 200));
    assert_int_equal(aside_size(1, 3, ""), 300);
    /* the seq is given again; that record is cut too: both clips are kept */
    assert_int_equal(append_clip(s, 400), 3);
    spool_close(s);
    s = damage_and_reopen(&o, 3, 28);
    assert_int_equal(aside_size(1, 3, ""), 300);
    assert_int_equal(aside_size(3, 3, ""), 400);
    /* seg 3 is empty now and written again from seq 3: a third cut of seq
     * 3, in the segment of the same name, keeps the second's clip */
    assert_int_equal(append_clip(s, 500), 3);
    spool_close(s);
    s = damage_and_reopen(&o, 3, 28);
    assert_int_equal(aside_size(3, 3, ""), 400);
    assert_int_equal(aside_size(3, 3, "-2"), 500);
    spool_close(s);
}

/* Review: a segment that cannot be read but whose every seq an earlier run
 * acknowledged (a crash after the watermark was written, before the
 * segment was deleted) does not hold back reclaim for ever. */
static void delivered_unreadable_segment_does_not_block_reclaim(void **state)
{
    (void)state;
    spool_opts o = one_per_segment();
    spool *s = spool_open(&o, NULL);
    assert_non_null(s);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(append_clip(s, 100u * (size_t)i), (uint64_t)i);
    spool_close(s);
    char ack[128], seg1[128], seg2[128];
    snprintf(ack, sizeof ack, "%s/ack-kinesis", g_dir);
    FILE *f = fopen(ack, "w");
    assert_non_null(f);
    fputs("3\n", f); /* every record delivered; killed before reclaim */
    fclose(f);
    snprintf(seg1, sizeof seg1, "%s/seg-%020d.log", g_dir, 1);
    snprintf(seg2, sizeof seg2, "%s/seg-%020d.log", g_dir, 2);
    assert_int_equal(unlink(seg1), 0);
    assert_int_equal(mkdir(seg1, 0755), 0);
    s = spool_open(&o, NULL);
    assert_non_null(s);
    append_n(s, 0, 3);
    assert_int_equal(drain(s, 0, true, NULL), 3);
    append_n(s, 3, 1);
    assert_int_equal(access(seg2, F_OK), -1); /* delivered: reclaimed */
    assert_false(file_of(s, 1, 100));
    assert_false(file_of(s, 2, 200));
    spool_stats ss;
    spool_get_stats(s, &ss);
    assert_int_equal(ss.bulk_bytes, 0);
    spool_close(s);
    assert_int_equal(rmdir(seg1), 0);
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
        T(corrupt_middle_record_is_skipped),
        T(any_bit_flip_costs_only_its_record),
        T(second_process_is_refused),
        T(full_disk_waits_for_room),
        T(rewind_hands_out_again),
        T(crash_without_close_loses_nothing),
        T(record_larger_than_the_cap_is_refused),
        T(delivered_data_does_not_stay_on_disk),
        T(deleted_folder_keeps_records_and_recovers),
        T(stats_follow_acks),
        T(bulk_records_stay_within_their_share),
        T(record_file_moves_in_and_goes_with_its_segment),
        T(file_without_record_is_removed_at_open),
        T(unreadable_segment_keeps_its_files),
        T(corrupt_record_file_goes_aside),
        T(corrupt_last_record_file_goes_aside),
        T(delivered_unreadable_segment_does_not_block_reclaim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
