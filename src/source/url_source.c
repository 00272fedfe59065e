/* The URL source: local files, HTTP(S) HLS playlists and RTSP through
 * libavformat. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

typedef struct {
    AVFormatContext *fmt;
    int stream;
    const source_env *env;
    int64_t io_deadline_ns; /* a stalled network read gives up after this */
    bool opening;           /* until the stream info is read */
    bool over_cap;          /* opening read more than OPEN_MAX_BYTES */
} url_state;

/* source: {mode: url, url: ..., loop: false, realtime: true} */
typedef struct {
    char *url;
    bool loop;     /* a file: play it again at the end */
    bool realtime; /* a file: at its own pace, like a camera (else as fast as analysed) */
} url_conf;

static const char *const k_keys[] = {"url", "loop", "realtime", NULL};

static void *url_read_conf(const source_read_ctx *r)
{
    url_conf *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->realtime = true;
    cfg_read_str(r->d, r->src, "url", r->src_path, &c->url);
    cfg_read_bool(r->d, r->src, "loop", r->src_path, &c->loop);
    cfg_read_bool(r->d, r->src, "realtime", r->src_path, &c->realtime);
    if (!c->url)
        cfg_diag_add(r->d, r->src ? r->src : r->cam, r->src_path,
                     "mode url needs `url:` (a file path, http(s) .m3u8 or rtsp:// address)");
    return c;
}

static void url_conf_free(void *conf)
{
    url_conf *c = conf;
    if (c) free(c->url);
    free(c);
}

static void url_describe(const void *conf, char *out, size_t len)
{
    const url_conf *c = conf;
    snprintf(out, len, "url=%s loop=%s realtime=%s", c->url ? c->url : "",
             c->loop ? "true" : "false", c->realtime ? "true" : "false");
}

/* Anything with a scheme but file: is read over the network (rtsp, http(s),
 * srt, udp, ...), so its end is a disconnect. */
static bool is_network(const url_conf *c)
{
    return c->url && strstr(c->url, "://") != NULL && strncmp(c->url, "file:", 5) != 0;
}

/* realtime: false analyses every frame, also of a network input read as
 * fast as it comes (a VOD playlist). */
static unsigned url_traits(const void *conf)
{
    const url_conf *c = conf;
    return (is_network(c) ? SOURCE_RETRY : 0) | (c->realtime ? 0 : SOURCE_BATCH);
}

/* What opening may read from the input itself: a playlist, or a container's
 * headers and probe. A server that streams an endless playlist (each entry
 * kept by FFmpeg's HLS demuxer) grew memory by gigabytes before the 15 s open
 * deadline; probing a real stream reads a few MB (probesize). */
enum { OPEN_MAX_BYTES = 8 << 20 };

static int interrupt_cb(void *opaque)
{
    url_state *s = opaque;
    if (source_stopping(s->env)) return 1;
    if (s->opening && s->fmt && s->fmt->pb && s->fmt->pb->bytes_read > OPEN_MAX_BYTES)
        return s->over_cap = true;
    return s->io_deadline_ns && clock_mono_ns() > s->io_deadline_ns;
}

static void url_close(void *state)
{
    url_state *s = state;
    if (!s) return;
    avformat_close_input(&s->fmt);
    free(s);
    heap_give_back(); /* a closed input can leave much freed heap (an endless playlist) */
}

static kerr_code av_fail(kerr *err, const char *what, const char *url, int rc)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(rc, buf, sizeof buf);
    return kerr_set(err, rc == AVERROR(ENOENT) ? KERR_IO : KERR_INVALID, "%s %s: %s", what, url,
                    buf);
}

