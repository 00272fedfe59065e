/* The rotated, rectified crop: the quad's top side becomes the crop's top
 * row, through a perspective warp as PaddleOCR does for its text quads. */
#include <math.h>

#include "ocr.h"

static void sample(const uint8_t *rgb, int stride, int iw, int ih, float x, float y, uint8_t *px)
{
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    if (x > (float)iw - 1) x = (float)iw - 1;
    if (y > (float)ih - 1) y = (float)ih - 1;
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < iw ? x0 + 1 : x0, y1 = y0 + 1 < ih ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    const uint8_t *a = rgb + y0 * stride + x0 * 3, *b = rgb + y0 * stride + x1 * 3;
    const uint8_t *c = rgb + y1 * stride + x0 * 3, *d = rgb + y1 * stride + x1 * 3;
    for (int k = 0; k < 3; k++) {
        float top = (float)a[k] + ((float)b[k] - (float)a[k]) * fx;
        float bot = (float)c[k] + ((float)d[k] - (float)c[k]) * fx;
        px[k] = (uint8_t)lrintf(top + (bot - top) * fy);
    }
}

void quad_bounds(const ocr_quad *q, float box[4])
{
    box[0] = box[2] = q->p[0].x, box[1] = box[3] = q->p[0].y;
    for (int k = 1; k < 4; k++) {
        box[0] = fminf(box[0], q->p[k].x), box[2] = fmaxf(box[2], q->p[k].x);
        box[1] = fminf(box[1], q->p[k].y), box[3] = fmaxf(box[3], q->p[k].y);
    }
}

/* The homography taking the unit square's corners (0,0) (1,0) (1,1) (0,1)
 * to the quad's p0..p3 (Heckbert's square-to-quad mapping). */
static void square_to_quad(const ocr_quad *q, double m[8])
{
    double x0 = q->p[0].x, y0 = q->p[0].y, x1 = q->p[1].x, y1 = q->p[1].y;
    double x2 = q->p[2].x, y2 = q->p[2].y, x3 = q->p[3].x, y3 = q->p[3].y;
    double dx1 = x1 - x2, dx2 = x3 - x2, dx3 = x0 - x1 + x2 - x3;
    double dy1 = y1 - y2, dy2 = y3 - y2, dy3 = y0 - y1 + y2 - y3;
    double den = dx1 * dy2 - dx2 * dy1, g = 0, h = 0;
    if (fabs(dx3) > 1e-9 || fabs(dy3) > 1e-9) /* not a parallelogram */
        if (fabs(den) > 1e-12) g = (dx3 * dy2 - dx2 * dy3) / den, h = (dx1 * dy3 - dx3 * dy1) / den;
    m[0] = x1 - x0 + g * x1, m[1] = x3 - x0 + h * x3, m[2] = x0;
    m[3] = y1 - y0 + g * y1, m[4] = y3 - y0 + h * y3, m[5] = y0;
    m[6] = g, m[7] = h;
}

void quad_crop(const uint8_t *rgb, int stride, int iw, int ih, const ocr_quad *q, uint8_t *dst,
               int dw, int dh)
{
    double m[8];
    square_to_quad(q, m);
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            double u = ((double)x + 0.5) / dw, v = ((double)y + 0.5) / dh;
            double z = m[6] * u + m[7] * v + 1;
            float sx = (float)((m[0] * u + m[1] * v + m[2]) / z) - 0.5f;
            float sy = (float)((m[3] * u + m[4] * v + m[5]) / z) - 0.5f;
            sample(rgb, stride, iw, ih, sx, sy, dst + ((size_t)y * (size_t)dw + (size_t)x) * 3);
        }
}
