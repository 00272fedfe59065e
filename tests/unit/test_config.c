/* Config: the shape of docs/configuration.md and legacy files load; every error names
 * file:line:column and the key path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/app/app.h"
#include "../../src/config/config.h"
#include "../../src/detect/detect.h"
#include "../../src/source/source.h"

static char g_msgs[8192];

/* The camera's source settings as its source describes them (the source's
 * own describe op, after its name). */
static const char *src_desc(const cfg_camera *c)
{
    static char buf[1024];
    if (!c->source) return "no source";
    int w = snprintf(buf, sizeof buf, "%s", c->source->name);
    if (w > 0 && (size_t)w + 1 < sizeof buf && c->source->describe) {
        buf[w] = ' ';
        c->source->describe(c->source_conf, buf + w + 1, sizeof buf - (size_t)w - 1);
    }
    return buf;
}

/* A camera's setting of one publisher, NULL when unset or not used. */
static const char *pub_key(const cfg_camera *c, const char *publisher, const char *key)
{
    return cfg_pub_get(cfg_publishers_find(&c->pub, publisher), key);
}

/* Loads text; returns the config (or NULL) and joins the formatted diagnostics. */
static config *load(const char *text, size_t *ndiag)
{
    cfg_diags d = {0};
    config *c = config_load(&app_cfg_readers, "t.yaml", text, &d);
    g_msgs[0] = '\0';
    for (size_t i = 0; i < d.n; i++) {
        char line[1024];
        cfg_diag_format(&d.items[i], line, sizeof line);
        strncat(g_msgs, line, sizeof g_msgs - strlen(g_msgs) - 2);
        strcat(g_msgs, "\n");
    }
    *ndiag = d.n;
    cfg_diags_free(&d);
    return c;
}

#define ASSERT_MSG(needle)                                                                         \
    do {                                                                                           \
        if (!strstr(g_msgs, needle)) fail_msg("missing \"%s\" in:\n%s", needle, g_msgs);           \
    } while (0)

static const char *k_design =
    "aws_region: us-east-1\n"
    "device: cpu\n"
    "metrics: {listen: \"0.0.0.0:9090\"}\n"
    "spool: {dir: /var/lib/kvs-infer/spool, max_bytes: 1073741824}\n"
    "cameras:\n"
    "  - name: front-door\n"
    "    stream_name: my-kvs-stream\n"
    "    region: us-east-1\n"
    "    source: {mode: hls}\n"
    "    fps_limit: 5\n"
    "    skip_frames: 0\n"
    "    roi:\n"
    "      - {name: driveway, polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]}\n"
    "    detectors:\n"
    "      - type: weapon\n"
    "        enabled: true\n"
    "        confidence_threshold: 0.6\n"
    "        roi: [driveway]\n"
    "        params: {model: models/weapon.onnx, model_size: n}\n"
    "    publishers:\n"
    "      kinesis_stream_name: detection-events\n"
    "      s3_bucket: my-bucket\n"
    "      s3_prefix: kvs-infer/\n"
    "      dynamodb_table: detections\n"
    "      local_dir: ./out\n"
    "  - name: lobby\n"
    "    source: {mode: url, url: rtsp://10.0.0.5/stream1}\n"
    "    detectors:\n"
    "      - type: yolo\n"
    "        confidence_threshold: 0.4\n"
    "        params:\n"
    "          model: models/yolox_nano.onnx\n"
    "          layout: auto\n"
    "          class_names: coco\n"
    "          classes: [person, knife]\n"
    "    publishers: {local_dir: ./out}\n"
    "  - name: gate\n"
    "    stream_name: gate-cam\n"
    "    source: {mode: getmedia}\n"
    "    detectors:\n"
    "      - type: alpr\n"
    "        params:\n"
    "          det_model: models/paddleocr/ch_PP-OCRv4_det_infer.onnx\n"
    "aws:\n"
    "  endpoints: {kinesisvideo: \"http://127.0.0.1:4566\", kinesis: \"...\", s3: \"...\"}\n"
    "  s3_force_path_style: true\n";

