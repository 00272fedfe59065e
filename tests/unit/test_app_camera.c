/* A camera started with its dependencies (camera_deps) on a real short file:
 * it reads, decodes and analyses every frame with the scheduler and the hub
 * it was given, and never asks the app for anything (there is no app here).
 * The file is made with ffmpeg's test pattern; the detector is the planted
 * test model (tests/models). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/app/app.h"
#include "test_skip.h"

enum { CLIP_FRAMES = 12 };

static char g_dir[64]; /* the test's folder: the clip, the spool, the events */
static char g_models[1024];
static bool g_have_clip;

/* ---- a source that looks at its camera when the reader opens it ----
 * It is the url source with another name; its open records what the camera
 * held at that moment, on the reader thread: everything must be set before
 * the thread starts (add_camera once set the config after). */
static source_ops g_probe;
static struct {
    const config *global;
    publish_hub *hub;
    char worker_id[160];
    bool view, opened;
} g_seen;

static kerr_code probe_open(void **state, const cfg_camera *cam, const source_env *env,
                            source_info *info, kerr *err)
{
    const camera *c = env->owner;
    g_seen.global = c->global;
    g_seen.hub = c->hub;
    snprintf(g_seen.worker_id, sizeof g_seen.worker_id, "%s", c->worker_id);
    g_seen.view = c->view != NULL;
    g_seen.opened = env->global == c->global;
    return source_find("url")->open(state, cam, env, info, err);
}

typedef struct {
    config *cfg;
    publish_hub *hub;
    sched *sched;
    detector_ctx dctx;
} service;

static void service_open(service *s, bool realtime)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "spool: {dir: \"%1$s/spool\"}\n"
             "cameras:\n"
             "  - name: clip\n"
             "    source: {mode: probe, url: \"%1$s/%3$s\", realtime: %4$s}\n"
             "    publishers: {local_dir: \"%1$s/out\"}\n"
             "    detectors: [{type: yolo, params: {model: \"%2$s/yolov8_96.onnx\"}}]\n",
             g_dir, g_models, realtime ? "long.mp4" : "clip.mp4", realtime ? "true" : "false");
    cfg_diags d = {0};
    s->cfg = config_load(&app_cfg_readers, "camera.yaml", yaml, &d);
    if (!s->cfg) fail_msg("%s", d.n ? d.items[0].msg : "config");
    cfg_diags_free(&d);
    kerr err = {0};
    s->hub = publish_hub_new(s->cfg, &err);
    if (!s->hub) fail_msg("%s", err.msg);
    s->sched = sched_new(1, camera_analyse, NULL);
    assert_non_null(s->sched);
    s->dctx = (detector_ctx){.config_file = "camera.yaml", .models_dir = s->cfg->models_dir};
    infer_opts_init(&s->dctx.infer, "cpu", 1);
}

static void service_close(service *s)
{
    sched_free(s->sched);
    publish_hub_drain_by(s->hub, clock_wall_ms());
    publish_hub_free(s->hub);
    config_free(s->cfg);
}

static camera *start(service *s, kerr *err)
{
    camera_deps deps = {.global = s->cfg,
                        .cfg = &s->cfg->cams[0],
                        .sched = s->sched,
                        .hub = s->hub,
                        .dctx = &s->dctx,
                        .worker_id = "worker-7"};
    memset(&g_seen, 0, sizeof g_seen);
    return camera_start(&deps, err);
}

/* Waits up to ms for the camera to reach a state; false on timeout. */
static bool wait_state(camera *c, cam_state want, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (atomic_load(&c->state) == (int)want) return true;
        usleep(10000);
    }
    return atomic_load(&c->state) == (int)want;
}

static void need_prerequisites(void)
{
    if (!g_models[0]) SKIP_MISSING("KVS_TEST_MODELS (the planted test models)");
    if (!g_have_clip) SKIP_MISSING("ffmpeg, to make the test clips");
}

