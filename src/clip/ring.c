/* A camera's clip ring: the packets of the last pre-roll (from a key frame),
 * the clips waiting for their post-roll, and the decisions of when a clip is
 * done or cut. The remux and the spooling happen on the clip thread
 * (writer.c); everything here runs under the ring's lock and only moves
 * packet references around. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../metrics/metrics.h"
#include "clip_internal.h"

atomic_llong clip_total_bytes;

static void drop_front(clip_ring *r)
{
    clip_entry *e = &r->v[r->head];
    r->bytes -= (size_t)e->pkt->size;
    atomic_fetch_sub(&clip_total_bytes, e->pkt->size);
    av_packet_free(&e->pkt);
    r->head = (r->head + 1) % r->cap;
    r->n--;
    r->first_seq++;
}

static clip_entry *at_seq(clip_ring *r, uint64_t seq)
{
    return &r->v[(r->head + (int)(seq - r->first_seq)) % r->cap];
}

static bool grow(clip_ring *r)
{
    if (r->n < r->cap) return true;
    int nc = r->cap ? r->cap * 2 : 256;
    clip_entry *nv = malloc(sizeof *nv * (size_t)nc);
    if (!nv) return false;
    for (int i = 0; i < r->n; i++)
        nv[i] = r->v[(r->head + i) % r->cap];
    free(r->v);
    r->v = nv, r->cap = nc, r->head = 0;
    return true;
}

/* One packet of open clip c to the clip thread; a packet that cannot be
 * handed over leaves a hole: the clip is cut. */
static void send_packet(clip_ring *r, clip_open *c, const clip_entry *e)
{
    clip_job *j = calloc(1, sizeof *j);
    if (!j || !(j->pkt = av_packet_clone(e->pkt))) {
        free(j);
        c->cut = true;
        return;
    }
    j->kind = CLIP_JOB_PACKET, j->clip_id = c->id;
    j->offset_tb = e->offset_tb, j->pts_ms = e->pts_ms, j->dur_ms = e->dur_ms;
    j->bytes = (size_t)e->pkt->size;
    clip_writer_enqueue(r, j);
}

/* The clip is over: the clip thread closes its file and spools it with the
 * events that share it; the clip is no longer open. */
static void finish(clip_ring *r, int i, bool cut)
{
    clip_open *c = &r->open[i];
    clip_job *j = calloc(1, sizeof *j);
    if (j) {
        j->kind = CLIP_JOB_FINISH, j->clip_id = c->id;
        j->cut = cut || c->cut;
        j->events = c->events, j->nevents = c->nevents;
        c->events = NULL, c->nevents = 0;
        clip_writer_enqueue(r, j);
    } else {
        log_kv(LOG_ERROR, LOG_CTX("camera_name", r->camera), "out of memory finishing a clip");
    }
    for (int k = 0; k < c->nevents; k++)
        free(c->events[k]);
    free(c->events);
    r->open[i] = r->open[--r->nopen];
}

/* Everything read goes out: a clip is whole if the frames read reach its
 * end (the last B-frames of a stream may not have let it finish by itself). */
static void finish_all(clip_ring *r)
{
    while (r->nopen > 0) {
        clip_open *c = &r->open[r->nopen - 1];
        finish(r, r->nopen - 1, c->end_ms > r->max_pts_ms);
    }
}

static void clear(clip_ring *r)
{
    while (r->n > 0)
        drop_front(r);
    r->dropped = false;
}

/* The next key frame after the front, 0 when none. */
static uint64_t next_key(clip_ring *r)
{
    for (int i = 1; i < r->n; i++)
        if (r->v[(r->head + i) % r->cap].key) return r->first_seq + (uint64_t)i;
    return 0;
}

/* Drops the front GOP (up to the next key frame, or everything). */
static void drop_gop(clip_ring *r)
{
    uint64_t k = next_key(r);
    uint64_t upto = k ? k : r->first_seq + (uint64_t)r->n;
    while (r->n > 0 && r->first_seq < upto)
        drop_front(r);
    r->dropped = true;
}

/* The camera's one GOP is over its cap on its own: the ring empties and no
 * clip can be kept at all; said once, as the config cannot know the GOP. */
