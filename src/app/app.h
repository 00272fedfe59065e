/* app: composes the stages into the running service — cameras (a reader
 * thread each), the scheduler's worker pool, the publisher hub, metrics —
 * and owns their lifecycle: start, SIGHUP reload, drain on SIGTERM/SIGINT or
 * when every source has ended. */
#ifndef KVS_APP_H
#define KVS_APP_H

#include <stdatomic.h>

#include "../clip/clip.h"
#include "../config/config.h"
#include "../detect/detect.h"
#include "../metrics/metrics.h"
#include "../publish/publish.h"
#include "../roi/roi.h"
#include "../sched/sched.h"
#include "../source/source.h"
#include "../track/track.h"
#include "../ui/ui.h"
#include "../verify/verify.h"

typedef enum {
    CAM_CONNECTING = 0,
    CAM_RUNNING,
    CAM_BACKOFF,
    CAM_ENDED,
    CAM_FAILED,
    CAM_STALLED, /* connected, but the stream brings no new frames */
} cam_state;

typedef struct {
    detector *det; /* NULL when it failed to open (logged, counted) */
    const cfg_detector *cfg;
    roi_filter roi;
    tracker trk;
    track_book book;      /* what each tracked object raises */
    verify_state *verify; /* NULL: its boxes are not verified */
    char labels[256];     /* detector="..." for metrics */
} cam_detector;

/* The config readers of the registries above config/ (sources, publishers):
 * what every caller of config_load in the service passes. */
extern const cfg_readers app_cfg_readers;

/* The files of app/ call downward only (tests/arch/layers.py checks it):
 *   app.c      -> api.c, camera.c, validate.c and everything below
 *   api.c      -> api_publishers.c, api_clip.c, camera_list.c, config_keeper.c, view.c,
 * camera_status.c camera.c   -> analyse.c -> camera_status.c, view.c A camera is given what it
 * needs when it starts (camera_deps) and the API what it reads (api_deps): neither calls back into
 * app.c. */

/* What the operator page shows of a camera (view.c): its latest analysed
 * frame, scaled down, and that frame's boxes. Kept only while somebody
 * watched in the last VIEW_WATCH_MS: a service nobody looks at pays
 * nothing, and one being watched pays a scaled copy per analysed frame, the
 * JPEG being made only when asked for (and kept for the other viewers). The
 * view is counted (view_hold/view_release): a request encodes its JPEG with
 * no lock held, while the camera may be stopped and freed meanwhile. */
enum { VIEW_WIDTH = 960, VIEW_MAX_BOXES = 64, VIEW_WATCH_MS = 15000 };

typedef struct {
    pthread_mutex_t mu; /* guards what follows, never held while encoding */
    atomic_int refs;
    atomic_llong watched_until_ms;
    uint8_t *rgb; /* w x h packed RGB, NULL when none is kept */
    int w, h;
    ui_box boxes[VIEW_MAX_BOXES]; /* in the view's pixels */
    int nboxes;
    int64_t seq; /* of the frame kept */
    unsigned char *jpeg;
    unsigned long jpeg_len;
    int64_t jpeg_seq;
    int64_t rate_count, rate_ms; /* analysed frames per second, for the page */
    double fps;
} camera_view;

/* What a camera is given when it starts: everything it uses of the running
 * service. Each outlives the camera: the app holds `global` for it (see
 * config_keeper) and frees the scheduler and the hub after every camera has
 * been joined. */
typedef struct {
    const config *global; /* the config `cfg` is part of */
    const cfg_camera *cfg;
    sched *sched;             /* its frames are analysed by this pool */
    publish_hub *hub;         /* its events and publishers go here */
    const detector_ctx *dctx; /* its detectors open with this (while starting only) */
    const char *worker_id;    /* cluster.worker_id, "" alone: copied into each event */
    int64_t resume_ms;        /* > 0: a KVS camera starts at that producer time (a checkpoint) */
} camera_deps;

