/* YOLO decoding of all three layouts on known tensors, layout detection, NMS,
 * letterbox geometry, class names, and the real ONNX Runtime path on the
 * planted models that tests/models/make_models.py builds. */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_skip.h"
#include <libavutil/frame.h>

#include "../../src/app/app.h"
#include "../../src/detect/detect.h"
#include "../../src/infer/infer.h"

/* A box with no plate read: x1, y1, x2, y2, score, class. */
#define DET(a, b, c, d, e, f)                                                                      \
    ((detection){.x1 = (a), .y1 = (b), .x2 = (c), .y2 = (d), .score = (e), .cls = (f)})

#define NEAR(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) < (eps))

static void layout_detection(void **state)
{
    (void)state;
    yolo_layout l;
    int nc;
    int64_t x[3] = {1, 3549, 85}; /* YOLOX-nano 416: raw grid */
    assert_int_equal(yolo_layout_detect(x, 3, 416, 416, NULL, &l, &nc, NULL), KERR_OK);
    assert_int_equal(l, YOLO_X);
    assert_int_equal(nc, 80);
    int64_t v8[3] = {1, 84, 8400}; /* YOLOv8 640 */
    assert_int_equal(yolo_layout_detect(v8, 3, 640, 640, NULL, &l, &nc, NULL), KERR_OK);
    assert_int_equal(l, YOLO_V8);
    assert_int_equal(nc, 80);
    int64_t v8s[3] = {1, 84, 2100}; /* YOLO11 320 */
    assert_int_equal(yolo_layout_detect(v8s, 3, 320, 320, NULL, &l, &nc, NULL), KERR_OK);
    assert_int_equal(l, YOLO_V8);
    int64_t v5[3] = {1, 25200, 85}; /* YOLOv5 640: 3 anchors per cell */
    assert_int_equal(yolo_layout_detect(v5, 3, 640, 640, NULL, &l, &nc, NULL), KERR_OK);
    assert_int_equal(l, YOLO_V5);
    assert_int_equal(nc, 80);
    int64_t odd[3] = {1, 3, 4};
    kerr err = {0};
    assert_int_equal(yolo_layout_detect(odd, 3, 640, 640, NULL, &l, &nc, &err), KERR_INVALID);
    assert_non_null(strstr(err.msg, "set params.layout"));
    int64_t rank4[4] = {1, 1, 84, 8400};
    assert_int_equal(yolo_layout_detect(rank4, 4, 640, 640, NULL, &l, &nc, &err), KERR_INVALID);
}

static void decode_yolov8(void **state)
{
    (void)state;
    enum { C = 2, N = 5 };
    float out[(4 + C) * N] = {0};
    /* box 1: cx 50 cy 60 w 20 h 40, class 1 at 0.8; box 3 below threshold */
    int64_t dims[3] = {1, 4 + C, N};
    float *row[6];
    for (int r = 0; r < 6; r++)
        row[r] = out + r * N;
    row[0][1] = 50, row[1][1] = 60, row[2][1] = 20, row[3][1] = 40, row[5][1] = 0.8f;
    row[0][3] = 10, row[1][3] = 10, row[2][3] = 4, row[3][3] = 4, row[4][3] = 0.2f;
    det_list l = {0};
    assert_int_equal(yolo_decode(YOLO_V8, out, dims, 3, 64, 64, 0, 0.25f, NULL, &l, NULL), KERR_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].cls, 1);
    NEAR(l.v[0].score, 0.8, 1e-6);
    NEAR(l.v[0].x1, 40, 1e-4);
    NEAR(l.v[0].y1, 40, 1e-4);
    NEAR(l.v[0].x2, 60, 1e-4);
    NEAR(l.v[0].y2, 80, 1e-4);
    /* the class filter hides class 1 */
    bool allowed[C] = {true, false};
    l.n = 0;
    yolo_decode(YOLO_V8, out, dims, 3, 64, 64, 0, 0.25f, allowed, &l, NULL);
    assert_int_equal(l.n, 0);
    det_list_free(&l);
}

static void decode_yolov5(void **state)
{
    (void)state;
    enum { C = 3, N = 4, W = 5 + C };
    float out[N * W] = {0};
    float *r = out + 2 * W; /* row 2: obj 0.9, class 2 at 0.5 -> 0.45 */
    r[0] = 100, r[1] = 50, r[2] = 30, r[3] = 10, r[4] = 0.9f, r[5 + 2] = 0.5f;
    float *q = out + 3 * W; /* row 3: obj 0.3 fails a 0.4 threshold */
    q[0] = 10, q[1] = 10, q[2] = 5, q[3] = 5, q[4] = 0.3f, q[5] = 1.0f;
    int64_t dims[3] = {1, N, W};
    det_list l = {0};
    assert_int_equal(yolo_decode(YOLO_V5, out, dims, 3, 640, 640, 0, 0.4f, NULL, &l, NULL),
                     KERR_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].cls, 2);
    NEAR(l.v[0].score, 0.45, 1e-6);
    NEAR(l.v[0].x1, 85, 1e-4);
    NEAR(l.v[0].y2, 55, 1e-4);
    det_list_free(&l);
}

