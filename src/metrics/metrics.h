/* metrics: Prometheus counters, gauges and histograms with labels, and the
 * HTTP endpoint (/metrics, /healthz, /readyz) on libmicrohttpd.
 * Series are looked up by (family, label text) under one lock: our update
 * rates are per frame and per event, far below where that matters. */
#ifndef KVS_METRICS_H
#define KVS_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/core.h"

/* Metric families (the names are an interface: see docs/metrics.md). */
#define M_FRAMES_DECODED "kvs_infer_frames_decoded_total"
#define M_FRAMES_PROCESSED "kvs_infer_frames_processed_total"
#define M_FRAMES_SKIPPED "kvs_infer_frames_skipped_total"
#define M_FRAMES_DROPPED "kvs_infer_frames_dropped_total"
#define M_DETECTIONS "kvs_infer_detections_total"
#define M_INFERENCE_SECONDS "kvs_infer_inference_seconds"
#define M_STAGE_SECONDS "kvs_infer_stage_seconds"
#define M_EVENTS "kvs_infer_events_total"
#define M_EVENTS_PUBLISHED "kvs_infer_events_published_total"
#define M_PUBLISHER_RETRIES "kvs_infer_publisher_retries_total"
#define M_PUBLISHER_FILTERED "kvs_infer_publisher_filtered_total"
#define M_STREAM_ERRORS "kvs_infer_stream_errors_total"
#define M_SOURCE_STATE "kvs_infer_source_state"
#define M_EVENT_LATENCY "kvs_infer_event_latency_seconds"
#define M_FRAME_QUEUE "kvs_infer_frame_queue_depth"
#define M_SPOOL_RECORDS "kvs_infer_spool_records"
#define M_SPOOL_BYTES "kvs_infer_spool_bytes"
#define M_SPOOL_OLDEST "kvs_infer_spool_oldest_unacked_seconds"
#define M_SPOOL_CORRUPT "kvs_infer_spool_corrupt_bytes_total"
#define M_SOURCE_BEHIND "kvs_infer_source_seconds_behind_now"
#define M_SOURCE_FRAGMENTS "kvs_infer_source_fragments_total"
#define M_FRAME_DELAY "kvs_infer_frame_delay_seconds"
#define M_SPOOL_FULL "kvs_infer_spool_full_wait_seconds_total"
#define M_SPOOL_CORRUPT_RECORDS "kvs_infer_spool_corrupt_records_total"
#define M_EVENTS_LOST "kvs_infer_events_lost_total"
#define M_LOCAL_REOPENS "kvs_infer_local_reopens_total"
#define M_CLIPS "kvs_infer_clips_total"
#define M_CLIP_RING_BYTES "kvs_infer_clip_ring_bytes"
#define M_CLIP_REMUX_SECONDS "kvs_infer_clip_remux_seconds_total"
#define M_CAMERA_LAG "kvs_infer_camera_lag_seconds"
#define M_INFER_RUNS "kvs_infer_inference_runs_total"
#define M_INFER_IMAGES "kvs_infer_inference_images_total"
#define M_LEASES_HELD "kvs_infer_leases_held"
#define M_LEASES_TAKEN "kvs_infer_leases_taken_total"
#define M_LEASES_LOST "kvs_infer_leases_lost_total"
#define M_LEASES_RELEASED "kvs_infer_leases_released_total"
#define M_LEASE_RENEW_FAILURES "kvs_infer_lease_renew_failures_total"
#define M_EVENTS_FENCED "kvs_infer_events_fenced_total"
#define M_CAMERAS_UNOWNED "kvs_infer_cameras_unowned"
#define M_CONFIG_RELOADS "kvs_infer_config_reloads_total"
#define M_VERIFY_REJECTED "kvs_infer_verify_rejected_total"
#define M_BUILD_INFO "kvs_infer_build_info"

/* The standard process_* families (what every Prometheus client library
 * exports), read from /proc/self at each scrape. false: no /proc. */
typedef struct {
    double cpu_seconds;           /* user + system */
    double resident_memory_bytes; /* RSS */
    double virtual_memory_bytes;
    double start_time_seconds; /* since the Unix epoch */
    double open_fds, max_fds;  /* max_fds: the soft limit, -1 unlimited */
} process_stats;
bool process_stats_read(process_stats *p);
/* version, revision, onnxruntime and ffmpeg labels of kvs_infer_build_info. */
void build_info_labels(char *buf, size_t len);

void metrics_reset(void); /* frees every series (tests, shutdown) */
/* Drops every series of family whose label text starts with labels_prefix
 * (a gauge of something that is gone: a removed or restarted camera). */
void metric_remove(const char *family, const char *labels_prefix);
void metric_add(const char *family, const char *labels, double v);
void metric_set(const char *family, const char *labels, double v);
void metric_observe(const char *family, const char *labels, double v);
/* Reading the registry in-process (the benches print their figures from it,
 * the unit tests check counts): the current value (counters/gauges) or
 * observation count (histograms); 0 if absent. */
double metric_get(const char *family, const char *labels);
/* Sum over every series of a family (for summaries). */
double metric_sum(const char *family);
/* Histograms: observation sum and count over the series whose labels equal
 * labels (NULL: every series of the family). */
void metric_hist_totals(const char *family, const char *labels, double *sum, double *count);
/* The whole exposition text; caller frees. */
char *metrics_render(void);
/* Builds `k1="v1",k2="v2"` with Prometheus escaping from NULL-terminated pairs. */
void mlabels(char *buf, size_t len, ...);

typedef bool (*ready_fn)(void *user, char *why, size_t len);
typedef struct metrics_server metrics_server;

/* Other paths on the same listener (the operator page and its API): a route
 * sees the request and fills the response, or returns false for a 404. */
typedef struct {
    const char *method, *path;
    void *conn; /* for http_query and http_header */
} http_request;
typedef struct {
    unsigned status;
    const char *type;
    char *body; /* malloc'd, freed by the server; or a file to send: */
    size_t len;
    int fd;                                 /* >= 0: send len bytes of this file, then close it */
    const char *hdr_name[4], *hdr_value[4]; /* static strings */
    int nhdr;
} http_response;
typedef bool (*http_route_fn)(void *user, const http_request *rq, http_response *rs);
/* A query-string argument, or NULL. */
const char *http_query(const http_request *rq, const char *key);
const char *http_header(const http_request *rq, const char *name);
/* The listener's address is loopback (127.0.0.0/8). */
bool metrics_server_loopback(const metrics_server *s);

/* listen: "host:port"; port 0 picks a free one (logged, and in *bound_port).
 * route (may be NULL) serves the paths other than /metrics, /healthz and
 * /readyz. */
metrics_server *metrics_serve(const char *listen, ready_fn ready, void *user, http_route_fn route,
                              void *route_user, int *bound_port, kerr *err);
void metrics_server_stop(metrics_server *s);

#endif
