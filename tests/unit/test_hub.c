/* The publisher hub around the spool. Built with -Wl,--wrap=spool_record_pack
 * (tests/CMakeLists.txt) so a test can make serialising an event fail the way
 * an allocation failure does. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/app/app.h"
#include "../../src/config/config.h"
#include "../../src/event/event.h"
#include "../../src/metrics/metrics.h"
#include "../../src/publish/publish.h"
#include "../../src/spool/spool.h"
#include "test_files.h"

static int g_fail_packs; /* how many of the next packs fail */

void *__real_spool_record_pack(const event *e, const cfg_publishers *p, size_t *len);
void *__wrap_spool_record_pack(const event *e, const cfg_publishers *p, size_t *len);
void *__wrap_spool_record_pack(const event *e, const cfg_publishers *p, size_t *len)
{
    if (g_fail_packs > 0) {
        g_fail_packs--;
        return NULL;
    }
    return __real_spool_record_pack(e, p, len);
}

/* A hub on a config whose text names the test's folder as %1$s. */
typedef struct {
    char dir[32];
    config *cfg;
    publish_hub *h;
} fixture;

static void fixture_open(fixture *f, const char *yaml_fmt)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/kvs-hub-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char yaml[2048];
    snprintf(yaml, sizeof yaml, yaml_fmt, f->dir);
    cfg_diags d = {0};
    f->cfg = config_load(&app_cfg_readers, "t.yaml", yaml, &d);
    if (!f->cfg) fail_msg("%s", d.n ? d.items[0].msg : "config");
    cfg_diags_free(&d);
    kerr err = {0};
    f->h = publish_hub_new(f->cfg, &err);
    if (!f->h) fail_msg("%s", err.msg);
}

/* Frees the hub (it drains first) unless the test did. */
static void fixture_close(fixture *f)
{
    publish_hub_free(f->h);
    config_free(f->cfg);
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
}

static event *person(const char *camera)
{
    event *e = event_new();
    e->camera_name = kstrdup(camera);
    e->detector = kstrdup("yolo");
    e->label = kstrdup("person");
    e->confidence = 0.9;
    return e;
}

/* Issue 9.4: the retry after a failed pack used publishers already freed, so
 * no publisher wanted the event and it was acknowledged as delivered to
 * nowhere. */
static void event_survives_a_failed_pack(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "spool: {dir: \"%1$s/spool\"}\n"
                     "cameras:\n"
                     "  - {name: cam, source: {mode: url, url: x.mp4}, detectors: [{type: yolo}],\n"
                     "     publishers: {local_dir: \"%1$s/out\"}}\n");
    kerr err = {0};
    assert_int_equal(publish_hub_add_camera(f.h, "cam", &f.cfg->cams[0].pub, &err), KERR_OK);
    g_fail_packs = 2;
    publish_hub_submit(f.h, person("cam"));
    assert_int_equal(g_fail_packs, 0);
    publish_hub_free(f.h); /* drains: the event reaches the local sink */
    f.h = NULL;
    char events[100];
    snprintf(events, sizeof events, "%s/out/events.jsonl", f.dir);
    assert_int_equal(count_lines(events), 1);
    fixture_close(&f);
}

/* Issue 9.4: one camera's failing destination held back every camera's
 * events; a destination that can never take an event sends it to the
 * dead-letter folder instead of blocking or vanishing. */
