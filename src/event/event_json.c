#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"

event *event_new(void)
{
    event *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->producer_ts_ms = e->server_ts_ms = e->pts_ms = -1;
    return e;
}

void event_free(event *e)
{
    if (!e) return;
    free(e->camera_name), free(e->stream_name), free(e->detector), free(e->label);
    for (int i = 0; i < e->nroi; i++)
        free(e->roi[i]);
    free(e->snapshot_ref);
    for (int i = 0; i < e->ncrops; i++)
        free(e->crop_refs[i]), free(e->crops[i].data);
    free(e->snapshot.data);
    free(e->plate_format);
    free(e->clip.ref), free(e->clip_mp4.data), free(e->clip_mp4_file);
    free(e);
}

static json_t *iso_or_null(int64_t ms)
{
    if (ms < 0) return json_null();
    char buf[40];
    clock_format_iso(ms, buf, sizeof buf);
    return json_string(buf);
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

/* clip: {start, end, status, path | key (with bucket) | kvs}; event_id names the
 * event whose folder holds it when the clip is shared. */
/* evidence: the verification's parts, rounded to what an operator reads. */
static json_t *evidence_json(const event_evidence *v)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:b,s:f,s:f,s:s}", "model_score",
                     round(v->model_score * 1000) / 1000, "colour", round(v->colour * 1000) / 1000,
                     "flicker", round(v->flicker * 1000) / 1000, "motion",
                     round(v->motion * 1000) / 1000, "growth", round(v->growth * 1000) / 1000,
                     "persistence", round(v->persistence * 1000) / 1000, "score",
                     round(v->score * 1000) / 1000, "verified", v->verified, "fire_share",
                     round(v->fire_share * 1000) / 1000, "grey_share",
                     round(v->grey_share * 1000) / 1000, "judged", v->smoke ? "smoke" : "fire");
}

static json_t *clip_json(const event *e)
{
    const event_clip *c = &e->clip;
    json_t *o = json_pack("{s:f,s:f,s:s}", "start", (double)c->start_ms / 1000.0, "end",
                          (double)c->end_ms / 1000.0, "status", c->status);
    if (!o) return NULL;
    if (c->ref && strncmp(c->ref, "s3://", 5) == 0) {
        const char *slash = strchr(c->ref + 5, '/');
        json_object_set_new(o, "bucket",
                            json_stringn(c->ref + 5, slash ? (size_t)(slash - c->ref - 5) : 0));
        json_object_set_new(o, "key", json_string(slash ? slash + 1 : ""));
    } else if (c->ref) {
        json_object_set_new(o, "path", json_string(c->ref));
    }
    if (c->kvs_stream[0])
        json_object_set_new(o, "kvs",
                            json_pack("{s:s,s:s,s:f,s:f}", "stream", c->kvs_stream, "region",
                                      c->kvs_region, "start", (double)c->kvs_start_ms / 1000.0,
                                      "end", (double)c->kvs_end_ms / 1000.0));
    if (c->reason[0]) json_object_set_new(o, "reason", json_string(c->reason));
    if (c->owner_id[0] && strcmp(c->owner_id, e->event_id) != 0) {
        json_object_set_new(o, "event_id", json_string(c->owner_id));
        json_object_set_new(o, "event_detected_at", iso_or_null(c->owner_at_ms));
    }
    return o;
}

