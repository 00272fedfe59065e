#include "track.h"

#include <stdlib.h>
#include <string.h>

int64_t tracker_max_age_ms(double fps_limit, int skip_frames, double nominal_fps)
{
    double interval_ms = 0;
    if (fps_limit > 0) interval_ms = 1000.0 / fps_limit;
    double fps = nominal_fps > 0 ? nominal_fps : 25.0;
    if (skip_frames > 0 && (skip_frames + 1) * 1000.0 / fps > interval_ms)
        interval_ms = (skip_frames + 1) * 1000.0 / fps;
    int64_t age = (int64_t)(3 * interval_ms);
    return age > 1500 ? age : 1500;
}

void tracker_init(tracker *t, float iou_match, int min_hits, int64_t max_age_ms)
{
    memset(t, 0, sizeof *t);
    t->next_id = 1;
    t->iou_match = iou_match;
    t->min_hits = min_hits < 1 ? 1 : min_hits;
    t->max_age_ms = max_age_ms;
}

void tracker_free(tracker *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}

static void expire(tracker *t, int64_t now_ms)
{
    int k = 0;
    for (int i = 0; i < t->n; i++)
        if (now_ms - t->v[i].last_seen_ms <= t->max_age_ms && now_ms >= t->v[i].last_seen_ms)
            t->v[k++] = t->v[i];
    t->n = k;
}

static detection predict(const track *tr, int64_t now_ms)
{
    float dt = (float)(now_ms - tr->last_seen_ms);
    detection p = tr->box;
    p.x1 += tr->vx * dt, p.x2 += tr->vx * dt;
    p.y1 += tr->vy * dt, p.y2 += tr->vy * dt;
    return p;
}

/* Association score: IoU with the predicted box; failing that, a centre within
 * half a box size of the prediction still matches (scored below any IoU hit). */
static float match_score(const detection *pred, const detection *d, float iou_min)
{
    float iou = box_iou(pred, d);
    if (iou >= iou_min) return 1.0f + iou;
    float pw = pred->x2 - pred->x1, ph = pred->y2 - pred->y1;
    float dx = (pred->x1 + pred->x2 - d->x1 - d->x2) / 2,
          dy = (pred->y1 + pred->y2 - d->y1 - d->y2) / 2;
    float reach = 0.5f * (pw > ph ? pw : ph);
    float dw = (d->x2 - d->x1) / (pw > 0 ? pw : 1), dh = (d->y2 - d->y1) / (ph > 0 ? ph : 1);
    bool similar = dw > 0.5f && dw < 2.0f && dh > 0.5f && dh < 2.0f;
    float dist2 = dx * dx + dy * dy;
    if (similar && dist2 <= reach * reach) return 1.0f - dist2 / (reach * reach + 1e-6f);
    return 0.0f;
}

static void observe(track *tr, const detection *d, int64_t now_ms)
{
    float dt = (float)(now_ms - tr->last_seen_ms);
    if (dt > 0) {
        float mvx = ((d->x1 + d->x2) - (tr->box.x1 + tr->box.x2)) / 2 / dt;
        float mvy = ((d->y1 + d->y2) - (tr->box.y1 + tr->box.y2)) / 2 / dt;
        bool first = tr->hits == 1;
        tr->vx = first ? mvx : 0.5f * tr->vx + 0.5f * mvx;
        tr->vy = first ? mvy : 0.5f * tr->vy + 0.5f * mvy;
    }
    tr->box = *d;
    tr->hits++;
    tr->last_seen_ms = now_ms;
}

void tracker_update(tracker *t, const det_list *dets, int64_t now_ms, int64_t *ids, bool *is_new)
{
    expire(t, now_ms);
    int base = t->n; /* tracks that existed before this frame */
    bool *used = calloc((size_t)base + 1, sizeof *used);
    for (int i = 0; i < dets->n; i++) {
        ids[i] = 0;
        is_new[i] = false;
    }
    /* Highest score first (NMS left them sorted): strong boxes pick first. */
    for (int i = 0; i < dets->n; i++) {
        const detection *d = &dets->v[i];
        int best = -1;
        float best_score = 0.0f;
        for (int k = 0; used && k < base; k++) {
            if (used[k] || t->v[k].box.cls != d->cls) continue;
            detection pred = predict(&t->v[k], now_ms);
            float sc = match_score(&pred, d, t->iou_match);
            if (sc > best_score) best_score = sc, best = k;
        }
        if (best >= 0) {
            track *tr = &t->v[best];
            used[best] = true;
            observe(tr, d, now_ms);
            ids[i] = tr->id;
            if (!tr->confirmed && tr->hits >= t->min_hits) tr->confirmed = is_new[i] = true;
            continue;
        }
        if (t->n == t->cap) {
            int cap = t->cap ? t->cap * 2 : 16;
            track *nv = realloc(t->v, (size_t)cap * sizeof *nv);
            if (!nv) continue;
            t->v = nv;
            t->cap = cap;
        }
        track *tr = &t->v[t->n++];
        tr->id = t->next_id++;
        tr->box = *d;
        tr->vx = tr->vy = 0;
        tr->hits = 1;
        tr->last_seen_ms = now_ms;
        tr->confirmed = t->min_hits <= 1;
        is_new[i] = tr->confirmed;
        ids[i] = tr->id;
    }
    free(used);
}

bool tracker_has(const tracker *t, int64_t id)
{
    for (int i = 0; i < t->n; i++)
        if (t->v[i].id == id) return true;
    return false;
}
