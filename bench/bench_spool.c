/* bench-spool: does a large backlog replay at the normal rate? Appends N
 * records of 2 KiB (a spooled event without images is about that), then two
 * consumers read and acknowledge them the way the hub does (next, ack, stats
 * after each). Prints the replay rate over the first and the last 10,000
 * records of a 100,000-record backlog and of a 10,000-record one; with costs
 * that grow with the backlog the ratios fall far below 1.
 *   kvs-bench-spool [DIR] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/spool/spool.h"

enum { RECORD = 2048, WINDOW = 10000 };

static spool *open_spool(const char *dir)
{
    spool_opts o = {
        .dir = dir, .fsync = SPOOL_FSYNC_NEVER, .consumers = {"kinesis", "local"}, .nconsumers = 2};
    kerr err = {0};
    spool *s = spool_open(&o, &err);
    if (!s) fprintf(stderr, "bench-spool: %s\n", err.msg);
    return s;
}

/* Replays n records for both consumers; rates (records/s) over the first and
 * the last WINDOW records. */
static int replay(const char *dir, int n, double *first_rate, double *last_rate,
                  double *append_rate)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return -1;
    spool *s = open_spool(dir);
    if (!s) return -1;
    static char rec[RECORD];
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < n; i++) {
        uint64_t seq;
        if (spool_append(s, rec, sizeof rec, &seq, 1000, NULL) != KERR_OK) return -1;
    }
    *append_rate = n / ((double)(clock_mono_ns() - t0) / 1e9);
    int64_t start = clock_mono_ns(), mark = start;
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < 2; c++) {
            uint64_t seq;
            void *data;
            size_t len;
            if (spool_next(s, c, &seq, &data, &len, 0, NULL) != KERR_OK) return -1;
            free(data);
            spool_ack(s, c, seq, NULL);
            spool_stats st;
            spool_get_stats(s, &st); /* the hub updates its gauges after every event */
        }
        if (i + 1 == WINDOW) *first_rate = WINDOW / ((double)(clock_mono_ns() - start) / 1e9);
        if (i + 1 == n - WINDOW) mark = clock_mono_ns();
    }
    *last_rate = WINDOW / ((double)(clock_mono_ns() - mark) / 1e9);
    spool_close(s);
    system(cmd);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp/kvs-bench-spool";
    double f1, l1, a1, f2, l2, a2;
    if (replay(dir, WINDOW * 2, &f1, &l1, &a1) != 0 || replay(dir, 100000, &f2, &l2, &a2) != 0) {
        fprintf(stderr, "bench-spool: failed\n");
        return 1;
    }
    printf("spool replay, 2 consumers, %d-byte records (records/s):\n", RECORD);
    printf("  backlog  20000: append %.0f, replay first 10k %.0f, last 10k %.0f\n", a1, f1, l1);
    printf("  backlog 100000: append %.0f, replay first 10k %.0f, last 10k %.0f\n", a2, f2, l2);
    printf("  ratio 100k/20k backlog, first 10k: %.2f (1.0: the backlog costs nothing)\n", f2 / f1);
    printf("  ratio last/first 10k of the 100k backlog: %.2f\n", l2 / f2);
    return 0;
}
