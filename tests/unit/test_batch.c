/* Batching across cameras (src/infer/batch.c) on the real ONNX Runtime:
 * concurrent detectors' images run as one batch and each gets its own
 * results back; models that cannot batch run alone; a model whose output is
 * not per image fails every caller with a clear error; the real YOLOX export
 * gives the same numbers batched as alone, and the dynamically quantised
 * YOLOv8n, whose numbers change in a batch, is kept from batching. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_skip.h"

#include "../../src/app/app.h"
#include "../../src/detect/detect.h"
#include "../../src/infer/infer.h"
#include "../../src/metrics/metrics.h"

static char g_dir[1024];

/* The full-size real models take minutes under valgrind; the planted ones
 * cover the same code there. */
static bool real_model(const char *file)
{
    (void)file;
    return getenv("KVS_UNDER_VALGRIND") == NULL;
}

static bool have(const char *file)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", g_dir, file);
    return g_dir[0] && access(p, R_OK) == 0;
}

static detector *open_yolo(const char *file, const infer_opts *o, kerr *err)
{
    char text[2048];
    snprintf(text, sizeof text,
             "cameras:\n  - name: a\n    source: {mode: url, url: x}\n    detectors:\n"
             "      - type: yolo\n        params: {model: \"%s/%s\"}\n",
             g_dir, file);
    cfg_diags d = {0};
    config *c = config_load(&app_cfg_readers, "batch.yaml", text, &d);
    assert_non_null(c);
    detector_ctx ctx = {.config_file = "batch.yaml", .infer = *o};
    detector *det = detector_open(&c->cams[0].dets[0], &ctx, err);
    cfg_diags_free(&d);
    config_free(c);
    return det;
}

static kframe *solid(const uint8_t rgb[3])
{
    kframe *f = frame_new(96, 96);
    for (int i = 0; i < 96 * 96; i++)
        memcpy(f->rgb + i * 3, rgb, 3);
    return f;
}

/* The labels found, comma separated, into out. */
static kerr_code labels_of(detector *det, const uint8_t rgb[3], char *out, size_t len, kerr *err)
{
    kframe *f = solid(rgb);
    det_list l = {0};
    kerr_code rc = detector_run(det, f, &l, err);
    out[0] = '\0';
    for (int i = 0; rc == KERR_OK && i < l.n; i++)
        snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? "," : "",
                 detector_label(det, l.v[i].cls));
    det_list_free(&l);
    frame_unref(f);
    return rc;
}

static const uint8_t k_colours[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 0}};

typedef struct {
    detector *det; /* one per camera, as the service has */
    const uint8_t *rgb;
    const char *want;
    pthread_barrier_t *start;
    int rounds, wrong, failed;
    char last[256], msg[256];
} cam_arg;

static void *camera_thread(void *p)
{
    cam_arg *a = p;
    pthread_barrier_wait(a->start);
    for (int i = 0; i < a->rounds; i++) {
        kerr err = {0};
        if (labels_of(a->det, a->rgb, a->last, sizeof a->last, &err) != KERR_OK) {
            a->failed++;
            snprintf(a->msg, sizeof a->msg, "%s", err.msg);
        } else if (strcmp(a->last, a->want) != 0)
            a->wrong++;
    }
    return NULL;
}

/* Runs one detector per colour in its own thread, `rounds` frames each. */
static void run_cameras(const char *file, const infer_opts *o, const char want[4][256], int rounds,
                        cam_arg *args)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 4);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        kerr err = {0};
        args[i] =
            (cam_arg){.rgb = k_colours[i], .want = want[i], .start = &start, .rounds = rounds};
        args[i].det = open_yolo(file, o, &err);
        if (!args[i].det) fail_msg("%s", err.msg);
    }
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, camera_thread, &args[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        detector_close(args[i].det);
    }
    pthread_barrier_destroy(&start);
}

