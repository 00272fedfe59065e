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
#include "../frame/frame.h"
#include "../ocr/ocr.h"

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
/* How long an unseen track is kept: 1.5 s, or three sampling intervals when
 * the camera is analysed more slowly than that (fps_limit 0.5 samples every
 * 2 s: a 1.5 s memory would forget every object before its second sighting
 * and confirm none). nominal_fps 0: unknown, 25 assumed for skip_frames. */
int64_t tracker_max_age_ms(double fps_limit, int skip_frames, double nominal_fps);
void tracker_free(tracker *t);
/* Associates dets with tracks at time now_ms. For each detection writes the
 * id of its track into ids[i] and sets is_new[i] when that track became
 * confirmed on this frame (emit an event for it). */
void tracker_update(tracker *t, const det_list *dets, int64_t now_ms, int64_t *ids, bool *is_new);
bool tracker_has(const tracker *t, int64_t id);

/* ---- what a tracked object raises (track_events.c) ----
 * One event per object: when its track is confirmed, or for ALPR when its
 * plate read is settled (min_reads agreeing reads) or the track ends with any
 * read, with the voted text. A cooldown keeps a track that was lost and found
 * again in the same place from raising a second alert. Optionally an update
 * when the object is seen much more surely (or its plate read changes), and a
 * summary when its track ends. */
#define TRACK_MAX_ZONES 8

typedef enum { TRACK_EVENT_OBJECT, TRACK_EVENT_UPDATE, TRACK_EVENT_END } track_event_kind;

typedef struct {
    bool plates;         /* ALPR: vote on the plate and emit once it is settled */
    int plate_min_reads; /* agreeing reads that settle a plate (default 3) */
    int64_t cooldown_ms; /* 0: none */
    bool updates, summary;
} track_policy;

typedef struct {
    track_event_kind kind;
    int64_t track_id;
    detection det; /* the best sighting (plate: the voted read) */
    kframe *frame; /* its frame, a reference the caller releases */
    const char *zones[TRACK_MAX_ZONES];
    int nzones;
    int64_t first_ms, last_ms;
    int sightings;
} track_event;

typedef struct track_rec track_rec;
typedef struct {
    track_policy policy;
    track_rec *v;
    int n, cap;
    struct {
        detection box;
        int64_t t;
    } recent[32]; /* recent alerts, for the cooldown */
    int nrecent;
} track_book;

void track_book_init(track_book *b, const track_policy *p);
void track_book_free(track_book *b);
/* A sighting of track id (confirmed: the tracker has confirmed it). Appends
 * what it raises to out (capacity 2). Returns how many. */
int track_book_see(track_book *b, int64_t id, bool confirmed, const detection *d, kframe *f,
                   const char *const *zones, int nzones, int64_t now_ms, track_event *out);
/* Tracks the tracker has dropped (or every track: all) end now. Appends at most
 * cap events to out; returns how many (call again while it returns cap). */
int track_book_end(track_book *b, const tracker *t, bool all, track_event *out, int cap);
/* After a frame's sightings: a track not yet reported and not seen in it lets
 * go of its older frame (a full-size frame per such track was most of a
 * camera's memory); its next sighting becomes its best. Not for plates. */
void track_book_frame_done(track_book *b, int64_t now_ms);
/* The media time of the oldest frame a track not yet reported holds (its
 * event's frame, if it is reported later), INT64_MAX when none: what the
 * camera's clip ring must still keep the pre-roll of. */
int64_t track_book_oldest_pending(const track_book *b);

#endif