static void decode_yolox_grid(void **state)
{
    (void)state;
    /* 64x64 input: grids 8x8 (s8), 4x4 (s16), 2x2 (s32) = 84 cells */
    enum { C = 2, W = 5 + C, N = 84 };
    float *out = calloc(N * W, sizeof(float));
    /* stride 8, cell (gx 3, gy 2) = index 2*8+3 = 19 */
    float *r = out + 19 * W;
    r[0] = 0.5f, r[1] = 0.25f, r[2] = logf(2.0f), r[3] = 0.0f, r[4] = 0.9f, r[5] = 0.8f;
    /* stride 16, cell (1, 1) = 64 + 1*4 + 1 = 69 */
    float *s = out + 69 * W;
    s[0] = 0, s[1] = 0, s[2] = 0, s[3] = 0, s[4] = 1.0f, s[6] = 0.7f;
    int64_t dims[3] = {1, N, W};
    det_list l = {0};
    assert_int_equal(yolo_decode(YOLO_X, out, dims, 3, 64, 64, 0, 0.3f, NULL, &l, NULL), KERR_OK);
    assert_int_equal(l.n, 2);
    /* cx = (0.5 + 3) * 8 = 28, cy = (0.25 + 2) * 8 = 18, w = 2 * 8 = 16, h = 8 */
    NEAR(l.v[0].x1, 20, 1e-4);
    NEAR(l.v[0].x2, 36, 1e-4);
    NEAR(l.v[0].y1, 14, 1e-4);
    NEAR(l.v[0].y2, 22, 1e-4);
    NEAR(l.v[0].score, 0.72, 1e-5);
    /* cx = cy = 16, w = h = 16 */
    assert_int_equal(l.v[1].cls, 1);
    NEAR(l.v[1].x1, 8, 1e-4);
    NEAR(l.v[1].y2, 24, 1e-4);
    /* a row count that is not the grid is an error, not garbage */
    int64_t bad[3] = {1, N - 1, W};
    kerr err = {0};
    assert_int_equal(yolo_decode(YOLO_X, out, bad, 3, 64, 64, 0, 0.3f, NULL, &l, &err),
                     KERR_INVALID);
    det_list_free(&l);
    free(out);
}

/* [1, N, 6] is end-to-end (x1,y1,x2,y2,score,class) or a one-class YOLOv5:
 * the metadata decides, and without it the shape alone is refused. */
static void layout_end2end(void **state)
{
    (void)state;
    yolo_layout l = YOLO_AUTO;
    int nc = -1;
    kerr err = {0};
    int64_t e2e[3] = {1, 300, 6};
    assert_int_equal(yolo_layout_detect(e2e, 3, 640, 640, NULL, &l, &nc, &err), KERR_INVALID);
    assert_non_null(strstr(err.msg, "params.layout: end2end or yolov5"));
    assert_non_null(strstr(err.msg, "[1, 300, 6]"));
    yolo_hints said = {.end2end = 1}, v10 = {.end2end = -1, .ultralytics = true},
               two = {.end2end = -1, .nnames = 2}, one = {.end2end = -1, .nnames = 1},
               not_e2e = {.end2end = 0, .nnames = 1};
    assert_int_equal(yolo_layout_detect(e2e, 3, 640, 640, &said, &l, &nc, NULL), KERR_OK);
    assert_int_equal(l, YOLO_E2E);
    assert_int_equal(nc, 0); /* the class count comes from the names */
    l = YOLO_AUTO;
    assert_int_equal(yolo_layout_detect(e2e, 3, 640, 640, &v10, &l, &nc, NULL), KERR_OK);
    assert_int_equal(l, YOLO_E2E);
    l = YOLO_AUTO;
    assert_int_equal(yolo_layout_detect(e2e, 3, 640, 640, &two, &l, &nc, NULL), KERR_OK);
    assert_int_equal(l, YOLO_E2E);
    assert_int_equal(yolo_layout_detect(e2e, 3, 640, 640, &one, &l, &nc, &err), KERR_INVALID);
    assert_non_null(strstr(err.msg, "params.layout"));
    assert_int_equal(yolo_layout_detect(e2e, 3, 640, 640, &not_e2e, &l, &nc, NULL), KERR_OK);
    assert_int_equal(l, YOLO_V5);
    assert_int_equal(nc, 1);
    /* 3 anchors per grid cell is YOLOv5's own count: no doubt left */
    int64_t v5one[3] = {1, 25200, 6};
    assert_int_equal(yolo_layout_detect(v5one, 3, 640, 640, &one, &l, &nc, NULL), KERR_OK);
    assert_int_equal(l, YOLO_V5);
    assert_int_equal(nc, 1);
    /* a segmentation export with NMS: 6 columns then 32 mask coefficients */
    int64_t seg[3] = {1, 300, 38};
    assert_int_equal(yolo_layout_detect(seg, 3, 640, 640, &v10, &l, &nc, NULL), KERR_OK);
    assert_int_equal(l, YOLO_E2E);
    /* a layout the user names is checked against the shape */
    assert_int_equal(yolo_layout_classes(YOLO_E2E, e2e, 3, &nc, NULL), KERR_OK);
    assert_int_equal(yolo_layout_classes(YOLO_V5, e2e, 3, &nc, NULL), KERR_OK);
    assert_int_equal(nc, 1);
    int64_t v8[3] = {1, 84, 8400};
    assert_int_equal(yolo_layout_classes(YOLO_E2E, v8, 3, &nc, &err), KERR_OK); /* rows >= 6 */
    int64_t narrow[3] = {1, 300, 5};
    assert_int_equal(yolo_layout_classes(YOLO_E2E, narrow, 3, &nc, &err), KERR_INVALID);
    assert_non_null(strstr(err.msg, "cannot be end2end"));
    assert_int_equal(yolo_layout_parse("end2end", &l), 0);
    assert_int_equal(l, YOLO_E2E);
    assert_int_equal(yolo_layout_parse("yolov10", &l), 0);
    assert_int_equal(l, YOLO_E2E);
}