static void warn_gop(clip_ring *r)
{
    if (r->gop_warned) return;
    r->gop_warned = true;
    log_kv(LOG_WARN, LOG_CTX("camera_name", r->camera),
           "clip.max_bytes (%lld) is smaller than one GOP of this camera (%zu bytes and growing): "
           "no clip can be kept; raise clip.max_bytes (or shorten the camera's key-frame "
           "interval)",
           r->max_bytes, r->bytes);
}

/* Keeps the pre-roll (plus slack) from a key frame (open clips have their
 * packets already); over the camera's or the process's cap, the oldest GOP
 * goes. A clip thread so far behind that its queue alone is over the cap
 * (a slow disk, an event waiting for spool room) cuts the open clips. */
static void trim(clip_ring *r, int64_t newest_ms)
{
    /* Before the first analysis nothing is known to be history (the cap
     * still holds). */
    long long at = atomic_load(&r->analysing_ms), hold = atomic_load(&r->hold_ms);
    int64_t keep_ms = LLONG_MIN;
    if (at != LLONG_MIN) {
        int64_t from = at < newest_ms ? at : newest_ms;
        /* a track not yet reported may name an older frame: its pre-roll
         * too, within the slack (no more than before it was measured) */
        if (hold < from) from = hold > from - r->slack_ms ? hold : from - r->slack_ms;
        keep_ms = from - r->pre_ms;
    }
    for (;;) {
        uint64_t k = next_key(r);
        if (!k || at_seq(r, k)->pts_ms > keep_ms) break;
        drop_gop(r);
    }
    while (r->n > 0 && ((long long)r->bytes > r->max_bytes ||
                        atomic_load(&clip_total_bytes) > CLIP_TOTAL_MAX_BYTES)) {
        if (!next_key(r) && (long long)r->bytes > r->max_bytes) warn_gop(r);
        drop_gop(r);
    }
    while (r->nopen > 0 && (long long)r->queued > r->max_bytes)
        finish(r, r->nopen - 1, true);
}

/* A new stream or connection: what is kept belongs to the old one. */
static bool restart_stream(clip_ring *r, const AVCodecParameters *par, AVRational tb)
{
    finish_all(r);
    clear(r);
    r->ended = false;
    if (!r->par && !(r->par = avcodec_parameters_alloc())) return false;
    if (avcodec_parameters_copy(r->par, par) < 0) return false;
    r->tb = tb;
    r->max_pts_ms = r->last_dts_ms = INT64_MIN;
    atomic_store(&r->analysing_ms, LLONG_MIN);
    atomic_store(&r->hold_ms, LLONG_MAX);
    atomic_fetch_add(&r->gen, 1);
    r->have_stream = true;
    return true;
}

static int64_t to_ms(int64_t ts, AVRational tb)
{
    return av_rescale_q(ts, tb, (AVRational){1, 1000});
}

/* The same connection goes on: its clock runs forward without a gap and its
 * codec setup (extradata) is the one kept. A source that reconnects on its
 * own may say nothing, yet its timestamps start again. */
static bool continues(const clip_ring *r, const AVCodecParameters *par, int64_t dts_ms)
{
    if (!r->have_stream || r->ended) return false;
    int64_t step; /* a stream's timestamps can be any two numbers: a step past int64 is a jump */
    if (r->last_dts_ms != INT64_MIN && (__builtin_sub_overflow(dts_ms, r->last_dts_ms, &step) ||
                                        step < -CLIP_BACK_MS || step > CLIP_GAP_MS))
        return false;
    return par->extradata_size == r->par->extradata_size &&
           (!par->extradata_size ||
            memcmp(par->extradata, r->par->extradata, (size_t)par->extradata_size) == 0);
}

