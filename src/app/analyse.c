/* One analysed frame of one camera: detectors -> ROI -> tracker -> events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../metrics/metrics.h"
#include "app.h"

/* The picture conversions made on this thread (a detector scaling the
 * decoder's picture into its input, RGB copies for crops and snapshots): also
 * counted in the inference and encode times. */
static void report_convert_time(void)
{
    int64_t ns = frame_convert_ns_take();
    if (ns > 0) metric_observe(M_STAGE_SECONDS, "stage=\"convert\"", (double)ns / 1e9);
}

static bool id_recent(const camera *c, const char *id)
{
    for (int i = 0; i < c->nrecent_ids; i++)
        if (strcmp(c->recent_ids[i], id) == 0) return true;
    return false;
}

/* A replay re-raises an event with the id it had (event_id.c); a source
 * without a producer timeline gets a UUIDv7. */
static void assign_id(camera *c, event *e)
{
    enum { RING = sizeof c->recent_ids / sizeof c->recent_ids[0] };
    for (int ord = 0; ord <= RING; ord++) {
        if (!event_id_derive(e, ord, e->event_id)) break;
        if (id_recent(c, e->event_id)) continue;
        if (c->nrecent_ids == RING) {
            memmove(c->recent_ids, c->recent_ids + 1, (RING - 1) * sizeof c->recent_ids[0]);
            c->nrecent_ids--;
        }
        memcpy(c->recent_ids[c->nrecent_ids++], e->event_id, sizeof c->recent_ids[0]);
        return;
    }
    uuid_v7(e->event_id);
}

static event *make_event(camera *c, cam_detector *d, const track_event *te)
{
    event *e = event_new();
    if (!e) return NULL;
    const kframe *f = te->frame;
    const detection *det = &te->det;
    static const char *const kinds[] = {"object", "update", "track_end"};
    snprintf(e->kind, sizeof e->kind, "%s", kinds[te->kind]);
    e->track_first_ms = te->first_ms >= CLOCK_WALL_MS_MIN ? te->first_ms : -1;
    e->track_last_ms = te->last_ms >= CLOCK_WALL_MS_MIN ? te->last_ms : -1;
    e->track_sightings = te->sightings;
    e->camera_name = kstrdup(c->cfg->name);
    snprintf(e->worker_id, sizeof e->worker_id, "%s", c->worker_id);
    e->stream_name = kstrdup(c->cfg->stream_name);
    e->detector = kstrdup(d->cfg->type);
    e->label = kstrdup(detector_label(d->det, det->cls));
    e->confidence = det->score;
    e->x1 = det->x1, e->y1 = det->y1, e->x2 = det->x2, e->y2 = det->y2;
    e->frame_w = f->width;
    e->frame_h = f->height;
    e->track_id = te->track_id;
    for (int i = 0; i < te->nzones && i < EVENT_MAX_ROI; i++)
        e->roi[e->nroi++] = kstrdup(te->zones[i]);
    e->producer_ts_ms = f->producer_ts_ms;
    e->server_ts_ms = f->server_ts_ms;
    snprintf(e->fragment_number, sizeof e->fragment_number, "%s", f->fragment_number);
    e->pts_ms = f->pts_ms;
    e->detected_at_ms = clock_wall_ms();
    snprintf(e->model_name, sizeof e->model_name, "%s", d->det->model.name);
    snprintf(e->model_sha256, sizeof e->model_sha256, "%s", d->det->model.sha256);
    e->decoded_mono_ns = f->decoded_mono_ns;
    if (det->ev.has)
        e->evidence = (event_evidence){.has = true,
                                       .model_score = det->score,
                                       .colour = det->ev.colour,
                                       .flicker = det->ev.flicker,
                                       .motion = det->ev.motion,
                                       .growth = det->ev.growth,
                                       .persistence = det->ev.persistence,
                                       .score = det->ev.score,
                                       .verified = det->ev.verified,
                                       .fire_share = det->ev.fire_share,
                                       .grey_share = det->ev.grey_share,
                                       .smoke = det->ev.smoke};
    if (det->plate.has) {
        e->has_plate = true;
        snprintf(e->plate_text, sizeof e->plate_text, "%s", det->plate.text);
        e->plate_confidence = det->plate.mean;
        const char *fmt = detector_format_name(d->det, det->plate.format);
        e->plate_format = fmt ? kstrdup(fmt) : NULL;
        for (int k = 0; k < 4; k++)
            e->plate_box[k] = det->plate.box[k];
    }
    assign_id(c, e);
    return e;
}

