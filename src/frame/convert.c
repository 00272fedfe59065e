/* Creating a libswscale scaler costs more than scaling a 1080p picture down to
 * a model's 416 pixels, and the same few geometries recur (one per camera
 * resolution and model input), so scalers are kept in a small shared cache.
 * Each is lent to one thread at a time. */
#include "convert.h"

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
#include <string.h>

#define CACHE_MAX 32

typedef struct {
    int sw, sh, sfmt, full_range, dw, dh;
} scaler_key;

static struct {
    scaler_key key;
    struct SwsContext *ctx;
    bool lent;
} cache[CACHE_MAX];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int64_t convert_ns;

bool convert_supported(int pix_fmt)
{
    return sws_isSupportedInput((enum AVPixelFormat)pix_fmt) > 0;
}

static struct SwsContext *scaler_new(const scaler_key *k)
{
    struct SwsContext *s = sws_getContext(k->sw, k->sh, (enum AVPixelFormat)k->sfmt, k->dw, k->dh,
                                          AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (s && k->full_range) { /* a full-range stream flagged as such, not a yuvj format */
        int *inv, *tab, src_range, dst_range, bri, con, sat;
        if (sws_getColorspaceDetails(s, &inv, &src_range, &tab, &dst_range, &bri, &con, &sat) >= 0)
            sws_setColorspaceDetails(s, inv, 1, tab, dst_range, bri, con, sat);
    }
    return s;
}

static struct SwsContext *scaler_take(const scaler_key *k)
{
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < CACHE_MAX; i++)
        if (cache[i].ctx && !cache[i].lent && !memcmp(&cache[i].key, k, sizeof *k)) {
            cache[i].lent = true;
            pthread_mutex_unlock(&cache_lock);
            return cache[i].ctx;
        }
    pthread_mutex_unlock(&cache_lock);
    return scaler_new(k);
}

/* Back into the cache: its own slot, a free one, or in place of an idle one. */
static void scaler_give(const scaler_key *k, struct SwsContext *s)
{
    pthread_mutex_lock(&cache_lock);
    int free_slot = -1, idle = -1;
    for (int i = 0; i < CACHE_MAX; i++) {
        if (cache[i].ctx == s) {
            cache[i].lent = false;
            pthread_mutex_unlock(&cache_lock);
            return;
        }
        if (!cache[i].ctx && free_slot < 0) free_slot = i;
        if (cache[i].ctx && !cache[i].lent && idle < 0) idle = i;
    }
    int slot = free_slot >= 0 ? free_slot : idle;
    struct SwsContext *evicted = NULL;
    if (slot >= 0) {
        evicted = cache[slot].ctx;
        cache[slot].key = *k, cache[slot].ctx = s, cache[slot].lent = false;
    } else {
        evicted = s;
    }
    pthread_mutex_unlock(&cache_lock);
    sws_freeContext(evicted);
}

kerr_code convert_to_rgb(const AVFrame *pic, int dw, int dh, uint8_t *dst, int dst_stride,
                         kerr *err)
{
    scaler_key k;
    memset(&k, 0, sizeof k); /* compared with memcmp */
    k.sw = pic->width, k.sh = pic->height, k.sfmt = pic->format, k.dw = dw, k.dh = dh;
    k.full_range = pic->color_range == AVCOL_RANGE_JPEG;
    int64_t t0 = clock_mono_ns();
    struct SwsContext *s = scaler_take(&k);
    if (!s)
        return kerr_set(err, KERR_UNSUPPORTED,
                        "cannot convert %dx%d (pixel format %d) to %dx%d RGB", pic->width,
                        pic->height, pic->format, dw, dh);
    uint8_t *planes[4] = {dst, NULL, NULL, NULL};
    int strides[4] = {dst_stride, 0, 0, 0};
    sws_scale(s, (const uint8_t *const *)pic->data, pic->linesize, 0, pic->height, planes, strides);
    scaler_give(&k, s);
    convert_ns += clock_mono_ns() - t0;
    return KERR_OK;
}

AVFrame *convert_redecode(const AVPacket *key, const AVCodecParameters *par, kerr *err)
{
    int64_t t0 = clock_mono_ns();
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    AVCodecContext *ctx = codec ? avcodec_alloc_context3(codec) : NULL;
    AVFrame *pic = av_frame_alloc();
    int rc = ctx && pic ? avcodec_parameters_to_context(ctx, par) : AVERROR(ENOMEM);
    if (rc >= 0) {
        ctx->thread_count = 1;
        rc = avcodec_open2(ctx, codec, NULL);
    }
    if (rc >= 0) rc = avcodec_send_packet(ctx, key);
    if (rc >= 0) rc = avcodec_send_packet(ctx, NULL);
    if (rc >= 0) rc = avcodec_receive_frame(ctx, pic);
    avcodec_free_context(&ctx);
    convert_ns += clock_mono_ns() - t0;
    if (rc < 0) {
        av_frame_free(&pic);
        char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
        av_strerror(rc, buf, sizeof buf);
        kerr_set(err, KERR_INVALID, "cannot decode the key frame again: %s", buf);
    }
    return pic;
}

void frame_convert_ns_add(int64_t ns)
{
    convert_ns += ns;
}

int64_t frame_convert_ns_take(void)
{
    int64_t ns = convert_ns;
    convert_ns = 0;
    return ns;
}

void frame_convert_shutdown(void)
{
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < CACHE_MAX; i++) {
        sws_freeContext(cache[i].ctx);
        cache[i].ctx = NULL;
        cache[i].lent = false;
    }
    pthread_mutex_unlock(&cache_lock);
}
