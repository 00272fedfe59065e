/* publish: events leave the process here. Publishers are small vtables
 * registered by name (registry.c). The hub writes every event, with its
 * images and its camera's publisher settings, to the durable spool before it
 * counts as produced; one thread per publisher type reads the spool at its own
 * cursor, delivers (retrying with backoff, never giving up) and acknowledges.
 * A restart replays whatever was not acknowledged: at-least-once, with
 * event_id for consumers to drop duplicates. A full spool blocks producers
 * (back-pressure reaches inference, which then drops stale frames): events are
 * never dropped. A clip's video never waits: over its share of the spool it
 * is dropped instead (publish_hub_submit_clip). */
#ifndef KVS_PUBLISH_H
#define KVS_PUBLISH_H

#include "../config/config.h"
#include "../core/core.h"
#include "../event/event.h"

/* What a publisher does besides delivering events; the hub acts on these
 * flags and never on a publisher's name. */
enum {
    PUB_STORES_IMAGES = 1 << 0,    /* keeps the JPEGs and names them (image_ref) */
    PUB_WAITS_FOR_IMAGES = 1 << 1, /* sends an event only once its images are stored */
    PUB_NEEDS_REGION = 1 << 2,     /* an AWS service: needs a region */
    PUB_DEFAULT = 1 << 3,          /* used with its defaults when a camera names none */
    PUB_STORES_CLIPS = 1 << 4,     /* keeps a clip_ready event's MP4 (its dead letters too) */
};

typedef struct publisher_ops {
    const char *name;
    /* Its keys under a camera's `publishers:`. A key `<name>_k` may also be
     * written in the publisher's section, `<name>: {k: ...}` (settings.c
     * hands it over as `<name>_k`); the section's `when` and
     * `cooldown_seconds` are the hub's, for every publisher (route.h). */
    const char *const *keys;
    unsigned caps; /* PUB_* */
    /* Among the publishers that store images, the one with the lowest rank
     * names them in the event (S3 before the local folder). */
    int image_rank;
    /* Reads its keys of `publishers:` (pubs may be NULL) into s, reporting
     * bad values to d. Returns whether the camera uses this publisher;
     * as_default: the camera names no publisher at all. */
    bool (*read)(cfg_diags *d, const ynode *pubs, const char *path, bool as_default, cfg_pub *s);
    /* Identity: cameras with the same key share one instance (e.g. one folder). */
    void (*key)(const cfg_pub *s, char *out, size_t len);
    kerr_code (*open)(const cfg_pub *s, const config *cfg, void **state, kerr *err);
    /* PUB_STORES_IMAGES: where an image of this event will live (S3 URI, local
     * path). Decided before spooling. */
    void (*image_ref)(const cfg_pub *s, const event *e, const char *name, char *out, size_t len);
    /* Delivers e[0..n) (n <= batch_max; the hub puts at most one event per
     * camera in a call, so a partial failure never reorders a camera's
     * events) and sets res[i] for each: KERR_OK when stored; KERR_UNSUPPORTED
     * when it can never be stored there (kept in the dead-letter folder,
     * skipped for this publisher only); anything else is retried with backoff
     * for that camera, forever. */
    void (*publish)(void *state, const cfg_pub *s, const event *const *e, int n, kerr *res);
    /* Or, for a publisher that sends one event per request: delivers e alone
     * (the hub calls it per event; publish stays NULL). Same result codes. */
    kerr_code (*publish_one)(void *state, const cfg_pub *s, const event *e, kerr *err);
    int batch_max;           /* events per call; 0: one */
    size_t batch_max_bytes;  /* payload per call; 0: no limit */
    size_t record_max_bytes; /* an event's JSON over this can never be sent; 0: no limit */
    void (*close)(void *state);
} publisher_ops;

const publisher_ops *publisher_find(const char *name);
/* Delivers e[0..n) through ops->publish, or one by one through publish_one. */
void publisher_deliver(const publisher_ops *ops, void *state, const cfg_pub *s,
                       const event *const *e, int n, kerr *res);
/* The i-th registered publisher, NULL past the end. */
const publisher_ops *publisher_at(int i);
/* Adds a publisher built outside registry.c (a test build, an embedding
 * program); before the config is loaded. KERR_INVALID when the name is taken
 * or the table is full. */
kerr_code publisher_register(const publisher_ops *ops, kerr *err);
/* One line in the publisher's own file registers it at start-up; a refusal
 * is kept and reported by publisher_registry_check (the program exits 2). */
#define PUBLISHER_REGISTER(ops)                                                                    \
    __attribute__((constructor)) static void register_##ops(void)                                  \
    {                                                                                              \
        publisher_register(&ops, NULL);                                                            \
    }
