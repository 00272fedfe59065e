/* Event JSON round trip, JPEG snapshot and crop, object keys, the local
 * sink's files and its torn-line protection. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <cmocka.h>
#include <libavutil/frame.h>

#include "../../src/event/event.h"
#include "../../src/publish/publish.h"
#include "test_files.h"

static event *sample(void)
{
    event *e = event_new();
    uuid_v7(e->event_id);
    e->camera_name = kstrdup("front \"door\"");
    e->stream_name = kstrdup("stream-1");
    e->detector = kstrdup("yolo");
    e->label = kstrdup("person");
    e->confidence = 0.875;
    e->x1 = 10, e->y1 = 20, e->x2 = 60, e->y2 = 120;
    e->frame_w = 320, e->frame_h = 240;
    e->track_id = 7;
    e->roi[e->nroi++] = kstrdup("driveway");
    e->producer_ts_ms = 1764064800123LL;
    e->pts_ms = 1500;
    snprintf(e->fragment_number, sizeof e->fragment_number, "9134385233318150666");
    e->detected_at_ms = 1764064801456LL;
    snprintf(e->model_name, sizeof e->model_name, "m.onnx");
    memset(e->model_sha256, 'a', 64);
    return e;
}

static void json_round_trip(void **state)
{
    (void)state;
    event *e = sample();
    e->snapshot_ref = kstrdup("s3://b/k/frame.jpg");
    e->crop_refs[0] = kstrdup("s3://b/k/crop-0.jpg");
    e->ncrops = 1;
    char *json = event_to_json(e);
    assert_non_null(json);
    assert_null(strchr(json, '\n'));
    assert_non_null(strstr(json, "\"schema_version\":1"));
    assert_non_null(strstr(json, "\"producer_timestamp\":\"2025-11-25T10:00:00.123Z\""));
    assert_non_null(strstr(json, "\"server_timestamp\":null"));
    kerr err = {0};
    event *back = event_from_json(json, &err);
    if (!back) fail_msg("%s", err.msg);
    assert_string_equal(back->event_id, e->event_id);
    assert_string_equal(back->camera_name, e->camera_name);
    assert_string_equal(back->label, "person");
    assert_true(back->confidence == 0.875);
    assert_true(back->x1 == 10 && back->y2 == 120);
    assert_int_equal(back->frame_w, 320);
    assert_int_equal(back->track_id, 7);
    assert_string_equal(back->roi[0], "driveway");
    assert_int_equal(back->producer_ts_ms, e->producer_ts_ms);
    assert_int_equal(back->server_ts_ms, -1);
    assert_int_equal(back->pts_ms, 1500);
    assert_string_equal(back->fragment_number, e->fragment_number);
    assert_int_equal(back->detected_at_ms, e->detected_at_ms);
    assert_string_equal(back->model_sha256, e->model_sha256);
    assert_string_equal(back->crop_refs[0], "s3://b/k/crop-0.jpg");
    char *again = event_to_json(back);
    assert_string_equal(json, again); /* a stable serialisation */
    free(again);
    free(json);
    event_free(back);
    event_free(e);
    assert_null(event_from_json("{\"schema_version\":1}", &err));
    assert_null(event_from_json("not json", &err));
}

static void uuid_v7_is_sortable(void **state)
{
    (void)state;
    char prev[37] = "", id[37];
    for (int i = 0; i < 1000; i++) {
        uuid_v7(id);
        assert_int_equal(strlen(id), 36);
        assert_int_equal(id[14], '7');
        assert_true(strcmp(prev, id) < 0);
        memcpy(prev, id, sizeof id);
    }
}