static void one_camera_cannot_block_another(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "spool: {dir: \"%1$s/spool\"}\n"
                     "defaults: {source: {mode: url, url: x.mp4}, detectors: [{type: yolo}]}\n"
                     "cameras:\n"
                     "  - {name: bad, publishers: {local_dir: \"%1$s/file/out\"}}\n"
                     "  - {name: good, publishers: {local_dir: \"%1$s/good\"}}\n");
    char path[100];
    snprintf(path, sizeof path, "%s/file", f.dir);
    FILE *file = fopen(path, "w"); /* a file where the bad camera's folder should be */
    assert_non_null(file);
    fclose(file);
    kerr err = {0};
    assert_int_not_equal(publish_hub_add_camera(f.h, "bad", &f.cfg->cams[0].pub, &err), KERR_OK);
    assert_int_equal(publish_hub_add_camera(f.h, "good", &f.cfg->cams[1].pub, &err), KERR_OK);
    /* a name no publisher can store (it bypassed the config check) */
    assert_int_equal(publish_hub_add_camera(f.h, "../escape", &f.cfg->cams[1].pub, &err), KERR_OK);
    publish_hub_submit(f.h, person("bad"));
    publish_hub_submit(f.h, person("../escape"));
    for (int i = 0; i < 3; i++)
        publish_hub_submit(f.h, person("good"));
    snprintf(path, sizeof path, "%s/good/events.jsonl", f.dir);
    int lines = 0;
    for (int i = 0; i < 100 && lines < 3; i++) { /* up to 5 s */
        clock_sleep_ns(50000000LL);
        lines = count_lines(path);
    }
    assert_int_equal(lines, 3);
    snprintf(path, sizeof path, "%s/spool/dead-letter/local.jsonl", f.dir);
    assert_int_equal(count_lines(path), 1);
    char *dead = read_file(path, NULL, NULL);
    assert_non_null(strstr(dead, "\"camera_name\":\"../escape\""));
    assert_non_null(strstr(dead, "camera name may only hold"));
    free(dead);
    publish_hub_drain_by(f.h, clock_wall_ms() + 300); /* the bad camera's event stays spooled */
    fixture_close(&f);
}

/* Issue 9.3: with spool.max_bytes 1 MiB an event with larger images waited
 * forever for room that could never come ("spool full (0 of 1048576)"). */
static void event_larger_than_the_spool_goes_without_images(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "spool: {dir: \"%1$s/spool\", max_bytes: 1048576}\n"
                     "cameras:\n"
                     "  - {name: cam, source: {mode: url, url: x.mp4}, detectors: [{type: yolo}],\n"
                     "     publishers: {local_dir: \"%1$s/out\"}}\n");
    kerr err = {0};
    assert_int_equal(publish_hub_add_camera(f.h, "cam", &f.cfg->cams[0].pub, &err), KERR_OK);
    event *e = person("cam");
    e->snapshot.len = 2 << 20; /* a 4K frame's JPEG can be this large */
    e->snapshot.data = calloc(1, e->snapshot.len);
    assert_non_null(e->snapshot.data);
    int64_t t0 = clock_mono_ns();
    publish_hub_submit(f.h, e);
    assert_true(clock_mono_ns() - t0 < 3000000000LL); /* no waiting for room */
    publish_hub_free(f.h);
    f.h = NULL;
    char path[100];
    snprintf(path, sizeof path, "%s/out/events.jsonl", f.dir);
    assert_int_equal(count_lines(path), 1);
    char *line = read_file(path, NULL, NULL);
    assert_null(strstr(line, "frame.jpg")); /* no snapshot named: none was kept */
    free(line);
    fixture_close(&f);
}

