#include "frame.h"

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <stdlib.h>

#include "convert.h"

static kframe *frame_alloc(int width, int height)
{
    if (width <= 0 || height <= 0 || width > 16384 || height > 16384) return NULL;
    kframe *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->width = width;
    f->height = height;
    /* Rows 32-byte aligned and 64 bytes to spare at the end: libswscale's SIMD
     * writes whole vectors and may run past the last pixel of a row. */
    f->stride = (width * 3 + 31) & ~31;
    f->producer_ts_ms = -1;
    f->server_ts_ms = -1;
    atomic_init(&f->refs, 1);
    pthread_mutex_init(&f->rgb_lock, NULL);
    return f;
}

static uint8_t *rgb_alloc(const kframe *f)
{
    return malloc((size_t)f->stride * (size_t)f->height + 64);
}

kframe *frame_new(int width, int height)
{
    kframe *f = frame_alloc(width, height);
    if (f && !(f->rgb = rgb_alloc(f))) {
        frame_unref(f);
        return NULL;
    }
    return f;
}

kframe *frame_from_picture(const AVFrame *pic, kerr *err)
{
    if (!convert_supported(pic->format)) {
        kerr_set(err, KERR_UNSUPPORTED, "cannot convert pixel format %d to RGB", pic->format);
        return NULL;
    }
    kframe *f = frame_alloc(pic->width, pic->height);
    if (!f) {
        kerr_set(err, KERR_INVALID, "bad frame size %dx%d", pic->width, pic->height);
        return NULL;
    }
    if (!(f->pic = av_frame_clone(pic))) {
        frame_unref(f);
        kerr_set(err, KERR_NOMEM, "out of memory");
        return NULL;
    }
    return f;
}

kframe *frame_ref(kframe *f)
{
    atomic_fetch_add(&f->refs, 1);
    return f;
}

void frame_unref(kframe *f)
{
    if (!f) return;
    if (atomic_fetch_sub(&f->refs, 1) == 1) {
        av_frame_free(&f->pic);
        av_packet_free(&f->key);
        avcodec_parameters_free(&f->par);
        pthread_mutex_destroy(&f->rgb_lock);
        free(f->rgb);
        free(f);
    }
}

kerr_code frame_keep_key(kframe *f, const AVPacket *pkt, const AVCodecParameters *par, kerr *err)
{
    if (!f->key && !(f->key = av_packet_alloc())) return kerr_set(err, KERR_NOMEM, "out of memory");
    if (!f->par && !(f->par = avcodec_parameters_alloc()))
        return kerr_set(err, KERR_NOMEM, "out of memory");
    av_packet_unref(f->key);
    if (av_packet_ref(f->key, pkt) < 0 || avcodec_parameters_copy(f->par, par) < 0) {
        av_packet_free(&f->key);
        avcodec_parameters_free(&f->par);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    return KERR_OK;
}

static bool can_redecode(const kframe *f)
{
    return f->key && f->key->size > 0 && f->par;
}

void frame_compact(kframe *f)
{
    if (!can_redecode(f)) return;
    pthread_mutex_lock(&f->rgb_lock);
    av_frame_free(&f->pic);
    free(f->rgb);
    f->rgb = NULL;
    pthread_mutex_unlock(&f->rgb_lock);
}

const AVFrame *frame_picture(const kframe *f, AVFrame **owned, kerr *err)
{
    *owned = NULL;
    if (f->pic) return f->pic;
    if (!can_redecode(f)) {
        kerr_set(err, KERR_INVALID, "the frame has no decoded picture");
        return NULL;
    }
    *owned = convert_redecode(f->key, f->par, err);
    if (*owned && ((*owned)->width != f->width || (*owned)->height != f->height)) {
        kerr_set(err, KERR_INVALID, "the key frame decoded again at %dx%d, not %dx%d",
                 (*owned)->width, (*owned)->height, f->width, f->height);
        av_frame_free(owned);
    }
    return *owned;
}

/* The copy is a cache: the frame is logically unchanged, hence the const. */
const uint8_t *frame_rgb(const kframe *cf, kerr *err)
{
    kframe *f = (kframe *)cf;
    pthread_mutex_lock(&f->rgb_lock);
    if (!f->rgb) {
        AVFrame *owned;
        const AVFrame *pic = frame_picture(f, &owned, err);
        uint8_t *rgb = pic ? rgb_alloc(f) : NULL;
        if (pic && !rgb)
            kerr_set(err, KERR_NOMEM, "out of memory");
        else if (rgb && convert_to_rgb(pic, f->width, f->height, rgb, f->stride, err) != KERR_OK)
            free(rgb);
        else
            f->rgb = rgb;
        av_frame_free(&owned);
    }
    const uint8_t *out = f->rgb;
    pthread_mutex_unlock(&f->rgb_lock);
    return out;
}

kerr_code frame_scale_rgb(const kframe *f, int dw, int dh, uint8_t *dst, int dst_stride, kerr *err)
{
    AVFrame *owned;
    const AVFrame *pic = frame_picture(f, &owned, err);
    if (!pic) return err && err->code ? err->code : KERR_INVALID;
    kerr_code rc = convert_to_rgb(pic, dw, dh, dst, dst_stride, err);
    av_frame_free(&owned);
    return rc;
}
