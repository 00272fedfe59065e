/* DB's input: a region of the frame resized to the model's input size and
 * normalised as PaddleOCR does (BGR, ImageNet mean and deviation). */
#include <math.h>

#include "ocr.h"

/* Pixel by pixel (nearest) up to this enlargement, bilinear from it on. */
#define DB_SMOOTH_FROM_SCALE 3.0f

/* Nearest: each output pixel takes the frame pixel it falls in. */
static void nearest(const uint8_t *rgb, int stride, int iw, int ih, int rx, int ry, int rw, int rh,
                    uint8_t *dst, int tw, int th)
{
    for (int y = 0; y < th; y++) {
        float sy = (float)ry + ((float)y + 0.5f) * (float)rh / (float)th - 0.5f;
        int iy = (int)fminf(fmaxf(sy, 0), (float)ih - 1);
        for (int x = 0; x < tw; x++) {
            float sx = (float)rx + ((float)x + 0.5f) * (float)rw / (float)tw - 0.5f;
            int ix = (int)fminf(fmaxf(sx, 0), (float)iw - 1);
            const uint8_t *px = rgb + (size_t)iy * (size_t)stride + (size_t)ix * 3;
            uint8_t *o = dst + ((size_t)y * (size_t)tw + (size_t)x) * 3;
            o[0] = px[0], o[1] = px[1], o[2] = px[2];
        }
    }
}

void db_input(const uint8_t *rgb, int stride, int iw, int ih, int rx, int ry, int rw, int rh,
              uint8_t *scratch, float *out, int tw, int th)
{
    /* Resampled bilinearly where a small plate is blown up a lot: pixel by
     * pixel it is blocks whose edges DB does not take for strokes (it found
     * no line at all on many US plates under about 60 pixels wide). At less
     * enlargement the blocks are small and nearest keeps strokes crisp:
     * smoothed there too, an eu plate read before was lost. */
    float scale = fminf((float)tw / (float)(rw > 0 ? rw : 1), (float)th / (float)(rh > 0 ? rh : 1));
    if (scale >= DB_SMOOTH_FROM_SCALE) {
        ocr_quad area = {{{(float)rx, (float)ry},
                          {(float)(rx + rw), (float)ry},
                          {(float)(rx + rw), (float)(ry + rh)},
                          {(float)rx, (float)(ry + rh)}},
                         1};
        quad_crop(rgb, stride, iw, ih, &area, scratch, tw, th);
    } else {
        nearest(rgb, stride, iw, ih, rx, ry, rw, rh, scratch, tw, th);
    }
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    size_t plane = (size_t)tw * (size_t)th;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) /* BGR planes */
            out[(size_t)c * plane + i] = ((float)scratch[i * 3 + 2 - c] / 255.f - mean[c]) / sd[c];
}
