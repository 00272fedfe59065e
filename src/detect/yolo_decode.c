/* The YOLO output layouts:
 *   yolov8 / YOLO11  [1, 4+C, N]  rows of cx,cy,w,h then C class scores, no objectness
 *   yolov5           [1, N, 5+C]  per box cx,cy,w,h,obj,C class scores (decoded boxes)
 *   yolox (raw grid) [1, N, 5+C]  offsets on the stride 8/16/32 grids: cx=(x+gx)*s,
 *                                 w=exp(w)*s; N is exactly the number of grid cells
 *   end2end          [1, N, 6]    per box x1,y1,x2,y2,score,class index, already
 *                                 suppressed (YOLOv10, Ultralytics nms=True exports;
 *                                 segment/pose exports append columns, ignored) */
#include <math.h>
#include <string.h>

#include "detect.h"

static const int k_strides[] = {8, 16, 32};

const char *yolo_layout_name(yolo_layout l)
{
    switch (l) {
    case YOLO_AUTO: return "auto";
    case YOLO_V5: return "yolov5";
    case YOLO_V8: return "yolov8";
    case YOLO_X: return "yolox";
    case YOLO_E2E: return "end2end";
    }
    return "?";
}

int yolo_layout_parse(const char *s, yolo_layout *out)
{
    static const struct {
        const char *n;
        yolo_layout l;
    } k[] = {{"auto", YOLO_AUTO}, {"yolov5", YOLO_V5},   {"yolov8", YOLO_V8},  {"yolo11", YOLO_V8},
             {"yolox", YOLO_X},   {"end2end", YOLO_E2E}, {"yolov10", YOLO_E2E}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strcmp(s, k[i].n) == 0) {
            *out = k[i].l;
            return 0;
        }
    return -1;
}

static int64_t grid_cells(int in_w, int in_h)
{
    int64_t n = 0;
    for (int i = 0; i < 3; i++)
        n += (int64_t)(in_w / k_strides[i]) * (in_h / k_strides[i]);
    return n;
}

/* Accepts [1, A, B] and [A, B]. */
static bool rows_cols(const int64_t *dims, int ndims, int64_t *a, int64_t *b)
{
    if (ndims == 3 && dims[0] == 1) {
        *a = dims[1], *b = dims[2];
        return *a > 0 && *b > 0;
    }
    if (ndims == 2) {
        *a = dims[0], *b = dims[1];
        return *a > 0 && *b > 0;
    }
    return false;
}

/* Rows of 6+ columns that the hints call end-to-end. Ultralytics exports
 * rows-major only end-to-end (its plain heads are [1, 4+C, N]); 5+C columns
 * with C = 1 cannot carry two or more named classes. */
static bool e2e_by_hints(const yolo_hints *h, int64_t b)
{
    if (!h) return false;
    if (h->end2end >= 0) return h->end2end == 1;
    if (h->ultralytics) return true;
    return b == 6 && h->nnames > 1;
}

static kerr_code ambiguous(int64_t a, kerr *err)
{
    return kerr_set(err, KERR_INVALID,
                    "output [1, %lld, 6] is either end-to-end (x1,y1,x2,y2,score,class: YOLOv10, "
                    "Ultralytics nms=True) or a one-class YOLOv5 (cx,cy,w,h,objectness,score), "
                    "and the model's metadata does not say which; set params.layout: end2end "
                    "or yolov5",
                    (long long)a);
}

kerr_code yolo_layout_detect(const int64_t *dims, int ndims, int in_w, int in_h,
                             const yolo_hints *h, yolo_layout *out, int *nclasses, kerr *err)
{
    int64_t a, b;
    if (!rows_cols(dims, ndims, &a, &b))
        return kerr_set(err, KERR_INVALID,
                        "output shape is not [1, A, B]: not a single-output YOLO detection head");
    int64_t grid = grid_cells(in_w, in_h);
    bool rows = a > b && b >= 6; /* one box per row */
    yolo_layout l;
    if (rows && h && h->end2end == 1)
        l = YOLO_E2E;
    else if (a == grid && b >= 6)
        l = YOLO_X;
    else if (b == grid && a >= 5)
        l = YOLO_V8;
    else if (a == 3 * grid && b >= 6)
        l = YOLO_V5;
    else if (rows && e2e_by_hints(h, b))
        l = YOLO_E2E;
    else if (rows && b == 6 && !(h && h->end2end == 0))
        return ambiguous(a, err);
    else if (rows)
        l = YOLO_V5;
    else if (b > a && a >= 5)
        l = YOLO_V8;
    else
        return kerr_set(err, KERR_INVALID,
                        "cannot tell the YOLO layout from output [1, %lld, %lld] (expected "
                        "[1, 4+C, N] yolov8, [1, N, 5+C] yolov5/yolox or [1, N, 6] end2end); "
                        "set params.layout",
                        (long long)a, (long long)b);
    *out = l;
    return yolo_layout_classes(l, dims, ndims, nclasses, err);
}

