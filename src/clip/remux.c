/* Compressed packets -> a fast-start MP4, without decoding or re-encoding.
 * The MP4 muxer's fast-start pass moves the index in front by reading the
 * file back, so the clip is written to a temporary file first. Audio never
 * reaches here: sources hand out the video stream only. */
#include <errno.h>
#include <libavformat/avformat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clip.h"

static kerr_code av_fail(kerr *err, int rc, const char *what)
{
    char msg[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(rc, msg, sizeof msg);
    return kerr_set(err, KERR_IO, "clip: %s: %s", what, msg);
}

/* The H.265 tag browsers and QuickTime play (hvc1: parameter sets in the
 * sample description, which the muxer writes). */
static unsigned codec_tag(const AVCodecParameters *par)
{
    return par->codec_id == AV_CODEC_ID_HEVC ? MKTAG('h', 'v', 'c', '1') : 0;
}

static kerr_code write_packets(AVFormatContext *oc, AVRational tb, AVPacket *const *pkts,
                               const int64_t *offsets_tb, int n, kerr *err)
{
    AVStream *st = oc->streams[0];
    AVPacket *p = av_packet_alloc();
    if (!p) return kerr_set(err, KERR_NOMEM, "out of memory");
    int64_t base = AV_NOPTS_VALUE;
    kerr_code rc = KERR_OK;
    for (int i = 0; i < n && rc == KERR_OK; i++) {
        if (av_packet_ref(p, pkts[i]) < 0) {
            rc = kerr_set(err, KERR_NOMEM, "out of memory");
            break;
        }
        int64_t dts = p->dts != AV_NOPTS_VALUE ? p->dts : p->pts;
        if (dts == AV_NOPTS_VALUE) { /* no time at all: the muxer could not place it */
            av_packet_unref(p);
            continue;
        }
        dts += offsets_tb[i];
        /* The first key frame is shown at 0 (decode times before it are
         * negative: the muxer's edit list keeps them). */
        if (base == AV_NOPTS_VALUE) base = p->pts != AV_NOPTS_VALUE ? p->pts + offsets_tb[i] : dts;
        p->dts = dts - base;
        p->pts = p->pts != AV_NOPTS_VALUE ? p->pts + offsets_tb[i] - base : p->dts;
        p->stream_index = 0;
        p->pos = -1;
        av_packet_rescale_ts(p, tb, st->time_base);
        int w = av_write_frame(oc, p); /* in decode order already: no interleaving */
        av_packet_unref(p);
        if (w < 0) rc = av_fail(err, w, "writing a packet");
    }
    av_packet_free(&p);
    return rc;
}

static kerr_code mux_file(const char *path, const AVCodecParameters *par, AVRational tb,
                          AVPacket *const *pkts, const int64_t *offsets_tb, int n, kerr *err)
{
    AVFormatContext *oc = NULL;
    int w = avformat_alloc_output_context2(&oc, NULL, "mp4", path);
    if (w < 0 || !oc) return av_fail(err, w < 0 ? w : AVERROR(ENOMEM), "mp4 muxer");
    kerr_code rc = KERR_OK;
    AVStream *st = avformat_new_stream(oc, NULL);
    if (!st || avcodec_parameters_copy(st->codecpar, par) < 0) {
        rc = kerr_set(err, KERR_NOMEM, "out of memory");
        goto out;
    }
    st->codecpar->codec_tag = codec_tag(par);
    st->time_base = tb;
    if ((w = avio_open(&oc->pb, path, AVIO_FLAG_WRITE)) < 0) {
        rc = av_fail(err, w, path);
        goto out;
    }
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "movflags", "+faststart", 0);
    w = avformat_write_header(oc, &opts);
    av_dict_free(&opts);
    if (w < 0) {
        rc = av_fail(err, w, "mp4 header");
        goto out;
    }
    rc = write_packets(oc, tb, pkts, offsets_tb, n, err);
    if ((w = av_write_trailer(oc)) < 0 && rc == KERR_OK) rc = av_fail(err, w, "mp4 trailer");
out:
    if (oc->pb) avio_closep(&oc->pb);
    avformat_free_context(oc);
    return rc;
}

kerr_code clip_remux(const AVCodecParameters *par, AVRational tb, AVPacket *const *pkts,
                     const int64_t *offsets_tb, int n, const char *tmp_dir, event_image *out,
                     kerr *err)
{
    *out = (event_image){0};
    if (n <= 0) return kerr_set(err, KERR_INVALID, "clip: no packets");
    char path[4096];
    snprintf(path, sizeof path, "%s/kvs-clip-XXXXXX", tmp_dir);
    int fd = mkstemp(path);
    if (fd < 0) return kerr_set(err, KERR_IO, "clip: %s: %s", path, strerror(errno));
    close(fd);
    kerr_code rc = mux_file(path, par, tb, pkts, offsets_tb, n, err);
    if (rc == KERR_OK) {
        size_t len = 0;
        char *data = read_file(path, &len, err);
        if (!data) rc = err && err->code ? err->code : KERR_IO;
        out->data = (unsigned char *)data;
        out->len = len;
    }
    unlink(path);
    return rc;
}
