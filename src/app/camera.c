/* A camera: its reader thread (source -> decoder -> sampler -> frame slot)
 * and its detectors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../decode/decode.h"
#include "../metrics/metrics.h"
#include "app.h"

static void on_source_state(void *owner, source_state s)
{
    static const cam_state map[] = {CAM_CONNECTING, CAM_RUNNING, CAM_BACKOFF, CAM_STALLED};
    camera *c = owner;
    if (atomic_load(&c->state) != (int)map[s]) camera_set_state(c, map[s]);
}

static void on_source_error(void *owner, const char *kind)
{
    camera_count_error(owner, kind);
}

#define CAM_LOG(c, lvl, ...) log_kv(lvl, LOG_CTX("camera_name", (c)->cfg->name), __VA_ARGS__)

/* Paces a file like a live camera: frame at media time t is released at
 * start + t. Returns false when asked to stop while waiting. */
static bool pace_frame(camera *c, int64_t start_ns, int64_t media_ms)
{
    int64_t due = start_ns + media_ms * 1000000LL;
    for (;;) {
        int64_t wait = due - clock_mono_ns();
        if (wait <= 0) return true;
        if (atomic_load(&c->stop)) return false;
        clock_sleep_ns(wait < 100000000LL ? wait : 100000000LL);
    }
}

typedef struct {
    decoder *dec;
    sampler samp;
    decode_policy dp;
    AVFrame *frame;
    int64_t loop_offset_ms, last_ms, start_ns, first_ms;
    bool have_first;
    catch_up cu;               /* resumed from a lease's checkpoint: every due frame until live */
    bool behind;               /* a paced file too late: key frames only until caught up */
    int64_t behind_next_ms;    /* when the next skipped frame counts as a due one */
    int64_t anchor, anchor_at; /* live inputs: the lag's reference (frame_lag_ms) */
    bool have_anchor;
    int consecutive_errors;
    AVPacket *last_key; /* while decoding key frames only: the latest one */
    /* This GOP's packets not decoded while hoping for key frames only
     * (decode_policy.c), kept in case a frame in it turns out wanted. */
    packet_queue gop_backlog;
    int64_t discard_pts; /* a picture decoded again only as a reference */
    int64_t meta_pkt_ms; /* the media time (ms) of the packet whose meta is at hand, -1: none */
} reader_ctx;

/* A decoder for the stream, made for key frames only while the decode policy
 * sends only those. */
static decoder *open_decoder(reader_ctx *r, const source_info *info, kerr *err)
{
    return decoder_open(info->codecpar, info->time_base, 1, r->dp.keys_only ? DECODER_KEYS_ONLY : 0,
                        err);
}

static bool is_key_frame(const AVFrame *f)
{
#ifdef AV_FRAME_FLAG_KEY /* FFmpeg 6.1 and later */
    return f->flags & AV_FRAME_FLAG_KEY;
#else
    return f->key_frame;
#endif
}

/* How far this frame is behind real time. A paced file: against the time it
 * was due. A live input: its media time against the wall clock, anchored at
 * the earliest frame of the last 10 s (a source that stalls or delivers in
 * bursts, like HLS fragments, re-anchors instead of counting as behind). A
 * batch file has no real time to keep up with. */
static int64_t frame_lag_ms(camera *c, reader_ctx *r, int64_t ms, bool pace)
{
    if (c->batch) return 0;
    int64_t now = clock_mono_ns() / 1000000, lag;
    if (pace) {
        lag = now - (r->start_ns / 1000000 + (ms - r->first_ms));
    } else {
        int64_t offset = now - ms;
        if (!r->have_anchor || offset < r->anchor || now - r->anchor_at > 10000)
            r->anchor = offset, r->anchor_at = now, r->have_anchor = true;
        lag = offset - r->anchor;
    }
    return lag < 0 ? 0 : lag;
}

/* A frame analysed this late would only delay the newer ones: one second, or
 * one sampling interval when the camera is analysed more slowly. */
static int64_t behind_limit_ms(const reader_ctx *r)
{
    return r->samp.interval_ms > 1000 ? r->samp.interval_ms : 1000;
}