/* A socket listening on a free port of 127.0.0.1, its port in *port. */
static int listen_loopback(int *port)
{
    int srv = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    assert_int_equal(bind(srv, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(srv, 8), 0);
    assert_int_equal(getsockname(srv, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return srv;
}

static void *add_kinesis_camera(void *arg)
{
    fixture *f = arg;
    kerr err = {0};
    publish_hub_add_camera(f->h, "cam", &f->cfg->cams[0].pub, &err); /* fails after ~5 s */
    return NULL;
}

/* Issue 9.4: opening a destination (which may fetch credentials over the
 * network) happened under the hub's lock, so every inference worker's
 * submit and /readyz waited for it. A credentials endpoint that accepts and
 * never answers keeps one camera's open busy for seconds; the hub must go on
 * answering meanwhile. */
static void opening_a_destination_does_not_block_the_hub(void **state)
{
    (void)state;
    int port, srv = listen_loopback(&port); /* accepted by the kernel, never answered */
    char uri[100];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d/creds", port);
    static const char *const unset[] = {"AWS_ACCESS_KEY_ID",           "AWS_SECRET_ACCESS_KEY",
                                        "AWS_SESSION_TOKEN",           "AWS_PROFILE",
                                        "AWS_WEB_IDENTITY_TOKEN_FILE", NULL};
    for (int i = 0; unset[i]; i++)
        unsetenv(unset[i]);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    fixture f;
    fixture_open(&f, "aws_region: us-east-1\n"
                     "aws: {endpoints: {kinesis: \"http://127.0.0.1:1\"}}\n"
                     "spool: {dir: \"%1$s/spool\"}\n"
                     "defaults: {source: {mode: url, url: x.mp4}, detectors: [{type: yolo}]}\n"
                     "cameras:\n"
                     "  - {name: cam, publishers: {kinesis_stream_name: ev}}\n"
                     "  - {name: other, publishers: {local_dir: \"%1$s/out\"}}\n");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, add_kinesis_camera, &f), 0);
    clock_sleep_ns(300000000LL); /* inside the credentials request by now */
    int64_t t0 = clock_mono_ns();
    char why[256] = "";
    publish_hub_healthy(f.h, why, sizeof why);
    kerr err = {0};
    assert_int_equal(publish_hub_add_camera(f.h, "other", &f.cfg->cams[1].pub, &err), KERR_OK);
    publish_hub_submit(f.h, person("other"));
    int64_t ms = (clock_mono_ns() - t0) / 1000000;
    pthread_join(t, NULL);
    if (ms > 1000) fail_msg("the hub was blocked %lld ms by another camera's open", (long long)ms);
    fixture_close(&f);
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    unsetenv("AWS_EC2_METADATA_DISABLED");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_CONFIG_FILE");
    close(srv);
}

/* Issue 26.8: at the shutdown deadline with the spool full and its
 * destination down, events vanished with only a log line. Each is now
 * counted and kept (without images) in dead-letter/unspooled.jsonl, and
 * the producers' wait is counted. */
static void event_the_spool_cannot_take_at_shutdown_is_kept(void **state)
{
    (void)state;
    metrics_reset();
    fixture f;
    fixture_open(&f, "spool: {dir: \"%1$s/spool\", max_bytes: 1048576}\n"
                     "cameras:\n"
                     "  - {name: cam, source: {mode: url, url: x.mp4}, detectors: [{type: yolo}],\n"
                     "     publishers: {local_dir: \"%1$s/out\"}}\n");
    char path[160];
    snprintf(path, sizeof path, "%s/out/events.jsonl", f.dir);
    assert_int_equal(mkdir_p(path, NULL), KERR_OK); /* a folder: the sink keeps failing */
    kerr err = {0};
    publish_hub_add_camera(f.h, "cam", &f.cfg->cams[0].pub, &err); /* fails: stays spooled */
    publish_hub_drain_by(f.h, clock_wall_ms() + 1500);             /* SIGTERM: 1.5 s left */
    char last_id[64] = "";
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < 6; i++) { /* 5 fit in 1 MiB, the 6th waits for the deadline */
        event *e = person("cam");
        e->snapshot.len = 200 << 10;
        e->snapshot.data = calloc(1, e->snapshot.len);
        assert_non_null(e->snapshot.data);
        snprintf(e->event_id, sizeof e->event_id, "00000000-0000-4000-8000-00000000000%d", i);
        snprintf(last_id, sizeof last_id, "%s", e->event_id);
        publish_hub_submit(f.h, e);
    }
    double waited = (double)(clock_mono_ns() - t0) / 1e9;
    assert_true(waited >= 1.0 && waited < 10); /* it waited, up to the deadline only */
    assert_true(metric_get(M_SPOOL_FULL, "") >= 0.5);
    assert_int_equal((int)metric_get(M_EVENTS_LOST, "why=\"spool_full\""), 1);
    snprintf(path, sizeof path, "%s/spool/dead-letter/unspooled.jsonl", f.dir);
    assert_int_equal(count_lines(path), 1);
    char *kept = read_file(path, NULL, NULL);
    assert_non_null(kept);
    if (!strstr(kept, last_id)) fail_msg("the lost event %s is not in %s", last_id, kept);
    free(kept);
    fixture_close(&f);
}

/* Where even the dead-letter folder cannot be written (the same full disk),
 * the lost event goes whole into its log line: stdout is captured here. */
