#include "decode.h"

#include <stdlib.h>
#include <string.h>

struct decoder {
    AVCodecContext *ctx;
    AVRational time_base;
    bool keys_only;
    bool draining_key; /* keys_only: the last key frame is being drained */
    AVPacket *sent;    /* keys_only: that key frame, kept with its picture */
    AVCodecParameters *par;
};

static kerr_code av_err(kerr *err, kerr_code code, const char *what, int rc)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(rc, buf, sizeof buf);
    return kerr_set(err, code, "%s: %s", what, buf);
}

/* Pictures of their own for key-frame-only decoders. FFmpeg's default keeps
 * every picture it ever handed out in a pool for the decoder's life: two or
 * three per camera (a frame analysed while the next key frame decodes), 6-9
 * MB at 1080p whether or not it is in use, for a picture wanted once per GOP.
 * Each picture here is its own allocation, freed when its last holder lets
 * go, so a camera between key frames holds none. Sizes and alignment as
 * libavcodec asks (avcodec_align_dimensions2). */
static int own_picture(AVCodecContext *ctx, AVFrame *f, int flags)
{
    if (!(ctx->codec->capabilities & AV_CODEC_CAP_DR1))
        return avcodec_default_get_buffer2(ctx, f, flags);
    int w = f->width, h = f->height, align[AV_NUM_DATA_POINTERS];
    avcodec_align_dimensions2(ctx, &w, &h, align);
    AVFrame *tmp = av_frame_alloc();
    if (!tmp) return AVERROR(ENOMEM);
    tmp->format = f->format, tmp->width = w, tmp->height = h;
    int rc = av_frame_get_buffer(tmp, 64);
    /* Zeroed as libavcodec's own pool does: a decoder need not write every
     * byte (valgrind saw the model's input read some it had left). */
    for (int i = 0; rc >= 0 && i < AV_NUM_DATA_POINTERS && tmp->buf[i]; i++)
        memset(tmp->buf[i]->data, 0, tmp->buf[i]->size);
    if (rc >= 0) {
        for (int i = 0; i < AV_NUM_DATA_POINTERS; i++) {
            f->buf[i] = tmp->buf[i], tmp->buf[i] = NULL;
            f->data[i] = tmp->data[i];
            f->linesize[i] = tmp->linesize[i];
        }
        f->extended_data = f->data;
    }
    av_frame_free(&tmp);
    return rc;
}

decoder *decoder_open(const AVCodecParameters *par, AVRational time_base, int threads,
                      unsigned flags, kerr *err)
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
        if (flags & DECODER_KEYS_ONLY) d->ctx->get_buffer2 = own_picture;
        rc = avcodec_open2(d->ctx, codec, NULL);
    }
    if (rc >= 0 && (flags & DECODER_KEYS_ONLY)) {
        d->sent = av_packet_alloc();
        d->par = avcodec_parameters_alloc();
        rc = d->sent && d->par ? avcodec_parameters_copy(d->par, par) : AVERROR(ENOMEM);
    }
    if (rc < 0) {
        av_err(err, KERR_INVALID, "cannot open the decoder", rc);
        decoder_close(d);
        return NULL;
    }
    d->time_base = time_base;
    d->keys_only = flags & DECODER_KEYS_ONLY;
    return d;
}

bool decoder_keys_only(const decoder *d)
{
    return d->keys_only;
}

void decoder_close(decoder *d)
{
    if (!d) return;
    avcodec_free_context(&d->ctx);
    av_packet_free(&d->sent);
    avcodec_parameters_free(&d->par);
    free(d);
}

kerr_code decoder_send(decoder *d, const AVPacket *pkt, kerr *err)
{
    if (!pkt) d->draining_key = false; /* a real flush ends in KERR_EOF */
    int rc = avcodec_send_packet(d->ctx, pkt);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return KERR_OK;
    if (rc < 0) return av_err(err, KERR_INVALID, "corrupt packet", rc);
    /* A key frame alone: drain it at once instead of letting the reorder
     * depth hold it back (H.264 with B-frames: two key frames, 4 s at a 2 s
     * GOP), and let the decoder drop its references; see decoder_receive. */
    if (pkt && d->keys_only && avcodec_send_packet(d->ctx, NULL) >= 0) {
        d->draining_key = true;
        av_packet_unref(d->sent);
        if (av_packet_ref(d->sent, pkt) < 0) av_packet_unref(d->sent);
    }
    return KERR_OK;
}

kerr_code decoder_receive(decoder *d, AVFrame *out, kerr *err)
{
    int rc = avcodec_receive_frame(d->ctx, out);
    if (rc == AVERROR_EOF && d->draining_key) { /* ready for the next key frame */
        avcodec_flush_buffers(d->ctx);
        d->draining_key = false;
        return KERR_AGAIN;
    }
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

kframe *decoder_to_frame(decoder *d, const AVFrame *f, kerr *err)
{
    kframe *k = frame_from_picture(f, err);
    if (!k) return NULL;
    /* Without the packet the frame simply cannot shrink while it waits. */
    if (d->keys_only && d->sent->size > 0 && f->pts == d->sent->pts)
        frame_keep_key(k, d->sent, d->par, NULL);
    k->pts_ms = decoder_frame_ms(d, f);
    k->decoded_mono_ns = clock_mono_ns();
    return k;
}
