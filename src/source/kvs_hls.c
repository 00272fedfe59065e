/* The KVS HLS source: GetDataEndpoint -> GetHLSStreamingSessionURL, then our
 * own playlist client (m3u8.c) polling the media playlist at its target
 * duration, following the live edge and taking each fragment once across
 * polls and sessions. Fragments (fMP4 with their init fragment, or MPEG-TS)
 * flow into one libavformat demuxer through a custom AVIOContext; every
 * packet is mapped back to its fragment by byte position so it carries the
 * fragment number and a producer time from EXT-X-PROGRAM-DATE-TIME. Sessions
 * are renewed before they expire and after a 403; errors back off and retry
 * forever, reported to the camera. A camera resumed from a checkpoint well
 * behind live reads the backlog through ON_DEMAND sessions (the whole range
 * listed at once, read at full speed) before it follows the stream with
 * LIVE_REPLAY, which KVS lists only at real-time pace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../metrics/metrics.h"
#include "kvs.h"
#include "m3u8.h"

#define PENDING_MAX 64
#define SPANS 16
#define IOBUF 65536

typedef struct {
    char number[64];
    char *url, *map_url;
    int64_t pdt_ms;
    double dur;
} hls_frag;

typedef struct {
    int64_t start; /* stream offset of the fragment's first byte */
    char number[64];
    int64_t pdt_ms, first_pts_ms;
} span;

typedef struct {
    kvs_client kc;
    const cfg_camera *cam;
    const kvs_conf *conf;
    const source_env *env;
    source_info *info;
    char labels[300];
    /* session */
    char *media_url;
    int64_t session_ms, renew_at_ms;
    bool replay;
    bool catching;     /* resumed from a checkpoint: ON_DEMAND while far behind */
    bool on_demand;    /* this session lists a closed range, ending in ENDLIST */
    bool join_live;    /* a LIVE session whose window must reach the last fragment read */
    int session_frags; /* fragments this session added to the queue */
    /* playlist */
    hls_frag pending[PENDING_MAX];
    int npending;
    char last_queued[64], last_fetched[64];
    int64_t last_fetched_pdt;
    double last_dur; /* seconds, of the last fragment read */
    double target;
    int64_t next_poll_ms, last_new_ms;
    bool endlist, stalled, started;
    /* demuxer */
    AVFormatContext *fmt;
    int vstream;
    uint8_t *data;
    size_t len, pos;
    int64_t stream_off;
    span spans[SPANS];
    int nspans;
    char *cur_map;             /* URL of the init fragment in use (fMP4) */
    uint8_t *init, *next_init; /* its bytes; the next stream's, at a change */
    size_t init_len, next_init_len;
    bool feed_init; /* a new demuxer starts with the init bytes */
    bool restart, new_stream;
    backoff bo;
} hls_state;

#define HLS_LOG(s, lvl, ...) log_kv(lvl, LOG_CTX("camera_name", (s)->env->camera), __VA_ARGS__)

static bool interrupted(hls_state *s)
{
    return source_stopping(s->env);
}

/* Fragment numbers grow; compare them as decimal strings of any length. */
static bool after(const char *a, const char *b)
{
    if (!*b) return true;
    size_t la = strlen(a), lb = strlen(b);
    return la != lb ? la > lb : strcmp(a, b) > 0;
}

static void clear_pending(hls_state *s)
{
    for (int i = 0; i < s->npending; i++)
        free(s->pending[i].url), free(s->pending[i].map_url);
    s->npending = 0;
}

/* Backs off after a failure; false when interrupted meanwhile. */
static bool back_off(hls_state *s)
{
    kvs_report(s->env, SRC_BACKOFF);
    bool ok = kvs_sleep(&s->kc, backoff_next(&s->bo));
    kvs_report(s->env, SRC_CONNECTING);
    return ok;
}

/* ---- session ---- */