static void decode_end2end(void **state)
{
    (void)state;
    enum { N = 5, W = 6 };
    float out[N * W] = {
        10, 20, 50, 80, 0.9f, 1,  /* kept: xyxy as is */
        0,  0,  8,  8,  0.2f, 0,  /* below the threshold */
        5,  5,  9,  9,  0.8f, 7,  /* class 7 of 2: dropped, not read past the tables */
        5,  5,  9,  9,  0.8f, -1, /* negative class */
        30, 30, 40, 60, 0.7f, 0,  /* kept */
    };
    out[3 * W + 5] = NAN; /* a NaN class is dropped too */
    int64_t dims[3] = {1, N, W};
    det_list l = {0};
    assert_int_equal(yolo_decode(YOLO_E2E, out, dims, 3, 640, 640, 2, 0.5f, NULL, &l, NULL),
                     KERR_OK);
    assert_int_equal(l.n, 2);
    NEAR(l.v[0].x1, 10, 1e-4);
    NEAR(l.v[0].y1, 20, 1e-4);
    NEAR(l.v[0].x2, 50, 1e-4);
    NEAR(l.v[0].y2, 80, 1e-4);
    NEAR(l.v[0].score, 0.9, 1e-6);
    assert_int_equal(l.v[0].cls, 1);
    assert_int_equal(l.v[1].cls, 0);
    bool allowed[2] = {false, true};
    l.n = 0;
    assert_int_equal(yolo_decode(YOLO_E2E, out, dims, 3, 640, 640, 2, 0.5f, allowed, &l, NULL),
                     KERR_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].cls, 1);
    kerr err = {0};
    assert_int_equal(yolo_decode(YOLO_E2E, out, dims, 3, 640, 640, 0, 0.5f, NULL, &l, &err),
                     KERR_INVALID);
    det_list_free(&l);
}

static void nms_keeps_best_per_class(void **state)
{
    (void)state;
    det_list l = {0};
    det_list_push(&l, DET(0, 0, 10, 10, 0.6f, 0));
    det_list_push(&l, DET(1, 1, 11, 11, 0.9f, 0)); /* IoU 0.68 with the first */
    det_list_push(&l, DET(1, 1, 11, 11, 0.5f, 1)); /* same place, other class */
    det_list_push(&l, DET(50, 50, 60, 60, 0.4f, 0));
    NEAR(box_iou(&l.v[0], &l.v[1]), 81.0 / 119.0, 1e-5);
    nms(&l, 0.45f, true, 100);
    assert_int_equal(l.n, 3);
    NEAR(l.v[0].score, 0.9, 1e-6);
    NEAR(l.v[1].score, 0.5, 1e-6);
    NEAR(l.v[2].score, 0.4, 1e-6);
    nms(&l, 0.45f, false, 100); /* class-agnostic removes the class-1 box */
    assert_int_equal(l.n, 2);
    nms(&l, 0.45f, false, 1);
    assert_int_equal(l.n, 1);
    det_list_free(&l);
}