static void design_example_loads(void **state)
{
    (void)state;
    size_t n;
    config *c = load(k_design, &n);
    assert_non_null(c);
    assert_int_equal(n, 0);
    assert_int_equal(c->ncam, 3);
    assert_string_equal(c->cams[0].name, "front-door");
    assert_string_equal(src_desc(&c->cams[0]),
                        "hls start=now container=fmp4 playlist_fragments=5 expires_s=3600");
    assert_true(c->cams[0].fps_limit == 5.0);
    assert_int_equal(c->cams[0].nroi, 1);
    assert_int_equal(c->cams[0].rois[0].npts, 4);
    assert_true(c->cams[0].rois[0].pts[1][0] == 0.9);
    assert_string_equal(c->cams[0].dets[0].roi[0], "driveway");
    assert_string_equal(pub_key(&c->cams[0], "s3", "s3_prefix"), "kvs-infer/");
    assert_string_equal(src_desc(&c->cams[1]),
                        "url url=rtsp://10.0.0.5/stream1 loop=false realtime=true");
    assert_string_equal(src_desc(&c->cams[2]), "getmedia start=now");
    assert_string_equal(c->cams[2].region, "us-east-1"); /* inherited from aws_region */
    assert_string_equal(c->endpoint[CFG_EP_KINESISVIDEO], "http://127.0.0.1:4566");
    assert_true(c->s3_force_path_style);
    config_free(c);
}

static void legacy_file_loads(void **state)
{
    (void)state;
    size_t n;
    config *c = load("aws_region: eu-west-1\n"
                     "device: cpu\n"
                     "cameras:\n"
                     "  - name: cam1\n"
                     "    stream_name: s1\n"
                     "    region: eu-west-1\n"
                     "    fps_limit: 2\n"
                     "    detectors:\n"
                     "      - type: weapon\n"
                     "        enabled: false\n"
                     "        confidence_threshold: 0.5\n"
                     "        params: {model_path: w.onnx}\n"
                     "    publishers:\n"
                     "      kinesis_stream_name: ev\n"
                     "      s3_bucket: b\n",
                     &n);
    assert_non_null(c);
    assert_string_equal(c->cams[0].source->name, "hls"); /* a stream_name without source: KVS HLS */
    assert_false(c->cams[0].dets[0].enabled);
    assert_null(cfg_publishers_find(&c->cams[0].pub,
                                    "local")); /* AWS publishers given: no implicit local sink */
    config_free(c);
}

static void unknown_key_has_position_and_path(void **state)
{
    (void)state;
    size_t n;
    config *c = load("cameras:\n"
                     "  - name: a\n"
                     "    source: {mode: url, url: x.mp4}\n"
                     "    fps_limt: 5\n"
                     "    detectors: [{type: yolo}]\n",
                     &n);
    assert_null(c);
    ASSERT_MSG("t.yaml:4:5: cameras[0].fps_limt: unknown key");
}

static void wrong_type_and_range(void **state)
{
    (void)state;
    size_t n;
    config *c = load("cameras:\n"
                     "  - name: a\n"
                     "    source: {mode: url, url: x.mp4, loop: maybe}\n"
                     "    fps_limit: fast\n"
                     "    skip_frames: -1\n"
                     "    detectors:\n"
                     "      - {type: yolo, confidence_threshold: 1.5}\n",
                     &n);
    assert_null(c);
    assert_int_equal(n, 4);
    ASSERT_MSG("t.yaml:3:43: cameras[0].source.loop: expected true or false, got \"maybe\"");
    ASSERT_MSG("t.yaml:4:16: cameras[0].fps_limit: expected a number, got \"fast\"");
    ASSERT_MSG("t.yaml:5:18: cameras[0].skip_frames: -1 is out of range [0, 10000]");
    ASSERT_MSG("t.yaml:7:44: cameras[0].detectors[0].confidence_threshold: 1.5 is out of range");
}

/* Loads the top-level settings `top` above one minimal camera. */
static config *load_top(const char *top, size_t *n)
{
    char text[512];
    snprintf(text, sizeof text,
             "%scameras: [{name: a, source: {mode: url, url: x.mp4}, detectors: [{type: yolo}]}]\n",
             top);
    return load(text, n);
}