static kerr_code describe_start(hls_state *s, int64_t *start_ms, kerr *err)
{
    char body[400];
    snprintf(body, sizeof body, "{\"StreamName\":\"%s\"}", s->kc.stream);
    aws_http_response resp;
    aws_error ae;
    kerr_code rc = kvs_post(&s->kc, s->kc.control, "/describeStream", body, &resp, &ae, err);
    if (rc != KERR_OK) return rc;
    json_t *root = json_loads(resp.body ? resp.body : "", 0, NULL);
    json_t *info = json_object_get(root, "StreamInfo");
    double created = json_number_value(json_object_get(info, "CreationTime"));
    double hours = json_number_value(json_object_get(info, "DataRetentionInHours"));
    json_decref(root);
    aws_http_response_free(&resp);
    if (!info) return kerr_set(err, KERR_INVALID, "DescribeStream %s: no StreamInfo", s->kc.stream);
    int64_t oldest = clock_wall_ms() - (int64_t)(hours * 3600000.0);
    *start_ms = (int64_t)(created * 1000.0) > oldest ? (int64_t)(created * 1000.0) : oldest;
    return KERR_OK;
}

static const char *mode_name(const hls_state *s)
{
    return s->on_demand ? "ON_DEMAND" : s->replay && !s->join_live ? "LIVE_REPLAY" : "LIVE";
}

/* A camera resumed from a checkpoint catches up: KVS lists LIVE_REPLAY
 * fragments only as their duration elapses, so a replay would stay behind by
 * the takeover time. While the next fragment is further back than a LIVE
 * playlist reaches (with a fragment to spare), an ON_DEMAND session lists the
 * backlog up to now at once; then one LIVE session goes on from the last
 * fragment read, its window checked for a hole (poll_playlist). */
static void choose_mode(hls_state *s, int64_t start, int64_t now)
{
    bool drained = s->on_demand && s->endlist; /* an ON_DEMAND range read to its end */
    s->on_demand = s->join_live = false;
    if (!s->catching || start < 0) return;
    double frag = s->last_dur > 0 ? s->last_dur : s->target;
    int window = s->conf->playlist_fragments - 2, reach = window > 2 ? window : 2;
    bool far = now - start > (int64_t)(reach * frag * 1000);
    /* After a range, the stream says how far behind we are: a clock ahead of
     * the producer's would keep us on ON_DEMAND sessions a fragment apiece. */
    if (drained && s->session_frags <= reach) far = false;
    if (far) {
        s->on_demand = true;
        return;
    }
    s->catching = false;                            /* near live: for good */
    s->join_live = window >= 2 && *s->last_fetched; /* else from the checkpoint */
}

static kerr_code session_request(hls_state *s, char *body, size_t len, kerr *err)
{
    int64_t start = -1;
    if (s->last_fetched_pdt > 0)
        start = s->last_fetched_pdt + 1; /* a renewed replay goes on after the last fragment */
    else if (s->env->resume_ms > 0)
        start = s->env->resume_ms;
    else if (s->conf->start_ms >= 0)
        start = s->conf->start_ms;
    else if (s->conf->start_ms == KVS_START_EARLIEST) {
        kerr_code rc = describe_start(s, &start, err);
        if (rc != KERR_OK) return rc;
    }
    s->replay = s->replay || start >= 0;
    int64_t now = clock_wall_ms();
    choose_mode(s, start, now);
    char range[160] = "";
    if (s->on_demand) /* the backlog up to now; the rest comes in the next session */
        snprintf(range, sizeof range,
                 ",\"TimestampRange\":{\"StartTimestamp\":%.3f,\"EndTimestamp\":%.3f}",
                 (double)start / 1000.0, (double)now / 1000.0);
    else if (s->replay && !s->join_live)
        snprintf(range, sizeof range, ",\"TimestampRange\":{\"StartTimestamp\":%.3f}",
                 (double)start / 1000.0);
    /* ON_DEMAND lists up to this many fragments at once: no more than we queue. */
    int max = s->on_demand ? PENDING_MAX : s->conf->playlist_fragments;
    snprintf(body, len,
             "{\"StreamName\":\"%s\",\"PlaybackMode\":\"%s\","
             "\"HLSFragmentSelector\":{\"FragmentSelectorType\":\"PRODUCER_TIMESTAMP\"%s},"
             "\"ContainerFormat\":\"%s\",\"DiscontinuityMode\":\"ON_DISCONTINUITY\","
             "\"DisplayFragmentTimestamp\":\"ALWAYS\",\"Expires\":%d,"
             "\"MaxMediaPlaylistFragmentResults\":%d}",
             s->kc.stream, mode_name(s), range, s->conf->ts ? "MPEG_TS" : "FRAGMENTED_MP4",
             s->conf->expires_s, max);
    return KERR_OK;
}