static kerr_code url_open(void **state, const cfg_camera *cam, const source_env *env,
                          source_info *info, kerr *err)
{
    const url_conf *conf = cam->source_conf;
    if (!conf || !conf->url) return kerr_set(err, KERR_INVALID, "no url to open");
    url_state *s = calloc(1, sizeof *s);
    if (!s) return kerr_set(err, KERR_NOMEM, "out of memory");
    s->env = env;
    s->fmt = avformat_alloc_context();
    if (!s->fmt) {
        free(s);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    s->fmt->interrupt_callback.callback = interrupt_cb;
    s->fmt->interrupt_callback.opaque = s;
    AVDictionary *opts = NULL;
    bool net = is_network(conf);
    if (strncmp(conf->url, "rtsp://", 7) == 0) av_dict_set(&opts, "rtsp_transport", "tcp", 0);
    if (net) av_dict_set(&opts, "rw_timeout", "10000000", 0);
    s->io_deadline_ns = net ? clock_mono_ns() + 15000000000LL : 0;
    s->opening = true;
    int rc = avformat_open_input(&s->fmt, conf->url, NULL, &opts);
    av_dict_free(&opts);
    if (rc < 0) {
        bool over = s->over_cap;
        free(s); /* avformat_open_input frees the context on failure */
        heap_give_back();
        if (over)
            return kerr_set(err, KERR_INVALID,
                            "cannot open %s: it sent more than %d MiB before any video (an "
                            "endless playlist?)",
                            conf->url, OPEN_MAX_BYTES >> 20);
        return av_fail(err, "cannot open", conf->url, rc);
    }
    rc = avformat_find_stream_info(s->fmt, NULL);
    if (rc < 0) {
        url_close(s);
        return av_fail(err, "cannot read stream info of", conf->url, rc);
    }
    s->stream = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (s->stream < 0) {
        url_close(s);
        return kerr_set(err, KERR_INVALID, "%s: no video stream", conf->url);
    }
    AVStream *st = s->fmt->streams[s->stream];
    s->opening = false;
    info->codecpar = st->codecpar;
    info->time_base = st->time_base;
    AVRational fr = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
    info->fps = fr.num && fr.den ? av_q2d(fr) : 0;
    info->pace = conf->realtime && !net;
    info->loop = conf->loop;
    *state = s;
    return KERR_OK;
}

static kerr_code url_read(void *state, AVPacket *pkt, packet_meta *meta, kerr *err)
{
    url_state *s = state;
    memset(meta, 0, sizeof *meta);
    meta->producer_ts_ms = -1;
    meta->server_ts_ms = -1;
    for (;;) {
        if (s->io_deadline_ns) s->io_deadline_ns = clock_mono_ns() + 15000000000LL;
        int rc = av_read_frame(s->fmt, pkt);
        if (rc == AVERROR_EOF) return KERR_EOF;
        if (rc < 0) {
            if (source_stopping(s->env)) return kerr_set(err, KERR_EOF, "interrupted");
            return av_fail(err, "read error in", s->fmt->url, rc);
        }
        if (pkt->stream_index == s->stream) {
            /* pts count from the start of the input (MPEG-TS starts at 1.4 s, RTSP
             * anywhere), so events carry comparable media times. */
            int64_t start = s->fmt->streams[s->stream]->start_time;
            if (start != AV_NOPTS_VALUE) {
                if (pkt->pts != AV_NOPTS_VALUE) pkt->pts -= start;
                if (pkt->dts != AV_NOPTS_VALUE) pkt->dts -= start;
            }
            return KERR_OK;
        }
        av_packet_unref(pkt);
    }
}

static kerr_code url_rewind(void *state, kerr *err)
{
    url_state *s = state;
    int rc = av_seek_frame(s->fmt, s->stream, 0, AVSEEK_FLAG_BACKWARD);
    if (rc < 0) rc = avformat_seek_file(s->fmt, -1, INT64_MIN, 0, 0, 0);
    if (rc < 0) return av_fail(err, "cannot rewind", s->fmt->url, rc);
    return KERR_OK;
}

const source_ops source_url = {
    .name = "url",
    .keys = k_keys,
    .implied_by = "url",
    .read_conf = url_read_conf,
    .conf_free = url_conf_free,
    .describe = url_describe,
    .traits = url_traits,
    .open = url_open,
    .read = url_read,
    .rewind = url_rewind,
    .close = url_close,
};
