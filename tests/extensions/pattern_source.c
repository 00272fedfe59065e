/* A source that exists only in the tests' kvs-infer-ext (tests/CMakeLists.txt):
 * generated video, a red square crossing a grey field, as raw RGB frames. It
 * shows that a source is one file plus one registration line: its keys under
 * `source:`, their checks, its traits and its packets are all here.
 *
 *   source: {mode: pattern, frames: 50, fps: 10} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/source/source.h"

enum { WIDTH = 320, HEIGHT = 240, SQUARE = 40 };

typedef struct {
    int frames;
    double fps;
} pattern_conf;

typedef struct {
    const pattern_conf *conf;
    AVCodecParameters *par;
    int next;
} pattern_state;

static const char *const k_keys[] = {"frames", "fps", NULL};

static void *pattern_read_conf(const source_read_ctx *r)
{
    pattern_conf *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = (pattern_conf){.frames = 50, .fps = 10};
    int64_t n;
    if (cfg_read_int(r->d, r->src, "frames", r->src_path, 1, 100000, &n)) c->frames = (int)n;
    cfg_read_double(r->d, r->src, "fps", r->src_path, 1, 120, &c->fps);
    return c;
}

static void pattern_conf_free(void *conf)
{
    free(conf);
}

static void pattern_describe(const void *conf, char *out, size_t len)
{
    const pattern_conf *c = conf;
    snprintf(out, len, "frames=%d fps=%g", c->frames, c->fps);
}

/* A generated clip is analysed frame by frame, and it never needs a retry. */
static unsigned pattern_traits(const void *conf)
{
    (void)conf;
    return SOURCE_BATCH;
}

static void pattern_close(void *state)
{
    pattern_state *s = state;
    if (!s) return;
    avcodec_parameters_free(&s->par);
    free(s);
}

static kerr_code pattern_open(void **state, const cfg_camera *cam, const source_env *env,
                              source_info *info, kerr *err)
{
    (void)env;
    pattern_state *s = calloc(1, sizeof *s);
    if (!s || !(s->par = avcodec_parameters_alloc())) {
        free(s);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    s->conf = cam->source_conf;
    s->par->codec_type = AVMEDIA_TYPE_VIDEO;
    s->par->codec_id = AV_CODEC_ID_RAWVIDEO;
    s->par->format = AV_PIX_FMT_RGB24;
    s->par->width = WIDTH;
    s->par->height = HEIGHT;
    info->codecpar = s->par;
    info->time_base = (AVRational){1, 1000};
    info->fps = s->conf->fps;
    *state = s;
    return KERR_OK;
}

static kerr_code pattern_read(void *state, AVPacket *pkt, packet_meta *meta, kerr *err)
{
    pattern_state *s = state;
    memset(meta, 0, sizeof *meta);
    meta->producer_ts_ms = meta->server_ts_ms = -1;
    if (s->next == s->conf->frames) return KERR_EOF;
    if (av_new_packet(pkt, WIDTH * HEIGHT * 3) < 0)
        return kerr_set(err, KERR_NOMEM, "out of memory");
    memset(pkt->data, 0x60, (size_t)pkt->size);
    int x0 = 10 + s->next * (WIDTH - SQUARE - 20) / s->conf->frames, y0 = 100;
    for (int y = y0; y < y0 + SQUARE; y++)
        for (int x = x0; x < x0 + SQUARE; x++) {
            unsigned char *p = pkt->data + (y * WIDTH + x) * 3;
            p[0] = 255, p[1] = 0, p[2] = 0;
        }
    pkt->pts = pkt->dts = (int64_t)(s->next * 1000.0 / s->conf->fps);
    pkt->flags |= AV_PKT_FLAG_KEY;
    s->next++;
    return KERR_OK;
}

const source_ops source_pattern = {
    .name = "pattern",
    .keys = k_keys,
    .read_conf = pattern_read_conf,
    .conf_free = pattern_conf_free,
    .describe = pattern_describe,
    .traits = pattern_traits,
    .open = pattern_open,
    .read = pattern_read,
    .close = pattern_close,
};

SOURCE_REGISTER(source_pattern)
