/* Letterbox resize straight into the model's planar float tensor: one pass,
 * bilinear, no intermediate image. */
#include <math.h>
#include <stdlib.h>

#include "detect.h"

void letterbox_to_tensor(const kframe *f, int in_w, int in_h, const preprocess_opts *o, float *dst,
                         letterbox *lb)
{
    float r = fminf((float)in_w / (float)f->width, (float)in_h / (float)f->height);
    int nw = (int)lroundf((float)f->width * r), nh = (int)lroundf((float)f->height * r);
    if (nw > in_w) nw = in_w;
    if (nh > in_h) nh = in_h;
    int px = o->center ? (in_w - nw) / 2 : 0, py = o->center ? (in_h - nh) / 2 : 0;
    lb->scale = r;
    lb->pad_x = (float)px;
    lb->pad_y = (float)py;
    float k = o->normalize ? 1.0f / 255.0f : 1.0f;
    float padv = 114.0f * k;
    size_t plane = (size_t)in_w * (size_t)in_h;
    int ch[3] = {0, 1, 2};
    if (o->bgr) ch[0] = 2, ch[2] = 0;
    int *x0 = malloc(sizeof(int) * (size_t)nw * 2);
    float *wx = malloc(sizeof(float) * (size_t)nw);
    if (!x0 || !wx) {
        free(x0), free(wx);
        for (size_t i = 0; i < plane * 3; i++)
            dst[i] = padv;
        return;
    }
    for (int x = 0; x < nw; x++) {
        float sx = ((float)x + 0.5f) / r - 0.5f;
        if (sx < 0) sx = 0;
        int a = (int)sx;
        if (a > f->width - 1) a = f->width - 1;
        int b = a + 1 < f->width ? a + 1 : a;
        x0[2 * x] = a * 3;
        x0[2 * x + 1] = b * 3;
        wx[x] = sx - (float)a;
    }
    for (int y = 0; y < in_h; y++) {
        float *row[3];
        for (int c = 0; c < 3; c++)
            row[c] = dst + (size_t)ch[c] * plane + (size_t)y * in_w;
        int yy = y - py;
        if (yy < 0 || yy >= nh) {
            for (int c = 0; c < 3; c++)
                for (int x = 0; x < in_w; x++)
                    row[c][x] = padv;
            continue;
        }
        float sy = ((float)yy + 0.5f) / r - 0.5f;
        if (sy < 0) sy = 0;
        int ya = (int)sy;
        if (ya > f->height - 1) ya = f->height - 1;
        int yb = ya + 1 < f->height ? ya + 1 : ya;
        float wy = sy - (float)ya;
        const uint8_t *ra = f->rgb + (size_t)ya * f->stride, *rb = f->rgb + (size_t)yb * f->stride;
        for (int x = 0; x < px; x++)
            for (int c = 0; c < 3; c++)
                row[c][x] = padv;
        for (int x = 0; x < nw; x++) {
            int a = x0[2 * x], b = x0[2 * x + 1];
            float w1 = wx[x];
            for (int c = 0; c < 3; c++) {
                float top = (float)ra[a + c] + ((float)ra[b + c] - (float)ra[a + c]) * w1;
                float bot = (float)rb[a + c] + ((float)rb[b + c] - (float)rb[a + c]) * w1;
                row[c][px + x] = (top + (bot - top) * wy) * k;
            }
        }
        for (int x = px + nw; x < in_w; x++)
            for (int c = 0; c < 3; c++)
                row[c][x] = padv;
    }
    free(x0);
    free(wx);
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
