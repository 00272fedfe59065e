/* RGB conversion of decoded frames of every common pixel format and awkward
 * widths. Run under valgrind in CI: libswscale's vector stores must stay
 * inside the frame buffer (they once ran past the last row). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>

#include "../../src/decode/decode.h"

static void converts_every_format_and_width(void **state)
{
    (void)state;
    const enum AVPixelFormat fmts[] = {AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_RGBA,
                                       AV_PIX_FMT_GRAY8,   AV_PIX_FMT_PAL8,     AV_PIX_FMT_BGR24,
                                       AV_PIX_FMT_NV12,    AV_PIX_FMT_YUV444P};
    av_log_set_level(AV_LOG_ERROR);
    AVCodecParameters *par = avcodec_parameters_alloc();
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = AV_CODEC_ID_RAWVIDEO;
    par->width = 64, par->height = 48, par->format = AV_PIX_FMT_YUV420P;
    kerr err = {0};
    decoder *d = decoder_open(par, (AVRational){1, 1000}, 1, 0, &err);
    assert_non_null(d);
    const int widths[] = {1,  2,  3,   5,   7,   9,   15,  17,  31,  33,
                          63, 65, 493, 509, 511, 512, 513, 600, 641, 767};
    const int heights[] = {7, 356, 482}; /* butterfly.jpg 493x356 and 600x482 overran */
    for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++)
        for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++)
            for (size_t hi = 0; hi < 3; hi++) {
                int w = widths[wi], fh = heights[hi];
                AVFrame *f = av_frame_alloc();
                f->format = fmts[k], f->width = w, f->height = fh;
                assert_int_equal(av_frame_get_buffer(f, 0), 0);
                const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(fmts[k]);
                for (int p = 0; p < 4 && f->data[p]; p++) {
                    int h = p == 1 || p == 2 ? AV_CEIL_RSHIFT(fh, desc->log2_chroma_h) : fh;
                    if (fmts[k] == AV_PIX_FMT_PAL8 && p == 1)
                        memset(f->data[1], 200, 1024); /* the palette */
                    else
                        memset(f->data[p], 100 + p, (size_t)f->linesize[p] * (size_t)h);
                }
                kframe *out = decoder_to_frame(d, f, &err);
                assert_non_null(out);
                assert_int_equal(out->width, w);
                assert_non_null(frame_rgb(out, &err));
                assert_true(out->stride >= w * 3);
                frame_unref(out);
                av_frame_free(&f);
            }
    decoder_close(d);
    avcodec_parameters_free(&par);
}

/* A 96x64 picture of a gradient with a bright square at (x, 16), as an
 * MPEG-4 key frame; par gets the stream's parameters. */
static AVPacket *key_frame(int x, int64_t pts, AVCodecParameters *par)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
    assert_non_null(codec);
    AVCodecContext *e = avcodec_alloc_context3(codec);
    e->width = 96, e->height = 64, e->pix_fmt = AV_PIX_FMT_YUV420P;
    e->time_base = (AVRational){1, 25};
    e->gop_size = 1;
    assert_int_equal(avcodec_open2(e, codec, NULL), 0);
    AVFrame *pic = av_frame_alloc();
    pic->format = AV_PIX_FMT_YUV420P, pic->width = 96, pic->height = 64, pic->pts = pts;
    assert_int_equal(av_frame_get_buffer(pic, 0), 0);
    for (int y = 0; y < 64; y++)
        for (int i = 0; i < 96; i++)
            pic->data[0][y * pic->linesize[0] + i] =
                (uint8_t)(i >= x && i < x + 16 && y >= 16 && y < 32 ? 235 : 16 + i);
    memset(pic->data[1], 128, (size_t)pic->linesize[1] * 32);
    memset(pic->data[2], 128, (size_t)pic->linesize[2] * 32);
    assert_int_equal(avcodec_send_frame(e, pic), 0);
    assert_int_equal(avcodec_send_frame(e, NULL), 0);
    AVPacket *pkt = av_packet_alloc();
    assert_int_equal(avcodec_receive_packet(e, pkt), 0);
    assert_true(pkt->flags & AV_PKT_FLAG_KEY);
    avcodec_parameters_from_context(par, e);
    av_frame_free(&pic);
    avcodec_free_context(&e);
    return pkt;
}