static void lost_event_is_logged_whole_without_a_dead_letter_folder(void **state)
{
    (void)state;
    metrics_reset();
    fixture f;
    fixture_open(&f, "spool: {dir: \"%1$s/spool\", max_bytes: 1048576}\n"
                     "cameras:\n"
                     "  - {name: cam, source: {mode: url, url: x.mp4}, detectors: [{type: yolo}],\n"
                     "     publishers: {local_dir: \"%1$s/out\"}}\n");
    char path[160];
    snprintf(path, sizeof path, "%s/out/events.jsonl", f.dir);
    assert_int_equal(mkdir_p(path, NULL), KERR_OK); /* the sink keeps failing */
    snprintf(path, sizeof path, "%s/spool/dead-letter", f.dir);
    FILE *block = fopen(path, "w"); /* a file where the folder would go */
    assert_non_null(block);
    fclose(block);
    kerr err = {0};
    publish_hub_add_camera(f.h, "cam", &f.cfg->cams[0].pub, &err);
    publish_hub_drain_by(f.h, clock_wall_ms() + 1000);
    char log[160];
    snprintf(log, sizeof log, "%s/stdout.log", f.dir);
    fflush(stdout);
    int saved = dup(1), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    close(fd);
    for (int i = 0; i < 6; i++) { /* 5 fit in 1 MiB, the 6th is lost */
        event *e = person("cam");
        e->snapshot.len = 200 << 10;
        e->snapshot.data = calloc(1, e->snapshot.len);
        assert_non_null(e->snapshot.data);
        snprintf(e->event_id, sizeof e->event_id, "00000000-0000-4000-8000-00000000001%d", i);
        publish_hub_submit(f.h, e);
    }
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    assert_int_equal((int)metric_get(M_EVENTS_LOST, "why=\"spool_full\""), 1);
    char *text = read_file(log, NULL, NULL);
    assert_non_null(text);
    char *line = strstr(text, "event lost");
    if (!line) fail_msg("no `event lost` line in:\n%s", text);
    *strchrnul(line, '\n') = '\0';
    if (!strstr(line, "the event: {") ||
        !strstr(line, "\\\"event_id\\\":\\\"00000000-0000-4000-8000-000000000015\\\""))
        fail_msg("the lost event is not in its log line: %s", line);
    free(text);
    fixture_close(&f);
}

/* Review (clips fill the spool): with a publisher that never acknowledges,
 * clips took the whole spool and then every producer waited for room. Now a
 * clip's MP4 never waits and stays within its share of the spool
 * (PUBLISH_CLIP_SPOOL_SHARE): past it the clip is "lost" at once, and the
 * events keep flowing into the rest. */
static void clips_stay_within_their_share_of_the_spool(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "spool: {dir: \"%1$s/spool\", max_bytes: 4194304}\n"
                     "cameras:\n"
                     "  - {name: cam, source: {mode: url, url: x.mp4}, detectors: [{type: yolo}],\n"
                     "     publishers: {local_dir: \"%1$s/out\"}}\n");
    char path[160];
    snprintf(path, sizeof path, "%s/out/events.jsonl", f.dir);
    assert_int_equal(mkdir_p(path, NULL), KERR_OK); /* a folder: the sink never acknowledges */
    kerr err = {0};
    publish_hub_add_camera(f.h, "cam", &f.cfg->cams[0].pub, &err);
    int kept = 0, lost = 0;
    /* Any wait for room in the spool adds to this counter: measured so, not by
     * the wall clock, which a loaded machine stretches */
    double waited = metric_get(M_SPOOL_FULL, "");
    for (int i = 0; i < 6; i++) { /* 300 KiB each: 3 fit in the 1 MiB share */
        event *e = person("cam");
        snprintf(e->kind, sizeof e->kind, "clip_ready");
        snprintf(e->event_id, sizeof e->event_id, "00000000-0000-4000-8000-00000000002%d", i);
        e->clip.on = true;
        snprintf(e->clip.status, sizeof e->clip.status, "ready");
        snprintf(e->clip.owner_id, sizeof e->clip.owner_id, "%s", e->event_id);
        e->clip_mp4.len = 300 << 10;
        e->clip_mp4.data = calloc(1, e->clip_mp4.len);
        assert_non_null(e->clip_mp4.data);
        kerr why = {0};
        if (publish_hub_submit_clip(f.h, e, NULL, NULL, &why))
            kept++;
        else
            lost++, assert_non_null(strstr(why.msg, "share of the spool is full"));
    }
    assert_true(metric_get(M_SPOOL_FULL, "") == waited); /* the clips never waited */
    assert_int_equal(kept, 3);
    assert_int_equal(lost, 3);
    for (int i = 0; i < 25;
         i++) { /* 2.5 MiB: more than the spool would have left with every clip */
        event *e = person("cam");
        e->snapshot.len = 100 << 10;
        e->snapshot.data = calloc(1, e->snapshot.len);
        assert_non_null(e->snapshot.data);
        publish_hub_submit(f.h, e);
    }
    assert_true(metric_get(M_SPOOL_FULL, "") == waited); /* no event waited for room */
    publish_hub_drain_by(f.h, clock_wall_ms() + 300);    /* everything stays spooled */
    fixture_close(&f);
}