static void batches_keep_each_image_its_own(void **state)
{
    (void)state;
    if (!have("gated_batch_96.onnx")) SKIP_MISSING("%s/gated_batch_96.onnx", g_dir);
    /* What each colour gives alone (batch 1). */
    infer_opts o;
    infer_opts_init(&o, "cpu", 1);
    char want[4][256];
    kerr err = {0};
    detector *det = open_yolo("gated_batch_96.onnx", &o, &err);
    if (!det) fail_msg("%s", err.msg);
    for (int i = 0; i < 4; i++)
        assert_int_equal(labels_of(det, k_colours[i], want[i], sizeof want[i], &err), KERR_OK);
    detector_close(det);
    /* The colours really differ: a batch handing out the wrong part shows. */
    assert_string_not_equal(want[0], want[1]);
    assert_string_not_equal(want[1], want[2]);
    assert_string_not_equal(want[0], want[3]);

    metrics_reset();
    o.batch_max = 4;
    o.batch_wait_us = 200000; /* long enough that the four threads meet */
    cam_arg args[4];
    run_cameras("gated_batch_96.onnx", &o, want, 25, args);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(args[i].failed, 0);
        if (args[i].wrong) fail_msg("colour %d: got \"%s\", want \"%s\"", i, args[i].last, want[i]);
    }
    double runs = metric_sum(M_INFER_RUNS), images = metric_sum(M_INFER_IMAGES);
    assert_true(images == 100);
    /* 100 images in (far) fewer runs: they were batched. */
    if (!(runs <= 50)) fail_msg("%g runs for %g images", runs, images);
}

