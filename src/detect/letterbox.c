/* Letterbox resize into the model's planar float tensor, bilinear, in one
 * pass with no intermediate full-size image. A decoded 4:2:0 picture (what
 * H.264/H.265 cameras send) is sampled straight from its Y, U and V planes and
 * converted per model pixel; a frame made as RGB (tests, tools) is sampled
 * from its pixels. Both sample the way OpenCV's INTER_LINEAR resize does (the
 * models were trained on such input: libswscale's bilinear downscaling
 * averages over a wider footprint, and a smoke model raised a false alarm on
 * the pedestrian clip with it). Any other pixel format goes through
 * libswscale at the letterboxed size. */
#include <libavutil/frame.h>
#include <math.h>
#include <stdlib.h>

#include "detect.h"

typedef struct {
    int nw, nh, px, py; /* the picture's size and place inside the input */
    int ch[3];          /* plane of R, G, B */
    float scale;        /* input pixels per frame pixel */
    float k, padv;      /* scale of a pixel value, value of the padding */
    size_t plane;
} layout;

static layout plan(const kframe *f, int in_w, int in_h, const preprocess_opts *o, letterbox *lb)
{
    layout L;
    float r = fminf((float)in_w / (float)f->width, (float)in_h / (float)f->height);
    L.nw = (int)lroundf((float)f->width * r), L.nh = (int)lroundf((float)f->height * r);
    if (L.nw > in_w) L.nw = in_w;
    if (L.nh > in_h) L.nh = in_h;
    if (L.nw < 1) L.nw = 1;
    if (L.nh < 1) L.nh = 1;
    L.px = o->center ? (in_w - L.nw) / 2 : 0, L.py = o->center ? (in_h - L.nh) / 2 : 0;
    L.scale = lb->scale = r;
    lb->pad_x = (float)L.px;
    lb->pad_y = (float)L.py;
    L.k = o->normalize ? 1.0f / 255.0f : 1.0f;
    L.padv = 114.0f * L.k;
    L.plane = (size_t)in_w * (size_t)in_h;
    L.ch[0] = o->bgr ? 2 : 0, L.ch[1] = 1, L.ch[2] = o->bgr ? 0 : 2;
    return L;
}

static void fill(float *dst, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = v;
}

/* Padding everywhere outside the picture's rectangle. */
static void pad(const layout *L, int in_w, int in_h, float *dst)
{
    for (int c = 0; c < 3; c++) {
        float *p = dst + (size_t)c * L->plane;
        fill(p, (size_t)L->py * in_w, L->padv);
        for (int y = L->py; y < L->py + L->nh; y++) {
            fill(p + (size_t)y * in_w, (size_t)L->px, L->padv);
            fill(p + (size_t)y * in_w + L->px + L->nw, (size_t)(in_w - L->px - L->nw), L->padv);
        }
        fill(p + (size_t)(L->py + L->nh) * in_w, (size_t)(in_h - L->py - L->nh) * in_w, L->padv);
    }
}

static kerr_code from_picture(const kframe *f, const layout *L, int in_w, float *dst, kerr *err)
{
    int stride = (L->nw * 3 + 31) & ~31;
    uint8_t *rgb = malloc((size_t)stride * (size_t)L->nh + 64); /* +64: see frame.c */
    if (!rgb) return kerr_set(err, KERR_NOMEM, "out of memory");
    kerr_code rc = frame_scale_rgb(f, L->nw, L->nh, rgb, stride, err);
    for (int y = 0; rc == KERR_OK && y < L->nh; y++) {
        const uint8_t *s = rgb + (size_t)y * stride;
        size_t at = (size_t)(L->py + y) * in_w + L->px;
        float *r = dst + (size_t)L->ch[0] * L->plane + at;
        float *g = dst + (size_t)L->ch[1] * L->plane + at;
        float *b = dst + (size_t)L->ch[2] * L->plane + at;
        for (int x = 0; x < L->nw; x++) {
            r[x] = (float)s[3 * x] * L->k;
            g[x] = (float)s[3 * x + 1] * L->k;
            b[x] = (float)s[3 * x + 2] * L->k;
        }
    }
    free(rgb);
    return rc;
}

/* Source positions of the output columns (or rows): left index, right index,
 * weight of the right one. */
typedef struct {
    int *a, *b;
    float *w;
} taps;

static bool taps_make(taps *t, int n, float scale, int src_len)
{
    t->a = malloc(sizeof(int) * (size_t)n);
    t->b = malloc(sizeof(int) * (size_t)n);
    t->w = malloc(sizeof(float) * (size_t)n);
    if (!t->a || !t->b || !t->w) return false;
    for (int i = 0; i < n; i++) {
        float s = fmaxf(((float)i + 0.5f) / scale - 0.5f, 0);
        int a = (int)s;
        if (a > src_len - 1) a = src_len - 1;
        t->a[i] = a;
        t->b[i] = a + 1 < src_len ? a + 1 : a;
        t->w[i] = s - (float)a;
    }
    return true;
}

static void taps_free(taps *t)
{
    free(t->a), free(t->b), free(t->w);
}

static float lerp2(const uint8_t *p0, const uint8_t *p1, int a, int b, float wx, float wy)
{
    float top = (float)p0[a] + ((float)p0[b] - (float)p0[a]) * wx;
    float bot = (float)p1[a] + ((float)p1[b] - (float)p1[a]) * wx;
    return top + (bot - top) * wy;
}