/* The producer time of a decoded picture: its packet's meta moved by how far
 * the picture lies before that packet (a decoder with B-frames, or one given
 * a GOP's backlog again, returns earlier pictures after later packets), so a
 * frame has one producer time however it was decoded (event ids derive from
 * it). KVS producer time runs with media time within a session. */
static int64_t frame_producer_ms(const reader_ctx *r, int64_t frame_ms, const packet_meta *meta)
{
    if (meta->producer_ts_ms < 0 || frame_ms < 0 || r->meta_pkt_ms < 0) return meta->producer_ts_ms;
    return meta->producer_ts_ms + (frame_ms - r->meta_pkt_ms);
}

static bool drain_decoder(camera *c, reader_ctx *r, bool pace, const packet_meta *meta)
{
    for (;;) {
        kerr err = {0};
        kerr_code rc = decoder_receive(r->dec, r->frame, &err);
        if (rc == KERR_AGAIN || rc == KERR_EOF) return true;
        if (rc != KERR_OK) {
            camera_count_error(c, "decode");
            CAM_LOG(c, LOG_WARN, "decode error: %s", err.msg);
            av_frame_unref(r->frame);
            r->consecutive_errors++;
            continue;
        }
        r->consecutive_errors = 0;
        if (r->discard_pts != AV_NOPTS_VALUE && r->frame->pts == r->discard_pts) {
            r->discard_pts = AV_NOPTS_VALUE;
            av_frame_unref(r->frame);
            continue;
        }
        atomic_fetch_add(&c->decoded, 1);
        metric_add(M_FRAMES_DECODED, c->cam_label, 1);
        int64_t ms = decoder_frame_ms(r->dec, r->frame), lag = 0;
        int64_t producer_ms = frame_producer_ms(r, ms, meta);
        if (ms >= 0) {
            ms += r->loop_offset_ms;
            r->last_ms = ms;
            if (!r->have_first)
                r->first_ms = ms, r->start_ns = clock_mono_ns(), r->have_first = true;
            if (pace && !pace_frame(c, r->start_ns, ms - r->first_ms)) {
                av_frame_unref(r->frame);
                return false;
            }
            lag = frame_lag_ms(c, r, ms, pace);
        }
        if (!sampler_take(&r->samp, ms)) {
            atomic_fetch_add(&c->skipped, 1);
            metric_add(M_FRAMES_SKIPPED, c->cam_label, 1);
            av_frame_unref(r->frame);
            continue;
        }
        if (r->cu.on && producer_ms > 0) {
            int64_t behind_ms;
            catch_up_state st = catch_up_frame(&r->cu, producer_ms, clock_wall_ms(), &behind_ms);
            if (st == CATCH_UP_LIVE || st == CATCH_UP_STILL) {
                sched_cam_set_drop_stale(c->slot, true);
                CAM_LOG(c, st == CATCH_UP_LIVE ? LOG_INFO : LOG_WARN,
                        st == CATCH_UP_LIVE
                            ? "caught up after the takeover: %.1f s behind the producer"
                            : "not gaining on the stream after the takeover (%.1f s behind the "
                              "producer): analysing the newest frames from now on",
                        (double)behind_ms / 1e3);
            }
            lag = behind_ms; /* the gauge shows the replay closing in on live */
        }
        /* The gauge is set for sampled frames only: a global lock per decoded frame
         * of every camera was the hot path's only shared point. */
        if (!c->batch) metric_set(M_CAMERA_LAG, c->cam_label, (double)lag / 1e3);
        if (pace && lag > behind_limit_ms(r)) /* decode key frames only until caught up */
            r->behind = true;
        else if (lag < behind_limit_ms(r) / 2)
            r->behind = false;
        if (r->behind && !is_key_frame(r->frame)) { /* due, but history: skip to a newer one */
            r->behind_next_ms = ms + r->samp.interval_ms;
            camera_count_drop(c, "behind");
            av_frame_unref(r->frame);
            continue;
        }
        kframe *f = decoder_to_frame(r->dec, r->frame, &err);
        av_frame_unref(r->frame);
        if (!f) {
            camera_count_error(c, "convert");
            CAM_LOG(c, LOG_WARN, "%s", err.msg);
            continue;
        }
        f->pts_ms = ms;
        f->clip_gen = clip_ring_generation(c->clips); /* its connection, for its clip */
        f->producer_ts_ms = producer_ms;
        f->server_ts_ms = meta->server_ts_ms;
        snprintf(f->fragment_number, sizeof f->fragment_number, "%s", meta->fragment_number);
        f->fragment_start_ms = meta->fragment_number[0] ? meta->fragment_start_ms : -1;
        int dropped = sched_push(c->slot, f);
        if (dropped < 0) return false;
        for (int i = 0; i < dropped; i++)
            camera_count_drop(c, "stale");
        metric_set(M_FRAME_QUEUE, c->cam_label, sched_cam_depth(c->slot));
    }
}

