/* The KVS GetMedia source, the low-latency path: one long POST /getMedia per
 * camera whose chunked body is MKV fragments back to back. The body goes
 * through the streaming EBML reader as it arrives; each frame becomes a packet
 * stamped with its producer time, server time and fragment number. On any
 * break the source reconnects by itself with the last continuation token, and
 * frames of a fragment it had partly delivered are skipped up to the last one
 * it passed on, so a reconnect has neither gaps nor repeats. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../metrics/metrics.h"
#include "ebml.h"
#include "kvs.h"

#define QUEUE_MAX 256          /* packets parsed ahead of the reader before curl pauses */
#define STALL_MS 10000         /* no byte for this long: the connection is dead */
#define FIRST_TRACK_MS 20000   /* open gives up when no fragment starts within this */
#define MIN_CONNECT_GAP_MS 200 /* GetMedia allows 5 calls per second per stream */

typedef struct {
    AVPacket *pkt;
    packet_meta meta;
} queued;

typedef struct {
    kvs_client kc;
    const cfg_camera *cam;
    const kvs_conf *conf;
    const source_env *env;
    source_info *info;
    char labels[300];
    ebml_reader *rd;
    CURLM *multi;
    CURL *easy;
    struct curl_slist *hdrs;
    char body[1024];
    bool paused;
    char errbody[4096];
    size_t errlen;
    char error_type[128];
    /* the fragment being read */
    char frag[64];
    int64_t frag_server, frag_producer, cluster_tc, frag_last_ts;
    int frag_frames; /* frames of this fragment passed on, across a reconnect */
    bool frag_done, error_fragment;
    char token[136];
    /* resume: the fragment a broken connection was in, and the last frame passed on */
    char partial[64];
    int64_t partial_last_ts, partial_producer;
    int partial_frames;
    /* the video track */
    uint64_t track;
    AVCodecParameters *par, *old_par;
    bool new_stream;
    queued q[QUEUE_MAX];
    int qhead, qlen;
    int64_t last_rx_ms, last_frame_ms, last_connect_ms;
    bool stalled, got_media, conn_media; /* conn_media: this connection brought frames */
    kerr parse_err;
    bool parse_failed;
    int64_t fragments, duplicates;
} gm_state;

#define GM_LOG(s, lvl, ...) log_kv(lvl, LOG_CTX("camera_name", (s)->env->camera), __VA_ARGS__)

/* "1726677687.758" -> ms (rounded up, as AWS's own parser does). */
static int64_t secs_to_ms(const char *v)
{
    char *end = NULL;
    double d = strtod(v, &end);
    if (end == v || d < 0 || d > 1e11) return -1;
    return (int64_t)(d * 1000.0 + 0.999);
}

/* ---- EBML callbacks ---- */

static void on_fragment(void *u)
{
    gm_state *s = u;
    s->frag[0] = '\0';
    s->frag_server = s->frag_producer = -1;
    s->frag_last_ts = INT64_MIN;
    s->frag_frames = 0;
    s->frag_done = s->error_fragment = false;
}

static enum AVCodecID codec_of(const char *id)
{
    if (strcmp(id, "V_MPEG4/ISO/AVC") == 0 || strcmp(id, "V_MPEG/ISO/AVC") == 0)
        return AV_CODEC_ID_H264;
    if (strcmp(id, "V_MPEGH/ISO/HEVC") == 0 || strcmp(id, "V_MPEG/ISO/HEVC") == 0)
        return AV_CODEC_ID_HEVC;
    return AV_CODEC_ID_NONE;
}