static void batch_settings(void **state)
{
    (void)state;
    size_t n;
    config *c = load_top("", &n);
    if (!c) fail_msg("%s", g_msgs);
    assert_int_equal(c->batch_max, 0); /* chosen by device */
    assert_true(c->batch_wait_ms < 0);
    config_free(c);
    c = load_top("batch: {max: 8, wait_ms: 2.5}\n", &n);
    assert_non_null(c);
    assert_int_equal(c->batch_max, 8);
    assert_true(c->batch_wait_ms == 2.5);
    config_free(c);
    assert_null(load_top("batch: {max: 65, wait_ms: -1, size: 2}\n", &n));
    assert_int_equal(n, 3);
    ASSERT_MSG("t.yaml:1:14: batch.max: 65 is out of range [1, 64]");
    ASSERT_MSG("batch.wait_ms: -1 is out of range");
    ASSERT_MSG("t.yaml:1:31: batch.size: unknown key (allowed: max, wait_ms)");
}

static void ui_settings(void **state)
{
    (void)state;
    size_t n;
    config *c = load_top("", &n);
    if (!c) fail_msg("%s", g_msgs);
    assert_true(c->ui_enabled); /* on by default; the token rules guard it */
    assert_null(c->ui_token);
    config_free(c);
    setenv("KVS_TEST_UI_TOKEN", "t0k", 1);
    /* not YAML: braces end a plain scalar in {...} */
    assert_null(load_top("ui: {enabled: false, token: ${KVS_TEST_UI_TOKEN}}\n", &n));
    ASSERT_MSG("quote ${VAR}: token: \"${KVS_UI_TOKEN}\"");
    c = load_top("ui: {enabled: false, token: \"${KVS_TEST_UI_TOKEN}\"}\n", &n);
    if (!c) fail_msg("%s", g_msgs);
    assert_false(c->ui_enabled);
    assert_string_equal(c->ui_token, "t0k");
    config_free(c);
    assert_null(load_top("ui: {enabled: maybe, password: x}\n", &n));
    assert_int_equal(n, 2);
    ASSERT_MSG("ui.password: unknown key (allowed: enabled, token)");
    ASSERT_MSG("ui.enabled: expected true or false");
}

static void cluster_settings(void **state)
{
    (void)state;
    size_t n;
    config *c = load_top("", &n);
    if (!c) fail_msg("%s", g_msgs);
    assert_null(c->lease_table); /* this process runs every camera */
    assert_int_equal(c->lease_seconds, 10);
    config_free(c);
    unsetenv("KVS_TEST_LEASE_TABLE");
    c = load_top("cluster: {lease_table: \"${KVS_TEST_LEASE_TABLE:-}\", worker_id: w}\n", &n);
    if (!c) fail_msg("%s", g_msgs);
    assert_null(c->lease_table); /* empty: off, so one ConfigMap serves both */
    config_free(c);
    c = load_top("cluster: {lease_table: kvs-leases, worker_id: pod-1, lease_seconds: 5, "
                 "max_cameras: 40, catch_up: newest}\n",
                 &n);
    if (!c) fail_msg("%s", g_msgs);
    assert_string_equal(c->lease_table, "kvs-leases");
    assert_string_equal(c->worker_id, "pod-1");
    assert_int_equal(c->lease_seconds, 5);
    assert_int_equal(c->max_cameras, 40);
    assert_true(c->catch_up_newest);
    config_free(c);
    assert_null(load_top(
        "cluster: {lease_table: \"a/b\", lease_seconds: 2, owner: x, catch_up: fast}\n", &n));
    assert_int_equal(n, 4);
    ASSERT_MSG("cluster.lease_table: \"a/b\" is not a DynamoDB table name");
    ASSERT_MSG("cluster.lease_seconds: 2 is out of range [3, 600]");
    ASSERT_MSG("cluster.owner: unknown key (allowed: lease_table, worker_id, lease_seconds, "
               "max_cameras, catch_up)");
    ASSERT_MSG("cluster.catch_up: \"fast\" is not a catch-up mode: use due or newest");
}

static void duplicate_camera_names(void **state)
{
    (void)state;
    size_t n;
    config *c = load("defaults: {source: {mode: url, url: x.mp4}, detectors: [{type: yolo}]}\n"
                     "cameras:\n"
                     "  - name: a\n"
                     "  - name: a\n",
                     &n);
    assert_null(c);
    ASSERT_MSG("t.yaml:4:11: cameras[1]: duplicate camera name \"a\" (also cameras[0])");
}