static void letterbox_round_trip(void **state)
{
    (void)state;
    kframe *f = frame_new(200, 100);
    memset(f->rgb, 0, (size_t)f->stride * 100);
    /* a red pixel block at (100..109, 50..59) */
    for (int y = 50; y < 60; y++)
        for (int x = 100; x < 110; x++)
            f->rgb[y * f->stride + x * 3] = 255;
    float *t = malloc(sizeof(float) * 3 * 100 * 100);
    preprocess_opts o = {.bgr = false, .normalize = true, .center = true};
    letterbox lb;
    assert_int_equal(letterbox_to_tensor(f, 100, 100, &o, t, &lb, NULL), KERR_OK);
    NEAR(lb.scale, 0.5, 1e-6);
    NEAR(lb.pad_x, 0, 1e-6);
    NEAR(lb.pad_y, 25, 1e-6);
    NEAR(t[0], 114.0 / 255.0, 1e-6);                    /* padding row */
    NEAR(t[(25 + 27) * 100 + 52], 1.0, 1e-6);           /* the red block, R plane */
    NEAR(t[100 * 100 + (25 + 27) * 100 + 52], 0, 1e-6); /* G plane */
    detection d = DET(50, 50, 55, 55, 1, 0);
    letterbox_unmap(&lb, &d, 200, 100);
    NEAR(d.x1, 100, 1e-4);
    NEAR(d.y1, 50, 1e-4);
    NEAR(d.x2, 110, 1e-4);
    NEAR(d.y2, 60, 1e-4);
    /* top-left padding, BGR, 0..255 (YOLOX) */
    preprocess_opts ox = {.bgr = true, .normalize = false, .center = false};
    assert_int_equal(letterbox_to_tensor(f, 100, 100, &ox, t, &lb, NULL), KERR_OK);
    NEAR(lb.pad_y, 0, 1e-6);
    NEAR(t[2 * 100 * 100 + 27 * 100 + 52], 255.0, 1e-4); /* R lands in plane 2 */
    NEAR(t[99 * 100 + 5], 114.0, 1e-6);                  /* bottom padding */
    free(t);
    frame_unref(f);
}

/* A decoder's picture (YUV 4:2:0) is scaled straight into the tensor: the
 * same geometry as from RGB, colours within YUV rounding, and no full-size RGB
 * copy unless one is asked for. */
static void letterbox_from_picture(void **state)
{
    (void)state;
    AVFrame *pic = av_frame_alloc();
    pic->format = AV_PIX_FMT_YUV420P, pic->width = 200, pic->height = 100;
    assert_int_equal(av_frame_get_buffer(pic, 0), 0);
    /* black, with a pure red block at (100..119, 40..59) (BT.601, limited range) */
    for (int y = 0; y < 100; y++)
        for (int x = 0; x < 200; x++) {
            bool red = x >= 100 && x < 120 && y >= 40 && y < 60;
            pic->data[0][y * pic->linesize[0] + x] = red ? 81 : 16;
            if (x % 2 == 0 && y % 2 == 0) {
                pic->data[1][y / 2 * pic->linesize[1] + x / 2] = red ? 90 : 128;
                pic->data[2][y / 2 * pic->linesize[2] + x / 2] = red ? 240 : 128;
            }
        }
    kerr err = {0};
    kframe *f = frame_from_picture(pic, &err);
    av_frame_free(&pic); /* the frame holds its own reference */
    assert_non_null(f);
    float *t = malloc(sizeof(float) * 3 * 100 * 100);
    preprocess_opts o = {.bgr = false, .normalize = true, .center = true};
    letterbox lb;
    assert_int_equal(letterbox_to_tensor(f, 100, 100, &o, t, &lb, &err), KERR_OK);
    assert_null(f->rgb);
    NEAR(lb.scale, 0.5, 1e-6);
    NEAR(lb.pad_y, 25, 1e-6);
    NEAR(t[0], 114.0 / 255.0, 1e-6);                    /* padding row */
    NEAR(t[(25 + 25) * 100 + 55], 1.0, 0.03);           /* the block's middle, R plane */
    NEAR(t[100 * 100 + (25 + 25) * 100 + 55], 0, 0.03); /* G plane */
    NEAR(t[(25 + 10) * 100 + 20], 0, 0.03);             /* black, R plane */
    NEAR(t[(25 + 50) * 100 + 50], 114.0 / 255.0, 1e-6); /* padding below */
    const uint8_t *rgb = frame_rgb(f, &err);
    assert_non_null(rgb);
    assert_true(rgb[50 * f->stride + 110 * 3] > 245 && rgb[50 * f->stride + 110 * 3 + 1] < 10);
    assert_ptr_equal(frame_rgb(f, &err), rgb); /* made once, kept */
    free(t);
    frame_unref(f);
}

static void class_names_parsing(void **state)
{
    (void)state;
    class_names c;
    assert_int_equal(class_names_from_meta("{0: 'person', 1: \"fire hydrant\", 2: 'x'}", &c, NULL),
                     KERR_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.names[1], "fire hydrant");
    assert_int_equal(class_names_find(&c, "x"), 2);
    class_names_free(&c);
    kerr err = {0};
    assert_int_equal(class_names_from_meta("{0: 'a', 2: 'b'}", &c, &err), KERR_INVALID);
    assert_int_equal(class_names_from_meta("[a, b]", &c, &err), KERR_INVALID);
    class_names_coco(&c);
    assert_int_equal(c.n, 80);
    assert_string_equal(c.names[43], "knife");
    class_names_free(&c);
}

