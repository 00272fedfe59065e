/* publish: events leave the process here. Publishers are small vtables
 * registered by name (registry.c). The hub writes every event, with its
 * images and its camera's publisher settings, to the durable spool before it
 * counts as produced; one thread per publisher type reads the spool at its own
 * cursor, delivers (retrying with backoff, never giving up) and acknowledges.
 * A restart replays whatever was not acknowledged: at-least-once, with
 * event_id for consumers to drop duplicates. A full spool blocks producers
 * (back-pressure reaches inference, which then drops stale frames): events are
 * never dropped. */
#ifndef KVS_PUBLISH_H
#define KVS_PUBLISH_H

#include "../config/config.h"
#include "../core/core.h"
#include "../event/event.h"

typedef struct publisher_ops {
    const char *name;
    /* Whether a camera's publishers section asks for this one. */
    bool (*wanted)(const cfg_publishers *p);
    /* Identity: cameras with the same key share one instance (e.g. one folder). */
    void (*key)(const cfg_publishers *p, char *out, size_t len);
    kerr_code (*open)(const cfg_publishers *p, const config *cfg, void **state, kerr *err);
    /* Where an image of this event will live (S3 URI, local path); NULL when
     * this publisher does not store images. Decided before spooling. */
    void (*image_ref)(const cfg_publishers *p, const event *e, const char *name, char *out,
                      size_t len);
    /* KERR_OK when stored. KERR_UNSUPPORTED when it can never be stored there
     * (an event over a service limit): logged, counted as rejected, skipped for
     * this publisher only. Any other code is retried with backoff forever. */
    kerr_code (*publish)(void *state, const cfg_publishers *p, const event *e, kerr *err);
    /* Optional: many events in one call (Kinesis PutRecords). The hub puts at
     * most one event per camera in a batch, so a partial failure never
     * reorders a camera's events. Fills ok[i]; returns KERR_OK when the call
     * itself went through (some records may still have failed). */
    kerr_code (*publish_batch)(void *state, const cfg_publishers *p, const event *const *e, int n,
                               bool *ok, kerr *err);
    int batch_max;           /* records per call */
    size_t batch_max_bytes;  /* payload per call */
    size_t record_max_bytes; /* an event's JSON over this can never be sent */
    void (*close)(void *state);
} publisher_ops;

const publisher_ops *publisher_find(const char *name);
/* The i-th registered publisher, NULL past the end. */
const publisher_ops *publisher_at(int i);

typedef struct publish_hub publish_hub;

/* Opens the spool (cfg->spool_dir) and starts one delivery thread per
 * registered publisher; events left from a previous run are delivered first. */
publish_hub *publish_hub_new(const config *cfg, kerr *err);
/* Opens (or shares) the publishers a camera's config asks for. */
kerr_code publish_hub_add_camera(publish_hub *h, const char *camera, const cfg_publishers *p,
                                 kerr *err);
/* Takes ownership of the event: decides its image references, spools it
 * (blocking while the spool is full), logs it as produced. */
void publish_hub_submit(publish_hub *h, event *e);
/* Delivers what is spooled (for up to 10 s), then stops; anything still not
 * delivered stays in the spool for the next start. */
void publish_hub_free(publish_hub *h);
/* The drain ends by this wall-clock time: past it, retries, waits for images
 * or spool room, and requests in flight give up, and what is not delivered
 * stays in the spool. publish_hub_free uses 10 s from its call when unset. */
void publish_hub_drain_by(publish_hub *h, int64_t deadline_wall_ms);
/* True unless a publisher has been failing for a while (readiness). */
bool publish_hub_healthy(publish_hub *h, char *why, size_t len);
/* Folders written by the local sink, for the summary. */
void publish_hub_describe(publish_hub *h, char *out, size_t len);

/* Spool records (spool_record.c). */
void *spool_record_pack(const event *e, const cfg_publishers *p, size_t *len);
event *spool_record_unpack(const void *data, size_t len, cfg_publishers *p, kerr *err);
void cfg_publishers_free(cfg_publishers *p);

/* The local sink's line writer, exposed for its tests: appends one line with a
 * single write(2); on a short write the file is cut back so no torn line stays. */
kerr_code append_line(int fd, const char *line, size_t len, kerr *err);
/* An event a publisher refused for good, kept with the reason (dead_letter.c). */
kerr_code dead_letter_write(const char *spool_dir, const char *publisher, const event *e,
                            const char *why, kerr *err);

#endif