void clip_ring_push(clip_ring *r, const AVPacket *pkt, const AVCodecParameters *par, AVRational tb,
                    bool new_stream, int64_t offset_ms)
{
    if (!r) return;
    int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
    if (ts == AV_NOPTS_VALUE) return; /* no time: cannot be placed in a clip */
    int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : ts;
    pthread_mutex_lock(&r->mu);
    bool ok = (!new_stream && continues(r, par, to_ms(dts, tb) + offset_ms)) ||
              restart_stream(r, par, tb);
    bool key = pkt->flags & AV_PKT_FLAG_KEY;
    if (ok) r->last_dts_ms = to_ms(dts, tb) + offset_ms;
    /* The ring starts at a key frame; an open clip takes every packet (its
     * file has them all before: a hole would not play). */
    bool keep = ok && (r->n > 0 || key) && grow(r);
    if (!keep && (!ok || r->nopen == 0)) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    int64_t off_tb = av_rescale_q(offset_ms, (AVRational){1, 1000}, tb);
    clip_entry e = {.pkt = av_packet_clone(pkt),
                    .offset_tb = off_tb,
                    .pts_ms = to_ms(ts, tb) + offset_ms,
                    .dts_ms = to_ms(dts, tb) + offset_ms,
                    .dur_ms = pkt->duration > 0 ? to_ms(pkt->duration, tb) : 0,
                    .key = key};
    if (e.pkt) {
        /* The post-roll is read once a packet decoded after it comes that is
         * also shown after every packet before it: the frames shown before it
         * (B-frames) have all arrived, so the clip has no hole. */
        if (e.pts_ms > r->max_pts_ms)
            for (int i = r->nopen - 1; i >= 0; i--)
                if (e.dts_ms > r->open[i].end_ms) finish(r, i, false);
        if (e.pts_ms > r->max_pts_ms) r->max_pts_ms = e.pts_ms;
        for (int i = 0; i < r->nopen; i++)
            send_packet(r, &r->open[i], &e);
        if (keep) {
            r->v[(r->head + r->n) % r->cap] = e;
            r->n++;
            r->bytes += (size_t)pkt->size;
            atomic_fetch_add(&clip_total_bytes, pkt->size);
        } else {
            av_packet_free(&e.pkt);
        }
        trim(r, e.pts_ms);
        metric_set(M_CLIP_RING_BYTES, r->cam_label, (double)r->bytes);
    } else {
        for (int i = 0; i < r->nopen; i++)
            r->open[i].cut = true; /* a packet they do not get: a hole */
    }
    pthread_mutex_unlock(&r->mu);
}

unsigned clip_ring_generation(clip_ring *r)
{
    return r ? atomic_load(&r->gen) : 0;
}

void clip_ring_analysing(clip_ring *r, int64_t pts_ms, unsigned gen)
{
    if (!r || pts_ms < 0) return;
    atomic_store(&r->analysing_gen, gen);
    /* an older connection's time says nothing about what to keep of this one's */
    if (gen == atomic_load(&r->gen)) atomic_store(&r->analysing_ms, pts_ms);
}

void clip_ring_hold(clip_ring *r, int64_t pts_ms, unsigned gen)
{
    if (!r || gen != atomic_load(&r->gen)) return;
    atomic_store(&r->hold_ms, pts_ms == INT64_MAX ? LLONG_MAX : pts_ms);
}

void clip_ring_cut(clip_ring *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    finish_all(r);
    r->ended = true; /* events of frames still in analysis get a cut clip at once */
    pthread_mutex_unlock(&r->mu);
}

/* The key frame a clip starting at start_ms begins with: the latest at or
 * before it, else the oldest kept (later than asked: cut, unless nothing
 * older was ever read). */
static uint64_t start_key(clip_ring *r, int64_t start_ms, bool *cut)
{
    uint64_t best = r->first_seq;
    for (int i = 0; i < r->n; i++) {
        clip_entry *e = &r->v[(r->head + i) % r->cap];
        if (e->key && e->pts_ms <= start_ms) best = r->first_seq + (uint64_t)i;
    }
    *cut = r->dropped && at_seq(r, best)->pts_ms > start_ms;
    return best;
}

/* An open clip this event's range overlaps, staying under the share limit. */
static int shared_clip(clip_ring *r, int64_t start_ms, int64_t end_ms)
{
    for (int i = 0; i < r->nopen; i++) {
        clip_open *c = &r->open[i];
        int64_t end = end_ms > c->end_ms ? end_ms : c->end_ms;
        int64_t max = CLIP_SHARE_MAX_FACTOR * (r->pre_ms + r->post_ms);
        /* never one starting later than this event asks for */
        bool covers = c->from_pts_ms <= start_ms;
        if (covers && start_ms <= c->end_ms && end - c->start_ms <= max) return i;
    }
    return -1;
}

