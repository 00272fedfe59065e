/* An event's images: the whole frame and crops of its boxes, as JPEG. A
 * decoded 4:2:0 picture goes to libjpeg-turbo as its own Y, Cb and Cr planes
 * (JPEG's native form: no RGB copy of the frame, no colour conversion back);
 * video's limited range is stretched to JPEG's full range on the way. Frames
 * with an RGB copy (ALPR, plugins) or another pixel format are encoded from
 * RGB. */
#include <libavutil/frame.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "event.h"

typedef struct {
    bool yuv;            /* full-range 4:2:0 planes, else packed RGB in p[0] */
    const uint8_t *p[3]; /* planes */
    int stride[3];
    int w, h;
} image;

/* Copy into malloc'd memory: one allocator for every owner downstream. */
static kerr_code keep(unsigned char *buf, unsigned long len, event_image *out, kerr *err)
{
    out->data = malloc(len);
    if (out->data) {
        memcpy(out->data, buf, len);
        out->len = len;
    }
    tjFree(buf);
    return out->data ? KERR_OK : kerr_set(err, KERR_NOMEM, "out of memory");
}

static kerr_code encode_rect(tjhandle tj, const image *im, int x, int y, int w, int h, int quality,
                             event_image *out, kerr *err)
{
    unsigned char *buf = NULL;
    unsigned long len = 0;
    int rc;
    if (im->yuv) {
        int ex = x & 1, ey = y & 1; /* chroma covers pixel pairs: start on one */
        x -= ex, y -= ey, w += ex, h += ey;
        const unsigned char *planes[3] = {
            im->p[0] + (size_t)y * im->stride[0] + x,
            im->p[1] + (size_t)(y / 2) * im->stride[1] + x / 2,
            im->p[2] + (size_t)(y / 2) * im->stride[2] + x / 2,
        };
        rc = tjCompressFromYUVPlanes(tj, planes, w, im->stride, h, TJSAMP_420, &buf, &len, quality,
                                     TJFLAG_FASTDCT);
    } else {
        rc = tjCompress2(tj, im->p[0] + (size_t)y * im->stride[0] + (size_t)x * 3, w, im->stride[0],
                         h, TJPF_RGB, &buf, &len, TJSAMP_420, quality, TJFLAG_FASTDCT);
    }
    if (rc != 0) {
        kerr_code code =
            kerr_set(err, KERR_INTERNAL, "JPEG encoding failed: %s", tjGetErrorStr2(tj));
        tjFree(buf);
        return code;
    }
    return keep(buf, len, out, err);
}

/* A crop of the box with a margin (a share of its size) for some context. */
static kerr_code encode_crop(tjhandle tj, const image *im, const double box[4], double margin,
                             int quality, event *e, kerr *err)
{
    double mw = (box[2] - box[0]) * margin, mh = (box[3] - box[1]) * margin;
    int x1 = (int)(box[0] - mw), y1 = (int)(box[1] - mh);
    int x2 = (int)(box[2] + mw + 0.5), y2 = (int)(box[3] + mh + 0.5);
    if (x1 < 0) x1 = 0;
    if (y1 < 0) y1 = 0;
    if (x2 > im->w) x2 = im->w;
    if (y2 > im->h) y2 = im->h;
    if (x2 - x1 < 2 || y2 - y1 < 2 || e->ncrops == 4) return KERR_OK;
    kerr_code rc =
        encode_rect(tj, im, x1, y1, x2 - x1, y2 - y1, quality, &e->crops[e->ncrops], err);
    if (rc == KERR_OK) e->ncrops++;
    return rc;
}

static bool full_range(const AVFrame *p)
{
    return p->format == AV_PIX_FMT_YUVJ420P || p->color_range == AVCOL_RANGE_JPEG;
}

