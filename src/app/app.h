/* app: composes the stages into the running service — cameras (a reader
 * thread each), the scheduler's worker pool, the publisher hub, metrics —
 * and owns their lifecycle: start, SIGHUP reload, drain on SIGTERM/SIGINT or
 * when every source has ended. */
#ifndef KVS_APP_H
#define KVS_APP_H

#include <stdatomic.h>

#include "../config/config.h"
#include "../detect/detect.h"
#include "../publish/publish.h"
#include "../roi/roi.h"
#include "../sched/sched.h"
#include "../source/source.h"
#include "../track/track.h"

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
    char cam_label[200];    /* camera="..." */
    char state_prefix[202]; /* camera="...", for dropping its state series */
    atomic_llong decoded, analysed, skipped, dropped, detections, events, errors;
} camera;

/* camera.c */
camera *camera_start(app *a, const cfg_camera *cfg, kerr *err);
void camera_request_stop(camera *c);
void camera_join(camera *c); /* waits for the reader and the queued frames */
void camera_free(camera *c);
void camera_count_error(camera *c, const char *kind);
const char *cam_state_name(cam_state s);

/* analyse.c: runs on a worker thread for one frame of one camera. */
void camera_analyse(void *cam, kframe *f, int worker, void *user);
/* After the camera stopped: every open track ends (pending ALPR reads go out). */
void camera_end_tracks(camera *c);

/* app.c: what cameras need from the app. */
sched *app_sched(app *a);
publish_hub *app_hub(app *a);
const detector_ctx *app_detector_ctx(app *a);
int app_queue_depth(app *a);
const config *app_config(app *a);

/* validate.c */
/* Loads and fully checks a config (structure, detectors, models); prints each
 * problem as FILE:LINE:COL: path: message on stderr. NULL when invalid. */
config *app_load_config(const char *path, bool check_detectors, int *nerrors);

int app_run(const char *config_path);

#endif