/* A clip_ready event whose MP4 is a file of n bytes in the hub's scratch
 * folder (as the clip thread hands it over). */
static event *clip_file_event(fixture *f, const char *id, size_t n, char *path, size_t cap)
{
    snprintf(path, cap, "%s/clip-XXXXXX", publish_hub_scratch_dir(f->h));
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(write(fd, &(char){(char)('a' + i % 26)}, 1), 1);
    close(fd);
    event *e = person("cam");
    snprintf(e->kind, sizeof e->kind, "clip_ready");
    snprintf(e->event_id, sizeof e->event_id, "%s", id);
    e->detected_at_ms = 1765000000000LL;
    e->clip.on = true;
    snprintf(e->clip.status, sizeof e->clip.status, "ready");
    snprintf(e->clip.owner_id, sizeof e->clip.owner_id, "%s", id);
    e->clip.owner_at_ms = e->detected_at_ms;
    e->clip_mp4_file = kstrdup(path);
    e->clip_mp4.len = n;
    return e;
}

/* Issue 23 (clips off the heap): the clip thread's file moves into the
 * spool (no copy), the local sink stores it as clip.mp4 byte for byte, and
 * a clip the spool does not take has its file removed (none leaks). */
static void clip_file_goes_through_the_spool_as_a_file(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "spool: {dir: \"%1$s/spool\", max_bytes: 4194304}\n"
                     "cameras:\n"
                     "  - {name: cam, source: {mode: url, url: x.mp4}, detectors: [{type: yolo}],\n"
                     "     publishers: {local_dir: \"%1$s/out\"}}\n");
    kerr err = {0};
    assert_int_equal(publish_hub_add_camera(f.h, "cam", &f.cfg->cams[0].pub, &err), KERR_OK);
    char tmp[4200], big[4200];
    const char *id = "00000000-0000-4000-8000-000000000031";
    event *e = clip_file_event(&f, id, 3000, tmp, sizeof tmp);
    char key[1024], out[4300];
    event_clip_key(e, "", key, sizeof key);
    snprintf(out, sizeof out, "%s/out/%s", f.dir, key);
    kerr why = {0};
    assert_true(publish_hub_submit_clip(f.h, e, NULL, NULL, &why));
    assert_int_equal(access(tmp, F_OK), -1); /* moved into the spool */
    /* over the clips' share (1 MiB of 4): lost, and its file removed */
    e = clip_file_event(&f, "00000000-0000-4000-8000-000000000032", 2 << 20, big, sizeof big);
    assert_false(publish_hub_submit_clip(f.h, e, NULL, NULL, &why));
    assert_int_equal(access(big, F_OK), -1);
    struct stat st;
    for (int i = 0; i < 100 && stat(out, &st) != 0; i++)
        clock_sleep_ns(50000000LL);
    assert_int_equal(stat(out, &st), 0);
    assert_int_equal(st.st_size, 3000);
    FILE *fp = fopen(out, "rb");
    assert_non_null(fp);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(fgetc(fp), 'a' + i % 26);
    fclose(fp);
    fixture_close(&f);
}

/* The hub's spool, opened directly (the hub closed): its consumers are the
 * registered publishers, in order. */