/* GET of a playlist or fragment (session-token URLs are not signed). */
static kerr_code fetch(hls_state *s, const char *url, aws_http_response *resp, kerr *err)
{
    memset(resp, 0, sizeof *resp);
    return aws_http_do(s->kc.aws->http, "GET", url, NULL, 0, NULL, 0, 10000, resp, err);
}

static kerr_code start_session(hls_state *s, kerr *err)
{
    aws_error ae;
    kerr_code rc = kvs_data_endpoint(&s->kc, "GET_HLS_STREAMING_SESSION_URL", &ae, err);
    if (rc != KERR_OK) return rc;
    char body[1024];
    if ((rc = session_request(s, body, sizeof body, err)) != KERR_OK) return rc;
    aws_http_response resp;
    rc = kvs_post(&s->kc, s->kc.endpoint, "/getHLSStreamingSessionURL", body, &resp, &ae, err);
    if (rc != KERR_OK) {
        if (strcmp(ae.code, "InvalidEndpointException") == 0 || ae.status >= 500)
            kvs_forget_endpoint(&s->kc);
        return rc;
    }
    json_t *root = json_loads(resp.body ? resp.body : "", 0, NULL);
    const char *master = json_string_value(json_object_get(root, "HLSStreamingSessionURL"));
    char *master_url = master ? kstrdup(master) : NULL;
    json_decref(root);
    aws_http_response_free(&resp);
    if (!master_url)
        return kerr_set(err, KERR_INVALID, "GetHLSStreamingSessionURL: no URL in the answer");
    rc = fetch(s, master_url, &resp, err);
    m3u8_playlist pl = {0};
    if (rc == KERR_OK && resp.status != 200)
        rc = kerr_set(err, KERR_AGAIN, "master playlist: HTTP %ld", resp.status);
    if (rc == KERR_OK) rc = m3u8_parse(resp.body, resp.body_len, &pl, err);
    aws_http_response_free(&resp);
    if (rc == KERR_OK && (!pl.is_master || !pl.nvariants))
        rc = kerr_set(err, KERR_INVALID, "master playlist without a media playlist");
    if (rc == KERR_OK) {
        free(s->media_url);
        s->media_url = m3u8_resolve(master_url, pl.variants[0]);
        s->session_ms = kvs_now_ms();
        s->renew_at_ms = s->session_ms + (int64_t)s->conf->expires_s * 900; /* at 90 % */
        clear_pending(s);
        s->endlist = false;
        s->session_frags = 0;
        /* Fragments are de-duplicated from the last one actually read. */
        snprintf(s->last_queued, sizeof s->last_queued, "%s", s->last_fetched);
        s->next_poll_ms = 0;
        HLS_LOG(s, LOG_INFO, "HLS session started (%s, %s)", mode_name(s),
                s->conf->ts ? "MPEG-TS" : "fMP4");
    }
    m3u8_free(&pl);
    free(master_url);
    return rc;
}

/* Starts (or renews) a session, retrying until it works or we are interrupted. */
static bool ensure_session(hls_state *s, bool force)
{
    while (!interrupted(s)) {
        if (!force && s->media_url && kvs_now_ms() < s->renew_at_ms) return true;
        kerr err = {0};
        if (start_session(s, &err) == KERR_OK) return true;
        kvs_count(s->env, "session");
        HLS_LOG(s, LOG_WARN, "HLS session: %s", err.msg);
        if (!back_off(s)) break;
    }
    return false;
}

/* ---- playlist ---- */