typedef enum { READ_STOP, READ_END, READ_RECONNECT } read_outcome;

static void count_skipped(camera *c, int n)
{
    atomic_fetch_add(&c->skipped, n);
    metric_add(M_FRAMES_SKIPPED, c->cam_label, n);
}

/* The GOP backlog will not be decoded after all: counted as skipped. */
static void drop_gop_backlog(camera *c, reader_ctx *r)
{
    int n = packet_queue_clear(&r->gop_backlog);
    if (n) count_skipped(c, n);
}

/* Whether the packet is decoded (decode: auto | all | keyframes); one that is
 * not never reaches the decoder and counts as skipped. */
static bool wanted_packet(camera *c, reader_ctx *r, const source_info *info, const AVPacket *pkt)
{
    int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
    int64_t ms =
        ts == AV_NOPTS_VALUE ? -1 : av_rescale_q(ts, info->time_base, (AVRational){1, 1000});
    bool key = pkt->flags & AV_PKT_FLAG_KEY;
    bool want = decode_policy_wants(&r->dp, key, ms);
    if (key) drop_gop_backlog(c, r); /* a new GOP: the last one's packets are history */
    if (!want && r->dp.hoping) {
        if (packet_queue_push(&r->gop_backlog, pkt)) return false;
        drop_gop_backlog(c, r); /* over budget: no catching up in this GOP */
        r->dp.hoping = false;
    }
    if (r->dp.fell_back_now) {
        r->dp.fell_back_now = false;
        CAM_LOG(c, LOG_WARN,
                "no key frame for %lld ms (intra refresh, or a GOP that grew): decoding every "
                "frame from now on",
                (long long)(ms - r->dp.last_key_ms));
    }
    /* Behind real time: the next key frame is the way back to the newest
     * frame, and the sampler takes it even if a little early; what is skipped
     * until then counts as behind, once per sampling interval. */
    r->samp.tolerance_ms = r->behind ? r->samp.interval_ms : r->dp.keys_only ? r->dp.gop_ms / 4 : 0;
    bool behind = want && r->behind && !(pkt->flags & AV_PKT_FLAG_KEY);
    if (want && !behind) return true;
    int64_t at = ms < 0 ? ms : ms + r->loop_offset_ms;
    if (behind && at >= r->behind_next_ms) {
        r->behind_next_ms = at + (r->samp.interval_ms > 0 ? r->samp.interval_ms : 1);
        camera_count_drop(c, "behind");
    } else {
        count_skipped(c, 1);
    }
    return false;
}

/* Finishes the decoder's frames and opens a new one. */
static bool renew_decoder(camera *c, reader_ctx *r, const source_info *info,
                          const packet_meta *meta)
{
    kerr err = {0};
    decoder_send(r->dec, NULL, &err);
    if (!drain_decoder(c, r, info->pace, meta)) return false;
    decoder_close(r->dec);
    r->dec = open_decoder(r, info, &err);
    if (!r->dec) {
        camera_count_error(c, "decode");
        CAM_LOG(c, LOG_ERROR, "cannot open a decoder: %s", err.msg);
        return false;
    }
    return true;
}

/* The stream changed (resolution, codec data): a decoder for the new parameters. */
static bool reopen_decoder(camera *c, reader_ctx *r, const source_info *info,
                           const packet_meta *meta)
{
    if (!renew_decoder(c, r, info, meta)) return false;
    CAM_LOG(c, LOG_INFO, "stream changed: decoding %s %dx%d",
            avcodec_get_name(info->codecpar->codec_id), info->codecpar->width,
            info->codecpar->height);
    return true;
}