static spool *open_hub_spool(fixture *f)
{
    char dir[100];
    snprintf(dir, sizeof dir, "%s/spool", f->dir);
    spool_opts o = {.dir = kstrdup(dir), .is_bulk = spool_record_has_clip};
    for (int i = 0; publisher_at(i) && i < SPOOL_MAX_CONSUMERS; i++)
        o.consumers[o.nconsumers++] = publisher_at(i)->name;
    kerr err = {0};
    spool *s = spool_open(&o, &err);
    free((char *)o.dir);
    if (!s) fail_msg("%s", err.msg);
    return s;
}

static int local_consumer(void)
{
    for (int i = 0; publisher_at(i); i++)
        if (strcmp(publisher_at(i)->name, "local") == 0) return i;
    fail_msg("no local publisher");
    return -1;
}

/* Issue 23 (rollback): a build before v5 acknowledged v5 records unread, so
 * their clips were lost. A record of a format newer than this build's is
 * kept unacknowledged for a build that reads it, the records after it are
 * delivered, and the hub still stops at once. */
static void record_of_a_newer_build_is_kept(void **state)
{
    (void)state;
    fixture f;
    const char *yaml =
        "spool: {dir: \"%1$s/spool\"}\n"
        "cameras:\n"
        "  - {name: cam, source: {mode: url, url: x.mp4}, detectors: [{type: yolo}],\n"
        "     publishers: {local_dir: \"%1$s/out\"}}\n";
    fixture_open(&f, yaml);
    publish_hub_free(f.h);
    spool *s = open_hub_spool(&f);
    event *e = person("cam");
    size_t len = 0;
    unsigned char *rec = spool_record_pack(e, &f.cfg->cams[0].pub, &len);
    assert_non_null(rec);
    uint32_t newer = 6; /* the version field, little-endian like the rest */
    memcpy(rec, &newer, 4);
    uint64_t held, after;
    assert_int_equal(spool_append(s, rec, len, &held, 0, NULL), KERR_OK);
    free(rec);
    rec = spool_record_pack(e, &f.cfg->cams[0].pub, &len); /* v3: readable */
    assert_int_equal(spool_append(s, rec, len, &after, 0, NULL), KERR_OK);
    free(rec);
    event_free(e);
    spool_close(s);
    kerr err = {0};
    f.h = publish_hub_new(f.cfg, &err);
    assert_non_null(f.h);
    assert_int_equal(publish_hub_add_camera(f.h, "cam", &f.cfg->cams[0].pub, &err), KERR_OK);
    char events[100];
    snprintf(events, sizeof events, "%s/out/events.jsonl", f.dir);
    for (int i = 0; i < 100 && count_lines(events) < 1; i++)
        clock_sleep_ns(50000000LL);
    assert_int_equal(count_lines(events), 1); /* the record after it */
    int64_t t0 = clock_mono_ns();
    publish_hub_free(f.h);
    f.h = NULL;
    assert_true(clock_mono_ns() - t0 < 3000000000LL); /* not the 10 s drain limit */
    s = open_hub_spool(&f);
    uint64_t seq;
    void *data;
    assert_int_equal(spool_next(s, local_consumer(), &seq, &data, &len, 0, NULL), KERR_OK);
    assert_int_equal(seq, held); /* still there for a newer build */
    free(data);
    assert_true(after > held);
    spool_close(s);
    fixture_close(&f);
}

/* A clip_ready event refused for good kept only its JSON: the MP4 (the
 * spool's file) went with the record's segment, so the dead letter could
 * not be replayed with its clip. It is kept beside the dead letter. */
