/* Compressed packets -> a fast-start MP4, without decoding or re-encoding,
 * written to a temporary file as the packets come (clip_mux_*): an open
 * clip's post-roll goes to disk, not into memory. The MP4 muxer's fast-start
 * pass moves the index in front by reading the file back at the end. Audio
 * never reaches here: sources hand out the video stream only. */
#include <errno.h>
#include <libavformat/avformat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clip_internal.h"

struct clip_mux {
    AVFormatContext *oc;
    AVRational tb; /* the packets' */
    int64_t base;  /* shown at 0: the first key frame's pts (with offset) */
    AVPacket *p;   /* scratch reference */
    char path[4096];
    int packets;
};

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

void clip_mux_abort(clip_mux *m)
{
    if (!m) return;
    if (m->oc) {
        if (m->oc->pb) avio_closep(&m->oc->pb);
        avformat_free_context(m->oc);
    }
    av_packet_free(&m->p);
    if (m->path[0]) unlink(m->path);
    free(m);
}

static kerr_code start_file(clip_mux *m, const AVCodecParameters *par, kerr *err)
{
    int w = avformat_alloc_output_context2(&m->oc, NULL, "mp4", m->path);
    if (w < 0 || !m->oc) return av_fail(err, w < 0 ? w : AVERROR(ENOMEM), "mp4 muxer");
    AVStream *st = avformat_new_stream(m->oc, NULL);
    if (!st || avcodec_parameters_copy(st->codecpar, par) < 0)
        return kerr_set(err, KERR_NOMEM, "out of memory");
    st->codecpar->codec_tag = codec_tag(par);
    st->time_base = m->tb;
    if ((w = avio_open(&m->oc->pb, m->path, AVIO_FLAG_WRITE)) < 0) return av_fail(err, w, m->path);
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "movflags", "+faststart", 0);
    w = avformat_write_header(m->oc, &opts);
    av_dict_free(&opts);
    return w < 0 ? av_fail(err, w, "mp4 header") : KERR_OK;
}

kerr_code clip_mux_open(clip_mux **out, const AVCodecParameters *par, AVRational tb,
                        const char *tmp_dir, kerr *err)
{
    *out = NULL;
    clip_mux *m = calloc(1, sizeof *m);
    if (!m || !(m->p = av_packet_alloc())) {
        if (m) free(m);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    m->tb = tb;
    m->base = AV_NOPTS_VALUE;
    snprintf(m->path, sizeof m->path, "%s/kvs-clip-XXXXXX", tmp_dir);
    int fd = mkstemp(m->path);
    if (fd < 0) {
        kerr_code rc = kerr_set(err, KERR_IO, "clip: %s: %s", m->path, strerror(errno));
        m->path[0] = '\0';
        clip_mux_abort(m);
        return rc;
    }
    close(fd);
    kerr_code rc = start_file(m, par, err);
    if (rc != KERR_OK) {
        clip_mux_abort(m);
        return rc;
    }
    *out = m;
    return KERR_OK;
}

kerr_code clip_mux_write(clip_mux *m, const AVPacket *pkt, int64_t offset_tb, kerr *err)
{
    AVPacket *p = m->p;
    if (av_packet_ref(p, pkt) < 0) return kerr_set(err, KERR_NOMEM, "out of memory");
    int64_t dts = p->dts != AV_NOPTS_VALUE ? p->dts : p->pts;
    if (dts == AV_NOPTS_VALUE) { /* no time at all: the muxer could not place it */
        av_packet_unref(p);
        return KERR_OK;
    }
    dts += offset_tb;
    /* The first key frame is shown at 0 (decode times before it are
     * negative: the muxer's edit list keeps them). */
    if (m->base == AV_NOPTS_VALUE) m->base = p->pts != AV_NOPTS_VALUE ? p->pts + offset_tb : dts;
    p->dts = dts - m->base;
    p->pts = p->pts != AV_NOPTS_VALUE ? p->pts + offset_tb - m->base : p->dts;
    p->stream_index = 0;
    p->pos = -1;
    av_packet_rescale_ts(p, m->tb, m->oc->streams[0]->time_base);
    int w = av_write_frame(m->oc, p); /* in decode order already: no interleaving */
    av_packet_unref(p);
    if (w < 0) return av_fail(err, w, "writing a packet");
    m->packets++;
    return KERR_OK;
}

kerr_code clip_mux_finish(clip_mux *m, char *path, size_t path_cap, size_t *len, kerr *err)
{
    *len = 0;
    kerr_code rc = KERR_OK;
    int w;
    if (m->packets == 0)
        rc = kerr_set(err, KERR_INVALID, "clip: no packets");
    else if ((w = av_write_trailer(m->oc)) < 0) /* the fast-start pass rereads the file */
        rc = av_fail(err, w, "mp4 trailer");
    if (m->oc->pb) avio_closep(&m->oc->pb);
    struct stat st;
    if (rc == KERR_OK && stat(m->path, &st) != 0)
        rc = kerr_set(err, KERR_IO, "clip: %s: %s", m->path, strerror(errno));
    if (rc == KERR_OK && (size_t)snprintf(path, path_cap, "%s", m->path) >= path_cap)
        rc = kerr_set(err, KERR_INVALID, "clip: path too long");
    if (rc == KERR_OK) {
        *len = (size_t)st.st_size;
        m->path[0] = '\0'; /* the caller's now */
    }
    clip_mux_abort(m);
    return rc;
}