/* A fenced worker publishes nothing for a camera whose lease has lapsed or
 * moved: another worker may be running it already (docs/cluster.md). */
bool camera_may_emit(camera *c)
{
    int64_t until = atomic_load(&c->lease_until_ns);
    if (until == 0 || clock_mono_ns() < until) return true;
    metric_add(M_EVENTS_FENCED, c->cam_label, 1);
    return false;
}

/* Publishes what a track raised and releases its frame reference. */
static void emit(camera *c, cam_detector *d, track_event *te)
{
    if (!te->frame) return;
    if (!camera_may_emit(c)) {
        frame_unref(te->frame);
        te->frame = NULL;
        return;
    }
    event *e = make_event(c, d, te);
    if (!e) {
        log_kv(LOG_ERROR, LOG_CTX("camera_name", c->cfg->name), "out of memory building an event");
        frame_unref(te->frame);
        return;
    }
    int64_t t0 = clock_mono_ns();
    kerr err = {0};
    if (event_encode_images(e, te->frame, 85, &err) != KERR_OK) /* the event still goes out */
        log_kv(LOG_ERROR, LOG_CTX("camera_name", c->cfg->name, "event_id", e->event_id),
               "snapshot: %s", err.msg);
    frame_unref(te->frame);
    te->frame = NULL;
    metric_observe(M_STAGE_SECONDS, "stage=\"encode\"", (double)(clock_mono_ns() - t0) / 1e9);
    report_convert_time();
    char labels[400];
    mlabels(labels, sizeof labels, "camera", c->cfg->name, "detector", d->cfg->type, NULL);
    metric_add(M_EVENTS, labels, 1);
    atomic_fetch_add(&c->events, 1);
    atomic_store(&c->last_event_ms, e->detected_at_ms);
    bool clip = clip_attach(c->clips, e); /* names its clip; the event does not wait for it */
    clip_attach_kvs(c->cfg, c->global ? c->global->aws_region : NULL, e); /* clip.from kvs */
    publish_hub_submit(c->hub, e);
    if (clip) clip_submitted(c->clips);
}

/* Tracks that ended (all: every one) raise their last events. */
static void end_tracks(camera *c, cam_detector *d, bool all)
{
    track_event ev[4];
    int n;
    do {
        n = track_book_end(&d->book, &d->trk, all, ev, 4);
        for (int i = 0; i < n; i++)
            emit(c, d, &ev[i]);
    } while (n == 4);
}

void camera_end_tracks(camera *c)
{
    for (int i = 0; i < c->ndet; i++)
        if (c->dets[i].det) end_tracks(c, &c->dets[i], true);
}

/* The boxes of one analysed frame, for the operator page (view.c). */
typedef struct {
    ui_box v[VIEW_MAX_BOXES];
    int n;
    bool want;
} frame_boxes;

static void add_box(frame_boxes *fb, cam_detector *d, const detection *b)
{
    if (!fb->want || fb->n == VIEW_MAX_BOXES) return;
    ui_box *u = &fb->v[fb->n++];
    const char *label = detector_label(d->det, b->cls);
    *u = (ui_box){.x1 = b->x1, .y1 = b->y1, .x2 = b->x2, .y2 = b->y2};
    if (b->plate.has)
        snprintf(u->text, sizeof u->text, "%s %s", label, b->plate.text);
    else
        snprintf(u->text, sizeof u->text, "%s %.0f%%", label, b->score * 100);
    ui_label_colour(label, u->rgb);
}