static void on_track(void *u, uint64_t number, const char *codec_id, const uint8_t *priv,
                     size_t priv_len, int width, int height)
{
    gm_state *s = u;
    enum AVCodecID id = codec_of(codec_id);
    if (id == AV_CODEC_ID_NONE) return; /* audio or another track: not ours */
    if (s->track && number != s->track && s->par) return;
    s->track = number;
    AVCodecParameters *p = s->par;
    if (p && p->codec_id == id && p->width == width && p->height == height &&
        (size_t)p->extradata_size == priv_len &&
        (!priv_len || !memcmp(p->extradata, priv, priv_len)))
        return; /* the same stream, repeated in every fragment */
    AVCodecParameters *np = avcodec_parameters_alloc();
    if (!np) return;
    np->codec_type = AVMEDIA_TYPE_VIDEO;
    np->codec_id = id;
    np->width = width;
    np->height = height;
    if (priv_len) {
        np->extradata = av_mallocz(priv_len + AV_INPUT_BUFFER_PADDING_SIZE);
        if (np->extradata)
            memcpy(np->extradata, priv, priv_len), np->extradata_size = (int)priv_len;
    }
    if (p) {
        GM_LOG(s, LOG_INFO, "stream changed: %s %dx%d -> %dx%d", codec_id, p->width, p->height,
               width, height);
        avcodec_parameters_free(&s->old_par); /* the decoder made its own copy long ago */
        s->old_par = p;
        s->new_stream = true;
    }
    s->par = np;
    s->info->codecpar = np;
}

static void on_tag(void *u, const char *name, const char *value)
{
    gm_state *s = u;
    if (strncmp(name, "AWS_KINESISVIDEO_", 17) != 0) return;
    const char *n = name + 17;
    if (strcmp(n, "FRAGMENT_NUMBER") == 0) {
        snprintf(s->frag, sizeof s->frag, "%s", value);
    } else if (strcmp(n, "SERVER_TIMESTAMP") == 0 || strcmp(n, "SERVER_SIDE_TIMESTAMP") == 0) {
        s->frag_server = secs_to_ms(value);
    } else if (strcmp(n, "PRODUCER_TIMESTAMP") == 0 || strcmp(n, "PRODUCER_SIDE_TIMESTAMP") == 0) {
        s->frag_producer = secs_to_ms(value);
    } else if (strcmp(n, "MILLIS_BEHIND_NOW") == 0) {
        metric_set(M_SOURCE_BEHIND, s->labels, (double)strtoll(value, NULL, 10) / 1000.0);
    } else if (strcmp(n, "CONTINUATION_TOKEN") == 0) {
        snprintf(s->token, sizeof s->token, "%.128s", value);
        if (s->frag[0] && !s->frag_done) {
            s->frag_done = true;
            s->fragments++;
            metric_add(M_SOURCE_FRAGMENTS, s->labels, 1);
            log_kv(LOG_DEBUG, LOG_CTX("camera_name", s->env->camera),
                   "fragment %s done (%d frames)", s->frag, s->frag_frames);
        }
    } else if (strcmp(n, "ERROR_CODE") == 0 || strcmp(n, "ERROR_ID") == 0) {
        if (!s->error_fragment) kvs_count(s->env, "kvs_error");
        s->error_fragment = true;
        GM_LOG(s, LOG_WARN, "GetMedia error in the stream: %s %s (fragment %s)", n, value,
               s->frag[0] ? s->frag : "?");
    }
}

static void on_cluster(void *u, uint64_t tc)
{
    gm_state *s = u;
    s->cluster_tc = (int64_t)tc;
}

