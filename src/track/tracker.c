#include "track.h"

#include <stdlib.h>
#include <string.h>

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
        float best_iou = t->iou_match;
        for (int k = 0; used && k < base; k++) {
            if (used[k] || t->v[k].box.cls != d->cls) continue;
            float iou = box_iou(&t->v[k].box, d);
            if (iou >= best_iou) best_iou = iou, best = k;
        }
        if (best >= 0) {
            track *tr = &t->v[best];
            used[best] = true;
            tr->box = *d;
            tr->hits++;
            tr->last_seen_ms = now_ms;
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
        tr->hits = 1;
        tr->last_seen_ms = now_ms;
        tr->confirmed = t->min_hits <= 1;
        is_new[i] = tr->confirmed;
        ids[i] = tr->id;
    }
    free(used);
}