static verify_kind kind_of(void *det, int cls)
{
    return strstr(detector_label(det, cls), "smoke") ? VERIFY_KIND_SMOKE : VERIFY_KIND_FIRE;
}

typedef struct {
    camera *c;
    cam_detector *d;
    const kframe *f;
} trace_ctx;

/* A box verification rejected, or one it turned into an alarm, at debug
 * level: its evidence and why, so a camera whose fire is (not) raised can be
 * tuned from its log (docs/detectors.md). */
static void trace_verdict(void *ctx, const detection *b, int why)
{
    const trace_ctx *t = ctx;
    char verdict[40];
    if (why == VERIFY_VERIFIED)
        snprintf(verdict, sizeof verdict, "verified");
    else
        snprintf(verdict, sizeof verdict, "rejected (%s)", verify_reject_name(why));
    log_kv(LOG_DEBUG, LOG_CTX("camera_name", t->c->cfg->name, "detector", t->d->cfg->type),
           "verify: %s%s at %.2f s %s: model %.2f colour %.2f flicker %.2f motion %.2f "
           "growth %.2f persistence %.2f score %.2f fire %.2f grey %.2f box %.0f,%.0f-%.0f,%.0f",
           detector_label(t->d->det, b->cls), b->ev.smoke ? " (judged as smoke)" : "",
           (double)t->f->pts_ms / 1000, verdict, (double)b->score, (double)b->ev.colour,
           (double)b->ev.flicker, (double)b->ev.motion, (double)b->ev.growth,
           (double)b->ev.persistence, (double)b->ev.score, (double)b->ev.fire_share,
           (double)b->ev.grey_share, (double)b->x1, (double)b->y1, (double)b->x2, (double)b->y2);
}

/* The verification stage (src/verify): boxes whose evidence over the last
 * analysed frames does not hold go no further; counted by reason. */
static void verify_boxes(camera *c, cam_detector *d, const kframe *f, det_list *dets)
{
    if (!d->verify) return;
    trace_ctx tc = {c, d, f};
    verify_set_trace(d->verify, log_enabled(LOG_DEBUG) ? trace_verdict : NULL, &tc);
    kerr err = {0};
    const uint8_t *rgb = dets->n ? frame_rgb(f, &err) : NULL;
    if (dets->n && !rgb)
        log_kv(LOG_ERROR, LOG_CTX("camera_name", c->cfg->name, "detector", d->cfg->type),
               "verify: %s", err.msg);
    report_convert_time();
    int64_t t0 = clock_mono_ns();
    int rejected[VERIFY_REJ_N] = {0};
    verify_frame(d->verify, rgb, f->stride, f->width, f->height, dets, kind_of, d->det, rejected);
    verify_set_trace(d->verify, NULL, NULL); /* tc ends here */
    metric_observe(M_STAGE_SECONDS, "stage=\"verify\"", (double)(clock_mono_ns() - t0) / 1e9);
    for (int r = 0; r < VERIFY_REJ_N; r++) {
        if (!rejected[r]) continue;
        char labels[400];
        mlabels(labels, sizeof labels, "camera", c->cfg->name, "detector", d->cfg->type, "reason",
                verify_reject_name((verify_reject)r), NULL);
        metric_add(M_VERIFY_REJECTED, labels, rejected[r]);
    }
}