/* ---- the real runtime on planted models ---- */

static char g_dir[1024];

static int need_models(void **state)
{
    (void)state;
    const char *d = getenv("KVS_TEST_MODELS");
    if (!d) return -1;
    snprintf(g_dir, sizeof g_dir, "%s", d);
    return 0;
}

static detector *open_planted(const char *file, const char *type, const char *extra, kerr *err)
{
    char text[2048];
    snprintf(text, sizeof text,
             "cameras:\n  - name: a\n    source: {mode: url, url: x}\n    detectors:\n"
             "      - type: %s\n        params: {model: \"%s/%s\"%s}\n",
             type, g_dir, file, extra ? extra : "");
    cfg_diags d = {0};
    config *c = config_load(&app_cfg_readers, "planted.yaml", text, &d);
    assert_non_null(c);
    detector_ctx ctx = {.config_file = "planted.yaml"};
    infer_opts_init(&ctx.infer, "cpu", 1);
    detector *det = detector_open(&c->cams[0].dets[0], &ctx, err);
    cfg_diags_free(&d);
    config_free(c);
    return det;
}

static void check_planted(const char *file)
{
    if (!g_dir[0]) SKIP_MISSING("KVS_TEST_MODELS is not set (ctest sets it)");
    kerr err = {0};
    detector *det = open_planted(file, "yolo", NULL, &err);
    if (!det) fail_msg("%s", err.msg);
    NEAR(det->threshold, 0.4, 1e-6);
    assert_int_equal(strlen(det->model.sha256), 64);
    /* 192x192 frame -> 96x96 input: scale 0.5, no padding */
    kframe *f = frame_new(192, 192);
    memset(f->rgb, 80, (size_t)f->stride * 192);
    det_list l = {0};
    assert_int_equal(detector_run(det, f, &l, &err), KERR_OK);
    assert_int_equal(l.n, 2); /* the 0.6 duplicate is suppressed, the 0.3 box is below 0.4 */
    assert_string_equal(detector_label(det, l.v[0].cls), "person");
    NEAR(l.v[0].score, 0.9, 1e-5);
    NEAR(l.v[0].x1, (48 - 10) * 2, 1e-3);
    NEAR(l.v[0].y1, (40 - 15) * 2, 1e-3);
    NEAR(l.v[0].x2, (48 + 10) * 2, 1e-3);
    NEAR(l.v[0].y2, (40 + 15) * 2, 1e-3);
    assert_string_equal(detector_label(det, l.v[1].cls), "knife");
    NEAR(l.v[1].x1, 30, 1e-3);
    det_list_free(&l);
    frame_unref(f);
    detector_close(det);
}

static void planted_yolov8(void **state)
{
    (void)state;
    check_planted("yolov8_96.onnx");
}

static void planted_yolov5(void **state)
{
    (void)state;
    check_planted("yolov5_96.onnx");
}

/* The class count from the config's names. */
static void check_planted_names(const char *file)
{
    kerr err = {0};
    detector *det = open_planted(file, "yolo", ", class_names: [person, car, knife]", &err);
    if (!det) fail_msg("%s", err.msg);
    detector_close(det);
}

static void planted_end2end(void **state)
{
    (void)state;
    check_planted("e2e_96.onnx");      /* metadata end2end: True */
    check_planted("e2e_bare_96.onnx"); /* 3 names cannot be 5+1 columns */
}

/* One class: the person the model scores 0.9 must come out, at its box. */
static void check_one_person(const char *file, const char *extra)
{
    kerr err = {0};
    detector *det = open_planted(file, "yolo", extra, &err);
    if (!det) fail_msg("%s: %s", file, err.msg);
    kframe *f = frame_new(96, 96);
    memset(f->rgb, 80, (size_t)f->stride * 96);
    det_list l = {0};
    assert_int_equal(detector_run(det, f, &l, &err), KERR_OK);
    if (l.n != 1) fail_msg("%s: %d detections, want 1", file, l.n);
    assert_string_equal(detector_label(det, l.v[0].cls), "person");
    NEAR(l.v[0].score, 0.9, 1e-5);
    NEAR(l.v[0].x1, 38, 1e-3);
    NEAR(l.v[0].y2, 55, 1e-3);
    det_list_free(&l);
    frame_unref(f);
    detector_close(det);
}