static void bad_polygons(void **state)
{
    (void)state;
    size_t n;
    config *c = load("cameras:\n"
                     "  - name: a\n"
                     "    source: {mode: url, url: x.mp4}\n"
                     "    detectors: [{type: yolo, roi: [nowhere]}]\n"
                     "    roi:\n"
                     "      - {name: two, polygon: [[0, 0], [1, 1]]}\n"
                     "      - {name: big, polygon: [[0, 0], [2, 0], [1, 1]]}\n"
                     "      - {name: bow, polygon: [[0, 0], [1, 1], [1, 0.5], [0, 1]]}\n"
                     "      - {name: flat, polygon: [[0, 0], [0.5, 0.5], [1, 1]]}\n",
                     &n);
    assert_null(c);
    ASSERT_MSG("t.yaml:6:30: cameras[0].roi[0].polygon: a polygon needs at least 3 points");
    ASSERT_MSG("t.yaml:7:40: cameras[0].roi[1].polygon[1]: 2 is outside [0, 1]");
    ASSERT_MSG("t.yaml:8:30: cameras[0].roi[2].polygon: the polygon crosses itself");
    ASSERT_MSG("t.yaml:9:31: cameras[0].roi[3].polygon: the polygon has no area");
    ASSERT_MSG("t.yaml:4:36: cameras[0].detectors[0].roi: no ROI named \"nowhere\"");
}

static void env_expansion(void **state)
{
    (void)state;
    setenv("KVS_TEST_URL", "/data/clip.mp4", 1);
    unsetenv("KVS_TEST_UNSET");
    size_t n;
    config *c = load("cameras:\n"
                     "  - name: ${KVS_TEST_UNSET:-cam}-1\n"
                     "    source: {mode: url, url: \"${KVS_TEST_URL}\"}\n"
                     "    detectors: [{type: yolo}]\n",
                     &n);
    assert_non_null(c);
    assert_string_equal(c->cams[0].name, "cam-1");
    assert_string_equal(src_desc(&c->cams[0]), "url url=/data/clip.mp4 loop=false realtime=true");
    config_free(c);
    c = load("cameras:\n"
             "  - name: a\n"
             "    source: {mode: url, url: \"${KVS_TEST_UNSET}\"}\n"
             "    detectors: [{type: yolo}]\n",
             &n);
    assert_null(c);
    ASSERT_MSG("t.yaml:3:30: environment variable KVS_TEST_UNSET is not set");
}

/* A NUL escape would cut the C string: the token "s3cr3t\u0000-rest" would
 * accept Bearer s3cr3t. Every form of it, in values and keys, is refused. */
static void nul_in_strings_is_refused(void **state)
{
    (void)state;
    size_t n;
    config *c = load("ui: {token: \"s3cr3t\\u0000-rest\"}\n"
                     "cameras:\n"
                     "  - name: \"x\\0a\"\n"
                     "    source: {mode: url, url: \"a\\x00.mp4\"}\n"
                     "    detectors: [{type: yolo}]\n"
                     "    \"ro\\u0000i\": []\n",
                     &n);
    assert_null(c);
    if (n != 4) fail_msg("%s", g_msgs);
    ASSERT_MSG("t.yaml:1:13: a NUL character");
    ASSERT_MSG("t.yaml:3:11: a NUL character");
    ASSERT_MSG("t.yaml:4:30: a NUL character");
    ASSERT_MSG("t.yaml:6:5: a NUL character");
}

static void syntax_error_position(void **state)
{
    (void)state;
    size_t n;
    config *c = load("cameras:\n  - name: [a\n", &n);
    assert_null(c);
    assert_int_equal(n, 1);
    ASSERT_MSG("t.yaml:3:1: YAML syntax error");
}

static void defaults_apply_and_are_overridden(void **state)
{
    (void)state;
    size_t n;
    config *c = load("defaults:\n"
                     "  fps_limit: 3\n"
                     "  source: {mode: url, url: a.mp4, realtime: false}\n"
                     "  detectors: [{type: yolo}]\n"
                     "cameras:\n"
                     "  - name: a\n"
                     "  - name: b\n"
                     "    fps_limit: 7\n",
                     &n);
    assert_non_null(c);
    assert_true(c->cams[0].fps_limit == 3.0);
    assert_true(c->cams[1].fps_limit == 7.0);
    assert_string_equal(src_desc(&c->cams[1]), "url url=a.mp4 loop=false realtime=false");
    assert_string_equal(pub_key(&c->cams[0], "local", "local_dir"), "./out"); /* the default sink */
    assert_string_not_equal(c->cams[0].fingerprint, c->cams[1].fingerprint);
    config_free(c);
}

