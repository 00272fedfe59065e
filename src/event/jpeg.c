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
static kerr_code encode_crop(tjhandle tj, const kframe *f, const double box[4], double margin,
                             int quality, event *e, kerr *err)
{
    double mw = (box[2] - box[0]) * margin, mh = (box[3] - box[1]) * margin;
    int x1 = (int)(box[0] - mw), y1 = (int)(box[1] - mh);
    int x2 = (int)(box[2] + mw + 0.5), y2 = (int)(box[3] + mh + 0.5);
    if (x1 < 0) x1 = 0;
    if (y1 < 0) y1 = 0;
    if (x2 > f->width) x2 = f->width;
    if (y2 > f->height) y2 = f->height;
    if (x2 - x1 < 2 || y2 - y1 < 2 || e->ncrops == 4) return KERR_OK;
    const uint8_t *origin = f->rgb + (size_t)y1 * f->stride + (size_t)x1 * 3;
    kerr_code rc =
        encode(tj, origin, x2 - x1, y2 - y1, f->stride, quality, &e->crops[e->ncrops], err);
    if (rc == KERR_OK) e->ncrops++;
    return rc;
}

kerr_code event_encode_images(event *e, const kframe *f, int quality, kerr *err)
{
    tjhandle tj = tjInitCompress();
    if (!tj) return kerr_set(err, KERR_INTERNAL, "cannot start libjpeg-turbo");
    kerr_code rc = encode(tj, f->rgb, f->width, f->height, f->stride, quality, &e->snapshot, err);
    double box[4] = {e->x1, e->y1, e->x2, e->y2};
    if (rc == KERR_OK) rc = encode_crop(tj, f, box, 0.1, quality, e, err);
    if (rc == KERR_OK && e->has_plate) rc = encode_crop(tj, f, e->plate_box, 0.05, quality, e, err);
    tjDestroy(tj);
    return rc;
}
