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

kerr_code event_encode_images(event *e, const kframe *f, int quality, kerr *err)
{
    tjhandle tj = tjInitCompress();
    if (!tj) return kerr_set(err, KERR_INTERNAL, "cannot start libjpeg-turbo");
    kerr_code rc = encode(tj, f->rgb, f->width, f->height, f->stride, quality, &e->snapshot, err);
    if (rc == KERR_OK) {
        /* 10% margin around the box so the crop shows some context. */
        double mw = (e->x2 - e->x1) * 0.1, mh = (e->y2 - e->y1) * 0.1;
        int x1 = (int)(e->x1 - mw), y1 = (int)(e->y1 - mh);
        int x2 = (int)(e->x2 + mw + 0.5), y2 = (int)(e->y2 + mh + 0.5);
        if (x1 < 0) x1 = 0;
        if (y1 < 0) y1 = 0;
        if (x2 > f->width) x2 = f->width;
        if (y2 > f->height) y2 = f->height;
        if (x2 - x1 >= 2 && y2 - y1 >= 2) {
            const uint8_t *origin = f->rgb + (size_t)y1 * f->stride + (size_t)x1 * 3;
            rc = encode(tj, origin, x2 - x1, y2 - y1, f->stride, quality, &e->crops[0], err);
            if (rc == KERR_OK) e->ncrops = 1;
        }
    }
    tjDestroy(tj);
    return rc;
}