typedef struct camera {
    const cfg_camera *cfg; /* owned by `global`, held for the camera while it lives */
    const config *global;
    publish_hub *hub;
    char worker_id[160];
    sched_cam *slot;
    pthread_t reader;
    bool reader_started;
    atomic_bool stop;
    atomic_int state;
    bool network; /* the source's errors and end are disconnects: retried forever */
    bool batch;   /* every frame analysed, no real time to keep up with (SOURCE_BATCH) */
    const source_ops *src;
    void *src_state;
    source_env env; /* what the source reports through */
    cam_detector *dets;
    int ndet;
    int dets_failed;        /* configured detectors that could not open: /readyz says so */
    char cam_label[200];    /* camera="..." */
    char state_prefix[202]; /* camera="...", for dropping its state series */
    atomic_llong decoded, analysed, skipped, dropped, detections, events, errors;
    atomic_llong last_event_ms;
    camera_view *view; /* counted: the API may hold it past the camera */
    /* The KVS fragment of the last frame analysed and that fragment's
     * producer start: a lease's checkpoint in cluster mode. */
    pthread_mutex_t ckpt_mu;
    char ckpt_fragment[64];
    int64_t ckpt_start_ms;
    /* Cluster mode: until when (monotonic ns) this worker's lease lets the
     * camera's events out; 0 outside cluster mode (no limit). */
    atomic_llong lease_until_ns;
    clip_ring *clips; /* NULL without `clip:` */
    /* The latest derived event ids, of all its detectors (two of one type
     * and model derive alike): two events alike in every part of the
     * derivation (same frame, cell, label, kind) get different ordinals.
     * Analysis threads only, one frame of a camera at a time. */
    char recent_ids[256][UUID_TEXT_LEN + 1];
    int nrecent_ids;
} camera;

/* camera.c: the reader thread and the camera's lifetime. */
/* Starts the reader with everything set first; NULL only when out of memory.
 * A camera whose reader cannot start comes back FAILED (err says why). */
camera *camera_start(const camera_deps *deps, kerr *err);
void camera_request_stop(camera *c);
void camera_join(camera *c); /* waits for the reader and the queued frames */
void camera_free(camera *c);

/* camera_status.c: what a camera records of itself, from its reader and from
 * the workers analysing its frames. */
const char *cam_state_name(cam_state s);
void camera_set_state(camera *c, cam_state s);
void camera_count_error(camera *c, const char *kind);
void camera_count_drop(camera *c, const char *reason);
/* Moves the checkpoint to this KVS fragment: only while there is none
 * (`first`, the first fragment read) or when it is not older (a frame of it
 * analysed). */
void camera_advance_checkpoint(camera *c, const char *fragment, int64_t start_ms, bool first);
/* The checkpoint; false when there is none yet. */
bool camera_checkpoint(camera *c, char *fragment, size_t len, int64_t *start_ms);

/* analyse.c: runs on a worker thread for one frame of one camera. */
void camera_analyse(void *cam, kframe *f, int worker, void *user);
/* False (the event dropped and counted) once the camera's lease has lapsed. */
bool camera_may_emit(camera *c);
/* After the camera stopped: every open track ends (pending ALPR reads go out). */
void camera_end_tracks(camera *c);

/* view.c */
camera_view *view_new(void); /* one reference, the caller's */
void view_hold(camera_view *v);
void view_release(camera_view *v); /* frees it with the last reference */
bool view_watched(camera_view *v);
void view_watch(camera_view *v); /* somebody asked: keep frames for a while */
/* After a frame's analysis, on its worker: keeps a scaled copy with boxes
 * (frame pixels) while watched, lets go of it otherwise. */
void view_offer(camera_view *v, const kframe *f, const ui_box *boxes, int n);
/* The kept frame with its boxes drawn, as JPEG (caller frees); KERR_AGAIN
 * when no frame is kept yet. Encodes with no lock held. */
kerr_code view_jpeg(camera_view *v, unsigned char **jpeg, unsigned long *len, kerr *err);
/* Analysed frames per second over the last few seconds. */
double view_rate(camera_view *v, int64_t analysed);

/* camera_list.c: the running cameras, under their own lock. Only the app's
 * threads add and remove; others look through camera_list_lock. */
typedef struct {
    pthread_mutex_t mu;
    camera **v;
    int n;
} camera_list;

void camera_list_init(camera_list *l);
void camera_list_free(camera_list *l); /* the array; the cameras are the caller's */
bool camera_list_add(camera_list *l, camera *c);
/* Takes c out of the list (its caller then frees it); false when absent. */
bool camera_list_remove(camera_list *l, camera *c);
/* The cameras, valid until camera_list_unlock (none is removed meanwhile):
 * keep it short (copy, do not encode or read files). */
camera **camera_list_lock(camera_list *l, int *n);
void camera_list_unlock(camera_list *l);
/* The camera named so in v, or NULL (*at: its index). */
camera *camera_list_find(camera **v, int n, const char *name, int *at);

/* config_keeper.c: the configs in use, counted. The current one (swapped at
 * a reload), the hub's first one and each camera's own stay alive while
 * anything holds them; a reader takes a reference instead of a lock for as
 * long as it reads, so a reload never waits for a reader, nor a reader for a
 * reload's cameras. */
