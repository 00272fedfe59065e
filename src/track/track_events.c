/* The per-object event policy on top of the tracker (see track.h). */
#include <stdlib.h>
#include <string.h>

#include "track.h"

struct track_rec {
    int64_t id;
    int64_t first_ms, last_ms;
    int sightings;
    bool confirmed, emitted;
    float best_score, reported_score;
    detection best;
    kframe *best_frame;
    const char *zones[TRACK_MAX_ZONES];
    int nzones;
    plate_votes votes;
    char reported_text[17];
    int64_t last_update_ms;
};

void track_book_init(track_book *b, const track_policy *p)
{
    memset(b, 0, sizeof *b);
    b->policy = *p;
    if (b->policy.plate_min_reads <= 0) b->policy.plate_min_reads = 3;
}

void track_book_free(track_book *b)
{
    for (int i = 0; i < b->n; i++) {
        if (b->v[i].best_frame) frame_unref(b->v[i].best_frame);
    }
    free(b->v);
    memset(b, 0, sizeof *b);
}

static track_rec *find(track_book *b, int64_t id, bool create)
{
    for (int i = 0; i < b->n; i++)
        if (b->v[i].id == id) return &b->v[i];
    if (!create) return NULL;
    if (b->n == b->cap) {
        int nc = b->cap ? b->cap * 2 : 16;
        track_rec *nv = realloc(b->v, (size_t)nc * sizeof *nv);
        if (!nv) return NULL;
        b->v = nv, b->cap = nc;
    }
    track_rec *r = &b->v[b->n++];
    memset(r, 0, sizeof *r);
    r->id = id;
    return r;
}

/* The voted plate put into a detection. */
static detection voted(const track_rec *r, int *reads)
{
    detection d = r->best;
    ocr_text t;
    *reads = plate_votes_best(&r->votes, &t);
    if (*reads) {
        d.plate.has = true;
        d.plate.n = t.n > PLATE_MAX_LEN ? PLATE_MAX_LEN : t.n;
        memcpy(d.plate.text, t.text, (size_t)d.plate.n);
        d.plate.text[d.plate.n] = '\0';
        memcpy(d.plate.conf, t.conf, sizeof(float) * (size_t)d.plate.n);
        d.plate.mean = t.mean;
        d.score = t.mean;
    }
    return d;
}

static track_event make(const track_rec *r, track_event_kind kind, const detection *d)
{
    track_event e = {.kind = kind,
                     .track_id = r->id,
                     .det = *d,
                     .frame = r->best_frame ? frame_ref(r->best_frame) : NULL,
                     .nzones = r->nzones,
                     .first_ms = r->first_ms,
                     .last_ms = r->last_ms,
                     .sightings = r->sightings};
    memcpy(e.zones, r->zones, sizeof e.zones);
    return e;
}

/* An alert like this one went out lately close by: the same object again. */
static bool cooling(track_book *b, const detection *d, int64_t now)
{
    if (!b->policy.cooldown_ms) return false;
    for (int i = 0; i < b->nrecent; i++)
        if (b->recent[i].box.cls == d->cls && now - b->recent[i].t <= b->policy.cooldown_ms &&
            now >= b->recent[i].t && box_iou(&b->recent[i].box, d) >= 0.3f)
            return true;
    return false;
}

static void remember(track_book *b, const detection *d, int64_t now)
{
    if (b->nrecent == 32) memmove(b->recent, b->recent + 1, 31 * sizeof *b->recent), b->nrecent--;
    b->recent[b->nrecent].box = *d;
    b->recent[b->nrecent++].t = now;
}