static void jpeg_snapshot_and_crop(void **state)
{
    (void)state;
    kframe *f = frame_new(320, 240);
    for (int i = 0; i < f->stride * 240; i++)
        f->rgb[i] = (uint8_t)(i * 7);
    event *e = sample();
    assert_int_equal(event_encode_images(e, f, 85, NULL), KERR_OK);
    tjhandle tj = tjInitDecompress();
    int w, h, sub, cs;
    assert_int_equal(tjDecompressHeader3(tj, e->snapshot.data, e->snapshot.len, &w, &h, &sub, &cs),
                     0);
    assert_int_equal(w, 320);
    assert_int_equal(h, 240);
    assert_int_equal(e->ncrops, 1);
    assert_int_equal(tjDecompressHeader3(tj, e->crops[0].data, e->crops[0].len, &w, &h, &sub, &cs),
                     0);
    assert_int_equal(w, 60); /* 50 wide + 10% margin each side */
    assert_int_equal(h, 120);
    tjDestroy(tj);
    char key[512];
    event_object_key(e, "kvs-infer/", "crop-0.jpg", key, sizeof key);
    char want[512];
    snprintf(want, sizeof want, "kvs-infer/front \"door\"/2025/11/25/%s/crop-0.jpg", e->event_id);
    assert_string_equal(key, want);
    event_free(e);
    frame_unref(f);
}

/* A decoded picture (limited-range 4:2:0) is encoded from its own planes,
 * stretched to JPEG's full range: black stays black, red stays red; a crop
 * starting on an odd pixel starts one earlier (chroma covers pixel pairs). */
static void jpeg_from_a_yuv_picture(void **state)
{
    (void)state;
    AVFrame *pic = av_frame_alloc();
    pic->format = AV_PIX_FMT_YUV420P, pic->width = 320, pic->height = 240;
    assert_int_equal(av_frame_get_buffer(pic, 0), 0);
    for (int y = 0; y < 240; y++)
        for (int x = 0; x < 320; x++) {
            bool red = x >= 100 && x < 160 && y >= 60 && y < 120;
            pic->data[0][y * pic->linesize[0] + x] = red ? 81 : 16;
            pic->data[1][y / 2 * pic->linesize[1] + x / 2] = red ? 90 : 128;
            pic->data[2][y / 2 * pic->linesize[2] + x / 2] = red ? 240 : 128;
        }
    kframe *f = frame_from_picture(pic, NULL);
    av_frame_free(&pic);
    assert_non_null(f);
    event *e = sample();
    e->x1 = 111, e->y1 = 71, e->x2 = 151, e->y2 = 111;
    assert_int_equal(event_encode_images(e, f, 90, NULL), KERR_OK);
    assert_null(f->rgb); /* no RGB copy was made */
    tjhandle tj = tjInitDecompress();
    uint8_t *rgb = malloc(320 * 240 * 3);
    assert_int_equal(
        tjDecompress2(tj, e->snapshot.data, e->snapshot.len, rgb, 320, 0, 240, TJPF_RGB, 0), 0);
    const uint8_t *black = rgb + (10 * 320 + 10) * 3, *red = rgb + (90 * 320 + 130) * 3;
    assert_true(black[0] < 8 && black[1] < 8 && black[2] < 8);
    assert_true(red[0] > 240 && red[1] < 16 && red[2] < 16);
    int w, h, sub, cs;
    assert_int_equal(e->ncrops, 1);
    assert_int_equal(tjDecompressHeader3(tj, e->crops[0].data, e->crops[0].len, &w, &h, &sub, &cs),
                     0);
    assert_int_equal(w, 49); /* 107..154 with its margin, from 106 */
    assert_int_equal(h, 49);
    free(rgb);
    tjDestroy(tj);
    event_free(e);
    frame_unref(f);
}

/* One event through a publisher's batch call. */
static kerr_code publish1(const publisher_ops *ops, void *st, const cfg_pub *p, const event *e)
{
    kerr res = {0};
    publisher_deliver(ops, st, p, &e, 1, &res);
    return res.code;
}

/* The local sink opened on folder DIR: its state, its config in PS and *P
 * (the caller closes and frees them). */
static void *open_local(const char *dir, cfg_publishers *ps, cfg_pub **p)
{
    const publisher_ops *local = publisher_find("local");
    assert_non_null(local);
    *p = cfg_publishers_add(ps, "local");
    assert_true(*p && cfg_pub_set(*p, "local_dir", dir));
    void *st = NULL;
    assert_int_equal(local->open(*p, NULL, &st, NULL), KERR_OK);
    return st;
}