/* Sends a packet the stream already went past and drains what it gives. */
static bool resend(camera *c, reader_ctx *r, const source_info *info, const packet_meta *meta,
                   AVPacket *pkt)
{
    kerr err = {0};
    if (decoder_send(r->dec, pkt, &err) != KERR_OK) {
        camera_count_error(c, "decode");
        CAM_LOG(c, LOG_WARN, "%s", err.msg);
    }
    return drain_decoder(c, r, info->pace, meta);
}

/* The decoder follows the decode policy. One made for every frame keeps a
 * picture pool sized for references and reordering (6 pictures of 1080p, 19
 * MB) as long as it lives, and holds pictures back by the reorder depth; key
 * frames alone need neither. So each switch starts a new decoder: to key
 * frames only at the key frame where it happens; back to every frame at once,
 * given the last key frame again as the reference the next frames build on
 * (its picture was analysed already), then the packets skipped while hoping
 * (catching up), or nothing (key frames stopped coming: intra refresh). */
static bool fit_decoder(camera *c, reader_ctx *r, const source_info *info, const packet_meta *meta,
                        const AVPacket *pkt)
{
    bool key = pkt->flags & AV_PKT_FLAG_KEY;
    if (key && r->dp.keys_only) {
        av_packet_unref(r->last_key);
        if (av_packet_ref(r->last_key, pkt) < 0) av_packet_unref(r->last_key);
    }
    bool catch_up = r->dp.catch_up_now;
    r->dp.catch_up_now = false;
    if (decoder_keys_only(r->dec) == r->dp.keys_only || (r->dp.keys_only && !key)) return true;
    if (!renew_decoder(c, r, info, meta)) return false;
    heap_give_back(); /* the old pool: 64 cameras switching at once are 1 GB */
    bool ok = true;
    if (!key && r->last_key->size > 0) {
        r->discard_pts = r->last_key->pts;
        ok = resend(c, r, info, meta, r->last_key);
    }
    for (int i = 0; ok && catch_up && i < r->gop_backlog.n; i++)
        ok = resend(c, r, info, meta, r->gop_backlog.v[i]);
    packet_queue_clear(&r->gop_backlog);
    av_packet_unref(r->last_key);
    return ok;
}

static read_outcome read_loop(camera *c, reader_ctx *r, const source_info *info)
{
    AVPacket *pkt = av_packet_alloc();
    packet_meta last_meta = {.producer_ts_ms = -1, .server_ts_ms = -1, .fragment_start_ms = -1};
    read_outcome out = READ_RECONNECT;
    while (pkt) {
        if (atomic_load(&c->stop)) {
            out = READ_STOP;
            break;
        }
        kerr err = {0};
        packet_meta meta = last_meta; /* what a source that writes none at the end leaves */
        kerr_code rc = c->src->read(c->src_state, pkt, &meta, &err);
        if (rc == KERR_EOF) {
            if (atomic_load(&c->stop)) {
                out = READ_STOP;
                break;
            }
            decoder_send(r->dec, NULL, &err); /* flush the last frames */
            if (!drain_decoder(c, r, info->pace, &meta)) {
                out = READ_STOP;
                break;
            }
            if (info->loop && c->src->rewind && c->src->rewind(c->src_state, &err) == KERR_OK) {
                int64_t step = info->fps > 0 ? (int64_t)(1000.0 / info->fps) : 40;
                r->loop_offset_ms = r->last_ms + step;
                decoder_close(r->dec);
                r->dec = open_decoder(r, info, &err);
                if (!r->dec) break;
                continue;
            }
            if (c->network) { /* a camera never ends: the server went away */
                camera_count_error(c, "disconnect");
                CAM_LOG(c, LOG_WARN, "the stream ended (a disconnect): reconnecting");
            }
            out = c->network ? READ_RECONNECT : READ_END;
            break;
        }
        if (rc != KERR_OK) {
            camera_count_error(c, "read");
            CAM_LOG(c, LOG_ERROR, "%s", err.msg);
            out = c->network ? READ_RECONNECT : READ_END;
            break;
        }
        last_meta = meta;
        last_meta.new_stream = false;
        r->meta_pkt_ms = pkt->pts == AV_NOPTS_VALUE
                             ? -1
                             : av_rescale_q(pkt->pts, info->time_base, (AVRational){1, 1000});
        /* until a frame is analysed, resume where reading began */
        camera_advance_checkpoint(c, meta.fragment_number, meta.fragment_start_ms, true);
        if (meta.new_stream && !reopen_decoder(c, r, info, &meta)) {
            av_packet_unref(pkt);
            break;
        }
        clip_ring_push(c->clips, pkt, info->codecpar, info->time_base, meta.new_stream,
                       r->loop_offset_ms); /* compressed, before the decode policy */
        if (!wanted_packet(c, r, info, pkt)) {
            av_packet_unref(pkt);
            continue;
        }
        if (!fit_decoder(c, r, info, &meta, pkt)) {
            av_packet_unref(pkt);
            break;
        }
        int64_t t0 = clock_mono_ns();
        kerr_code sent = decoder_send(r->dec, pkt, &err);
        metric_observe(M_STAGE_SECONDS, "stage=\"decode\"", (double)(clock_mono_ns() - t0) / 1e9);
        if (sent != KERR_OK) {
            camera_count_error(c, "decode");
            CAM_LOG(c, LOG_WARN, "%s", err.msg);
        }
        av_packet_unref(pkt);
        if (!drain_decoder(c, r, info->pace, &meta)) {
            out = READ_STOP;
            break;
        }
        if (r->consecutive_errors > 200) {
            CAM_LOG(c, LOG_ERROR, "too many consecutive decode errors: giving up on this input");
            out = c->network ? READ_RECONNECT : READ_END;
            break;
        }
    }
    av_packet_free(&pkt);
    return out;
}

