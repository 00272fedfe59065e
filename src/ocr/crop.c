/* The rotated crop: the quad's top side becomes the crop's top row. Plates are
 * flat rectangles seen nearly head-on, so an affine map from three corners is
 * enough (PaddleOCR uses a perspective warp for arbitrary quads). */
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

void quad_crop(const uint8_t *rgb, int stride, int iw, int ih, const ocr_quad *q, uint8_t *dst,
               int dw, int dh)
{
    float ux = (q->p[1].x - q->p[0].x) / (float)dw, uy = (q->p[1].y - q->p[0].y) / (float)dw;
    float vx = (q->p[3].x - q->p[0].x) / (float)dh, vy = (q->p[3].y - q->p[0].y) / (float)dh;
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            float sx = q->p[0].x + ((float)x + 0.5f) * ux + ((float)y + 0.5f) * vx - 0.5f;
            float sy = q->p[0].y + ((float)x + 0.5f) * uy + ((float)y + 0.5f) * vy - 0.5f;
            sample(rgb, stride, iw, ih, sx, sy, dst + ((size_t)y * (size_t)dw + (size_t)x) * 3);
        }
}