static void local_sink_writes_lines_and_images(void **state)
{
    (void)state;
    char dir[] = "/tmp/kvs-sink-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const publisher_ops *local = publisher_find("local");
    cfg_publishers ps = {0};
    cfg_pub *p = NULL;
    void *st = open_local(dir, &ps, &p);
    kframe *f = frame_new(64, 48);
    memset(f->rgb, 128, (size_t)f->stride * 48);
    event *bad = sample(); /* issue 9.5: a name that would leave local_dir is refused */
    free(bad->camera_name);
    bad->camera_name = kstrdup("../../esc");
    assert_int_equal(publish1(local, st, p, bad), KERR_UNSUPPORTED);
    event_free(bad);
    for (int i = 0; i < 3; i++) {
        event *e = sample();
        free(e->camera_name); /* the sample's quotes test JSON escaping; names have none */
        e->camera_name = kstrdup("front door");
        e->x2 = 30, e->y2 = 40;
        assert_int_equal(event_encode_images(e, f, 80, NULL), KERR_OK);
        char ref[1024];
        local->image_ref(p, e, "frame.jpg", ref, sizeof ref);
        e->snapshot_ref = kstrdup(ref);
        local->image_ref(p, e, "crop-0.jpg", ref, sizeof ref);
        e->crop_refs[0] = kstrdup(ref);
        assert_int_equal(publish1(local, st, p, e), KERR_OK);
        struct stat sb;
        assert_int_equal(stat(e->snapshot_ref, &sb), 0);
        assert_int_equal((size_t)sb.st_size, e->snapshot.len);
        assert_int_equal(stat(e->crop_refs[0], &sb), 0);
        event_free(e);
    }
    local->close(st);
    cfg_publishers_free(&ps);
    char path[512];
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    char *text = read_file(path, NULL, NULL);
    assert_non_null(text);
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        event *e = event_from_json(line, NULL);
        assert_non_null(e);
        event_free(e);
        lines++;
    }
    assert_int_equal(lines, 3);
    free(text);
    frame_unref(f);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Issue 9.4: after rm -rf of the output folder (or a logrotate move) events
 * went into the deleted file and were acknowledged. */
static void local_sink_reopens_a_moved_or_removed_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/kvs-sink-XXXXXX", out[600], path[700], moved[700], cmd[800];
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(path, sizeof path, "%s/events.jsonl", out);
    snprintf(moved, sizeof moved, "%s/events.jsonl.1", out);
    const publisher_ops *local = publisher_find("local");
    cfg_publishers ps = {0};
    cfg_pub *p = NULL;
    void *st = open_local(out, &ps, &p);
    event *e = sample();
    free(e->camera_name);
    e->camera_name = kstrdup("cam");
    assert_int_equal(publish1(local, st, p, e), KERR_OK);
    assert_int_equal(rename(path, moved), 0); /* logrotate */
    assert_int_equal(publish1(local, st, p, e), KERR_OK);
    assert_int_equal(count_lines(moved), 1);
    assert_int_equal(count_lines(path), 1);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", out); /* the whole folder */
    assert_int_equal(system(cmd), 0);
    assert_int_equal(publish1(local, st, p, e), KERR_OK);
    assert_int_equal(publish1(local, st, p, e), KERR_OK);
    assert_int_equal(count_lines(path), 2);
    event_free(e);
    local->close(st);
    cfg_publishers_free(&ps);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A clip_ready event whose MP4 is the spool's file (a v5 record): bytes
 * written to a new file, 0600 as mkstemp makes the clip thread's. */