static void on_block(void *u, uint64_t track, int16_t rel, bool key, const uint8_t *data,
                     size_t len)
{
    gm_state *s = u;
    if (!s->par || track != s->track) return;
    int64_t scale = (int64_t)ebml_reader_timecode_scale(s->rd);
    int64_t ts = (s->cluster_tc + rel) * scale / 1000000;
    if (s->partial[0] && strcmp(s->frag, s->partial) == 0) {
        if (ts <= s->partial_last_ts) {
            s->duplicates++; /* already passed on before the reconnect */
            return;
        }
        if (!s->frag_frames) s->frag_frames = s->partial_frames;
    }
    if (s->qlen == QUEUE_MAX) return; /* cannot happen: curl pauses first */
    AVPacket *pkt = av_packet_alloc();
    if (!pkt || av_new_packet(pkt, (int)len) < 0) {
        av_packet_free(&pkt);
        return;
    }
    memcpy(pkt->data, data, len);
    pkt->pts = pkt->dts = ts;
    if (key) pkt->flags |= AV_PKT_FLAG_KEY;
    queued *e = &s->q[(s->qhead + s->qlen++) % QUEUE_MAX];
    e->pkt = pkt;
    memset(&e->meta, 0, sizeof e->meta);
    e->meta.producer_ts_ms = ts;
    e->meta.fragment_start_ms = s->frag_producer;
    e->meta.server_ts_ms = s->frag_server >= 0 && s->frag_producer >= 0
                               ? s->frag_server + (ts - s->frag_producer)
                               : -1;
    snprintf(e->meta.fragment_number, sizeof e->meta.fragment_number, "%s", s->frag);
    e->meta.new_stream = s->new_stream;
    s->new_stream = false;
    s->frag_last_ts = ts;
    s->frag_frames++;
    s->last_frame_ms = kvs_now_ms();
    s->got_media = s->conn_media = true;
}

/* ---- the connection ---- */