/* Limited-range planes stretched to full range into *temp (one pass). */
static bool stretch(const AVFrame *p, image *im, uint8_t **temp)
{
    int cw = (p->width + 1) / 2, ch = (p->height + 1) / 2;
    size_t ys = (size_t)p->width * p->height, cs = (size_t)cw * ch;
    *temp = malloc(ys + 2 * cs);
    if (!*temp) return false;
    uint8_t luma[256], chroma[256];
    for (int v = 0; v < 256; v++) {
        int y = ((v - 16) * 255 + 109) / 219, c = ((v - 128) * 255 + (v >= 128 ? 112 : -112)) / 224;
        luma[v] = (uint8_t)(y < 0 ? 0 : y > 255 ? 255 : y);
        c += 128;
        chroma[v] = (uint8_t)(c < 0 ? 0 : c > 255 ? 255 : c);
    }
    uint8_t *dst[3] = {*temp, *temp + ys, *temp + ys + cs};
    int w[3] = {p->width, cw, cw}, h[3] = {p->height, ch, ch};
    for (int k = 0; k < 3; k++) {
        const uint8_t *lut = k ? chroma : luma;
        for (int y = 0; y < h[k]; y++) {
            const uint8_t *s = p->data[k] + (size_t)y * p->linesize[k];
            uint8_t *d = dst[k] + (size_t)y * w[k];
            for (int x = 0; x < w[k]; x++)
                d[x] = lut[s[x]];
        }
        im->p[k] = dst[k];
        im->stride[k] = w[k];
    }
    return true;
}

/* What to encode from: the RGB copy, the picture's planes (of *owned when
 * decoded again), or a temporary (stretched planes, or RGB for other
 * formats) in *temp. The caller frees both. */
static kerr_code source_image(const kframe *f, image *im, AVFrame **owned, uint8_t **temp,
                              kerr *err)
{
    *temp = NULL;
    *owned = NULL;
    *im = (image){.w = f->width, .h = f->height};
    if (f->rgb) {
        im->p[0] = f->rgb, im->stride[0] = f->stride;
        return KERR_OK;
    }
    const AVFrame *p = frame_picture(f, owned, err);
    if (!p) return err->code;
    kerr_code rc = KERR_OK;
    if (p->format == AV_PIX_FMT_YUV420P || p->format == AV_PIX_FMT_YUVJ420P) {
        im->yuv = true;
        if (!full_range(p)) {
            if (!stretch(p, im, temp)) rc = kerr_set(err, KERR_NOMEM, "out of memory");
        } else {
            for (int k = 0; k < 3; k++)
                im->p[k] = p->data[k], im->stride[k] = p->linesize[k];
        }
    } else if (!(*temp = malloc((size_t)f->stride * (size_t)f->height + 64))) { /* +64: frame.c */
        rc = kerr_set(err, KERR_NOMEM, "out of memory");
    } else {
        im->p[0] = *temp, im->stride[0] = f->stride;
        rc = frame_scale_rgb(f, f->width, f->height, *temp, f->stride, err);
    }
    return rc;
}

kerr_code event_encode_images(event *e, const kframe *f, int quality, kerr *err)
{
    kerr local = {0};
    if (!err) err = &local;
    image im;
    uint8_t *temp;
    AVFrame *owned;
    kerr_code rc = source_image(f, &im, &owned, &temp, err);
    tjhandle tj = rc == KERR_OK ? tjInitCompress() : NULL;
    if (rc == KERR_OK && !tj) rc = kerr_set(err, KERR_INTERNAL, "cannot start libjpeg-turbo");
    if (rc == KERR_OK) rc = encode_rect(tj, &im, 0, 0, im.w, im.h, quality, &e->snapshot, err);
    double box[4] = {e->x1, e->y1, e->x2, e->y2};
    if (rc == KERR_OK) rc = encode_crop(tj, &im, box, 0.1, quality, e, err);
    if (rc == KERR_OK && e->has_plate)
        rc = encode_crop(tj, &im, e->plate_box, 0.05, quality, e, err);
    if (tj) tjDestroy(tj);
    free(temp);
    av_frame_free(&owned);
    return rc;
}
