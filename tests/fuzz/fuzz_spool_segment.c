/* libFuzzer target: the spool's segment reader on a segment with bit flips
 * (issue 26: "every intact record is delivered"). The input is a list of
 * 3-byte edits (16-bit byte offset, bit) applied to a known 12-record
 * segment; every record no edit touched must be delivered whole and in order,
 * and nothing that was not written may come out. A first byte of 0xff makes
 * the rest the segment itself (no property but no crash). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/spool/spool.h"

enum { NREC = 12, HDR = 28 };

static char g_dir[64];
static unsigned char g_seg[4096];
static size_t g_size, g_start[NREC + 1];

static size_t payload(int i, char *out)
{
    int n = sprintf(out, "record-%02d", i);
    memset(out + n, 'A' + i, (size_t)i * 7);
    return (size_t)n + (size_t)i * 7;
}

static void clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (strcmp(de->d_name, "corrupt") == 0)
            clear_dir(p);
        else
            unlink(p);
    }
    closedir(d);
}

static spool *open_spool(void)
{
    spool_opts o = {.dir = g_dir, .fsync = SPOOL_FSYNC_NEVER, .consumers = {"c"}, .nconsumers = 1};
    return spool_open(&o, NULL);
}

/* The pristine segment, written once through the spool itself. */
static void setup(void)
{
    log_set_level((log_level)(LOG_ERROR + 1)); /* every run reports its damage */
    snprintf(g_dir, sizeof g_dir, "/tmp/kvs-fuzz-spool-XXXXXX");
    if (!mkdtemp(g_dir)) abort();
    spool *s = open_spool();
    if (!s) abort();
    for (int i = 0; i < NREC; i++) {
        char rec[128];
        uint64_t seq;
        g_start[i] = g_size;
        size_t n = payload(i, rec);
        if (spool_append(s, rec, n, &seq, 0, NULL) != KERR_OK) abort();
        g_size += HDR + n;
    }
    g_start[NREC] = g_size;
    spool_close(s);
    char path[128];
    snprintf(path, sizeof path, "%s/seg-%020d.log", g_dir, 1);
    FILE *f = fopen(path, "rb");
    if (!f || fread(g_seg, 1, sizeof g_seg, f) != g_size) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_size) setup();
    unsigned char seg[sizeof g_seg];
    bool touched[NREC] = {0}, raw = size && data[0] == 0xff;
    size_t n = g_size;
    if (raw) {
        n = size - 1 < sizeof seg ? size - 1 : sizeof seg;
        memcpy(seg, data + 1, n);
    } else {
        memcpy(seg, g_seg, n);
        for (size_t i = 0; i + 3 <= size; i += 3) {
            size_t at = ((size_t)data[i] | (size_t)data[i + 1] << 8) % n;
            seg[at] ^= (unsigned char)(1u << (data[i + 2] & 7));
            int r = 0;
            while (g_start[r + 1] <= at)
                r++;
            touched[r] = true;
        }
    }
    clear_dir(g_dir);
    char path[128];
    snprintf(path, sizeof path, "%s/seg-%020d.log", g_dir, 1);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(seg, 1, n, f) != n) abort();
    fclose(f);
    spool *s = open_spool();
    if (!s) abort();
    uint64_t seq;
    void *got;
    size_t len;
    int next = 0; /* records are checked in order */
    while (spool_next(s, 0, &seq, &got, &len, 0, NULL) == KERR_OK) {
        if (!raw) {
            while (next < NREC && (uint64_t)next + 1 < seq) /* skipped: must be damaged */
                if (!touched[next++]) abort();
            char want[128];
            size_t wl = next < NREC ? payload(next, want) : 0;
            if (next >= NREC || seq != (uint64_t)next + 1 || len != wl || memcmp(got, want, wl))
                abort(); /* out of order, or bytes that were never written */
            next++;
        }
        free(got);
    }
    for (; !raw && next < NREC; next++)
        if (!touched[next]) abort(); /* an intact record was not delivered */
    spool_close(s);
    return 0;
}
