#include <stdlib.h>

#include "detect.h"

void det_list_push(det_list *l, detection d)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        detection *nv = realloc(l->v, (size_t)cap * sizeof *nv);
        if (!nv) return;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = d;
}

void det_list_free(det_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

float box_iou(const detection *a, const detection *b)
{
    float ix1 = a->x1 > b->x1 ? a->x1 : b->x1, iy1 = a->y1 > b->y1 ? a->y1 : b->y1;
    float ix2 = a->x2 < b->x2 ? a->x2 : b->x2, iy2 = a->y2 < b->y2 ? a->y2 : b->y2;
    float iw = ix2 - ix1, ih = iy2 - iy1;
    if (iw <= 0 || ih <= 0) return 0.f;
    float inter = iw * ih;
    float ua = (a->x2 - a->x1) * (a->y2 - a->y1) + (b->x2 - b->x1) * (b->y2 - b->y1) - inter;
    return ua > 0 ? inter / ua : 0.f;
}

static int by_score_desc(const void *pa, const void *pb)
{
    const detection *a = pa, *b = pb;
    return (a->score < b->score) - (a->score > b->score);
}

void nms(det_list *l, float iou_threshold, bool per_class, int max_det)
{
    if (l->n == 0) return; /* qsort on a NULL array is undefined even for 0 items */
    qsort(l->v, (size_t)l->n, sizeof *l->v, by_score_desc);
    int kept = 0;
    for (int i = 0; i < l->n && kept < max_det; i++) {
        bool keep = true;
        for (int k = 0; k < kept && keep; k++) {
            if (per_class && l->v[k].cls != l->v[i].cls) continue;
            if (box_iou(&l->v[k], &l->v[i]) > iou_threshold) keep = false;
        }
        if (keep) l->v[kept++] = l->v[i];
    }
    l->n = kept;
}
