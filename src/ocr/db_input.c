/* DB's input: a region of the frame resized to the model's input size and
 * normalised as PaddleOCR does (BGR, ImageNet mean and deviation). */
#include "ocr.h"

void db_input(const uint8_t *rgb, int stride, int iw, int ih, int rx, int ry, int rw, int rh,
              uint8_t *scratch, float *out, int tw, int th)
{
    /* Resampled bilinearly: a small plate blown up pixel by pixel (nearest)
     * is blocks whose edges DB does not take for strokes; it found no line
     * at all on many US plates under about 60 pixels wide. */
    ocr_quad area = {{{(float)rx, (float)ry},
                      {(float)(rx + rw), (float)ry},
                      {(float)(rx + rw), (float)(ry + rh)},
                      {(float)rx, (float)(ry + rh)}},
                     1};
    quad_crop(rgb, stride, iw, ih, &area, scratch, tw, th);
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    size_t plane = (size_t)tw * (size_t)th;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) /* BGR planes */
            out[(size_t)c * plane + i] = ((float)scratch[i * 3 + 2 - c] / 255.f - mean[c]) / sd[c];
}
