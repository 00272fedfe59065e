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
    decoder *d = decoder_open(par, (AVRational){1, 1000}, 1, &err);
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
                kframe *out = decoder_to_rgb(d, f, &err);
                assert_non_null(out);
                assert_int_equal(out->width, w);
                assert_true(out->stride >= w * 3);
                frame_unref(out);
                av_frame_free(&f);
            }
    decoder_close(d);
    avcodec_parameters_free(&par);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(converts_every_format_and_width)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