static void queue_segments(hls_state *s, const m3u8_playlist *pl)
{
    int first = 0;
    /* A live start begins at the newest fragment, not a window behind. */
    if (!s->started && !s->replay && pl->nsegs) first = pl->nsegs - 1;
    s->started = true;
    for (int i = first; i < pl->nsegs; i++) {
        const m3u8_segment *g = &pl->segs[i];
        const char *num = g->fragment_number ? g->fragment_number : "";
        if (*num && !after(num, s->last_queued)) continue;
        if (s->npending == PENDING_MAX) {
            kvs_count(s->env, "overrun");
            hls_frag *old = &s->pending[0];
            free(old->url), free(old->map_url);
            memmove(s->pending, s->pending + 1, (PENDING_MAX - 1) * sizeof *s->pending);
            s->npending--;
        }
        hls_frag *f = &s->pending[s->npending++];
        snprintf(f->number, sizeof f->number, "%s", num);
        f->url = m3u8_resolve(s->media_url, g->uri);
        f->map_url = g->map_uri ? m3u8_resolve(s->media_url, g->map_uri) : NULL;
        f->pdt_ms = g->program_date_time_ms;
        f->dur = g->duration;
        snprintf(s->last_queued, sizeof s->last_queued, "%s", num);
        s->last_new_ms = kvs_now_ms();
        s->session_frags++;
    }
}

static void watch_stall(hls_state *s, bool fresh)
{
    int64_t limit = (int64_t)(s->target * 3000) > 5000 ? (int64_t)(s->target * 3000) : 5000;
    if (fresh && s->stalled) {
        s->stalled = false;
        kvs_report(s->env, SRC_RUNNING);
        HLS_LOG(s, LOG_INFO, "new fragments again");
    } else if (!fresh && !s->stalled && s->last_new_ms && kvs_now_ms() - s->last_new_ms > limit) {
        s->stalled = true;
        kvs_count(s->env, "stalled");
        kvs_report(s->env, SRC_STALLED);
        HLS_LOG(s, LOG_WARN, "no new fragment for %lld ms",
                (long long)(kvs_now_ms() - s->last_new_ms));
    }
}

/* Whether a LIVE playlist joined after a catch-up lists the fragment after
 * the last one read: its first fragment is that one or older (by number, or
 * by producer time within half a fragment when it is the next). */
static bool window_reaches(const hls_state *s, const m3u8_playlist *pl)
{
    if (!pl->nsegs || !*s->last_fetched) return true;
    const m3u8_segment *g = &pl->segs[0];
    if (!g->fragment_number || !after(g->fragment_number, s->last_fetched)) return true;
    return g->program_date_time_ms > 0 &&
           g->program_date_time_ms <= s->last_fetched_pdt + (int64_t)(s->last_dur * 1500);
}

/* One poll of the media playlist. KERR_OK also when nothing is new. */
static kerr_code poll_playlist(hls_state *s, kerr *err)
{
    HLS_LOG(s, LOG_DEBUG, "media playlist poll");
    aws_http_response resp;
    kerr_code rc = fetch(s, s->media_url, &resp, err);
    if (rc != KERR_OK) {
        kvs_count(s->env, "playlist");
        aws_http_response_free(&resp);
        return rc;
    }
    if (resp.status == 403) {
        kvs_count(s->env, "expired");
        HLS_LOG(s, LOG_INFO, "HLS session ended (403): renewing");
        aws_http_response_free(&resp);
        return ensure_session(s, true) ? KERR_OK : kerr_set(err, KERR_EOF, "interrupted");
    }
    if (resp.status != 200) {
        kvs_count(s->env, resp.status >= 500   ? "server"
                          : resp.status == 400 ? "throttled"
                                               : "playlist");
        rc = kerr_set(err, KERR_AGAIN, "media playlist: HTTP %ld %s", resp.status, resp.error_type);
        aws_http_response_free(&resp);
        return rc;
    }
    m3u8_playlist pl = {0};
    rc = m3u8_parse(resp.body, resp.body_len, &pl, err);
    aws_http_response_free(&resp);
    if (rc != KERR_OK) {
        kvs_count(s->env, "playlist");
        return rc;
    }
    if (s->join_live && !window_reaches(s, &pl)) {
        m3u8_free(&pl);
        s->join_live = false; /* LIVE_REPLAY from the last fragment read instead */
        HLS_LOG(s, LOG_INFO, "the live playlist starts past the last fragment read: replaying");
        return ensure_session(s, true) ? KERR_OK : kerr_set(err, KERR_EOF, "interrupted");
    }
    s->join_live = false;
    int before = s->npending;
    char last[64];
    snprintf(last, sizeof last, "%s", s->last_queued);
    queue_segments(s, &pl);
    bool fresh = s->npending != before || strcmp(last, s->last_queued) != 0;
    s->target = pl.target_duration > 0 ? pl.target_duration : 1;
    s->endlist = pl.endlist;
    /* RFC 8216 6.3.4: reload after the target duration, half of it when unchanged. */
    double wait = fresh && pl.nsegs ? pl.segs[pl.nsegs - 1].duration : s->target / 2;
    if (wait <= 0 || wait > s->target) wait = s->target;
    s->next_poll_ms = kvs_now_ms() + (int64_t)(wait * 1000);
    watch_stall(s, fresh);
    m3u8_free(&pl);
    return KERR_OK;
}