int track_book_see(track_book *b, int64_t id, bool confirmed, const detection *d, kframe *f,
                   const char *const *zones, int nzones, int64_t now_ms, track_event *out)
{
    track_rec *r = find(b, id, true);
    if (!r) return 0;
    if (!r->sightings) r->first_ms = now_ms;
    r->sightings++;
    r->last_ms = now_ms;
    r->confirmed |= confirmed;
    if (d->plate.has) {
        ocr_text t = {.n = d->plate.n, .mean = d->plate.mean, .quality = d->plate.quality};
        memcpy(t.text, d->plate.text, sizeof d->plate.text);
        memcpy(t.conf, d->plate.conf, sizeof(float) * (size_t)d->plate.n);
        plate_votes_add(&r->votes, &t);
    }
    /* Once its event is out, a track keeps a frame only for later updates or
     * its summary: a 1080p frame per track was most of a camera's memory. */
    bool need_frame = !r->emitted || b->policy.updates || b->policy.summary;
    if (need_frame && (d->score > r->best_score ||
                       !r->best_frame)) { /* the best sighting: its frame is the snapshot */
        r->best_score = d->score;
        r->best = *d;
        if (r->best_frame) frame_unref(r->best_frame);
        r->best_frame = frame_ref(f);
        r->nzones = nzones < TRACK_MAX_ZONES ? nzones : TRACK_MAX_ZONES;
        if (r->nzones) memcpy(r->zones, zones, sizeof(char *) * (size_t)r->nzones);
    } else if (d->plate.has) {
        r->best.x1 = d->x1, r->best.y1 = d->y1, r->best.x2 = d->x2, r->best.y2 = d->y2;
    }
    int n = 0;
    if (!r->confirmed) return 0;
    if (!r->emitted) {
        int reads = 0;
        detection v = b->policy.plates ? voted(r, &reads) : r->best;
        if (b->policy.plates && reads < b->policy.plate_min_reads) return 0; /* not settled */
        r->emitted = true;
        r->reported_score = v.score;
        memcpy(r->reported_text, v.plate.text, sizeof r->reported_text);
        r->last_update_ms = now_ms;
        if (!cooling(b, &v, now_ms)) {
            remember(b, &v, now_ms);
            out[n++] = make(r, TRACK_EVENT_OBJECT, &v); /* the event holds its own reference */
        }
        if (!b->policy.updates && !b->policy.summary && r->best_frame) {
            frame_unref(r->best_frame);
            r->best_frame = NULL;
        }
        return n;
    }
    if (b->policy.updates && now_ms - r->last_update_ms >= 2000) {
        int reads = 0;
        detection v = b->policy.plates ? voted(r, &reads) : r->best;
        bool better = v.score >= r->reported_score + 0.1f;
        bool text = b->policy.plates && strcmp(v.plate.text, r->reported_text) != 0;
        if (better || text) {
            r->reported_score = v.score;
            memcpy(r->reported_text, v.plate.text, sizeof r->reported_text);
            r->last_update_ms = now_ms;
            out[n++] = make(r, TRACK_EVENT_UPDATE, &v);
        }
    }
    return n;
}

void track_book_frame_done(track_book *b, int64_t now_ms)
{
    if (b->policy.plates) return; /* an unsettled plate is emitted at its end, with its frame */
    for (int i = 0; i < b->n; i++) {
        track_rec *r = &b->v[i];
        if (r->emitted || r->last_ms == now_ms || !r->best_frame) continue;
        frame_unref(r->best_frame);
        r->best_frame = NULL;
        r->best_score = -1.0f; /* its next sighting brings frame and box together */
    }
}

int64_t track_book_oldest_pending(const track_book *b)
{
    int64_t oldest = INT64_MAX;
    for (int i = 0; i < b->n; i++) {
        const track_rec *r = &b->v[i];
        if (!r->emitted && r->best_frame && r->best_frame->pts_ms < oldest)
            oldest = r->best_frame->pts_ms;
    }
    return oldest;
}

int track_book_end(track_book *b, const tracker *t, bool all, track_event *out, int cap)
{
    int n = 0;
    for (int i = 0; i < b->n && n < cap;) {
        track_rec *r = &b->v[i];
        if (!all && tracker_has(t, r->id)) {
            i++;
            continue;
        }
        int reads = 0;
        detection v = b->policy.plates ? voted(r, &reads) : r->best;
        if (r->confirmed && !r->emitted && b->policy.plates && reads > 0 &&
            !cooling(b, &v, r->last_ms)) { /* never settled: the best we have */
            remember(b, &v, r->last_ms);
            out[n++] = make(r, TRACK_EVENT_OBJECT, &v);
            r->emitted = true;
        }
        if (r->emitted && b->policy.summary && n < cap) out[n++] = make(r, TRACK_EVENT_END, &v);
        if (n == cap && b->policy.summary && r->emitted && out[n - 1].kind != TRACK_EVENT_END)
            break; /* room for its summary next call */
        if (r->best_frame) frame_unref(r->best_frame);
        b->v[i] = b->v[--b->n];
    }
    return n;
}