static event *clip_file_event(const char *dir, char *file, size_t cap)
{
    snprintf(file, cap, "%s/spool-XXXXXX", dir);
    int fd = mkstemp(file);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "mp4 bytes", 9), 9);
    close(fd);
    event *e = sample();
    free(e->camera_name);
    e->camera_name = kstrdup("cam");
    snprintf(e->kind, sizeof e->kind, "clip_ready");
    e->clip.on = true;
    snprintf(e->clip.status, sizeof e->clip.status, "ready");
    snprintf(e->clip.owner_id, sizeof e->clip.owner_id, "%s", e->event_id);
    e->clip.owner_at_ms = e->detected_at_ms;
    e->clip_mp4_file = kstrdup(file);
    e->clip_mp4.len = 9;
    return e;
}

/* Issue 23 review: clip.mp4 from the spool's file is readable like
 * frame.jpg (a hard link kept the clip thread's 0600), and a record whose
 * file is gone (the spool folder removed under it) is refused for good, as
 * S3 refuses it, instead of being retried for ever, holding back every
 * later event of its camera. */
static void local_sink_stores_a_spool_file_clip(void **state)
{
    (void)state;
    char dir[] = "/tmp/kvs-sink-XXXXXX", out[600], file[700], clip[2048], cmd[800];
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/out", dir);
    mode_t old = umask(022);
    const publisher_ops *local = publisher_find("local");
    cfg_publishers ps = {0};
    cfg_pub *p = NULL;
    void *st = open_local(out, &ps, &p);
    event *e = clip_file_event(dir, file, sizeof file);
    char key[1024];
    event_clip_key(e, "", key, sizeof key);
    snprintf(clip, sizeof clip, "%s/%s", out, key);
    assert_int_equal(publish1(local, st, p, e), KERR_OK);
    struct stat sb;
    assert_int_equal(stat(clip, &sb), 0);
    assert_int_equal(sb.st_size, 9);
    assert_int_equal(sb.st_mode & 0777, 0644);
    assert_int_equal(publish1(local, st, p, e), KERR_OK); /* sent again after a restart */
    assert_int_equal(stat(clip, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    char tmp[2100]; /* a rename between two names of one file does nothing */
    snprintf(tmp, sizeof tmp, "%s.tmp", clip);
    assert_int_equal(access(tmp, F_OK), -1);
    event_free(e);
    e = clip_file_event(dir, file, sizeof file);
    unlink(file); /* the spool's file is gone */
    assert_int_equal(publish1(local, st, p, e), KERR_UNSUPPORTED);
    event_free(e);
    local->close(st);
    cfg_publishers_free(&ps);
    umask(old);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void append_line_never_leaves_a_torn_line(void **state)
{
    (void)state;
    /* A file-size limit makes the kernel write only part of the line (the way
     * a filling disk does): the error comes back and the part is cut off. */
    char path[] = "/tmp/kvs-torn-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(append_line(fd, "{\"a\":1}\n", 8, NULL), KERR_OK);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 20; /* room for 12 of the next line's 40 bytes */
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    kerr err = {0};
    kerr_code rc = append_line(fd, "{\"b\":\"a line too long for the limit\"}\n", 40, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_not_equal(rc, KERR_OK);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 8); /* the partial line was cut */
    close(fd);
    char *text = read_file(path, NULL, NULL);
    assert_string_equal(text, "{\"a\":1}\n");
    free(text);
    unlink(path);
    /* /dev/full fails every write with ENOSPC: the error must come back. */
    fd = open("/dev/full", O_WRONLY);
    if (fd < 0) return;
    assert_int_not_equal(append_line(fd, "{}\n", 3, &err), KERR_OK);
    assert_non_null(strstr(err.msg, "No space"));
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_round_trip),
        cmocka_unit_test(uuid_v7_is_sortable),
        cmocka_unit_test(jpeg_snapshot_and_crop),
        cmocka_unit_test(jpeg_from_a_yuv_picture),
        cmocka_unit_test(local_sink_writes_lines_and_images),
        cmocka_unit_test(local_sink_reopens_a_moved_or_removed_file),
        cmocka_unit_test(local_sink_stores_a_spool_file_clip),
        cmocka_unit_test(append_line_never_leaves_a_torn_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
