#include "decode.h"

#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <stdlib.h>

struct decoder {
    AVCodecContext *ctx;
    AVRational time_base;
    struct SwsContext *sws;
    int sws_w, sws_h, sws_fmt;
};

static kerr_code av_err(kerr *err, kerr_code code, const char *what, int rc)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(rc, buf, sizeof buf);
    return kerr_set(err, code, "%s: %s", what, buf);
}

decoder *decoder_open(const AVCodecParameters *par, AVRational time_base, int threads, kerr *err)
{
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec) {
        kerr_set(err, KERR_UNSUPPORTED, "no decoder for codec %s", avcodec_get_name(par->codec_id));
        return NULL;
    }
    decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->ctx = avcodec_alloc_context3(codec);
    int rc = d->ctx ? avcodec_parameters_to_context(d->ctx, par) : AVERROR(ENOMEM);
    if (rc >= 0) {
        d->ctx->thread_count = threads;
        d->ctx->pkt_timebase = time_base;
        rc = avcodec_open2(d->ctx, codec, NULL);
    }
    if (rc < 0) {
        av_err(err, KERR_INVALID, "cannot open the decoder", rc);
        decoder_close(d);
        return NULL;
    }
    d->time_base = time_base;
    return d;
}

void decoder_close(decoder *d)
{
    if (!d) return;
    avcodec_free_context(&d->ctx);
    sws_freeContext(d->sws);
    free(d);
}

kerr_code decoder_send(decoder *d, const AVPacket *pkt, kerr *err)
{
    int rc = avcodec_send_packet(d->ctx, pkt);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return KERR_OK;
    if (rc < 0) return av_err(err, KERR_INVALID, "corrupt packet", rc);
    return KERR_OK;
}

kerr_code decoder_receive(decoder *d, AVFrame *out, kerr *err)
{
    int rc = avcodec_receive_frame(d->ctx, out);
    if (rc == AVERROR(EAGAIN)) return KERR_AGAIN;
    if (rc == AVERROR_EOF) return KERR_EOF;
    if (rc < 0) return av_err(err, KERR_INVALID, "decode error", rc);
    if (out->decode_error_flags || (out->flags & AV_FRAME_FLAG_CORRUPT))
        return kerr_set(err, KERR_INVALID, "corrupt frame (decode_error_flags=%d)",
                        out->decode_error_flags);
    return KERR_OK;
}

int64_t decoder_frame_ms(const decoder *d, const AVFrame *f)
{
    int64_t ts = f->best_effort_timestamp;
    if (ts == AV_NOPTS_VALUE) ts = f->pts;
    if (ts == AV_NOPTS_VALUE) return -1;
    return av_rescale_q(ts, d->time_base, (AVRational){1, 1000});
}

kframe *decoder_to_rgb(decoder *d, const AVFrame *f, kerr *err)
{
    if (!d->sws || d->sws_w != f->width || d->sws_h != f->height || d->sws_fmt != f->format) {
        sws_freeContext(d->sws);
        d->sws = sws_getContext(f->width, f->height, (enum AVPixelFormat)f->format, f->width,
                                f->height, AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
        if (!d->sws) {
            kerr_set(err, KERR_UNSUPPORTED, "cannot convert %dx%d %s to RGB", f->width, f->height,
                     av_get_pix_fmt_name((enum AVPixelFormat)f->format));
            return NULL;
        }
        d->sws_w = f->width, d->sws_h = f->height, d->sws_fmt = f->format;
    }
    kframe *k = frame_new(f->width, f->height);
    if (!k) {
        kerr_set(err, KERR_INVALID, "bad frame size %dx%d", f->width, f->height);
        return NULL;
    }
    uint8_t *dst[4] = {k->rgb, NULL, NULL, NULL};
    int dst_stride[4] = {k->stride, 0, 0, 0};
    sws_scale(d->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_stride);
    k->pts_ms = decoder_frame_ms(d, f);
    k->decoded_mono_ns = clock_mono_ns();
    return k;
}