static void close_source(camera *c)
{
    if (c->src_state) c->src->close(c->src_state);
    c->src_state = NULL;
}

/* Waits before the next connect, in the backoff state; false when stopping. */
static bool wait_to_reconnect(camera *c, backoff *bo)
{
    camera_set_state(c, CAM_BACKOFF);
    int64_t until = clock_mono_ns() + backoff_next(bo) * 1000000LL;
    while (clock_mono_ns() < until && !atomic_load(&c->stop))
        clock_sleep_ns(50000000LL);
    return !atomic_load(&c->stop);
}

/* A camera a new owner resumes from the lease's checkpoint analyses the
 * frames that were due on the stream's timeline, so it re-raises what the old
 * owner raised, with the same ids, until it is live (docs/cluster.md). */
static bool catches_up(const camera *c)
{
    return c->env.resume_ms > 0 && !c->batch && !c->global->catch_up_newest;
}

static void *reader_main(void *p)
{
    camera *c = p;
    backoff bo;
    backoff_init(&bo, (int64_t)c->cfg->reconnect_max_s * 1000);
    reader_ctx r;
    memset(&r, 0, sizeof r);
    sampler_init(&r.samp, c->cfg->fps_limit, c->cfg->skip_frames);
    catch_up_init(&r.cu, catches_up(c));
    decode_policy_init(&r.dp, c->cfg->decode, c->cfg->fps_limit, c->cfg->skip_frames);
    r.frame = av_frame_alloc();
    r.last_key = av_packet_alloc();
    r.discard_pts = AV_NOPTS_VALUE;
    r.meta_pkt_ms = -1;
    packet_queue_init(&r.gop_backlog, 16u << 20); /* a GOP at 64 Mbit/s, 2 s */
    cam_state final = CAM_ENDED;
    while (!atomic_load(&c->stop) && r.frame && r.last_key) {
        camera_set_state(c, CAM_CONNECTING);
        kerr err = {0};
        source_info info;
        memset(&info, 0, sizeof info);
        void *st = NULL;
        kerr_code rc = c->src->open(&st, c->cfg, &c->env, &info, &err);
        if (rc == KERR_OK) {
            c->src_state = st;
            r.dec = open_decoder(&r, &info, &err);
            if (!r.dec) rc = err.code ? err.code : KERR_INVALID;
        }
        if (rc != KERR_OK) {
            camera_count_error(c, "open");
            CAM_LOG(c, LOG_ERROR, "cannot open the source: %s", err.msg);
            close_source(c);
            if (!c->network) { /* a missing or broken file will not fix itself */
                final = CAM_FAILED;
                break;
            }
            if (!wait_to_reconnect(c, &bo)) break;
            continue;
        }
        camera_set_state(c, CAM_RUNNING);
        r.have_first = r.behind = r.have_anchor = false; /* a new connection: time starts again */
        drop_gop_backlog(c, &r); /* the last connection's packets are no reference for this one's */
        av_packet_unref(r.last_key);
        CAM_LOG(c, LOG_INFO, "source open: %s %dx%d at %.2f fps",
                avcodec_get_name(info.codecpar->codec_id), info.codecpar->width,
                info.codecpar->height, info.fps);
        long long before = atomic_load(&c->decoded);
        read_outcome out = read_loop(c, &r, &info);
        clip_ring_cut(c->clips); /* no post-roll comes after the end of a connection */
        decoder_close(r.dec);
        r.dec = NULL;
        close_source(c);
        if (out == READ_STOP) break;
        if (out == READ_END) {
            CAM_LOG(c, LOG_INFO, "source ended after %lld frames",
                    (long long)atomic_load(&c->decoded));
            break;
        }
        /* A connection that brought frames starts the backoff again; one that
         * opened and dropped at once (a server restarting) keeps it growing. */
        if (atomic_load(&c->decoded) > before) backoff_reset(&bo);
        if (!wait_to_reconnect(c, &bo)) break;
    }
    av_frame_free(&r.frame);
    av_packet_free(&r.last_key);
    packet_queue_free(&r.gop_backlog);
    camera_set_state(c, final);
    return NULL;
}