static void missing_model_is_reported_by_the_detector(void **state)
{
    (void)state;
    size_t n;
    config *c = load("cameras:\n"
                     "  - name: a\n"
                     "    source: {mode: url, url: a.mp4}\n"
                     "    detectors:\n"
                     "      - type: yolo\n"
                     "        params: {model: /nonexistent/m.onnx, layout: yolov9}\n"
                     "      - type: teleport\n",
                     &n);
    assert_non_null(c);
    cfg_diags d = {.file = "t.yaml"};
    detector_ctx ctx = {.config_file = "t.yaml"};
    infer_opts_init(&ctx.infer, "cpu", 1);
    assert_false(detector_check(&c->cams[0].dets[0], &ctx, &d));
    assert_false(detector_check(&c->cams[0].dets[1], &ctx, &d));
    g_msgs[0] = '\0';
    for (size_t i = 0; i < d.n; i++) {
        char line[1024];
        cfg_diag_format(&d.items[i], line, sizeof line);
        strcat(g_msgs, line);
        strcat(g_msgs, "\n");
    }
    ASSERT_MSG("t.yaml:6:25: cameras[0].detectors[0].params: model file \"/nonexistent/m.onnx\" "
               "not found");
    ASSERT_MSG("t.yaml:6:54: cameras[0].detectors[0].params: unknown layout \"yolov9\"");
    ASSERT_MSG("t.yaml:7:9: cameras[0].detectors[1]: unknown detector type \"teleport\"");
    cfg_diags_free(&d);
    config_free(c);
}

static void kvs_source_needs_stream(void **state)
{
    (void)state;
    size_t n;
    config *c =
        load("cameras:\n  - name: a\n    source: {mode: getmedia}\n    detectors: []\n", &n);
    assert_null(c);
    ASSERT_MSG("cameras[0]: a KVS source (mode getmedia) needs `stream_name`");
}

static void kvs_source_options(void **state)
{
    (void)state;
    size_t n;
    config *c =
        load("aws_region: eu-west-1\ncameras:\n"
             "  - {name: a, stream_name: s, source: {mode: hls, container: ts, "
             "playlist_fragments: 3, expires_s: 600, start: \"2026-01-02T03:04:05.250Z\"}}\n"
             "  - {name: b, stream_name: s, source: {mode: getmedia, start: earliest}}\n"
             "  - {name: c, stream_name: s, source: {mode: getmedia, start: 1767323045.5}}\n"
             "  - {name: d, stream_name: s}\ndefaults: {detectors: []}\n",
             &n);
    assert_non_null(c);
    assert_string_equal(src_desc(&c->cams[0]),
                        "hls start=1767323045250 container=ts playlist_fragments=3 expires_s=600");
    assert_string_equal(src_desc(&c->cams[1]), "getmedia start=earliest");
    assert_string_equal(src_desc(&c->cams[2]), "getmedia start=1767323045500");
    /* a stream name alone: HLS from now */
    assert_string_equal(src_desc(&c->cams[3]),
                        "hls start=now container=fmp4 playlist_fragments=5 expires_s=3600");
    config_free(c);
    c = load("aws_region: eu-west-1\ncameras:\n"
             "  - {name: a, stream_name: s, source: {mode: hls, container: mkv, start: yesterday, "
             "expires_s: 60}, detectors: []}\n"
             "  - {name: b, stream_name: \"x\\\"y\", detectors: []}\n",
             &n);
    assert_null(c);
    ASSERT_MSG("container \"mkv\" is not fmp4 or ts");
    ASSERT_MSG("start \"yesterday\" is not now, earliest");
    ASSERT_MSG("expires_s");
    ASSERT_MSG("is not a KVS stream name");
}