static void file_is_read_to_its_end_with_the_deps_given(void **state)
{
    (void)state;
    need_prerequisites();
    service s;
    service_open(&s, false);
    kerr err = {0};
    camera *c = start(&s, &err);
    assert_non_null(c);
    assert_true(wait_state(c, CAM_ENDED, 20000));
    camera_join(c); /* the frames read are analysed first */
    assert_int_equal(atomic_load(&c->decoded), CLIP_FRAMES);
    assert_int_equal(atomic_load(&c->analysed), CLIP_FRAMES);
    assert_int_equal(atomic_load(&c->errors), 0);
    assert_int_equal(c->ndet, 1);
    assert_non_null(c->dets[0].det);
    /* what the reader saw when it opened the source: all set before it ran */
    assert_ptr_equal(g_seen.global, s.cfg);
    assert_ptr_equal(g_seen.hub, s.hub);
    assert_string_equal(g_seen.worker_id, "worker-7");
    assert_true(g_seen.view);
    assert_true(g_seen.opened);
    camera_free(c);
    service_close(&s);
}

/* A paced (real-time) file of many seconds stops at once when asked, with
 * its queued frames counted, and ends ENDED (stopped), not FAILED. */
static void stop_ends_a_running_camera_promptly(void **state)
{
    (void)state;
    need_prerequisites();
    service s;
    service_open(&s, true);
    kerr err = {0};
    camera *c = start(&s, &err);
    assert_non_null(c);
    assert_true(wait_state(c, CAM_RUNNING, 10000));
    for (int i = 0; i < 500 && atomic_load(&c->analysed) < 2; i++)
        usleep(10000);
    assert_true(atomic_load(&c->analysed) >= 2);
    int64_t t0 = clock_mono_ns();
    camera_request_stop(c);
    camera_join(c);
    int64_t ms = (clock_mono_ns() - t0) / 1000000;
    assert_true(ms < 2000);
    assert_int_equal(atomic_load(&c->state), CAM_ENDED);
    assert_true(atomic_load(&c->decoded) < 100); /* the clip is 10 s: it did stop early */
    camera_free(c);
    service_close(&s);
}

/* A camera whose source cannot open ends FAILED by itself (a file does not
 * fix itself), and its error is counted on the camera. */
static void missing_file_fails_the_camera(void **state)
{
    (void)state;
    need_prerequisites();
    service s;
    service_open(&s, false);
    char path[128];
    snprintf(path, sizeof path, "%s/clip.mp4", g_dir);
    char moved[140];
    snprintf(moved, sizeof moved, "%s.away", path);
    assert_int_equal(rename(path, moved), 0);
    kerr err = {0};
    camera *c = start(&s, &err);
    assert_non_null(c);
    bool failed = wait_state(c, CAM_FAILED, 10000);
    camera_request_stop(c);
    camera_join(c);
    assert_int_equal(rename(moved, path), 0);
    assert_true(failed);
    assert_true(atomic_load(&c->errors) >= 1);
    assert_int_equal(atomic_load(&c->decoded), 0);
    camera_free(c);
    service_close(&s);
}

static bool make_clip(const char *name, int frames)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -v error -y -f lavfi -i testsrc=size=160x120:rate=10 -frames:v %d "
             "-c:v mpeg4 '%s/%s' >/dev/null 2>&1",
             frames, g_dir, name);
    return system(cmd) == 0;
}

int main(void)
{
    log_set_level(LOG_WARN);
    const char *m = getenv("KVS_TEST_MODELS");
    if (m) snprintf(g_models, sizeof g_models, "%s", m);
    snprintf(g_dir, sizeof g_dir, "/tmp/kvs-app-camera-XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    g_have_clip = make_clip("clip.mp4", CLIP_FRAMES) && make_clip("long.mp4", 100);
    g_probe = *source_find("url");
    g_probe.name = "probe";
    g_probe.implied_by = NULL;
    g_probe.is_default = false;
    g_probe.open = probe_open;
    kerr err = {0};
    if (source_register(&g_probe, &err) != KERR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_is_read_to_its_end_with_the_deps_given),
        cmocka_unit_test(stop_ends_a_running_camera_promptly),
        cmocka_unit_test(missing_file_fails_the_camera),
    };
    int failures = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", g_dir);
    infer_shutdown();
    return test_exit(failures);
}
