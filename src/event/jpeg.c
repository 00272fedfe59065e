#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "event.h"

static kerr_code encode(tjhandle tj, const uint8_t *rgb, int w, int h, int pitch, int quality,
                        event_image *out, kerr *err)
{
    unsigned char *buf = NULL;
    unsigned long len = 0;
    if (tjCompress2(tj, rgb, w, pitch, h, TJPF_RGB, &buf, &len, TJSAMP_420, quality,
                    TJFLAG_FASTDCT) != 0) {
        kerr_code rc = kerr_set(err, KERR_INTERNAL, "JPEG encoding failed: %s", tjGetErrorStr2(tj));
        tjFree(buf);
        return rc;
    }
    /* Copy into malloc'd memory: one allocator for every owner downstream. */
    out->data = malloc(len);
    if (!out->data) {
        tjFree(buf);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    memcpy(out->data, buf, len);
    out->len = len;
    tjFree(buf);
    return KERR_OK;
}

/* A crop of the box with a margin (a share of its size) for some context. */
static kerr_code encode_crop(tjhandle tj, const kframe *f, const uint8_t *rgb, int stride,
                             const double box[4], double margin, int quality, event *e, kerr *err)
{
    double mw = (box[2] - box[0]) * margin, mh = (box[3] - box[1]) * margin;
    int x1 = (int)(box[0] - mw), y1 = (int)(box[1] - mh);
    int x2 = (int)(box[2] + mw + 0.5), y2 = (int)(box[3] + mh + 0.5);
    if (x1 < 0) x1 = 0;
    if (y1 < 0) y1 = 0;
    if (x2 > f->width) x2 = f->width;
    if (y2 > f->height) y2 = f->height;
    if (x2 - x1 < 2 || y2 - y1 < 2 || e->ncrops == 4) return KERR_OK;
    const uint8_t *origin = rgb + (size_t)y1 * stride + (size_t)x1 * 3;
    kerr_code rc = encode(tj, origin, x2 - x1, y2 - y1, stride, quality, &e->crops[e->ncrops], err);
    if (rc == KERR_OK) e->ncrops++;
    return rc;
}

/* The frame's RGB copy when it has one (ALPR, plugins made it), else a
 * temporary one: an event's frame may wait in several tracks, and keeping a
 * full-size RGB copy with it would double what it holds. */
static const uint8_t *rgb_for(const kframe *f, uint8_t **temp, kerr *err)
{
    *temp = NULL;
    if (f->rgb) return f->rgb;
    *temp = malloc((size_t)f->stride * (size_t)f->height + 64); /* +64: see frame.c */
    if (!*temp) {
        kerr_set(err, KERR_NOMEM, "out of memory");
        return NULL;
    }
    if (frame_scale_rgb(f, f->width, f->height, *temp, f->stride, err) != KERR_OK) {
        free(*temp);
        *temp = NULL;
    }
    return *temp;
}

kerr_code event_encode_images(event *e, const kframe *f, int quality, kerr *err)
{
    uint8_t *temp;
    const uint8_t *rgb = rgb_for(f, &temp, err);
    if (!rgb) return err->code;
    tjhandle tj = tjInitCompress();
    kerr_code rc = tj ? KERR_OK : kerr_set(err, KERR_INTERNAL, "cannot start libjpeg-turbo");
    if (rc == KERR_OK)
        rc = encode(tj, rgb, f->width, f->height, f->stride, quality, &e->snapshot, err);
    double box[4] = {e->x1, e->y1, e->x2, e->y2};
    if (rc == KERR_OK) rc = encode_crop(tj, f, rgb, f->stride, box, 0.1, quality, e, err);
    if (rc == KERR_OK && e->has_plate)
        rc = encode_crop(tj, f, rgb, f->stride, e->plate_box, 0.05, quality, e, err);
    if (tj) tjDestroy(tj);
    free(temp);
    return rc;
}