kerr_code yolo_layout_classes(yolo_layout l, const int64_t *dims, int ndims, int *nclasses,
                              kerr *err)
{
    int64_t a, b;
    if (!rows_cols(dims, ndims, &a, &b))
        return kerr_set(err, KERR_INVALID, "output shape is not [1, A, B]");
    if (l == YOLO_V8 && a >= 5) {
        *nclasses = (int)(a - 4);
        return KERR_OK;
    }
    if (l != YOLO_V8 && b >= 6) {
        *nclasses = l == YOLO_E2E ? 0 : (int)(b - 5);
        return KERR_OK;
    }
    return kerr_set(err, KERR_INVALID, "output [1, %lld, %lld] cannot be %s (it needs %s)",
                    (long long)a, (long long)b, yolo_layout_name(l),
                    l == YOLO_V8 ? "[1, 4+C, N]" : "[1, N, 6 or more]");
}

static int best_class(const float *scores, int64_t stride, int nc, const bool *allowed, float *best)
{
    int bc = -1;
    float bs = -1.f;
    for (int c = 0; c < nc; c++) {
        if (allowed && !allowed[c]) continue;
        float s = scores[(int64_t)c * stride];
        if (s > bs) bs = s, bc = c;
    }
    *best = bs;
    return bc;
}

static void push_box(det_list *out, float cx, float cy, float w, float h, float score, int cls)
{
    if (!(w > 0 && h > 0) || !isfinite(cx) || !isfinite(cy) || !isfinite(w) || !isfinite(h)) return;
    detection d = {.x1 = cx - w / 2,
                   .y1 = cy - h / 2,
                   .x2 = cx + w / 2,
                   .y2 = cy + h / 2,
                   .score = score,
                   .cls = cls};
    det_list_push(out, d);
}

/* The class is a float index: one outside the names is dropped, never read
 * past the class tables. */
static void decode_e2e(const float *data, int64_t a, int64_t b, int nc, float threshold,
                       const bool *allowed, det_list *out)
{
    for (int64_t i = 0; i < a; i++) {
        const float *r = data + i * b;
        if (!(r[4] >= threshold) || !(r[5] > -0.5f && r[5] < (float)nc - 0.5f)) continue;
        int c = (int)lrintf(r[5]);
        if (allowed && !allowed[c]) continue;
        push_box(out, (r[0] + r[2]) / 2, (r[1] + r[3]) / 2, r[2] - r[0], r[3] - r[1], r[4], c);
    }
}

kerr_code yolo_decode(yolo_layout l, const float *data, const int64_t *dims, int ndims, int in_w,
                      int in_h, int nclasses, float threshold, const bool *allowed, det_list *out,
                      kerr *err)
{
    int64_t a, b;
    if (!rows_cols(dims, ndims, &a, &b))
        return kerr_set(err, KERR_INVALID, "unexpected output rank %d", ndims);
    if (l == YOLO_E2E) {
        if (b < 6) return kerr_set(err, KERR_INVALID, "end2end output needs >= 6 columns");
        if (nclasses < 1)
            return kerr_set(err, KERR_INVALID, "end2end decoding needs the class count");
        decode_e2e(data, a, b, nclasses, threshold, allowed, out);
        return KERR_OK;
    }
    if (l == YOLO_V8) {
        if (a < 5) return kerr_set(err, KERR_INVALID, "yolov8 output needs >= 5 rows");
        int nc = (int)(a - 4);
        for (int64_t i = 0; i < b; i++) {
            float s;
            int c = best_class(data + 4 * b + i, b, nc, allowed, &s);
            if (c < 0 || s < threshold) continue;
            push_box(out, data[i], data[b + i], data[2 * b + i], data[3 * b + i], s, c);
        }
        return KERR_OK;
    }
    if (b < 6)
        return kerr_set(err, KERR_INVALID, "%s output needs >= 6 columns", yolo_layout_name(l));
    int nc = (int)(b - 5);
    if (l == YOLO_V5) {
        for (int64_t i = 0; i < a; i++) {
            const float *r = data + i * b;
            if (r[4] < threshold) continue; /* obj * cls <= obj */
            float s;
            int c = best_class(r + 5, 1, nc, allowed, &s);
            if (c < 0 || r[4] * s < threshold) continue;
            push_box(out, r[0], r[1], r[2], r[3], r[4] * s, c);
        }
        return KERR_OK;
    }
    if (a != grid_cells(in_w, in_h))
        return kerr_set(err, KERR_INVALID,
                        "yolox output has %lld rows but a %dx%d input has %lld grid cells",
                        (long long)a, in_w, in_h, (long long)grid_cells(in_w, in_h));
    int64_t i = 0;
    for (int si = 0; si < 3; si++) {
        int s = k_strides[si], gw = in_w / s, gh = in_h / s;
        for (int gy = 0; gy < gh; gy++)
            for (int gx = 0; gx < gw; gx++, i++) {
                const float *r = data + i * b;
                if (r[4] < threshold) continue;
                float sc;
                int c = best_class(r + 5, 1, nc, allowed, &sc);
                if (c < 0 || r[4] * sc < threshold) continue;
                push_box(out, (r[0] + (float)gx) * (float)s, (r[1] + (float)gy) * (float)s,
                         expf(r[2]) * (float)s, expf(r[3]) * (float)s, r[4] * sc, c);
            }
    }
    return KERR_OK;
}