static void refused_clip_keeps_its_mp4_in_the_dead_letter_folder(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "spool: {dir: \"%1$s/spool\"}\n"
                     "cameras:\n"
                     "  - {name: cam, source: {mode: url, url: x.mp4}, detectors: [{type: yolo}],\n"
                     "     publishers: {local_dir: \"%1$s/out\"}}\n");
    kerr err = {0};
    /* a name the local sink cannot store (it bypassed the config check) */
    assert_int_equal(publish_hub_add_camera(f.h, "../escape", &f.cfg->cams[0].pub, &err), KERR_OK);
    char tmp[4200], kept[200];
    const char *id = "00000000-0000-4000-8000-000000000041";
    event *e = clip_file_event(&f, id, 3000, tmp, sizeof tmp);
    free(e->camera_name);
    e->camera_name = kstrdup("../escape");
    assert_true(publish_hub_submit_clip(f.h, e, NULL, NULL, &err));
    publish_hub_free(f.h); /* drains: refused, the record acknowledged */
    f.h = NULL;
    snprintf(kept, sizeof kept, "%s/spool/dead-letter/local-clips/%s.mp4", f.dir, id);
    struct stat st;
    assert_int_equal(stat(kept, &st), 0);
    assert_int_equal(st.st_size, 3000);
    char lines[100];
    snprintf(lines, sizeof lines, "%s/spool/dead-letter/local.jsonl", f.dir);
    char *dead = read_file(lines, NULL, NULL);
    assert_non_null(dead);
    assert_non_null(strstr(dead, "\"clip_file\":"));
    assert_non_null(strstr(dead, "local-clips"));
    free(dead);
    fixture_close(&f);
}

/* Answers every HTTP request on the listening socket with 404 until it is
 * shut down. */
static void *answer_404(void *arg)
{
    int srv = *(int *)arg;
    for (int c; (c = accept(srv, NULL, NULL)) >= 0; close(c)) {
        char buf[8192];
        (void)!recv(c, buf, sizeof buf, 0);
        static const char no[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                                 "Connection: close\r\n\r\n";
        (void)!send(c, no, sizeof no - 1, MSG_NOSIGNAL);
    }
    return NULL;
}

/* Review: a publisher that never carries the MP4 (a webhook answering 404)
 * dead-letters the clip_ready event's line only: the clip is stored by the
 * publisher that stores it, and a copy per refusal would fill the disk
 * outside spool.max_bytes while the webhook stays misconfigured. */
static void refused_by_a_publisher_without_clips_keeps_no_mp4(void **state)
{
    (void)state;
    int port, srv = listen_loopback(&port);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, answer_404, &srv), 0);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "spool: {dir: \"%%1$s/spool\"}\n"
             "cameras:\n"
             "  - {name: cam, source: {mode: url, url: x.mp4}, detectors: [{type: yolo}],\n"
             "     publishers: {local_dir: \"%%1$s/out\",\n"
             "                  webhook: {url: \"http://127.0.0.1:%d/hook\"}}}\n",
             port);
    fixture f;
    fixture_open(&f, yaml);
    kerr err = {0};
    assert_int_equal(publish_hub_add_camera(f.h, "cam", &f.cfg->cams[0].pub, &err), KERR_OK);
    char tmp[4200], path[200];
    const char *id = "00000000-0000-4000-8000-000000000042";
    event *e = clip_file_event(&f, id, 3000, tmp, sizeof tmp);
    assert_true(publish_hub_submit_clip(f.h, e, NULL, NULL, &err));
    snprintf(path, sizeof path, "%s/spool/dead-letter/webhook.jsonl", f.dir);
    for (int i = 0; i < 200 && access(path, F_OK) != 0; i++)
        clock_sleep_ns(50000000LL);
    assert_int_equal(access(path, F_OK), 0); /* refused for good */
    publish_hub_free(f.h);
    f.h = NULL;
    shutdown(srv, SHUT_RDWR);
    pthread_join(t, NULL);
    close(srv);
    snprintf(path, sizeof path, "%s/spool/dead-letter/webhook-clips/%s.mp4", f.dir, id);
    assert_int_equal(access(path, F_OK), -1);
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(event_survives_a_failed_pack),
        cmocka_unit_test(one_camera_cannot_block_another),
        cmocka_unit_test(event_larger_than_the_spool_goes_without_images),
        cmocka_unit_test(opening_a_destination_does_not_block_the_hub),
        cmocka_unit_test(event_the_spool_cannot_take_at_shutdown_is_kept),
        cmocka_unit_test(lost_event_is_logged_whole_without_a_dead_letter_folder),
        cmocka_unit_test(clips_stay_within_their_share_of_the_spool),
        cmocka_unit_test(clip_file_goes_through_the_spool_as_a_file),
        cmocka_unit_test(record_of_a_newer_build_is_kept),
        cmocka_unit_test(refused_clip_keeps_its_mp4_in_the_dead_letter_folder),
        cmocka_unit_test(refused_by_a_publisher_without_clips_keeps_no_mp4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