static void planted_one_class_layouts(void **state)
{
    (void)state;
    if (!g_dir[0]) skip();
    check_one_person("v10_1class_96.onnx", NULL);    /* Ultralytics "task": rows are end2end */
    check_one_person("nms_1class_96.onnx", NULL);    /* export args nms: True */
    check_one_person("yolov5_1class_96.onnx", NULL); /* 3 x grid rows: YOLOv5 */
    /* names alone cannot tell: refused, with the way out named */
    kerr err = {0};
    assert_null(open_planted("e2e_1class_bare_96.onnx", "yolo", NULL, &err));
    assert_non_null(strstr(err.msg, "params.layout: end2end or yolov5"));
    check_one_person("e2e_1class_bare_96.onnx", ", layout: end2end");
    /* an end2end model without names cannot give its class count */
    assert_null(open_planted("e2e_nonames_96.onnx", "yolo", NULL, &err));
    assert_non_null(strstr(err.msg, "set params.class_names"));
    check_planted_names("e2e_nonames_96.onnx");
}

static void weapon_uses_its_class_map(void **state)
{
    (void)state;
    if (!g_dir[0]) SKIP_MISSING("KVS_TEST_MODELS is not set (ctest sets it)");
    kerr err = {0};
    detector *det = open_planted("yolov8_96.onnx", "weapon", NULL, &err);
    if (!det) fail_msg("%s", err.msg);
    NEAR(det->threshold, 0.6, 1e-6);
    kframe *f = frame_new(96, 96);
    memset(f->rgb, 0, (size_t)f->stride * 96);
    det_list l = {0};
    assert_int_equal(detector_run(det, f, &l, &err), KERR_OK);
    assert_int_equal(l.n, 0); /* a weapon must be seen in 2 of 3 frames first */
    assert_int_equal(detector_run(det, f, &l, &err), KERR_OK);
    assert_int_equal(l.n, 1); /* only the knife; persons are not weapons */
    assert_string_equal(detector_label(det, l.v[0].cls), "knife");
    det_list_free(&l);
    frame_unref(f);
    detector_close(det);
}

/* ---- the rules, on the gated model: solid colours switch its boxes ---- */

static kframe *solid(uint8_t r, uint8_t g, uint8_t b)
{
    kframe *f = frame_new(96, 96); /* the model's own size: no letterbox padding */
    for (int i = 0; i < 96 * 96; i++)
        f->rgb[i * 3] = r, f->rgb[i * 3 + 1] = g, f->rgb[i * 3 + 2] = b;
    return f;
}

/* Runs det on a frame of one colour; returns the labels found, comma separated. */
static const char *run_colour(detector *det, uint8_t r, uint8_t g, uint8_t b)
{
    static char out[256];
    kframe *f = solid(r, g, b);
    det_list l = {0};
    kerr err = {0};
    assert_int_equal(detector_run(det, f, &l, &err), KERR_OK);
    out[0] = '\0';
    for (int i = 0; i < l.n; i++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", i ? "," : "",
                 detector_label(det, l.v[i].cls));
    det_list_free(&l);
    frame_unref(f);
    return out;
}

static void fire_smoke_confirms_over_frames(void **state)
{
    (void)state;
    if (!g_dir[0]) SKIP_MISSING("KVS_TEST_MODELS is not set (ctest sets it)");
    kerr err = {0};
    detector *det = open_planted("gated_96.onnx", "fire_smoke", NULL, &err);
    if (!det) fail_msg("%s", err.msg);
    /* green: flames. Default confirmation: 3 of the last 5 analysed frames. */
    assert_string_equal(run_colour(det, 0, 255, 0), "");
    assert_string_equal(run_colour(det, 0, 255, 0), "");
    assert_string_equal(run_colour(det, 0, 255, 0), "fire"); /* small_flame maps to fire */
    for (int i = 0; i < 5; i++)
        assert_string_equal(run_colour(det, 0, 0, 0), "");
    /* flickering: on, off, on, off, on -> the third sighting in 5 frames confirms */
    assert_string_equal(run_colour(det, 0, 255, 0), "");
    assert_string_equal(run_colour(det, 0, 0, 0), "");
    assert_string_equal(run_colour(det, 0, 255, 0), "");
    assert_string_equal(run_colour(det, 0, 0, 0), "");
    assert_string_equal(run_colour(det, 0, 255, 0), "fire");
    /* blue: only the 4 px smoke box (and a knife, not a fire class): below min_area */
    for (int i = 0; i < 4; i++)
        assert_string_equal(run_colour(det, 0, 0, 255), "");
    detector_close(det);
}