/* Key frames only: each picture comes out as soon as its packet goes in, and
 * a frame that waits shrinks to its packet and decodes again to the same
 * pixels (a track's best sighting, for its snapshot). */
static void key_frames_come_out_at_once_and_shrink(void **state)
{
    (void)state;
    AVCodecParameters *par = avcodec_parameters_alloc();
    AVPacket *k1 = key_frame(8, 0, par), *k2 = key_frame(60, 1, par);
    kerr err = {0};
    decoder *d = decoder_open(par, (AVRational){1, 25}, 1, DECODER_KEYS_ONLY, &err);
    assert_non_null(d);
    assert_true(decoder_keys_only(d));
    AVFrame *f = av_frame_alloc();
    kframe *kept[2];
    AVPacket *pkts[2] = {k1, k2};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(decoder_send(d, pkts[i], &err), KERR_OK);
        assert_int_equal(decoder_receive(d, f, &err), KERR_OK); /* no reorder delay */
        kept[i] = decoder_to_frame(d, f, &err);
        av_frame_unref(f);
        assert_non_null(kept[i]);
        assert_non_null(kept[i]->key);
        assert_int_equal(decoder_receive(d, f, &err), KERR_AGAIN); /* ready for the next */
    }
    size_t row = 96 * 3;
    uint8_t *before = malloc(row * 64);
    const uint8_t *rgb = frame_rgb(kept[1], &err);
    assert_non_null(rgb);
    for (int y = 0; y < 64; y++)
        memcpy(before + (size_t)y * row, rgb + (size_t)y * kept[1]->stride, row);
    assert_true(rgb[20 * kept[1]->stride + 64 * 3] > 200); /* the square of frame 2 */
    frame_compact(kept[1]);
    assert_null(kept[1]->pic);
    assert_null(kept[1]->rgb);
    rgb = frame_rgb(kept[1], &err); /* decoded again from the packet */
    assert_non_null(rgb);
    for (int y = 0; y < 64; y++)
        assert_memory_equal(before + (size_t)y * row, rgb + (size_t)y * kept[1]->stride, row);
    uint8_t small[48 * 3 * 32 + 64];
    frame_compact(kept[0]);
    assert_int_equal(frame_scale_rgb(kept[0], 48, 32, small, 48 * 3, &err), KERR_OK);
    assert_true(small[(10 * 48 + 6) * 3] > 200); /* frame 1's square, at half size */
    free(before);
    frame_unref(kept[0]);
    frame_unref(kept[1]);
    av_frame_free(&f);
    av_packet_free(&k1);
    av_packet_free(&k2);
    decoder_close(d);
    avcodec_parameters_free(&par);
}

/* The packets skipped while hoping for key frames only: kept in order, as
 * references, never beyond the byte budget. */
static void packet_queue_keeps_order_within_budget(void **state)
{
    (void)state;
    packet_queue q;
    packet_queue_init(&q, 1000);
    AVPacket *p = av_packet_alloc();
    assert_int_equal(av_new_packet(p, 300), 0);
    for (int i = 0; i < 3; i++) {
        p->pts = i;
        assert_true(packet_queue_push(&q, p));
    }
    assert_false(packet_queue_push(&q, p)); /* 1200 > 1000: not kept */
    assert_int_equal(q.n, 3);
    assert_int_equal(q.v[2]->pts, 2);
    assert_ptr_equal(q.v[0]->data, p->data); /* a reference, not a copy */
    assert_int_equal(packet_queue_clear(&q), 3);
    assert_int_equal(q.bytes, 0);
    assert_true(packet_queue_push(&q, p));
    packet_queue_free(&q);
    av_packet_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(converts_every_format_and_width),
                                       cmocka_unit_test(key_frames_come_out_at_once_and_shrink),
                                       cmocka_unit_test(packet_queue_keeps_order_within_budget)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