static void publisher_options(void **state)
{
    (void)state;
    size_t n;
    config *c = load("aws_region: us-east-1\n"
                     "aws: {ca_bundle: /etc/ssl/certs/ca-certificates.crt}\n"
                     "cameras:\n"
                     "  - name: a\n"
                     "    source: {mode: url, url: x}\n"
                     "    detectors: [{type: yolo}]\n"
                     "    publishers: {s3_bucket: b, s3_sse: aws:kms, s3_kms_key_id: k1,\n"
                     "                 dynamodb_table: t, dynamodb_ttl_days: 30}\n",
                     &n);
    assert_non_null(c);
    assert_string_equal(pub_key(&c->cams[0], "s3", "s3_sse"), "aws:kms");
    assert_string_equal(pub_key(&c->cams[0], "dynamodb", "dynamodb_ttl_days"), "30");
    assert_string_equal(c->ca_bundle, "/etc/ssl/certs/ca-certificates.crt");
    config_free(c);
    c = load("cameras:\n"
             "  - name: a\n"
             "    source: {mode: url, url: x}\n"
             "    detectors: [{type: yolo}]\n"
             "    publishers: {s3_bucket: b, s3_sse: DES, dynamodb_table: t,\n"
             "                 dynamodb_ttl_days: 0, s3_kms_key_id: k}\n",
             &n);
    assert_null(c);
    ASSERT_MSG("t.yaml:5:40: cameras[0].publishers: s3_sse must be AES256 or aws:kms, not \"DES\"");
    ASSERT_MSG("cameras[0].publishers.dynamodb_ttl_days: 0 is out of range");
    ASSERT_MSG("t.yaml:6:55: cameras[0].publishers: s3_kms_key_id needs s3_sse: aws:kms");
}

/* Issue 9.5: names become folders and S3 keys; "../../../esc" wrote outside the output folder. */
/* clip.from kvs only where the camera reads a KVS stream: the error names the camera. */
static void clip_from_kvs_needs_a_kvs_camera(void **state)
{
    (void)state;
    size_t n;
    config *c = load("aws_region: us-east-1\n"
                     "defaults: {detectors: [{type: yolo}]}\n"
                     "cameras:\n"
                     "  - {name: lobby, stream_name: s1, clip: {from: kvs}}\n"
                     "  - {name: gate, stream_name: s2, source: {mode: getmedia},\n"
                     "     clip: {pre_seconds: 2, from: packets}}\n",
                     &n);
    if (!c) fail_msg("%s", g_msgs);
    assert_true(c->cams[0].clip.on && c->cams[0].clip.from_kvs && c->cams[0].kvs_archive);
    assert_true(c->cams[1].clip.on && !c->cams[1].clip.from_kvs && c->cams[1].kvs_archive);
    config_free(c);
    c = load("defaults: {detectors: [{type: yolo}]}\n"
             "cameras:\n"
             "  - {name: door, source: {mode: url, url: x.mp4}, clip: {from: kvs}}\n"
             "  - {name: hall, source: {mode: url, url: y.mp4}, clip: {from: disk}}\n",
             &n);
    assert_null(c);
    ASSERT_MSG("cameras[0].clip: camera door: clip.from kvs needs a KVS source");
    ASSERT_MSG("cameras[1].clip: from \"disk\" is not packets or kvs");
    assert_int_equal(n, 2);
}

static void camera_names_cannot_escape(void **state)
{
    (void)state;
    size_t n;
    char text[1024];
    char long_name[200];
    memset(long_name, 'a', 129);
    long_name[129] = '\0';
    snprintf(text, sizeof text,
             "defaults: {source: {mode: url, url: x.mp4}, detectors: [{type: yolo}]}\n"
             "cameras:\n"
             "  - name: \"../../../esc\"\n"
             "  - name: \"a/b\"\n"
             "  - name: \"..\"\n"
             "  - name: \"tab\\there\"\n"
             "  - name: \"%s\"\n"
             "  - name: \" lead\"\n"
             "  - name: \"Lobby cam-2_east.1\"\n",
             long_name);
    config *c = load(text, &n);
    assert_null(c);
    ASSERT_MSG("t.yaml:3:11: cameras[0]: camera name may only hold letters, digits");
    ASSERT_MSG("t.yaml:4:11: cameras[1]: camera name may only hold");
    ASSERT_MSG("t.yaml:5:11: cameras[2]: camera name cannot be \".\" or \"..\"");
    ASSERT_MSG("t.yaml:6:11: cameras[3]: camera name may only hold");
    ASSERT_MSG("cameras[4]: camera name is longer than 128 characters");
    ASSERT_MSG("cameras[5]: camera name cannot start or end with a space");
    assert_null(strstr(g_msgs, "cameras[6]"));
    assert_int_equal(n, 6);
    assert_true(cfg_camera_name_ok("Lobby cam-2_east.1", NULL));
    assert_false(cfg_camera_name_ok("", NULL));
    assert_false(cfg_camera_name_ok(".", NULL));
}