static void fixed_batch_model_runs_alone(void **state)
{
    (void)state;
    if (!have("yolov8_96.onnx")) SKIP_MISSING("%s/yolov8_96.onnx", g_dir);
    infer_opts o;
    infer_opts_init(&o, "cpu", 1);
    o.batch_max = 8;
    kerr err = {0};
    model *m = NULL;
    char p[1200];
    snprintf(p, sizeof p, "%s/yolov8_96.onnx", g_dir);
    m = model_open(p, &o, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_false(model_batches(m)); /* its input is [1, 3, 96, 96] */
    snprintf(p, sizeof p, "%s/gated_batch_96.onnx", g_dir);
    model *b = model_open(p, &o, &err);
    if (!b) fail_msg("%s", err.msg);
    assert_true(model_batches(b));
    /* The same file with batching off is another session. */
    o.batch_max = 1;
    model *c = model_open(p, &o, &err);
    assert_non_null(c);
    assert_ptr_not_equal(b, c);
    assert_false(model_batches(c));
    model_release(c);
    model_release(b);
    model_release(m);
}

/* Takes a batch, answers one image's worth: found at open, so it runs each
 * image alone and every camera still gets its detections. */
static void unsplittable_model_runs_alone(void **state)
{
    (void)state;
    if (!have("batch_in_only.onnx")) SKIP_MISSING("%s/batch_in_only.onnx", g_dir);
    infer_opts o;
    infer_opts_init(&o, "cpu", 1);
    o.batch_max = 4;
    o.batch_wait_us = 2000000; /* were it batching, the batch would close with all four in */
    char want[4][256] = {"person,knife", "person,knife", "person,knife", "person,knife"};
    cam_arg args[4];
    metrics_reset();
    run_cameras("batch_in_only.onnx", &o, want, 2, args);
    for (int i = 0; i < 4; i++) {
        if (args[i].failed) fail_msg("%s", args[i].msg);
        if (args[i].wrong) fail_msg("got \"%s\"", args[i].last);
    }
    assert_true(metric_sum(M_INFER_RUNS) == 0); /* no batched runs */
}

/* One image's run through model_run_batched, on its own thread. */
typedef struct {
    model *m;
    const float *input;
    const int64_t *shape;
    infer_output out;
    kerr_code rc;
    kerr err;
} batched_arg;

static void *run_batched_thread(void *p)
{
    batched_arg *a = p;
    a->rc = model_run_batched(a->m, a->input, a->shape, 4, &a->out, &a->err);
    return NULL;
}

/* Two different pictures through the real export: submitted at once from two
 * threads, batch.c must combine them into one run of two (out.batch), and
 * each caller must get what the picture gives alone. */
static void real_model_batched_equals_alone(const char *file, double tolerance)
{
    if (!real_model(file)) SKIP_CASE("%s: the full-size model is not run under valgrind", file);
    if (!have(file))
        SKIP_MISSING("%s/%s (make_models.py makes it from the models folder)", g_dir, file);
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", g_dir, file);
    infer_opts o;
    infer_opts_init(&o, "cpu", 2);
    o.batch_max = 2;
    o.batch_wait_us = 5000000; /* the batch closes when both are in, long before this */
    kerr err = {0};
    model *m = model_open(p, &o, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_true(model_batches(m));
    const tensor_info *in = &model_get_info(m)->input;
    int64_t h = in->dims[2], w = in->dims[3];
    size_t n = 3 * (size_t)h * (size_t)w;
    float *two = malloc(2 * n * sizeof *two);
    assert_non_null(two);
    for (size_t i = 0; i < n; i++) { /* a gradient and a checkerboard */
        size_t x = i % (size_t)w, y = (i / (size_t)w) % (size_t)h;
        two[i] = (float)((x + y) % 256) / 255.f;
        two[n + i] = ((x / 16 + y / 16) % 2) ? 0.9f : 0.1f;
    }
    int64_t one[4] = {1, 3, h, w};
    infer_output alone[2];
    assert_int_equal(model_run(m, two, one, 4, &alone[0], &err), KERR_OK);
    assert_int_equal(model_run(m, two + n, one, 4, &alone[1], &err), KERR_OK);
    batched_arg args[2] = {{.m = m, .input = two, .shape = one},
                           {.m = m, .input = two + n, .shape = one}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, run_batched_thread, &args[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    double worst = 0, scale = 0;
    for (int k = 0; k < 2; k++) {
        if (args[k].rc != KERR_OK) fail_msg("%s", args[k].err.msg);
        assert_int_equal(args[k].out.batch, 2); /* one run of two, not two runs */
        assert_int_equal(args[k].out.count, alone[k].count);
        for (size_t i = 0; i < alone[k].count; i++) {
            worst = fmax(worst, fabs(args[k].out.data[i] - alone[k].data[i]));
            scale = fmax(scale, fabs(alone[k].data[i]));
        }
    }
    fprintf(stderr,
            "%s: through batch.c against alone: largest difference %.3g (largest value %.3g)\n",
            file, worst, scale);
    if (worst > tolerance * scale) fail_msg("%s: batched output differs by %g", file, worst);
    for (int k = 0; k < 2; k++) {
        infer_output_release(&alone[k]);
        infer_output_release(&args[k].out);
    }
    free(two);
    model_release(m);
}

static void real_yolox_batched(void **state)
{
    (void)state;
    real_model_batched_equals_alone("yolox_nano_batch.onnx", 1e-4);
}

/* Whether a model with batch_max 4 batches. */
static bool batches(const char *file)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", g_dir, file);
    infer_opts o;
    infer_opts_init(&o, "cpu", 2);
    o.batch_max = 4;
    kerr err = {0};
    model *m = model_open(p, &o, &err);
    if (!m) fail_msg("%s", err.msg);
    bool yes = model_batches(m);
    model_release(m);
    return yes;
}

static void real_yolox_batches(void **state)
{
    (void)state;
    if (!real_model("yolox_nano_batch.onnx")) SKIP_CASE("yolox_nano_batch.onnx under valgrind");
    if (!have("yolox_nano_batch.onnx")) SKIP_MISSING("%s/yolox_nano_batch.onnx", g_dir);
    assert_true(batches("yolox_nano_batch.onnx"));
}

/* The YOLOv8n export is dynamically quantised (DynamicQuantizeLinear): the
 * activations' scale comes from the whole batch, so a batch of two moves
 * boxes by tens of pixels. Such a model must not batch. */
static void quantised_yolov8_runs_alone(void **state)
{
    (void)state;
    if (!real_model("yolov8n_int8_640_batch.onnx"))
        SKIP_CASE("yolov8n_int8_640_batch.onnx under valgrind");
    if (!have("yolov8n_int8_640_batch.onnx")) SKIP_MISSING("%s/yolov8n_int8_640_batch.onnx", g_dir);
    assert_false(batches("yolov8n_int8_640_batch.onnx"));
}

int main(void)
{
    const char *d = getenv("KVS_TEST_MODELS");
    if (d)
        snprintf(g_dir, sizeof g_dir, "%s", d);
    else
        fprintf(stderr, "KVS_TEST_MODELS is not set: the batching tests are skipped\n");
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches_keep_each_image_its_own),
        cmocka_unit_test(fixed_batch_model_runs_alone),
        cmocka_unit_test(unsplittable_model_runs_alone),
        cmocka_unit_test(real_yolox_batched),
        cmocka_unit_test(real_yolox_batches),
        cmocka_unit_test(quantised_yolov8_runs_alone),
    };
    int rc = test_exit(cmocka_run_group_tests(tests, NULL, NULL));
    metrics_reset();
    infer_shutdown();
    return rc;
}
