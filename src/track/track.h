/* track: a per-camera, per-detector tracker so one object raises one event,
 * not one per frame. Each track predicts where its box is now from a
 * constant-velocity estimate (people walk a box width in half a second, far
 * more than sampled frames apart can absorb with plain IoU); detections are
 * associated greedily, best score first, by IoU with the prediction, or by
 * centre distance when the box is small and fast. A track is confirmed after
 * min_hits matches and forgotten after max_age_ms unseen. */
#ifndef KVS_TRACK_H
#define KVS_TRACK_H

#include <stdint.h>

#include "../detect/detect.h"

typedef struct {
    int64_t id;
    detection box;
    float vx, vy; /* centre velocity, pixels per ms */
    int hits;
    int64_t last_seen_ms;
    bool confirmed;
} track;

typedef struct {
    track *v;
    int n, cap;
    int64_t next_id;
    float iou_match;
    int min_hits;
    int64_t max_age_ms;
} tracker;

void tracker_init(tracker *t, float iou_match, int min_hits, int64_t max_age_ms);
void tracker_free(tracker *t);
/* Associates dets with tracks at time now_ms. For each detection writes the
 * id of its track into ids[i] and sets is_new[i] when that track became
 * confirmed on this frame (emit an event for it). */
void tracker_update(tracker *t, const det_list *dets, int64_t now_ms, int64_t *ids, bool *is_new);

#endif