/* Issue 9.6: the region as every AWS SDK finds it; none at all is a config error. */
static void region_from_environment(void **state)
{
    (void)state;
    const char *text = "defaults: {source: {mode: url, url: x.mp4}, detectors: [{type: yolo}]}\n"
                       "cameras:\n"
                       "  - name: a\n"
                       "    publishers: {kinesis_stream_name: ev}\n";
    char dir[] = "/tmp/kvs-region-XXXXXX", file[600];
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/config", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("[default]\nregion = us-west-2\n[profile ops]\nregion=eu-central-1\n", f);
    fclose(f);
    setenv("AWS_CONFIG_FILE", file, 1);
    unsetenv("AWS_REGION"), unsetenv("AWS_DEFAULT_REGION"), unsetenv("AWS_PROFILE");
    size_t n;
    config *c = load(text, &n);
    assert_non_null(c);
    assert_string_equal(c->aws_region, "us-west-2");
    config_free(c);
    setenv("AWS_PROFILE", "ops", 1);
    c = load(text, &n);
    assert_string_equal(c->aws_region, "eu-central-1");
    config_free(c);
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    c = load(text, &n);
    assert_string_equal(c->aws_region, "ap-south-1");
    config_free(c);
    setenv("AWS_REGION", "sa-east-1", 1);
    c = load(text, &n);
    assert_string_equal(c->aws_region, "sa-east-1");
    config_free(c);
    unsetenv("AWS_REGION"), unsetenv("AWS_DEFAULT_REGION"), unsetenv("AWS_PROFILE");
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    c = load(text, &n);
    assert_null(c);
    ASSERT_MSG("cameras[0].publishers: the AWS publishers need a region");
    unsetenv("AWS_CONFIG_FILE");
    unlink(file);
    rmdir(dir);
}

/* Issue 9.5: a 200 KB file nested 100,000 levels deep took 31 s to reject. */
static void nesting_and_size_are_bounded_before_parsing(void **state)
{
    (void)state;
    size_t n, levels = 100000;
    char *text = malloc(2 * levels + 64);
    assert_non_null(text);
    strcpy(text, "cameras: ");
    memset(text + 9, '[', levels);
    memset(text + 9 + levels, ']', levels);
    strcpy(text + 9 + 2 * levels, "\n");
    assert_null(load(text, &n));
    ASSERT_MSG("t.yaml:1:74: nested more than 64 levels deep");
    strcpy(text, "cameras:\n");
    for (size_t i = 0; i < levels; i++)
        memcpy(text + 9 + 2 * i, "- ", 2);
    strcpy(text + 9 + 2 * levels, "x\n");
    assert_null(load(text, &n));
    ASSERT_MSG("t.yaml:2:513: nested more than 512 columns deep");
    free(text);
    size_t big = (4u << 20) + 1;
    text = malloc(big + 1);
    memset(text, '#', big);
    text[big] = '\0';
    assert_null(load(text, &n));
    ASSERT_MSG("a config is at most 4 MiB");
    free(text);
    /* brackets and dashes inside strings and comments do not count */
    config *c =
        load("defaults: {source: {mode: url, url: \"x[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
             "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[.mp4\"}, detectors: [{type: yolo}]}\n"
             "# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n"
             "cameras: [{name: a}]\n",
             &n);
    if (!c) fail_msg("%s", g_msgs);
    config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(design_example_loads),
        cmocka_unit_test(legacy_file_loads),
        cmocka_unit_test(unknown_key_has_position_and_path),
        cmocka_unit_test(wrong_type_and_range),
        cmocka_unit_test(batch_settings),
        cmocka_unit_test(ui_settings),
        cmocka_unit_test(cluster_settings),
        cmocka_unit_test(duplicate_camera_names),
        cmocka_unit_test(bad_polygons),
        cmocka_unit_test(env_expansion),
        cmocka_unit_test(nul_in_strings_is_refused),
        cmocka_unit_test(syntax_error_position),
        cmocka_unit_test(defaults_apply_and_are_overridden),
        cmocka_unit_test(missing_model_is_reported_by_the_detector),
        cmocka_unit_test(kvs_source_needs_stream),
        cmocka_unit_test(publisher_options),
        cmocka_unit_test(kvs_source_options),
        cmocka_unit_test(camera_names_cannot_escape),
        cmocka_unit_test(clip_from_kvs_needs_a_kvs_camera),
        cmocka_unit_test(region_from_environment),
        cmocka_unit_test(nesting_and_size_are_bounded_before_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