/* Waits for and takes the next fragment; false when interrupted or at the end. */
static bool next_fragment(hls_state *s, hls_frag *out)
{
    while (!s->npending) {
        if (interrupted(s)) return false;
        /* The end of an ON_DEMAND range: a new session goes on after the last
         * fragment read (ON_DEMAND again while still far behind). */
        if (s->endlist && !s->on_demand) return false;
        if (!ensure_session(s, s->endlist)) return false;
        int64_t wait = s->next_poll_ms - kvs_now_ms();
        if (wait > 0 && !kvs_sleep(&s->kc, wait)) return false;
        kerr err = {0};
        if (poll_playlist(s, &err) != KERR_OK) {
            if (interrupted(s)) return false;
            HLS_LOG(s, LOG_WARN, "%s", err.msg);
            /* A live playlist slides: waiting longer than a target duration between
             * polls loses fragments, and polling once a target duration is far
             * inside the quota (5 playlist calls a second per session). */
            int64_t wait = backoff_next(&s->bo), cap = (int64_t)(s->target * 1000);
            if (wait > cap && cap >= 250) wait = cap;
            kvs_report(s->env, SRC_BACKOFF);
            if (!kvs_sleep(&s->kc, wait)) return false;
            kvs_report(s->env, SRC_CONNECTING);
        } else if (s->npending) {
            backoff_reset(&s->bo);
            kvs_report(s->env, SRC_RUNNING);
        }
    }
    *out = s->pending[0];
    memmove(s->pending, s->pending + 1, (size_t)(s->npending - 1) * sizeof *s->pending);
    s->npending--;
    return true;
}

static void frag_free(hls_frag *f)
{
    free(f->url), free(f->map_url);
    f->url = f->map_url = NULL;
}

/* Downloads a fragment or init fragment. 403: the session is renewed and the
 * caller takes the fragment again from the new session's playlist. */
typedef enum { GOT, GONE, RENEWED, STOP } fetch_result;

static fetch_result download(hls_state *s, const char *url, const char *what, uint8_t **buf,
                             size_t *len)
{
    for (int attempt = 0; !interrupted(s); attempt++) {
        aws_http_response resp;
        kerr err = {0};
        kerr_code rc = fetch(s, url, &resp, &err);
        if (rc == KERR_OK && resp.status == 200) {
            *buf = (uint8_t *)resp.body; /* the body is ours now */
            *len = resp.body_len;
            return GOT;
        }
        long status = rc == KERR_OK ? resp.status : 0;
        aws_http_response_free(&resp);
        if (status == 403) {
            kvs_count(s->env, "expired");
            HLS_LOG(s, LOG_INFO, "HLS session ended (403 on a %s): renewing", what);
            return ensure_session(s, true) ? RENEWED : STOP;
        }
        if (status == 404) {
            kvs_count(s->env, "fragment");
            HLS_LOG(s, LOG_WARN, "%s is gone (404): skipping it", what);
            return GONE;
        }
        kvs_count(s->env, status == 0 ? "fragment" : status >= 500 ? "server" : "throttled");
        HLS_LOG(s, LOG_WARN, "%s: %s", what, status ? "HTTP error" : err.msg);
        if (attempt >= 5) return GONE;
        if (!kvs_sleep(&s->kc, aws_backoff_ms(attempt) + 100)) break;
    }
    return STOP;
}