static bool add_event(clip_open *c, const event *e)
{
    char **nv = realloc(c->events, sizeof *nv * (size_t)(c->nevents + 1));
    if (!nv) return false;
    c->events = nv;
    if (!(c->events[c->nevents] = event_to_json(e))) return false;
    c->nevents++;
    return true;
}

/* The clip thread starts the clip's file with the stream's parameters and
 * gets the packets kept from its key frame on; the rest follow as read. */
static void start_file(clip_ring *r, clip_open *c, uint64_t from_seq)
{
    clip_job *j = calloc(1, sizeof *j);
    if (j && (j->par = avcodec_parameters_alloc()) &&
        avcodec_parameters_copy(j->par, r->par) >= 0) {
        j->kind = CLIP_JOB_OPEN, j->clip_id = c->id, j->tb = r->tb;
        clip_writer_enqueue(r, j);
    } else {
        clip_job_free(j); /* the clip thread knows no such file: the clip "failed" */
        return;
    }
    for (uint64_t s = from_seq; s < r->first_seq + (uint64_t)r->n; s++)
        send_packet(r, c, at_seq(r, s));
}

static int open_clip(clip_ring *r, const event *e, int64_t start_ms, int64_t end_ms)
{
    if (r->nopen == CLIP_MAX_OPEN) /* the oldest goes now, cut: files stay bounded */
        finish(r, 0, true);
    clip_open *c = &r->open[r->nopen];
    *c = (clip_open){.id = ++r->next_id, .start_ms = start_ms, .end_ms = end_ms};
    uint64_t from = start_key(r, start_ms, &c->cut);
    c->from_pts_ms = at_seq(r, from)->pts_ms;
    snprintf(c->owner_id, sizeof c->owner_id, "%s", e->event_id);
    c->owner_at_ms = e->detected_at_ms;
    start_file(r, c, from);
    return r->nopen++;
}

bool clip_attach(clip_ring *r, event *e)
{
    if (!r || e->pts_ms < 0 || strcmp(e->kind, "object") != 0) return false;
    int64_t start = e->pts_ms - r->pre_ms, end = e->pts_ms + r->post_ms;
    pthread_mutex_lock(&r->mu);
    /* a frame of an older connection: its packets went with it (0: not said) */
    unsigned gen = atomic_load(&r->analysing_gen);
    if (!r->have_stream || r->n == 0 || (gen && gen != atomic_load(&r->gen))) {
        pthread_mutex_unlock(&r->mu);
        return false;
    }
    int64_t first = r->v[r->head].pts_ms; /* nothing older was ever read */
    if (!r->dropped && start < first) start = first;
    int i = shared_clip(r, start, end);
    if (i < 0) i = open_clip(r, e, start, end);
    clip_open *c = &r->open[i];
    if (end > c->end_ms) c->end_ms = end;
    e->clip = (event_clip){.on = true, .start_ms = start, .end_ms = end, .status = "pending"};
    snprintf(e->clip.owner_id, sizeof e->clip.owner_id, "%s", c->owner_id);
    e->clip.owner_at_ms = c->owner_at_ms;
    if (!add_event(c, e))
        log_kv(LOG_ERROR, LOG_CTX("camera_name", r->camera, "event_id", e->event_id),
               "out of memory: no clip_ready record for this event");
    r->unsubmitted++; /* its clip_ready waits until it is spooled */
    /* The source has ended: no more post-roll will come. */
    if (r->ended) finish(r, i, end > r->max_pts_ms);
    pthread_mutex_unlock(&r->mu);
    return true;
}

void clip_submitted(clip_ring *r)
{
    pthread_mutex_lock(&r->mu);
    r->unsubmitted--;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void clip_ring_drop_all(clip_ring *r)
{
    pthread_mutex_lock(&r->mu);
    finish_all(r);
    clear(r);
    metric_remove(M_CLIP_RING_BYTES, r->cam_label);
    pthread_mutex_unlock(&r->mu);
}