/* The verification stage of a detector whose boxes are verified (its
 * params.verify was checked with the config: a failure here is memory). */
static verify_state *open_verify(camera *c, const detector_ops *ops, const cfg_detector *dc)
{
    if (!ops || !(ops->caps & DET_VERIFY)) return NULL;
    verify_conf vc;
    verify_conf_default(&vc, ops->caps & DET_VERIFY_DEFAULT);
    cfg_diags d = {0};
    bool ok = verify_conf_read(dc->params, dc->path, &d, &vc);
    cfg_diags_free(&d);
    if (!ok || !vc.enabled) return NULL;
    verify_state *v = verify_new(&vc);
    if (!v)
        log_kv(LOG_ERROR, LOG_CTX("camera_name", c->cfg->name, "detector", dc->type),
               "out of memory: boxes not verified");
    return v;
}

static void open_detectors(camera *c, const detector_ctx *ctx)
{
    c->dets = calloc((size_t)c->cfg->ndet + 1, sizeof *c->dets);
    if (!c->dets) return;
    for (int i = 0; i < c->cfg->ndet; i++) {
        const cfg_detector *dc = &c->cfg->dets[i];
        if (!dc->enabled) continue;
        cam_detector *d = &c->dets[c->ndet++];
        d->cfg = dc;
        mlabels(d->labels, sizeof d->labels, "detector", dc->type, NULL);
        roi_filter_init(&d->roi, c->cfg, dc);
        tracker_init(&d->trk, 0.3f, 2,
                     tracker_max_age_ms(c->cfg->fps_limit, c->cfg->skip_frames, 0));
        const detector_ops *ops = detector_find(dc->type);
        track_policy pol = {.plates = ops && (ops->caps & DET_READS_PLATES),
                            .plate_min_reads = dc->plate_reads,
                            .cooldown_ms = (int64_t)(dc->cooldown_s * 1000),
                            .updates = dc->updates,
                            .summary = dc->summary};
        track_book_init(&d->book, &pol);
        kerr err = {0};
        d->det = detector_open(dc, ctx, &err);
        if (!d->det) { /* checked at start and reload: the file changed since */
            c->dets_failed++;
            camera_count_error(c, "detector");
            log_kv(LOG_ERROR, LOG_CTX("camera_name", c->cfg->name, "detector", dc->type),
                   "detector disabled: %s", err.msg);
            continue;
        }
        log_kv(LOG_INFO, LOG_CTX("camera_name", c->cfg->name, "detector", dc->type),
               "detector ready: model %s sha256 %s threshold %.2f classes [%s]", d->det->model.name,
               d->det->model.sha256, d->det->threshold, d->det->model.classes);
        d->verify = open_verify(c, ops, dc);
    }
}