/* KERR_INVALID naming a publisher refused at start-up. */
kerr_code publisher_registry_check(kerr *err);

/* For publishers' read(): each of keys that is present becomes a setting
 * (scalars only). Returns whether any was present. */
bool pub_read_keys(cfg_diags *d, const ynode *pubs, const char *path, const char *const *keys,
                   cfg_pub *s);
/* The publisher among ps that names the images (lowest image_rank), NULL if none. */
const publisher_ops *publisher_naming_images(const cfg_publishers *ps);

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
/* A clip_ready record (clip.h): its MP4, if any, never waits for spool
 * room: it is spooled only while there is room now and the clips in the
 * spool stay within PUBLISH_CLIP_SPOOL_SHARE of spool.max_bytes; otherwise it
 * goes without it, status "lost", and false is returned with the reason in
 * *lost. The record itself waits for room like an event's, until give_up
 * (NULL: never) or the drain deadline says so, and is then lost like an
 * event at the deadline. Takes ownership of e. */
#define PUBLISH_CLIP_SPOOL_SHARE 0.25
bool publish_hub_submit_clip(publish_hub *h, event *e, bool (*give_up)(void *arg), void *arg,
                             kerr *lost);
/* Past the drain deadline (publish_hub_drain_by): nothing should wait now. */
bool publish_hub_past_drain(publish_hub *h);
/* A folder for producers' scratch files ({spool.dir}/tmp): on the spool's
 * disk, and emptied at each start, so a process ended mid-write leaves
 * nothing behind for long. */
const char *publish_hub_scratch_dir(publish_hub *h);
/* Delivers what is spooled (for up to 10 s), then stops; anything still not
 * delivered stays in the spool for the next start. */
void publish_hub_free(publish_hub *h);
/* The drain ends by this wall-clock time: past it, retries, waits for images
 * or spool room, and requests in flight give up, and what is not delivered
 * stays in the spool. publish_hub_free uses 10 s from its call when unset. */
void publish_hub_drain_by(publish_hub *h, int64_t deadline_wall_ms);
/* True unless a publisher has been failing for a while (readiness). */
bool publish_hub_healthy(publish_hub *h, char *why, size_t len);
/* A publisher's health for the operator page: one per publisher in use. */
typedef struct {
    const char *name;
    int64_t last_success_ms;  /* wall clock of the last delivery; 0: none yet */
    int64_t failing_since_ms; /* 0: not failing */
    uint64_t backlog;         /* spooled events it has still to deliver */
    uint64_t dead_letters;    /* refused for good since start (dead-letter file) */
    char last_error[256];     /* while failing */
} publisher_health;
/* Fills out[0..max) and returns how many. */
int publish_hub_health(publish_hub *h, publisher_health *out, int max);
/* Folders written by the local sink, for the summary. */
void publish_hub_describe(publish_hub *h, char *out, size_t len);

/* Secrets kept out of the spool (secret_store.c): pub_secret_keep files
 * secret under its fingerprint (16 hex digits, for the settings) and is false
 * when the table is full; pub_secret_find copies it back, false when unknown. */
enum { PUB_MAX_SECRETS = 32, PUB_SECRET_MAX = 1024 };
bool pub_secret_keep(const char *secret, char id[17]);
bool pub_secret_find(const char *id, char *out, size_t len);

/* Spool records (spool_record.c). */
void *spool_record_pack(const event *e, const cfg_publishers *p, size_t *len);
event *spool_record_unpack(const void *data, size_t len, cfg_publishers *p, kerr *err);
/* The same, taking data (malloc'd): freed, or become the clip's MP4. */
event *spool_record_unpack_take(void *data, size_t len, cfg_publishers *p, kerr *err);
/* Whether a packed record carries a clip's MP4 (the spool's bulk records). */
bool spool_record_has_clip(const void *data, size_t len);

/* The local sink's line writer, exposed for its tests: appends one line with a
 * single write(2); on a short write the file is cut back so no torn line stays. */
kerr_code append_line(int fd, const char *line, size_t len, kerr *err);
/* An event a publisher refused for good, kept with the reason (dead_letter.c);
 * with_clip: its MP4 too (a publisher that stores clips, or none took it). */
kerr_code dead_letter_write(const char *spool_dir, const char *publisher, const event *e,
                            bool with_clip, const char *why, kerr *err);

/* The publishers' reader of a camera's `publishers:` (a cfg_readers member):
 * every registered publisher reads its keys (pubs NULL when absent); unknown
 * keys are reported; with none asked for, the default publisher (the local
 * sink). cfg may be NULL (no region check). */
void cfg_publishers_read(cfg_diags *d, const config *cfg, const ynode *pubs, const char *path,
                         cfg_publishers *out);

#endif