static void fire_smoke_class_rules(void **state)
{
    (void)state;
    if (!g_dir[0]) SKIP_MISSING("KVS_TEST_MODELS is not set (ctest sets it)");
    kerr err = {0};
    detector *det =
        open_planted("gated_96.onnx", "fire_smoke",
                     ", confirm: {hits: 1, window: 1}, class_thresholds: {smoke: 0.9}", &err);
    if (!det) fail_msg("%s", err.msg);
    assert_string_equal(run_colour(det, 255, 0, 0), "smoke");  /* score 1.0 */
    assert_string_equal(run_colour(det, 204, 0, 0), "");       /* 0.8 < its 0.9 */
    assert_string_equal(run_colour(det, 0, 153, 0), "fire");   /* 0.6 >= the default 0.5 */
    assert_string_equal(run_colour(det, 204, 153, 0), "fire"); /* both, smoke still under 0.9 */
    detector_close(det);
    det = open_planted("gated_96.onnx", "fire_smoke",
                       ", confirm: {hits: 1, window: 1}, min_area: 0.15, class_map: {smoke: haze}",
                       &err);
    if (!det) fail_msg("%s", err.msg);
    assert_string_equal(run_colour(det, 255, 255, 0),
                        "fire"); /* smoke 900/9216 < 0.15 <= fire 1600/9216 */
    detector_close(det);
    det = open_planted("gated_96.onnx", "fire_smoke",
                       ", confirm: {hits: 1, window: 1}, class_map: {smoke: haze}", &err);
    if (!det) fail_msg("%s", err.msg);
    assert_string_equal(run_colour(det, 255, 0, 0), "haze");
    detector_close(det);
    assert_null(
        open_planted("gated_96.onnx", "fire_smoke", ", class_thresholds: {steam: 0.5}", &err));
    assert_non_null(strstr(err.msg, "\"steam\" is not a class"));
    assert_null(open_planted("yolov8_96.onnx", "fire_smoke", NULL, &err));
    assert_non_null(strstr(err.msg, "none of the model's classes is a fire/smoke class"));
}

static void weapon_needs_a_person(void **state)
{
    (void)state;
    if (!g_dir[0]) SKIP_MISSING("KVS_TEST_MODELS is not set (ctest sets it)");
    kerr err = {0};
    detector *det = open_planted("gated_96.onnx", "weapon",
                                 ", require_person: true, confirm: {hits: 1, window: 1}", &err);
    if (!det) fail_msg("%s", err.msg);
    assert_string_equal(run_colour(det, 255, 255, 0), "knife"); /* held by the person */
    assert_string_equal(run_colour(det, 0, 255, 0), "");        /* the same knife, nobody there */
    assert_string_equal(run_colour(det, 255, 0, 255), "");      /* a person and a knife far away */
    assert_string_equal(run_colour(det, 255, 255, 255), "knife");
    detector_close(det);
    det = open_planted(
        "gated_96.onnx", "weapon",
        ", require_person: true, confirm: {hits: 1, window: 1}, classes: [knife, person]", &err);
    if (!det) fail_msg("%s", err.msg);
    assert_string_equal(run_colour(det, 255, 255, 0), "person,knife"); /* persons asked for */
    detector_close(det);
    det = open_planted("gated_96.onnx", "weapon", NULL, &err); /* default: 2 of 3 frames */
    if (!det) fail_msg("%s", err.msg);
    assert_string_equal(run_colour(det, 0, 0, 255), "");
    assert_string_equal(run_colour(det, 0, 0, 255), "knife");
    detector_close(det);
    assert_null(open_planted("yolov8_nonames.onnx", "weapon",
                             ", class_names: [a, knife, c], require_person: true", &err));
    assert_non_null(strstr(err.msg, "no \"person\" class"));
}

/* models_dir and model_size: relative paths are looked up in models_dir, and
 * the size letter of a YOLO file name is swapped for model_size. */
static void models_dir_and_size(void **state)
{
    (void)state;
    if (!g_dir[0]) SKIP_MISSING("KVS_TEST_MODELS is not set (ctest sets it)");
    char dir[] = "/tmp/kvs-models-XXXXXX", a[1200], b[1200], src[1200], abs_dir[PATH_MAX];
    assert_non_null(mkdtemp(dir));
    assert_non_null(realpath(g_dir, abs_dir)); /* the links must not be relative */
    snprintf(a, sizeof a, "%s/yolov8n.onnx", dir);
    snprintf(b, sizeof b, "%s/yolov8s.onnx", dir);
    snprintf(src, sizeof src, "%s/yolov8_96.onnx", abs_dir);
    assert_int_equal(symlink(src, a), 0);
    snprintf(src, sizeof src, "%s/gated_96.onnx", abs_dir);
    assert_int_equal(symlink(src, b), 0);
    const char *sizes[] = {"", ", model_size: s"};
    const char *want[] = {"knife", "smoke"}; /* class 1 of yolov8_96 is car, class 3 differs */
    for (int i = 0; i < 2; i++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "models_dir: %s\ncameras:\n  - name: a\n    source: {mode: url, url: x}\n"
                 "    detectors:\n      - type: yolo\n        params: {model: yolov8n.onnx%s}\n",
                 dir, sizes[i]);
        cfg_diags d = {0};
        config *c = config_load(&app_cfg_readers, "nowhere/planted.yaml", text, &d);
        assert_non_null(c);
        detector_ctx ctx = {.config_file = "nowhere/planted.yaml", .models_dir = c->models_dir};
        infer_opts_init(&ctx.infer, "cpu", 1);
        kerr err = {0};
        detector *det = detector_open(&c->cams[0].dets[0], &ctx, &err);
        if (!det) fail_msg("%s", err.msg);
        assert_string_equal(det->model.name, i ? "yolov8s.onnx" : "yolov8n.onnx");
        assert_string_equal(detector_label(det, i ? 3 : 2), want[i]);
        detector_close(det);
        cfg_diags_free(&d);
        config_free(c);
    }
    unlink(a), unlink(b), rmdir(dir);
}