/* ---- the AVIO bridge ---- */

static void add_span(hls_state *s, const hls_frag *f, size_t skip)
{
    if (s->nspans == SPANS) {
        memmove(s->spans, s->spans + 1, (SPANS - 1) * sizeof *s->spans);
        s->nspans--;
    }
    span *p = &s->spans[s->nspans++];
    p->start = s->stream_off + (int64_t)skip;
    snprintf(p->number, sizeof p->number, "%s", f->number);
    p->pdt_ms = f->pdt_ms;
    p->first_pts_ms = INT64_MIN;
}

static void put_back(hls_state *s, hls_frag *f)
{
    memmove(s->pending + 1, s->pending, (size_t)s->npending * sizeof *s->pending);
    s->pending[0] = *f;
    s->npending++;
}

/* fMP4: the fragment's init. A new URL with the same bytes (a renewed session)
 * changes nothing; different bytes end this demuxer so the reader opens one
 * for the new stream. Returns false to stop feeding this demuxer. */
static bool check_init(hls_state *s, hls_frag *f, fetch_result *r)
{
    *r = GOT;
    if (s->conf->ts || !f->map_url || (s->cur_map && strcmp(f->map_url, s->cur_map) == 0))
        return true;
    uint8_t *buf = NULL;
    size_t len = 0;
    if ((*r = download(s, f->map_url, "init fragment", &buf, &len)) != GOT) return false;
    free(s->cur_map);
    s->cur_map = kstrdup(f->map_url);
    if (s->init && len == s->init_len && memcmp(buf, s->init, len) == 0) {
        free(buf);
        return true;
    }
    if (!s->init) {
        s->init = buf, s->init_len = len;
        return true;
    }
    free(s->next_init);
    s->next_init = buf, s->next_init_len = len;
    return false;
}

/* Loads the next fragment's bytes into s->data (after the init bytes when a
 * demuxer starts). Returns false at the end of this demuxer's input. */
