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

typedef enum {
    CAM_CONNECTING = 0,
    CAM_RUNNING,
    CAM_BACKOFF,
    CAM_ENDED,
    CAM_FAILED,
    CAM_STALLED, /* connected, but the stream brings no new frames */
} cam_state;

typedef struct app app;

typedef struct {
    detector *det; /* NULL when it failed to open (logged, counted) */
    const cfg_detector *cfg;
    roi_filter roi;
    tracker trk;
    track_book book;  /* what each tracked object raises */
    char labels[256]; /* detector="..." for metrics */
} cam_detector;

/* The config readers of the registries above config/ (sources, publishers):
 * what every caller of config_load in the service passes. */
extern const cfg_readers app_cfg_readers;

/* What the operator page shows of a camera (view.c): its latest analysed
 * frame, scaled down, and that frame's boxes. Kept only while somebody
 * watched in the last VIEW_WATCH_MS: a service nobody looks at pays
 * nothing, and one being watched pays a scaled copy per analysed frame, the
 * JPEG being made only when asked for (and kept for the other viewers). */
enum { VIEW_WIDTH = 960, VIEW_MAX_BOXES = 64, VIEW_WATCH_MS = 15000 };

typedef struct {
    pthread_mutex_t mu;
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

typedef struct camera {
    app *app;
    const cfg_camera *cfg; /* owned by `from`, which the app keeps alive while we run */
    const config *from;
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
    camera_view view;
    /* The KVS fragment of the last frame analysed and that fragment's
     * producer start: a lease's checkpoint in cluster mode. */
    pthread_mutex_t ckpt_mu;
    char ckpt_fragment[64];
    int64_t ckpt_start_ms;
    /* Cluster mode: until when (monotonic ns) this worker's lease lets the
     * camera's events out; 0 outside cluster mode (no limit). */
    atomic_llong lease_until_ns;
    clip_ring *clips; /* NULL without `clip:` */
} camera;

/* camera.c */
/* resume_ms > 0: a KVS camera starts at that producer time (a checkpoint). */
camera *camera_start(app *a, const cfg_camera *cfg, int64_t resume_ms, kerr *err);
/* Moves the checkpoint to this KVS fragment: only while there is none
 * (`first`, the first fragment read) or when it is not older (a frame of it
 * analysed). */
void camera_advance_checkpoint(camera *c, const char *fragment, int64_t start_ms, bool first);
/* The checkpoint; false when there is none yet. */
bool camera_checkpoint(camera *c, char *fragment, size_t len, int64_t *start_ms);
void camera_request_stop(camera *c);
void camera_join(camera *c); /* waits for the reader and the queued frames */
void camera_free(camera *c);
void camera_count_error(camera *c, const char *kind);
const char *cam_state_name(cam_state s);

/* analyse.c: runs on a worker thread for one frame of one camera. */
void camera_analyse(void *cam, kframe *f, int worker, void *user);
/* False (the event dropped and counted) once the camera's lease has lapsed. */
bool camera_may_emit(camera *c);
/* After the camera stopped: every open track ends (pending ALPR reads go out). */
void camera_end_tracks(camera *c);

/* view.c */
void view_init(camera_view *v);
void view_free(camera_view *v);
bool view_watched(camera_view *v);
void view_watch(camera_view *v); /* somebody asked: keep frames for a while */
/* After a frame's analysis, on its worker: keeps a scaled copy with boxes
 * (frame pixels) while watched, lets go of it otherwise. */
void view_offer(camera_view *v, const kframe *f, const ui_box *boxes, int n);
/* The kept frame with its boxes drawn, as JPEG (caller frees); KERR_AGAIN
 * when no frame is kept yet. */
kerr_code view_jpeg(camera_view *v, unsigned char **jpeg, unsigned long *len, kerr *err);
/* Analysed frames per second over the last few seconds. */
double view_rate(camera_view *v, int64_t analysed);

/* api.c: the operator page's routes on the metrics listener. */
bool api_route(void *app, const http_request *rq, http_response *rs);
/* /api/v1/publishers (api_publishers.c) */
bool api_publishers(app *a, http_response *rs);
/* Closes the event indexes the API opened (after the listener stopped). */
void api_stop(void);

/* app.c: what cameras need from the app. */
sched *app_sched(app *a);
publish_hub *app_hub(app *a);
const detector_ctx *app_detector_ctx(app *a);
int app_queue_depth(app *a);
const config *app_config(app *a);
/* The running cameras, for the API: valid until app_cameras_unlock (no
 * camera is removed and the config is not swapped meanwhile); keep it short. */
camera **app_cameras_lock(app *a, int *n);
void app_cameras_unlock(app *a);
bool app_http_loopback(app *a);
/* cluster.worker_id, "" when this process runs alone (events carry it). */
const char *app_worker_id(app *a);
/* ui.token of the running config, copied ("" when none). */
void app_ui_token(app *a, char *buf, size_t len);

/* validate.c */
/* Loads and fully checks a config (structure, detectors, models); prints each
 * problem as FILE:LINE:COL: path: message on stderr. NULL when invalid. */
config *app_load_config(const char *path, bool check_detectors, int *nerrors);
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

int app_run(const char *config_path);

#endif