static float clamp255(float v)
{
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

static bool is_yuv420(const AVFrame *p)
{
    return p && (p->format == AV_PIX_FMT_YUV420P || p->format == AV_PIX_FMT_YUVJ420P);
}

/* BT.601 like libswscale's default, limited range unless flagged full. */
static kerr_code from_yuv420(const kframe *f, const layout *L, int in_w, float *dst, kerr *err)
{
    const AVFrame *p = f->pic;
    bool full = p->format == AV_PIX_FMT_YUVJ420P || p->color_range == AVCOL_RANGE_JPEG;
    float ky = full ? 1.0f : 255.0f / 219.0f, kc = full ? 1.0f : 255.0f / 224.0f,
          y0 = full ? 0 : 16;
    int cw = (f->width + 1) / 2, ch = (f->height + 1) / 2;
    taps lx = {0}, ly = {0}, cx = {0}, cy = {0};
    bool ok = taps_make(&lx, L->nw, L->scale, f->width) &&
              taps_make(&ly, L->nh, L->scale, f->height) &&
              taps_make(&cx, L->nw, L->scale * 2, cw) && taps_make(&cy, L->nh, L->scale * 2, ch);
    for (int yy = 0; ok && yy < L->nh; yy++) {
        const uint8_t *y0r = p->data[0] + (size_t)ly.a[yy] * p->linesize[0];
        const uint8_t *y1r = p->data[0] + (size_t)ly.b[yy] * p->linesize[0];
        const uint8_t *u0 = p->data[1] + (size_t)cy.a[yy] * p->linesize[1];
        const uint8_t *u1 = p->data[1] + (size_t)cy.b[yy] * p->linesize[1];
        const uint8_t *v0 = p->data[2] + (size_t)cy.a[yy] * p->linesize[2];
        const uint8_t *v1 = p->data[2] + (size_t)cy.b[yy] * p->linesize[2];
        size_t at = (size_t)(L->py + yy) * in_w + L->px;
        float *r = dst + (size_t)L->ch[0] * L->plane + at;
        float *g = dst + (size_t)L->ch[1] * L->plane + at;
        float *b = dst + (size_t)L->ch[2] * L->plane + at;
        for (int x = 0; x < L->nw; x++) {
            float Y = (lerp2(y0r, y1r, lx.a[x], lx.b[x], lx.w[x], ly.w[yy]) - y0) * ky;
            float U = (lerp2(u0, u1, cx.a[x], cx.b[x], cx.w[x], cy.w[yy]) - 128) * kc;
            float V = (lerp2(v0, v1, cx.a[x], cx.b[x], cx.w[x], cy.w[yy]) - 128) * kc;
            r[x] = clamp255(Y + 1.402f * V) * L->k;
            g[x] = clamp255(Y - 0.344136f * U - 0.714136f * V) * L->k;
            b[x] = clamp255(Y + 1.772f * U) * L->k;
        }
    }
    taps_free(&lx), taps_free(&ly), taps_free(&cx), taps_free(&cy);
    return ok ? KERR_OK : kerr_set(err, KERR_NOMEM, "out of memory");
}

static kerr_code from_rgb(const kframe *f, const layout *L, int in_w, float *dst, kerr *err)
{
    taps tx = {0}, ty = {0};
    bool ok =
        taps_make(&tx, L->nw, L->scale, f->width) && taps_make(&ty, L->nh, L->scale, f->height);
    for (int x = 0; ok && x < L->nw; x++) /* in bytes: R of pixel a */
        tx.a[x] *= 3, tx.b[x] *= 3;
    for (int yy = 0; ok && yy < L->nh; yy++) {
        const uint8_t *ra = f->rgb + (size_t)ty.a[yy] * f->stride;
        const uint8_t *rb = f->rgb + (size_t)ty.b[yy] * f->stride;
        size_t at = (size_t)(L->py + yy) * in_w + L->px;
        for (int c = 0; c < 3; c++) {
            float *row = dst + (size_t)L->ch[c] * L->plane + at;
            for (int x = 0; x < L->nw; x++)
                row[x] = lerp2(ra + c, rb + c, tx.a[x], tx.b[x], tx.w[x], ty.w[yy]) * L->k;
        }
    }
    taps_free(&tx), taps_free(&ty);
    return ok ? KERR_OK : kerr_set(err, KERR_NOMEM, "out of memory");
}

kerr_code letterbox_to_tensor(const kframe *f, int in_w, int in_h, const preprocess_opts *o,
                              float *dst, letterbox *lb, kerr *err)
{
    int64_t t0 = clock_mono_ns();
    layout L = plan(f, in_w, in_h, o, lb);
    pad(&L, in_w, in_h, dst);
    if (is_yuv420(f->pic) || f->rgb) {
        kerr_code rc = is_yuv420(f->pic) ? from_yuv420(f, &L, in_w, dst, err)
                                         : from_rgb(f, &L, in_w, dst, err);
        frame_convert_ns_add(clock_mono_ns() - t0);
        return rc;
    }
    return from_picture(f, &L, in_w, dst, err); /* timed by the frame module */
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void letterbox_unmap(const letterbox *lb, detection *d, int frame_w, int frame_h)
{
    d->x1 = clampf((d->x1 - lb->pad_x) / lb->scale, 0, (float)frame_w);
    d->x2 = clampf((d->x2 - lb->pad_x) / lb->scale, 0, (float)frame_w);
    d->y1 = clampf((d->y1 - lb->pad_y) / lb->scale, 0, (float)frame_h);
    d->y2 = clampf((d->y2 - lb->pad_y) / lb->scale, 0, (float)frame_h);
}