static void model_errors_are_precise(void **state)
{
    (void)state;
    if (!g_dir[0]) SKIP_MISSING("KVS_TEST_MODELS is not set (ctest sets it)");
    kerr err = {0};
    assert_null(open_planted("gray_input.onnx", "yolo", NULL, &err));
    assert_non_null(strstr(err.msg, "must be [1, 3, H, W]"));
    assert_null(open_planted("odd_output.onnx", "yolo", NULL, &err));
    assert_non_null(strstr(err.msg, "cannot tell the YOLO layout"));
    assert_null(open_planted("not_a_model.onnx", "yolo", NULL, &err));
    assert_non_null(strstr(err.msg, "cannot load the model"));
    assert_null(open_planted("yolov8_nonames.onnx", "yolo", NULL, &err));
    assert_non_null(strstr(err.msg, "set params.class_names"));
    assert_null(open_planted("yolov8_nonames.onnx", "yolo", ", class_names: [a, b]", &err));
    assert_non_null(strstr(err.msg, "outputs 3 classes but 2 class names"));
    assert_null(open_planted("yolov8_96.onnx", "yolo", ", classes: [dragon]", &err));
    assert_non_null(strstr(err.msg, "\"dragon\" is not a class"));
    detector *ok = open_planted("yolov8_nonames.onnx", "yolo", ", class_names: [p, q, r]", &err);
    assert_non_null(ok);
    detector_close(ok);
    /* no silent fallback from CUDA to CPU */
    kerr_code rc = infer_check_device("cuda:0", &err);
    if (rc != KERR_OK) /* and the message names the fix */
        assert_true(
            strstr(err.msg, "device cuda:0: this ONNX Runtime has no CUDA provider library") ||
            strstr(err.msg, "device cuda:0: no NVIDIA driver/GPU was found"));
}

/* Issue 26.18: boxes past the picture (DB's unclipped text boxes, plugins)
 * are clipped to it, the plate box too; boxes inside stay as they are. */
static void boxes_are_clipped_to_the_frame(void **state)
{
    (void)state;
    det_list l = {0};
    detection a = {.x1 = -293, .y1 = -5, .x2 = 120, .y2 = 8100, .score = 0.9f};
    a.plate.has = true;
    a.plate.box[0] = -10, a.plate.box[1] = 20, a.plate.box[2] = 8200, a.plate.box[3] = 30;
    det_list_push(&l, a);
    det_list_push(&l, (detection){.x1 = 10, .y1 = 20, .x2 = 30, .y2 = 40});
    det_list_clip(&l, 8000, 8000);
    assert_true(l.v[0].x1 == 0 && l.v[0].y1 == 0 && l.v[0].x2 == 120 && l.v[0].y2 == 8000);
    assert_true(l.v[0].plate.box[0] == 0 && l.v[0].plate.box[2] == 8000);
    assert_true(l.v[0].plate.box[1] == 20 && l.v[0].plate.box[3] == 30);
    assert_true(l.v[1].x1 == 10 && l.v[1].y1 == 20 && l.v[1].x2 == 30 && l.v[1].y2 == 40);
    det_list_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout_detection),
        cmocka_unit_test(layout_end2end),
        cmocka_unit_test(decode_end2end),
        cmocka_unit_test(decode_yolov8),
        cmocka_unit_test(decode_yolov5),
        cmocka_unit_test(decode_yolox_grid),
        cmocka_unit_test(nms_keeps_best_per_class),
        cmocka_unit_test(letterbox_round_trip),
        cmocka_unit_test(letterbox_from_picture),
        cmocka_unit_test(class_names_parsing),
        cmocka_unit_test(planted_yolov8),
        cmocka_unit_test(planted_yolov5),
        cmocka_unit_test(planted_end2end),
        cmocka_unit_test(planted_one_class_layouts),
        cmocka_unit_test(weapon_uses_its_class_map),
        cmocka_unit_test(model_errors_are_precise),
        cmocka_unit_test(fire_smoke_confirms_over_frames),
        cmocka_unit_test(fire_smoke_class_rules),
        cmocka_unit_test(weapon_needs_a_person),
        cmocka_unit_test(models_dir_and_size),
        cmocka_unit_test(boxes_are_clipped_to_the_frame),
    };
    if (need_models(NULL) != 0)
        fprintf(stderr, "KVS_TEST_MODELS is not set: the planted-model tests are skipped\n");
    int rc = test_exit(cmocka_run_group_tests(tests, NULL, NULL));
    infer_shutdown();
    return rc;
}
