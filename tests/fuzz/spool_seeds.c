/* Writes the spool fuzzers' seeds of record versions 4 and 5 with the real
 * writer (spool_record_pack, spool_append_file), so the seeds follow the
 * format rather than hand-typed bytes:
 *   build-fuzz/tests/spool_seeds tests/fuzz/corpus
 * spool_record/v4-clip.bin   a clip_ready event with its MP4 in the record
 * spool_record/v5-file.bin   the same with its MP4 as the record's file
 * spool_segment/raw-v5       0xff then a segment of a v3, a v5 (with its
 *                            file's length) and a v4 record (the segment
 *                            fuzzer's raw mode) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/publish/publish.h"
#include "../../src/spool/spool.h"

static void die(const char *what)
{
    fprintf(stderr, "spool_seeds: %s\n", what);
    exit(1);
}

static event *clip_event(void)
{
    event *e = event_new();
    e->camera_name = kstrdup("gate");
    e->detector = kstrdup("yolo");
    e->label = kstrdup("person");
    e->confidence = 0.87;
    snprintf(e->event_id, sizeof e->event_id, "%s", "01934b6e-6f10-7000-8000-0000000000a1");
    snprintf(e->kind, sizeof e->kind, "clip_ready");
    e->detected_at_ms = 1765000000000LL;
    e->clip = (event_clip){.on = true, .start_ms = 1500, .end_ms = 9250, .status = "ready"};
    snprintf(e->clip.owner_id, sizeof e->clip.owner_id, "%s", e->event_id);
    e->clip.owner_at_ms = e->detected_at_ms;
    e->clip.ref = kstrdup("s3://bucket/events/gate/2025/12/06/01934b6e/clip.mp4");
    static const unsigned char jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0,    16,
                                         'J',  'F',  'I',  'F',  0xff, 0xd9};
    e->snapshot.data = malloc(sizeof jpeg);
    if (!e->snapshot.data) die("out of memory");
    memcpy(e->snapshot.data, jpeg, sizeof jpeg);
    e->snapshot.len = sizeof jpeg;
    return e;
}

static void settings(cfg_publishers *p)
{
    cfg_pub *s3 = cfg_publishers_add(p, "s3"); /* each set before the next add moves it */
    if (!s3 || !cfg_pub_set(s3, "s3_bucket", "bucket") || !cfg_pub_set(s3, "s3_prefix", "events/"))
        die("settings");
    cfg_pub *local = cfg_publishers_add(p, "local");
    if (!local || !cfg_pub_set(local, "local_dir", "/data/out")) die("settings");
}

/* Packs e, checks that it reads back as version v, writes it to path. */
static void *pack(const event *e, const cfg_publishers *p, int v, size_t *len)
{
    unsigned char *rec = spool_record_pack(e, p, len);
    if (!rec || rec[0] != v) die("pack");
    cfg_publishers q;
    event *back = spool_record_unpack(rec, *len, &q, NULL);
    if (!back) die("the record does not read back");
    event_free(back);
    cfg_publishers_free(&q);
    return rec;
}

static void write_file(const char *path, const void *a, size_t alen, const void *b, size_t blen)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen) ||
        fclose(f) != 0)
        die(path);
}

int main(int argc, char **argv)
{
    if (argc != 2) die("usage: spool_seeds CORPUS_DIR (tests/fuzz/corpus)");
    const char *out = argv[1];
    char path[4400], dir[64] = "/tmp/kvs-spool-seeds-XXXXXX";
    cfg_publishers p = {0};
    settings(&p);
    event *e = clip_event();
    static const char mp4[] = "\0\0\0\x18"
                              "ftypisom\0\0\x02\0isommp41";
    e->clip_mp4.data = malloc(sizeof mp4);
    if (!e->clip_mp4.data) die("out of memory");
    memcpy(e->clip_mp4.data, mp4, sizeof mp4);
    e->clip_mp4.len = sizeof mp4;
    size_t l4, l5, l3;
    void *v4 = pack(e, &p, 4, &l4);
    snprintf(path, sizeof path, "%s/spool_record/v4-clip.bin", out);
    write_file(path, v4, l4, NULL, 0);
    free(e->clip_mp4.data); /* v5: the MP4 is the record's file */
    e->clip_mp4.data = NULL;
    e->clip_mp4_file = kstrdup("/nonexistent/clip.mp4");
    void *v5 = pack(e, &p, 5, &l5);
    snprintf(path, sizeof path, "%s/spool_record/v5-file.bin", out);
    write_file(path, v5, l5, NULL, 0);
    e->clip_mp4.len = 0;
    snprintf(e->kind, sizeof e->kind, "detection");
    void *v3 = pack(e, &p, 3, &l3);
    /* The segment, through the spool itself. */
    if (!mkdtemp(dir)) die("mkdtemp");
    spool_opts o = {
        .dir = dir, .consumers = {"c"}, .nconsumers = 1, .is_bulk = spool_record_has_clip};
    spool *s = spool_open(&o, NULL);
    char clip[128];
    snprintf(clip, sizeof clip, "%s/clip.mp4", dir);
    write_file(clip, mp4, sizeof mp4, NULL, 0);
    uint64_t seq;
    if (!s || spool_append(s, v3, l3, &seq, 0, NULL) != KERR_OK ||
        spool_append_file(s, v5, l5, clip, INT64_MAX, &seq, NULL) != KERR_OK ||
        spool_append_bulk(s, v4, l4, INT64_MAX, &seq, NULL) != KERR_OK)
        die("spool");
    spool_close(s);
    snprintf(path, sizeof path, "%s/seg-%020d.log", dir, 1);
    FILE *f = fopen(path, "rb");
    unsigned char seg[8192] = {0xff};
    size_t n = f ? fread(seg + 1, 1, sizeof seg - 1, f) : 0;
    if (!f || n == 0 || n == sizeof seg - 1) die("the segment");
    fclose(f);
    snprintf(path, sizeof path, "%s/spool_segment/raw-v5", out);
    write_file(path, seg, n + 1, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) die(cmd);
    free(v3), free(v4), free(v5);
    event_free(e);
    cfg_publishers_free(&p);
    printf("spool_seeds: v4 %zu, v5 %zu bytes; segment %zu bytes\n", l4, l5, n);
    return 0;
}