char *event_to_json(const event *e)
{
    double fw = e->frame_w > 0 ? e->frame_w : 1, fh = e->frame_h > 0 ? e->frame_h : 1;
    json_t *bbox =
        json_pack("{s:f,s:f,s:f,s:f,s:i,s:i,s:{s:f,s:f,s:f,s:f}}", "x", e->x1, "y", e->y1, "width",
                  e->x2 - e->x1, "height", e->y2 - e->y1, "frame_width", e->frame_w, "frame_height",
                  e->frame_h, "fractions", "x", e->x1 / fw, "y", e->y1 / fh, "width",
                  (e->x2 - e->x1) / fw, "height", (e->y2 - e->y1) / fh);
    json_t *roi = json_array();
    for (int i = 0; i < e->nroi; i++)
        json_array_append_new(roi, json_string(e->roi[i]));
    json_t *crops = json_array();
    for (int i = 0; i < e->ncrops; i++)
        json_array_append_new(crops, str_or_null(e->crop_refs[i]));
    json_t *frame =
        json_pack("{s:o,s:o,s:o,s:o}", "producer_timestamp", iso_or_null(e->producer_ts_ms),
                  "server_timestamp", iso_or_null(e->server_ts_ms), "fragment_number",
                  str_or_null(e->fragment_number), "pts",
                  e->pts_ms >= 0 ? json_real((double)e->pts_ms / 1000.0) : json_null());
    json_t *root = json_pack(
        "{s:i,s:s,s:s,s:o,s:s,s:s,s:f,s:o,s:o,s:o,s:o,s:o,s:{s:s,s:s},s:o,s:o}", "schema_version",
        EVENT_SCHEMA_VERSION, "event_id", e->event_id, "camera_name", e->camera_name, "stream_name",
        str_or_null(e->stream_name), "detector", e->detector, "label", e->label, "confidence",
        e->confidence, "bbox", bbox, "track_id",
        e->track_id > 0 ? json_integer(e->track_id) : json_null(), "roi", roi, "frame", frame,
        "detected_at", iso_or_null(e->detected_at_ms), "model", "name", e->model_name, "sha256",
        e->model_sha256, "snapshot", str_or_null(e->snapshot_ref), "crops", crops);
    if (!root) return NULL;
    json_object_set_new(root, "event_type", json_string(e->kind[0] ? e->kind : "object"));
    if (e->worker_id[0]) json_object_set_new(root, "worker_id", json_string(e->worker_id));
    if (strcmp(e->kind, "track_end") == 0)
        json_object_set_new(root, "track",
                            json_pack("{s:o,s:o,s:i}", "first_seen", iso_or_null(e->track_first_ms),
                                      "last_seen", iso_or_null(e->track_last_ms), "sightings",
                                      e->track_sightings));
    if (e->clip.on) json_object_set_new(root, "clip", clip_json(e));
    if (e->has_plate)
        json_object_set_new(root, "plate",
                            json_pack("{s:s,s:f,s:o}", "text", e->plate_text, "confidence",
                                      e->plate_confidence, "format", str_or_null(e->plate_format)));
    if (e->evidence.has) json_object_set_new(root, "evidence", evidence_json(&e->evidence));
    char *out = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(13));
    json_decref(root);
    return out;
}

