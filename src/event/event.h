/* event: what kvs-infer publishes about one detected object — the JSON of
 * docs/publishing.md "Events" (schema_version 1) and its JPEG snapshot and crop. */
#ifndef KVS_EVENT_H
#define KVS_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"
#include "../frame/frame.h"

enum { EVENT_SCHEMA_VERSION = 1, EVENT_MAX_ROI = 8 };

typedef struct {
    unsigned char *data;
    size_t len;
} event_image;

/* The clip named by an event (src/clip/clip.h, docs/publishing.md "Clips"). */
typedef struct {
    bool on;
    int64_t start_ms, end_ms; /* media time, the clock of frame.pts */
    char status[12];          /* pending | ready | cut | lost | archived */
    char reason[96];          /* clip_ready records resolved at a start: why ("" otherwise) */
    /* The event whose folder holds clip.mp4: itself, or the earlier event of
     * the camera whose clip it shares. */
    char owner_id[37];
    int64_t owner_at_ms; /* that event's detected_at */
    char *ref;           /* S3 URI or local path, decided with the images */
    /* clip.from kvs (status "archived"): no copy, the range of the camera's
     * KVS stream in producer time (epoch ms); kvs_stream "" otherwise. */
    char kvs_stream[257], kvs_region[64];
    int64_t kvs_start_ms, kvs_end_ms;
} event_clip;

/* Why a verified detection is an alarm (src/verify, docs/publishing.md
 * "evidence"): the model's score and the verification's parts, 0..1. */
typedef struct {
    bool has; /* only detectors that verify their boxes set it */
    bool verified;
    double model_score, colour, flicker, motion, growth, persistence, score;
    double fire_share, grey_share; /* the box's fire-coloured and greyish pixels */
    bool smoke;                    /* judged as smoke (a fire box's greyish pixels) */
} event_evidence;

typedef struct {
    char event_id[UUID_TEXT_LEN + 1];
    char *camera_name, *stream_name, *detector, *label;
    char worker_id[160]; /* cluster mode: the worker that raised it, "" otherwise */
    double confidence;
    double x1, y1, x2, y2; /* pixels */
    int frame_w, frame_h;
    int64_t track_id;
    char *roi[EVENT_MAX_ROI];
    int nroi;
    int64_t producer_ts_ms, server_ts_ms; /* -1: unknown */
    char fragment_number[64];
    int64_t pts_ms; /* -1: unknown */
    int64_t detected_at_ms;
    char model_name[128], model_sha256[65];
    char *snapshot_ref; /* S3 URI or local path, as published */
    char *crop_refs[4];
    int ncrops;
    event_image snapshot; /* JPEG bytes, not part of the JSON */
    event_image crops[4];
    int64_t decoded_mono_ns; /* for the capture-to-publish latency */
    /* what raised it: "object" (the one event per object), "update", "track_end" */
    char kind[12];
    int64_t track_first_ms, track_last_ms; /* track_end: when it was first and last seen */
    int track_sightings;
    /* ALPR */
    bool has_plate;
    char plate_text[PLATE_MAX_LEN + 1];
    double plate_confidence;
    char *plate_format;  /* the format that matched, NULL: none */
    double plate_box[4]; /* x1 y1 x2 y2 pixels, for the plate crop */
    event_evidence evidence;
    event_clip clip;
    event_image clip_mp4; /* clip_ready records of the clip's owner: the MP4, not in the JSON */
    /* Or the MP4 is this file (clip_mp4.len its size, .data NULL), never in
     * memory: on its way to the spool, the clip thread's temporary file, which
     * the hub moves into the spool (spool_append_file) or removes; read back
     * from the spool, the record's file there, which publishers only read. */
    char *clip_mp4_file;
} event;

/* The id of e from what identifies it on the stream: camera, the producer
 * timestamp of its frame, detector and model, label, kind, the grid cell of its box and
 * ordinal (0 unless that id was just given to another event). False without a
 * producer timestamp (the caller gives a UUIDv7). event_id.c */
bool event_id_derive(const event *e, int ordinal, char out[UUID_TEXT_LEN + 1]);

event *event_new(void);
void event_free(event *e);
/* Compact UTF-8 JSON, one line; caller frees. */
char *event_to_json(const event *e);
event *event_from_json(const char *json, kerr *err);
/* Encodes the whole frame and the box crop (with a small margin) as JPEG,
 * and with a plate, the plate crop as the second crop. */
kerr_code event_encode_images(event *e, const kframe *f, int quality, kerr *err);
/* {prefix}{camera}/{yyyy}/{mm}/{dd}/{event_id}/{name} (docs/publishing.md) */
void event_object_key(const event *e, const char *prefix, const char *name, char *out, size_t len);
/* Where its clip lives: clip.mp4 in the folder of the event holding the clip
 * (e->clip.owner_id; itself unless the clip is shared). */
void event_clip_key(const event *e, const char *prefix, char *out, size_t len);

#endif