static void run_detector(camera *c, cam_detector *d, const kframe *f, det_list *dets,
                         frame_boxes *fb)
{
    int64_t t0 = clock_mono_ns();
    kerr err = {0};
    if (detector_run(d->det, f, dets, &err) != KERR_OK) {
        camera_count_error(c, "inference");
        log_kv(LOG_ERROR, LOG_CTX("camera_name", c->cfg->name, "detector", d->cfg->type), "%s",
               err.msg);
        return;
    }
    metric_observe(M_INFERENCE_SECONDS, d->labels, (double)(clock_mono_ns() - t0) / 1e9);
    report_convert_time();
    verify_boxes(c, d, f, dets);
    /* ROI: keep detections whose centre passes the camera's zones. */
    int n = dets->n;
    const char *(*zones)[EVENT_MAX_ROI] = malloc(sizeof *zones * (size_t)(n ? n : 1));
    int *nz = malloc(sizeof *nz * (size_t)(n ? n : 1));
    int64_t *ids = malloc(sizeof *ids * (size_t)(n ? n : 1));
    bool *fresh = malloc(sizeof *fresh * (size_t)(n ? n : 1));
    if (!zones || !nz || !ids || !fresh) {
        log_kv(LOG_ERROR, LOG_CTX("camera_name", c->cfg->name), "out of memory analysing a frame");
        free(zones), free(nz), free(ids), free(fresh);
        return;
    }
    int kept = 0;
    for (int i = 0; i < n; i++) {
        const detection *b = &dets->v[i];
        double cx = (b->x1 + b->x2) / 2 / f->width, cy = (b->y1 + b->y2) / 2 / f->height;
        if (!roi_filter_accept(&d->roi, cx, cy, zones[kept], EVENT_MAX_ROI, &nz[kept])) continue;
        add_box(fb, d, b);
        dets->v[kept++] = *b;
    }
    dets->n = kept;
    int64_t now = f->pts_ms >= 0 ? f->pts_ms : clock_mono_ns() / 1000000;
    tracker_update(&d->trk, dets, now, ids, fresh);
    for (int i = 0; i < dets->n; i++) {
        char labels[400];
        mlabels(labels, sizeof labels, "camera", c->cfg->name, "detector", d->cfg->type, "label",
                detector_label(d->det, dets->v[i].cls), NULL);
        metric_add(M_DETECTIONS, labels, 1);
        atomic_fetch_add(&c->detections, 1);
        track_event ev[2];
        int k = track_book_see(&d->book, ids[i], fresh[i], &dets->v[i], (kframe *)f, zones[i],
                               nz[i], now, ev);
        for (int j = 0; j < k; j++)
            emit(c, d, &ev[j]);
    }
    track_book_frame_done(&d->book, now);
    end_tracks(c, d, false);
    free(zones), free(nz), free(ids), free(fresh);
}

void camera_analyse(void *cam, kframe *f, int worker, void *user)
{
    (void)worker, (void)user;
    camera *c = cam;
    clip_ring_analysing(c->clips, f->pts_ms, f->clip_gen); /* its pre-roll must still be kept */
    /* Each frame's times, for following a stream's timeline (B-frames: a
     * picture's producer time is its own, not its packet's). */
    if (log_enabled(LOG_DEBUG))
        log_kv(LOG_DEBUG, LOG_CTX("camera_name", c->cfg->name),
               "analysing frame: pts %lld ms, producer %lld ms, fragment %s", (long long)f->pts_ms,
               (long long)f->producer_ts_ms, f->fragment_number[0] ? f->fragment_number : "-");
    if (f->producer_ts_ms > 0)
        metric_observe(M_FRAME_DELAY, c->cam_label,
                       (double)(clock_wall_ms() - f->producer_ts_ms) / 1000.0);
    det_list dets = {0};
    frame_boxes fb = {.want = view_watched(c->view)};
    int64_t hold = INT64_MAX; /* the oldest frame a later event may still name */
    for (int i = 0; i < c->ndet; i++) {
        if (c->dets[i].det) run_detector(c, &c->dets[i], f, &dets, &fb);
        int64_t o = track_book_oldest_pending(&c->dets[i].book);
        if (o < hold) hold = o;
    }
    clip_ring_hold(c->clips, hold, f->clip_gen);
    det_list_free(&dets);
    view_offer(c->view, f, fb.v, fb.n);
    /* its events are spooled now: a new owner may resume from its fragment */
    camera_advance_checkpoint(c, f->fragment_number, f->fragment_start_ms, false);
    atomic_fetch_add(&c->analysed, 1);
    metric_add(M_FRAMES_PROCESSED, c->cam_label, 1);
    frame_compact(f); /* what tracks keep of it waits as its key packet, when it has one */
    frame_unref(f);
}