typedef struct {
    pthread_mutex_t mu; /* guards the counts and `current`, held only to change them */
    struct held_config {
        config *cfg;
        int refs;
    } * v;
    int n;
    config *current;
} config_keeper;

/* first becomes the current config, with the keeper's reference on it;
 * false when out of memory (first is then the caller's). */
bool config_keeper_init(config_keeper *k, config *first);
void config_keeper_free(config_keeper *k); /* frees every config still held */
/* Takes a reference on cfg (adding it at the first); false when out of memory. */
bool config_keeper_hold(config_keeper *k, config *cfg);
/* Drops a reference; the config is freed with the last. */
void config_keeper_release(config_keeper *k, const config *cfg);
/* The current config with a reference the caller releases. */
config *config_keeper_current(config_keeper *k);
/* next (on which the caller holds a reference, now the keeper's) becomes
 * the current one; the keeper's reference on the old one is dropped. */
void config_keeper_swap(config_keeper *k, config *next);

/* api.c: the operator page's routes on the metrics listener. What they read
 * is lent by the app: */
typedef struct {
    camera_list *cams;
    config_keeper *configs;
    pthread_mutex_t hub_mu; /* the hub goes before the listener stops */
    publish_hub *hub;
    atomic_bool loopback; /* metrics.listen is a loopback address (set once listening) */
} api_deps;

void api_init(api_deps *d, camera_list *cams, config_keeper *configs);
/* The hub /api/v1/publishers lists; NULL before it is freed (none listed). */
void api_use_hub(api_deps *d, publish_hub *hub);
/* Closes the event indexes the API opened (after the listener stopped). */
void api_stop(api_deps *d);
bool api_route(void *deps, const http_request *rq, http_response *rs);
/* /api/v1/publishers (api_publishers.c); h may be NULL (none listed). */
bool api_publishers(publish_hub *h, http_response *rs);
/* /api/v1/events/{id}/clip.mp4 (GetClip) and /clip-hls ({url, expires_s}: an
 * ON_DEMAND HLS session) of an event whose clip is in the KVS archive
 * (api_clip.c); false when it is not (clip.from kvs unset): nothing sent. */
bool api_kvs_clip(const config *cfg, const char *event_json, bool hls, http_response *rs);

/* config_source.c: where the config text comes from (docs/configuration.md
 * "Where the config lives"): a file, or an S3 object fetched with SigV4. */
typedef struct {
    char where[1024]; /* as given to --config */
    bool s3;
    char bucket[256], key[768], region[64], endpoint[512];
    const void *aws;        /* const aws_shared * (aws.h stays out of app.h), held while open */
    char etag[128];         /* S3: of the text last fetched */
    int64_t mtime_ns, size; /* a file: as last read */
    char hash[65];          /* SHA-256 of the text last fetched */
} config_source;

bool config_source_is_s3(const char *where);
/* A file needs nothing; s3:// takes its endpoint and region from the
 * environment and holds the process's AWS session (credentials resolved). */
kerr_code config_source_open(config_source *s, const char *where, kerr *err);
void config_source_close(config_source *s);
/* *text (malloc'd, the caller's) when the text changed since the last fetch,
 * or always with force; NULL when unchanged. */
kerr_code config_source_fetch(config_source *s, bool force, char **text, kerr *err);
/* The SHA-256 of the text last fetched (hex): the config's version. */
const char *config_source_version(const config_source *s);

/* validate.c */
/* Loads and fully checks a config (structure, detectors, models) from the
 * file, or from `text` naming it path; prints each problem as
 * FILE:LINE:COL: path: message on stderr (and the first in why, when
 * given). NULL when invalid. */
config *app_load_config(const char *path, const char *text, bool check_detectors, int *nerrors,
                        char *why, size_t why_len);
/* Detectors held open while the cameras of a config start. */
typedef struct {
    detector **v;
    int n;
} detector_set;
/* Opens every enabled detector of cfg with the run's inference options, as
 * --validate loads them; prints each failure like --validate and returns how
 * many failed. What opened stays in held (the cameras then share the models'
 * sessions) until app_close_detectors. */
int app_open_detectors(const config *cfg, const detector_ctx *ctx, detector_set *held);
void app_close_detectors(detector_set *held);

/* poll_s: how often the config's source is asked for a new version (0:
 * never); an S3 config always, a file in cluster mode only. */
int app_run(const char *config_path, int poll_s);

#endif