static size_t on_data(char *p, size_t size, size_t n, void *u)
{
    gm_state *s = u;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    s->last_rx_ms = kvs_now_ms();
    if (status != 200) { /* an error answer: keep its JSON */
        size_t room = sizeof s->errbody - 1 - s->errlen;
        size_t k = len < room ? len : room;
        memcpy(s->errbody + s->errlen, p, k);
        s->errlen += k;
        s->errbody[s->errlen] = '\0';
        return len;
    }
    if (s->parse_failed) return 0; /* abort the transfer */
    if (s->qlen >= QUEUE_MAX / 2) {
        s->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (ebml_reader_feed(s->rd, (const uint8_t *)p, len, &s->parse_err) != KERR_OK) {
        s->parse_failed = true;
        return 0;
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *u)
{
    gm_state *s = u;
    size_t len = size * n;
    static const char k[] = "x-amzn-errortype:";
    if (len > sizeof k - 1 && strncasecmp(p, k, sizeof k - 1) == 0) {
        const char *v = p + sizeof k - 1;
        while (*v == ' ')
            v++;
        snprintf(s->error_type, sizeof s->error_type, "%.*s", (int)strcspn(v, ":\r\n"), v);
    }
    return len;
}

static void disconnect(gm_state *s)
{
    if (s->easy) {
        curl_multi_remove_handle(s->multi, s->easy);
        curl_easy_cleanup(s->easy);
    }
    curl_slist_free_all(s->hdrs);
    s->easy = NULL;
    s->hdrs = NULL;
    /* A fragment cut short: resume inside it without repeating frames. */
    if (s->frag[0] && !s->frag_done && s->frag_last_ts != INT64_MIN) {
        snprintf(s->partial, sizeof s->partial, "%s", s->frag);
        s->partial_last_ts = s->frag_last_ts;
        s->partial_producer = s->frag_producer;
        s->partial_frames = s->frag_frames;
        log_kv(LOG_DEBUG, LOG_CTX("camera_name", s->env->camera),
               "connection ended inside fragment %s after %d frames", s->frag, s->frag_frames);
    }
    ebml_reader_reset(s->rd);
    on_fragment(s);
}

static void selector(gm_state *s, char *out, size_t len)
{
    if (s->token[0])
        snprintf(out, len,
                 "{\"StartSelectorType\":\"CONTINUATION_TOKEN\",\"ContinuationToken\":\"%s\"}",
                 s->token);
    else if (s->partial[0] && s->partial_producer >= 0)
        snprintf(out, len, "{\"StartSelectorType\":\"PRODUCER_TIMESTAMP\",\"StartTimestamp\":%.3f}",
                 (double)s->partial_producer / 1000.0);
    else if (s->env->resume_ms > 0)
        snprintf(out, len, "{\"StartSelectorType\":\"PRODUCER_TIMESTAMP\",\"StartTimestamp\":%.3f}",
                 (double)s->env->resume_ms / 1000.0);
    else if (s->conf->start_ms == KVS_START_EARLIEST)
        snprintf(out, len, "{\"StartSelectorType\":\"EARLIEST\"}");
    else if (s->conf->start_ms >= 0)
        snprintf(out, len, "{\"StartSelectorType\":\"PRODUCER_TIMESTAMP\",\"StartTimestamp\":%.3f}",
                 (double)s->conf->start_ms / 1000.0);
    else
        snprintf(out, len, "{\"StartSelectorType\":\"NOW\"}");
}

static kerr_code connect_once(gm_state *s, kerr *err)
{
    aws_error ae;
    kerr_code rc = kvs_data_endpoint(&s->kc, "GET_MEDIA", &ae, err);
    if (rc != KERR_OK) return rc;
    char sel[512], url[700];
    selector(s, sel, sizeof sel);
    json_t *name = json_string(s->kc.stream);
    char *qname = name ? json_dumps(name, JSON_ENCODE_ANY) : NULL;
    json_decref(name);
    if (!qname) return kerr_set(err, KERR_NOMEM, "out of memory");
    snprintf(s->body, sizeof s->body, "{\"StreamName\":%s,\"StartSelector\":%s}", qname, sel);
    free(qname);
    snprintf(url, sizeof url, "%s/getMedia", s->kc.endpoint);
    if ((rc = kvs_sign(&s->kc, url, s->body, &s->hdrs, err)) != KERR_OK) return rc;
    s->easy = curl_easy_init();
    if (!s->easy) return kerr_set(err, KERR_NOMEM, "out of memory");
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    if (s->kc.env->global && s->kc.env->global->ca_bundle)
        curl_easy_setopt(s->easy, CURLOPT_CAINFO, s->kc.env->global->ca_bundle);
    s->errlen = 0;
    s->errbody[0] = s->error_type[0] = '\0';
    s->parse_failed = false;
    s->paused = false;
    s->conn_media = false;
    s->last_rx_ms = kvs_now_ms();
    s->last_connect_ms = kvs_now_ms();
    curl_multi_add_handle(s->multi, s->easy);
    log_kv(LOG_DEBUG, LOG_CTX("camera_name", s->env->camera), "GetMedia %s", sel);
    return KERR_OK;
}

/* The error code of a failed answer (x-amzn-ErrorType, else __type in the body). */
static void answer_code(gm_state *s, char *code, size_t len, char *msg, size_t mlen)
{
    json_t *root = json_loads(s->errbody, 0, NULL);
    const char *type = json_string_value(json_object_get(root, "__type"));
    const char *m = json_string_value(json_object_get(root, "Message"));
    if (!m) m = json_string_value(json_object_get(root, "message"));
    if (type && strchr(type, '#')) type = strchr(type, '#') + 1;
    snprintf(code, len, "%s", s->error_type[0] ? s->error_type : type ? type : "unknown");
    snprintf(msg, mlen, "%s", m ? m : "");
    json_decref(root);
}

/* A finished transfer: what to do before the next connect. Returns the wait in ms. */
static int64_t finished(gm_state *s, CURLcode res)
{
    long status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    int64_t wait = MIN_CONNECT_GAP_MS;
    if (s->parse_failed) {
        kvs_count(s->env, "parse");
        GM_LOG(s, LOG_WARN, "GetMedia: %s; reconnecting", s->parse_err.msg);
    } else if (status != 200 && status != 0) {
        char code[128], msg[256];
        answer_code(s, code, sizeof code, msg, sizeof msg);
        bool throttled = strstr(code, "LimitExceeded") != NULL;
        kvs_count(s->env, throttled ? "throttled" : status >= 500 ? "server" : "api");
        GM_LOG(s, LOG_WARN, "GetMedia answered %ld %s %s", status, code, msg);
        if (strcmp(code, "InvalidEndpointException") == 0 ||
            strcmp(code, "ResourceNotFoundException") == 0 || status >= 500)
            kvs_forget_endpoint(&s->kc);
        if (strcmp(code, "InvalidArgumentException") == 0 && s->token[0]) {
            GM_LOG(s, LOG_WARN, "continuation token refused: starting from now");
            s->token[0] = s->partial[0] = '\0';
        }
        wait = -1; /* back off */
    } else if (res != CURLE_OK) {
        kvs_count(s->env, "disconnect");
        if (!s->conn_media) wait = -1; /* nothing came through: the service is down, back off */
        GM_LOG(s, LOG_WARN, "GetMedia connection broke: %s; resuming after fragment %s",
               curl_easy_strerror(res), s->token[0] ? s->token : "(none)");
    }
    /* A clean end is normal: KVS ends idle reads after ~3 s and long ones
     * after ~45 min. */
    return wait;
}

static void pop_packet(gm_state *s, AVPacket *pkt, packet_meta *meta)
{
    queued *e = &s->q[s->qhead];
    av_packet_move_ref(pkt, e->pkt);
    av_packet_free(&e->pkt);
    *meta = e->meta;
    s->qhead = (s->qhead + 1) % QUEUE_MAX;
    s->qlen--;
    if (s->paused && s->qlen < QUEUE_MAX / 4) {
        s->paused = false;
        curl_easy_pause(s->easy, CURLPAUSE_CONT);
    }
    if (s->partial[0] && strcmp(meta->fragment_number, s->partial) != 0) s->partial[0] = '\0';
}

static void watch_stall(gm_state *s)
{
    int64_t quiet = kvs_now_ms() - (s->last_frame_ms ? s->last_frame_ms : s->last_connect_ms);
    if (!s->stalled && s->got_media && quiet > 5000) {
        s->stalled = true;
        kvs_count(s->env, "stalled");
        kvs_report(s->env, SRC_STALLED);
        GM_LOG(s, LOG_WARN, "no frames for %lld ms", (long long)quiet);
    } else if (s->stalled && quiet < 1000) {
        s->stalled = false;
        kvs_report(s->env, SRC_RUNNING);
        GM_LOG(s, LOG_INFO, "frames again");
    }
}

/* Runs the connection until a packet is queued or interrupted. */
static kerr_code pump(gm_state *s, int64_t deadline_ms, kerr *err)
{
    backoff bo;
    backoff_init(&bo, (int64_t)s->cam->reconnect_max_s * 1000);
    while (!s->qlen) {
        if (source_stopping(s->env)) return kerr_set(err, KERR_EOF, "interrupted");
        if (deadline_ms && kvs_now_ms() > deadline_ms)
            return kerr_set(err, KERR_AGAIN, "GetMedia %s: no media within %d s", s->kc.stream,
                            FIRST_TRACK_MS / 1000);
        if (!s->easy) {
            int64_t gap = MIN_CONNECT_GAP_MS - (kvs_now_ms() - s->last_connect_ms);
            if (gap > 0 && !kvs_sleep(&s->kc, gap)) continue;
            kerr cerr = {0};
            if (connect_once(s, &cerr) != KERR_OK) {
                kvs_count(s->env, "connect");
                GM_LOG(s, LOG_WARN, "GetMedia: %s", cerr.msg);
                disconnect(s);
                kvs_report(s->env, SRC_BACKOFF);
                kvs_sleep(&s->kc, backoff_next(&bo));
                kvs_report(s->env, SRC_CONNECTING);
            }
            continue;
        }
        int running = 0;
        curl_multi_perform(s->multi, &running);
        CURLMsg *m;
        int left;
        int64_t wait = 0;
        bool done = false;
        while ((m = curl_multi_info_read(s->multi, &left)))
            if (m->msg == CURLMSG_DONE && m->easy_handle == s->easy) {
                wait = finished(s, m->data.result);
                done = true;
            }
        int64_t since_frame =
            kvs_now_ms() - (s->conn_media ? s->last_frame_ms : s->last_connect_ms);
        if (!done && since_frame > 2 * STALL_MS && s->last_rx_ms > kvs_now_ms() - STALL_MS &&
            !s->paused) {
            /* Bytes but no frame for this long: the stream is damaged in a way the
             * reader cannot see. Start again from the last good fragment. */
            kvs_count(s->env, "disconnect");
            GM_LOG(s, LOG_WARN, "GetMedia: bytes but no frame for %d s; reconnecting",
                   2 * STALL_MS / 1000);
            done = true;
        }
        if (!done && kvs_now_ms() - s->last_rx_ms > STALL_MS && !s->paused) {
            kvs_count(s->env, "disconnect");
            GM_LOG(s, LOG_WARN, "GetMedia: nothing received for %d s; reconnecting",
                   STALL_MS / 1000);
            done = true;
        }
        if (done) {
            bool progressed = s->conn_media;
            disconnect(s);
            if (wait < 0) {
                kvs_report(s->env, SRC_BACKOFF);
                kvs_sleep(&s->kc, backoff_next(&bo));
                kvs_report(s->env, SRC_CONNECTING);
            } else if (progressed) {
                backoff_reset(&bo);
            }
            continue;
        }
        watch_stall(s);
        if (!s->qlen) curl_multi_poll(s->multi, NULL, 0, 100, NULL);
    }
    if (!s->stalled) kvs_report(s->env, SRC_RUNNING);
    backoff_reset(&bo);
    return KERR_OK;
}

static void gm_close(void *state)
{
    gm_state *s = state;
    if (!s) return;
    disconnect(s);
    while (s->qlen) {
        av_packet_free(&s->q[s->qhead].pkt);
        s->qhead = (s->qhead + 1) % QUEUE_MAX;
        s->qlen--;
    }
    if (s->multi) curl_multi_cleanup(s->multi);
    ebml_reader_free(s->rd);
    avcodec_parameters_free(&s->par);
    avcodec_parameters_free(&s->old_par);
    kvs_client_close(&s->kc);
    free(s);
}

static kerr_code gm_open(void **state, const cfg_camera *cam, const source_env *env,
                         source_info *info, kerr *err)
{
    gm_state *s = calloc(1, sizeof *s);
    if (!s) return kerr_set(err, KERR_NOMEM, "out of memory");
    s->cam = cam;
    s->conf = cam->source_conf;
    s->env = env;
    s->info = info;
    mlabels(s->labels, sizeof s->labels, "camera", env->camera, NULL);
    ebml_callbacks cb = {s, on_fragment, on_track, on_tag, on_cluster, on_block};
    s->rd = ebml_reader_new(&cb);
    s->multi = curl_multi_init();
    on_fragment(s);
    kerr_code rc = !s->rd || !s->multi ? kerr_set(err, KERR_NOMEM, "out of memory")
                                       : kvs_client_open(&s->kc, cam, env, err);
    if (rc == KERR_OK) rc = pump(s, kvs_now_ms() + FIRST_TRACK_MS, err);
    if (rc != KERR_OK) {
        gm_close(s);
        return rc;
    }
    info->codecpar = s->par;
    info->time_base = (AVRational){1, 1000};
    info->fps = 0;
    *state = s;
    s->q[s->qhead].meta.new_stream = false; /* the decoder opens on this stream anyway */
    return KERR_OK;
}

static kerr_code gm_read(void *state, AVPacket *pkt, packet_meta *meta, kerr *err)
{
    gm_state *s = state;
    kerr_code rc = pump(s, 0, err);
    if (rc != KERR_OK) return rc;
    pop_packet(s, pkt, meta);
    return KERR_OK;
}

static const char *const k_keys[] = {"start", NULL};

static void *gm_read_conf(const source_read_ctx *r)
{
    return kvs_conf_read(r, false);
}

static void gm_describe(const void *conf, char *out, size_t len)
{
    kvs_conf_describe(conf, out, len);
    char *cut = strstr(out, " container="); /* getmedia has only start */
    if (cut) *cut = '\0';
}

const source_ops source_kvs_getmedia = {
    .name = "getmedia",
    .keys = k_keys,
    .read_conf = gm_read_conf,
    .conf_free = kvs_conf_free,
    .describe = gm_describe,
    .traits = kvs_traits,
    .open = gm_open,
    .read = gm_read,
    .close = gm_close,
};