static bool load_next(hls_state *s)
{
    for (;;) {
        hls_frag f;
        if (!next_fragment(s, &f)) return false;
        fetch_result r;
        if (!check_init(s, &f, &r)) {
            if (r == GOT) { /* a new stream: the next demuxer starts with this fragment */
                put_back(s, &f);
                s->restart = true;
                return false;
            }
            frag_free(&f);
            if (r == STOP) return false;
            continue; /* renewed or gone: take it from the playlist again */
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        r = download(s, f.url, "fragment", &buf, &len);
        if (r == GOT) {
            size_t pre = s->feed_init ? s->init_len : 0;
            free(s->data);
            s->data = pre ? malloc(pre + len) : buf;
            if (pre && s->data) {
                memcpy(s->data, s->init, pre);
                memcpy(s->data + pre, buf, len);
                free(buf);
            } else if (pre) {
                free(buf);
                frag_free(&f);
                return false;
            }
            s->feed_init = false;
            s->len = pre + len;
            s->pos = 0;
            add_span(s, &f, pre);
            snprintf(s->last_fetched, sizeof s->last_fetched, "%s", f.number);
            s->last_fetched_pdt = f.pdt_ms;
            s->last_dur = f.dur;
            metric_add(M_SOURCE_FRAGMENTS, s->labels, 1);
            log_kv(LOG_DEBUG, LOG_CTX("camera_name", s->env->camera), "fragment %s done", f.number);
        }
        frag_free(&f);
        if (r == GOT) return true;
        if (r == STOP) return false;
    }
}

static int io_read(void *opaque, uint8_t *buf, int size)
{
    hls_state *s = opaque;
    while (s->pos == s->len) {
        if (s->restart || interrupted(s)) return AVERROR_EOF;
        if (!load_next(s)) return AVERROR_EOF;
    }
    size_t n = s->len - s->pos < (size_t)size ? s->len - s->pos : (size_t)size;
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    s->stream_off += (int64_t)n;
    return (int)n;
}

static void close_demuxer(hls_state *s)
{
    if (!s->fmt) return;
    AVIOContext *pb = s->fmt->pb;
    avformat_close_input(&s->fmt);
    if (pb) av_freep(&pb->buffer);
    avio_context_free(&pb);
}

static int demux_interrupt(void *opaque)
{
    return interrupted(opaque);
}

static kerr_code open_demuxer(hls_state *s, kerr *err)
{
    if (s->next_init) { /* the stream changed: the new init replaces the old */
        free(s->init);
        s->init = s->next_init, s->init_len = s->next_init_len;
        s->next_init = NULL;
    }
    s->restart = false;
    s->feed_init = !s->conf->ts;
    s->len = s->pos = 0;
    s->stream_off = 0;
    s->nspans = 0;
    if (s->feed_init && !s->init) { /* the first fragment brings the first init */
        if (!load_next(s)) return kerr_set(err, KERR_EOF, "interrupted");
        if (s->restart) return open_demuxer(s, err);
    }
    uint8_t *iobuf = av_malloc(IOBUF);
    AVIOContext *pb = iobuf ? avio_alloc_context(iobuf, IOBUF, 0, s, io_read, NULL, NULL) : NULL;
    s->fmt = pb ? avformat_alloc_context() : NULL;
    if (!s->fmt) {
        if (pb)
            av_freep(&pb->buffer);
        else
            av_free(iobuf);
        avio_context_free(&pb);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    s->fmt->pb = pb;
    s->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    s->fmt->interrupt_callback = (AVIOInterruptCB){demux_interrupt, s};
    /* Live: decide from the first fragment, never wait for more. */
    s->fmt->probesize = 1 << 20;
    s->fmt->max_analyze_duration = 500000;
    const AVInputFormat *ifmt = av_find_input_format(s->conf->ts ? "mpegts" : "mp4");
    int rc = avformat_open_input(&s->fmt, NULL, ifmt, NULL);
    if (rc < 0) {
        avio_context_free(&pb); /* the context was freed; the AVIO is still ours */
        s->fmt = NULL;
        return kerr_set(err, interrupted(s) ? KERR_EOF : KERR_INVALID,
                        "HLS %s: cannot open the fragments (%s)", s->kc.stream, av_err2str(rc));
    }
    if (s->conf->ts && (rc = avformat_find_stream_info(s->fmt, NULL)) < 0) {
        close_demuxer(s);
        return kerr_set(err, KERR_INVALID, "HLS %s: %s", s->kc.stream, av_err2str(rc));
    }
    s->vstream = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (s->vstream < 0) {
        close_demuxer(s);
        return kerr_set(err, KERR_INVALID, "HLS %s: no video track", s->kc.stream);
    }
    AVStream *st = s->fmt->streams[s->vstream];
    s->info->codecpar = st->codecpar;
    s->info->time_base = st->time_base;
    AVRational fr = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
    s->info->fps = fr.num && fr.den ? av_q2d(fr) : 0;
    return KERR_OK;
}

/* The fragment a packet came from, by byte position. */
static span *span_of(hls_state *s, int64_t pos)
{
    if (!s->nspans) return NULL;
    if (pos < 0) return &s->spans[s->nspans - 1];
    for (int i = s->nspans - 1; i >= 0; i--)
        if (pos >= s->spans[i].start) return &s->spans[i];
    return &s->spans[0];
}

static void stamp(hls_state *s, const AVPacket *pkt, packet_meta *meta)
{
    memset(meta, 0, sizeof *meta);
    meta->producer_ts_ms = meta->server_ts_ms = meta->fragment_start_ms = -1;
    span *sp = span_of(s, pkt->pos);
    if (!sp) return;
    snprintf(meta->fragment_number, sizeof meta->fragment_number, "%s", sp->number);
    int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
    if (ts == AV_NOPTS_VALUE || sp->pdt_ms < 0) return;
    int64_t ms = av_rescale_q(ts, s->fmt->streams[s->vstream]->time_base, (AVRational){1, 1000});
    /* A fragment starts with a key frame: the first packet placed in a span
     * may be the tail of the one before (where a live session begins), and
     * anchoring on it would shift the span's producer times, and so the event
     * ids derived from them (docs/cluster.md "Event ids"). */
    if (sp->first_pts_ms == INT64_MIN) {
        if (!(pkt->flags & AV_PKT_FLAG_KEY)) return;
        sp->first_pts_ms = ms;
    }
    meta->producer_ts_ms = sp->pdt_ms + (ms - sp->first_pts_ms);
    meta->fragment_start_ms = sp->pdt_ms;
}

static kerr_code hls_read(void *state, AVPacket *pkt, packet_meta *meta, kerr *err)
{
    hls_state *s = state;
    for (;;) {
        if (interrupted(s)) return kerr_set(err, KERR_EOF, "interrupted");
        int rc = s->fmt ? av_read_frame(s->fmt, pkt) : AVERROR_EOF;
        if (rc >= 0) {
            if (pkt->stream_index != s->vstream) {
                av_packet_unref(pkt);
                continue;
            }
            stamp(s, pkt, meta);
            meta->new_stream = s->new_stream;
            s->new_stream = false;
            return KERR_OK;
        }
        if (interrupted(s)) return kerr_set(err, KERR_EOF, "interrupted");
        if (rc == AVERROR_EOF && !s->restart && s->endlist && !s->on_demand && !s->npending)
            return kerr_set(err, KERR_EOF, "end of the playlist");
        if (!s->restart) {
            kvs_count(s->env, "demux");
            HLS_LOG(s, LOG_WARN, "HLS demuxer: %s; starting over at the next fragment",
                    av_err2str(rc));
        }
        close_demuxer(s);
        kerr oerr = {0};
        while (open_demuxer(s, &oerr) != KERR_OK) {
            if (interrupted(s)) return kerr_set(err, KERR_EOF, "interrupted");
            kvs_count(s->env, "demux");
            HLS_LOG(s, LOG_WARN, "%s", oerr.msg);
            if (!back_off(s)) return kerr_set(err, KERR_EOF, "interrupted");
        }
        s->new_stream = true;
    }
}

static void hls_close(void *state)
{
    hls_state *s = state;
    if (!s) return;
    close_demuxer(s);
    clear_pending(s);
    free(s->media_url);
    free(s->cur_map);
    free(s->init);
    free(s->next_init);
    free(s->data);
    kvs_client_close(&s->kc);
    free(s);
}

static kerr_code hls_open(void **state, const cfg_camera *cam, const source_env *env,
                          source_info *info, kerr *err)
{
    hls_state *s = calloc(1, sizeof *s);
    if (!s) return kerr_set(err, KERR_NOMEM, "out of memory");
    s->cam = cam;
    s->conf = cam->source_conf;
    s->env = env;
    s->info = info;
    s->target = 1;
    s->catching = env->resume_ms > 0;
    mlabels(s->labels, sizeof s->labels, "camera", env->camera, NULL);
    backoff_init(&s->bo, (int64_t)cam->reconnect_max_s * 1000);
    kerr_code rc = kvs_client_open(&s->kc, cam, env, err);
    if (rc == KERR_OK) rc = start_session(s, err);
    if (rc == KERR_OK) rc = open_demuxer(s, err);
    if (rc != KERR_OK) {
        hls_close(s);
        return rc;
    }
    *state = s;
    return KERR_OK;
}

static const char *const k_keys[] = {"start", "container", "playlist_fragments", "expires_s", NULL};

static void *hls_read_conf(const source_read_ctx *r)
{
    return kvs_conf_read(r, true);
}

const source_ops source_kvs_hls = {
    .name = "hls",
    .keys = k_keys,
    .is_default = true,
    .read_conf = hls_read_conf,
    .conf_free = kvs_conf_free,
    .describe = kvs_conf_describe,
    .traits = kvs_traits,
    .open = hls_open,
    .read = hls_read,
    .close = hls_close,
};