/* The camera's own state before its reader runs: its labels, metrics
 * cleared, detectors and publishers. */
static void prepare(camera *c, const camera_deps *d)
{
    const cfg_camera *cfg = d->cfg;
    c->cfg = cfg;
    c->global = d->global;
    c->hub = d->hub;
    snprintf(c->worker_id, sizeof c->worker_id, "%s", d->worker_id ? d->worker_id : "");
    pthread_mutex_init(&c->ckpt_mu, NULL);
    mlabels(c->cam_label, sizeof c->cam_label, "camera", cfg->name, NULL);
    /* camera="x", with the comma: not camera="x2" too */
    snprintf(c->state_prefix, sizeof c->state_prefix, "%s,", c->cam_label);
    metric_remove(M_SOURCE_STATE, c->state_prefix); /* a restarted camera starts afresh */
    metric_remove(M_CAMERA_LAG, c->cam_label);
    atomic_init(&c->state, CAM_CONNECTING);
    open_detectors(c, d->dctx);
    kerr err = {0};
    if (publish_hub_add_camera(d->hub, cfg->name, &cfg->pub, &err) != KERR_OK) {
        log_kv(LOG_ERROR, LOG_CTX("camera_name", cfg->name), "publisher: %s", err.msg);
        camera_count_error(c, "publisher");
    }
    kerr cerr = {0};
    c->clips = clip_ring_new(cfg, d->hub, &cerr);
    if (cerr.code) log_kv(LOG_ERROR, LOG_CTX("camera_name", cfg->name), "clips: %s", cerr.msg);
    c->src = cfg->source; /* a loaded config always has one */
    c->env = (source_env){.global = d->global,
                          .camera = cfg->name,
                          .stop = &c->stop,
                          .owner = c,
                          .state = on_source_state,
                          .error = on_source_error,
                          .resume_ms = d->resume_ms};
    unsigned traits = c->src->traits(cfg->source_conf);
    c->network = traits & SOURCE_RETRY;
    c->batch = traits & SOURCE_BATCH;
}

camera *camera_start(const camera_deps *d, kerr *err)
{
    camera *c = calloc(1, sizeof *c);
    c->view = c ? view_new() : NULL;
    if (!c || !c->view) {
        free(c);
        kerr_set(err, KERR_NOMEM, "out of memory");
        return NULL;
    }
    prepare(c, d);
    /* Everything the reader and the workers read is set by now: nothing
     * about the camera changes once its thread runs. */
    c->slot = sched_cam_add(d->sched, c, d->global->queue_depth, !c->batch && !catches_up(c));
    if (!c->slot || pthread_create(&c->reader, NULL, reader_main, c) != 0) {
        kerr_set(err, KERR_INTERNAL, "cannot start the reader thread");
        camera_set_state(c, CAM_FAILED);
        return c;
    }
    c->reader_started = true;
    return c;
}

void camera_request_stop(camera *c)
{
    atomic_store(&c->stop, true); /* the source polls it in every wait and I/O callback */
}

void camera_join(camera *c)
{
    if (c->reader_started) pthread_join(c->reader, NULL);
    c->reader_started = false;
    for (int i = sched_cam_remove(c->slot); i > 0; i--)
        camera_count_drop(c, "stale");
    c->slot = NULL;
    camera_end_tracks(c);
    clip_ring_close(c->clips); /* after the last event: its clip goes to the spool */
}

void camera_free(camera *c)
{
    metric_remove(M_SOURCE_STATE, c->state_prefix);
    metric_remove(M_CAMERA_LAG, c->cam_label);
    for (int i = 0; i < c->ndet; i++) {
        detector_close(c->dets[i].det);
        verify_free(c->dets[i].verify);
        roi_filter_free(&c->dets[i].roi);
        tracker_free(&c->dets[i].trk);
        track_book_free(&c->dets[i].book);
    }
    free(c->dets);
    clip_ring_free(c->clips);
    view_release(c->view);
    pthread_mutex_destroy(&c->ckpt_mu);
    free(c);
}