/* Parses "2026-11-25T10:00:00.123Z" back to ms. */
static int64_t parse_iso(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static char *dup_str(json_t *v)
{
    return json_is_string(v) ? kstrdup(json_string_value(v)) : NULL;
}

static int64_t iso_field(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? parse_iso(json_string_value(v)) : -1;
}

static int64_t seconds_to_ms(json_t *v)
{
    double s = json_number_value(v) * 1000.0;
    return (int64_t)(s < 0 ? s - 0.5 : s + 0.5);
}

static void read_evidence(event_evidence *v, json_t *o)
{
    if (!json_is_object(o)) return;
    v->has = true;
    v->model_score = json_number_value(json_object_get(o, "model_score"));
    v->colour = json_number_value(json_object_get(o, "colour"));
    v->flicker = json_number_value(json_object_get(o, "flicker"));
    v->motion = json_number_value(json_object_get(o, "motion"));
    v->growth = json_number_value(json_object_get(o, "growth"));
    v->persistence = json_number_value(json_object_get(o, "persistence"));
    v->score = json_number_value(json_object_get(o, "score"));
    v->verified = json_is_true(json_object_get(o, "verified"));
    v->fire_share = json_number_value(json_object_get(o, "fire_share"));
    v->grey_share = json_number_value(json_object_get(o, "grey_share"));
    const char *judged = json_string_value(json_object_get(o, "judged"));
    v->smoke = judged && strcmp(judged, "smoke") == 0;
}

static void read_clip(event *e, json_t *o)
{
    if (!json_is_object(o)) return;
    event_clip *c = &e->clip;
    c->on = true;
    c->start_ms = seconds_to_ms(json_object_get(o, "start"));
    c->end_ms = seconds_to_ms(json_object_get(o, "end"));
    json_t *st = json_object_get(o, "status"), *path = json_object_get(o, "path"),
           *bucket = json_object_get(o, "bucket"), *key = json_object_get(o, "key"),
           *owner = json_object_get(o, "event_id");
    snprintf(c->status, sizeof c->status, "%s", json_is_string(st) ? json_string_value(st) : "");
    json_t *why = json_object_get(o, "reason");
    if (json_is_string(why)) snprintf(c->reason, sizeof c->reason, "%s", json_string_value(why));
    if (json_is_string(path)) {
        c->ref = kstrdup(json_string_value(path));
    } else if (json_is_string(bucket) && json_is_string(key)) {
        char ref[4096];
        snprintf(ref, sizeof ref, "s3://%s/%s", json_string_value(bucket), json_string_value(key));
        c->ref = kstrdup(ref);
    }
    json_t *kvs = json_object_get(o, "kvs");
    const char *ks = json_string_value(json_object_get(kvs, "stream")),
               *kr = json_string_value(json_object_get(kvs, "region"));
    if (ks && kr) {
        snprintf(c->kvs_stream, sizeof c->kvs_stream, "%s", ks);
        snprintf(c->kvs_region, sizeof c->kvs_region, "%s", kr);
        c->kvs_start_ms = seconds_to_ms(json_object_get(kvs, "start"));
        c->kvs_end_ms = seconds_to_ms(json_object_get(kvs, "end"));
    }
    if (json_is_string(owner)) {
        snprintf(c->owner_id, sizeof c->owner_id, "%s", json_string_value(owner));
        c->owner_at_ms = iso_field(o, "event_detected_at");
    } else {
        snprintf(c->owner_id, sizeof c->owner_id, "%s", e->event_id);
        c->owner_at_ms = e->detected_at_ms;
    }
}

event *event_from_json(const char *text, kerr *err)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!root) {
        kerr_set(err, KERR_INVALID, "event JSON line %d column %d: %s", je.line, je.column,
                 je.text);
        return NULL;
    }
    event *e = event_new();
    json_t *bbox = NULL, *frame = NULL, *model = NULL, *roi = NULL, *crops = NULL, *tid = NULL;
    const char *id = NULL;
    int ver = 0;
    if (!e || json_unpack_ex(root, &je, 0, "{s:i,s:s,s:o,s:o,s:F,s:o,s:o,s:o,s:o,s:o,s:o}",
                             "schema_version", &ver, "event_id", &id, "bbox", &bbox, "frame",
                             &frame, "confidence", &e->confidence, "model", &model, "roi", &roi,
                             "crops", &crops, "track_id", &tid, "camera_name", &(json_t *){NULL},
                             "label", &(json_t *){NULL}) != 0) {
        kerr_set(err, KERR_INVALID, "event JSON: %s", je.text);
        event_free(e);
        json_decref(root);
        return NULL;
    }
    snprintf(e->event_id, sizeof e->event_id, "%s", id);
    e->camera_name = dup_str(json_object_get(root, "camera_name"));
    e->stream_name = dup_str(json_object_get(root, "stream_name"));
    json_t *wid = json_object_get(root, "worker_id");
    if (json_is_string(wid))
        snprintf(e->worker_id, sizeof e->worker_id, "%s", json_string_value(wid));
    e->detector = dup_str(json_object_get(root, "detector"));
    e->label = dup_str(json_object_get(root, "label"));
    e->x1 = json_number_value(json_object_get(bbox, "x"));
    e->y1 = json_number_value(json_object_get(bbox, "y"));
    e->x2 = e->x1 + json_number_value(json_object_get(bbox, "width"));
    e->y2 = e->y1 + json_number_value(json_object_get(bbox, "height"));
    e->frame_w = (int)json_integer_value(json_object_get(bbox, "frame_width"));
    e->frame_h = (int)json_integer_value(json_object_get(bbox, "frame_height"));
    e->track_id = json_is_integer(tid) ? json_integer_value(tid) : 0;
    for (size_t i = 0; i < json_array_size(roi) && e->nroi < EVENT_MAX_ROI; i++)
        e->roi[e->nroi++] = dup_str(json_array_get(roi, i));
    e->producer_ts_ms = iso_field(frame, "producer_timestamp");
    e->server_ts_ms = iso_field(frame, "server_timestamp");
    json_t *fn = json_object_get(frame, "fragment_number"), *pts = json_object_get(frame, "pts");
    if (json_is_string(fn))
        snprintf(e->fragment_number, sizeof e->fragment_number, "%s", json_string_value(fn));
    e->pts_ms = json_is_number(pts) ? (int64_t)(json_number_value(pts) * 1000.0 + 0.5) : -1;
    e->detected_at_ms = iso_field(root, "detected_at");
    json_t *mn = json_object_get(model, "name"), *ms = json_object_get(model, "sha256");
    snprintf(e->model_name, sizeof e->model_name, "%s",
             json_is_string(mn) ? json_string_value(mn) : "");
    snprintf(e->model_sha256, sizeof e->model_sha256, "%s",
             json_is_string(ms) ? json_string_value(ms) : "");
    e->snapshot_ref = dup_str(json_object_get(root, "snapshot"));
    for (size_t i = 0; i < json_array_size(crops) && e->ncrops < 4; i++)
        e->crop_refs[e->ncrops++] = dup_str(json_array_get(crops, i));
    json_t *kind = json_object_get(root, "event_type"), *trk = json_object_get(root, "track");
    snprintf(e->kind, sizeof e->kind, "%s",
             json_is_string(kind) ? json_string_value(kind) : "object");
    if (json_is_object(trk)) {
        e->track_first_ms = iso_field(trk, "first_seen");
        e->track_last_ms = iso_field(trk, "last_seen");
        e->track_sightings = (int)json_integer_value(json_object_get(trk, "sightings"));
    }
    read_clip(e, json_object_get(root, "clip"));
    json_t *plate = json_object_get(root, "plate");
    if (json_is_object(plate) && json_is_string(json_object_get(plate, "text"))) {
        e->has_plate = true;
        snprintf(e->plate_text, sizeof e->plate_text, "%s",
                 json_string_value(json_object_get(plate, "text")));
        e->plate_confidence = json_number_value(json_object_get(plate, "confidence"));
        e->plate_format = dup_str(json_object_get(plate, "format"));
    }
    read_evidence(&e->evidence, json_object_get(root, "evidence"));
    json_decref(root);
    return e;
}

void event_object_key(const event *e, const char *prefix, const char *name, char *out, size_t len)
{
    time_t secs = (time_t)(e->detected_at_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, len, "%s%s/%04d/%02d/%02d/%s/%s", prefix ? prefix : "", e->camera_name,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, e->event_id, name);
}

void event_clip_key(const event *e, const char *prefix, char *out, size_t len)
{
    event owner = *e;
    snprintf(owner.event_id, sizeof owner.event_id, "%s", e->clip.owner_id);
    owner.detected_at_ms = e->clip.owner_at_ms;
    event_object_key(&owner, prefix, "clip.mp4", out, len);
}
