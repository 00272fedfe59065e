/* config: the YAML file of docs/configuration.md turned into typed structs, with every
 * problem reported as FILE:LINE:COLUMN: key.path: what is wrong.
 *
 * Detector parameters stay as a YAML subtree (ynode) here: each detector
 * validates its own `params` through the helpers below, so a new detector
 * never has to touch this module. */
#ifndef KVS_CONFIG_H
#define KVS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/core.h"

/* ---- YAML tree with positions ---- */
typedef enum { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP } ynode_kind;

typedef struct ynode ynode;
struct ynode {
    ynode_kind kind;
    int line, col; /* 1-based, of the node's first character */
    char *value;   /* scalars: text after ${VAR} expansion */
    bool quoted;   /* scalars written with quotes are strings... */
    bool expanded; /* ...unless they came from ${VAR}: "${PORT}" may be a number */
    size_t n;      /* children (SEQ items, MAP values) */
    ynode **items;
    char **keys; /* MAP only: keys[i] names items[i] */
    int *key_line, *key_col;
};

/* ---- diagnostics: collected, never fatal on the first one ---- */
typedef struct {
    char *file;
    int line, col;
    char *path;
    char *msg;
} cfg_diag;

typedef struct {
    const char *file;
    cfg_diag *items;
    size_t n, cap;
} cfg_diags;

void cfg_diag_add(cfg_diags *d, const ynode *at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cfg_diag_add_pos(cfg_diags *d, int line, int col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void cfg_diags_free(cfg_diags *d);
/* "FILE:LINE:COL: path: msg" into buf */
void cfg_diag_format(const cfg_diag *d, char *buf, size_t len);

/* ---- typed readers used by config and by detectors for their params.
 * Each returns true when the key was present and valid; on a wrong type or
 * range it adds a diagnostic and leaves *out unchanged. ---- */
const ynode *ynode_get(const ynode *map, const char *key);
/* Camera names: 1-128 of letters, digits, '-', '_', '.' and space, not "." or
 * "..", no space at either end (names.c says why). *why (may be NULL) gets
 * the reason when false. */
enum { CFG_CAMERA_NAME_MAX = 128, CFG_UI_TOKEN_MAX = 4096 };
/* The region when aws_region is not set, as the AWS SDKs find it (region.c);
 * NULL when none. Caller frees. */
char *cfg_default_region(void);
bool cfg_camera_name_ok(const char *name, const char **why);
bool cfg_read_str(cfg_diags *d, const ynode *map, const char *key, const char *path, char **out);
bool cfg_read_bool(cfg_diags *d, const ynode *map, const char *key, const char *path, bool *out);
bool cfg_read_int(cfg_diags *d, const ynode *map, const char *key, const char *path, int64_t min,
                  int64_t max, int64_t *out);
bool cfg_read_double(cfg_diags *d, const ynode *map, const char *key, const char *path, double min,
                     double max, double *out);
/* Reports every key of map not in the NULL-terminated allowed list. */
void cfg_check_keys(cfg_diags *d, const ynode *map, const char *path, const char *const *allowed);
bool cfg_expect_map(cfg_diags *d, const ynode *n, const char *path);
/* Resolves a model or data path: absolute; else relative to the working
 * directory if it exists there; else relative to the config file's folder.
 * Returns a malloc'd path (which may not exist). */
char *cfg_resolve_path(const char *config_file, const char *p);
/* Model files: models_dir/p first (when models_dir is set), then as above. */
char *cfg_resolve_model(const char *config_file, const char *models_dir, const char *p);

/* ---- typed configuration ---- */
struct source_ops;

/* decode: which packets a camera decodes (docs/architecture.md, "Decoding only what
 * is analysed"). */
typedef enum { DECODE_AUTO = 0, DECODE_ALL, DECODE_KEYFRAMES } decode_mode;

typedef struct {
    char *name;
    double (*pts)[2]; /* fractions of width, height */
    int npts;
    bool exclude; /* exclusion zone: detections centred here are dropped for all detectors */
} cfg_roi;

typedef struct {
    char *type;
    bool enabled;
    double confidence_threshold; /* < 0: the detector's own default */
    char **roi;
    int nroi;
    const ynode *params; /* owned by config.root; may be NULL */
    /* events: {cooldown_s, updates, summary, plate_reads} */
    double cooldown_s;
    bool updates, summary;
    int plate_reads; /* 0: the default */
    char *path;      /* key path, e.g. cameras[0].detectors[1] */
    int line, col;
} cfg_detector;

/* A camera's `publishers:` belong to the publishers (src/publish/publish.h):
 * each reads its own keys into text settings, which the hub and the spool
 * carry with every event without knowing what they mean. */
typedef struct {
    char *key, *value;
} cfg_kv;

typedef struct {
    char *publisher; /* the registered name */
    cfg_kv *kv;
    int n;
} cfg_pub;

typedef struct {
    cfg_pub *items;
    int n;
} cfg_publishers;

/* The value of key, NULL when not set. */
const char *cfg_pub_get(const cfg_pub *p, const char *key);
/* Sets key (a copy of value); false when out of memory. */
bool cfg_pub_set(cfg_pub *p, const char *key, const char *value);
/* The settings of that publisher, NULL when the camera does not use it. */
const cfg_pub *cfg_publishers_find(const cfg_publishers *ps, const char *publisher);
/* Appends empty settings for publisher; NULL when out of memory. */
cfg_pub *cfg_publishers_add(cfg_publishers *ps, const char *publisher);
bool cfg_publishers_copy(cfg_publishers *dst, const cfg_publishers *src);
void cfg_publishers_free(cfg_publishers *ps);

/* clip: {pre_seconds, post_seconds, max_bytes, from}: the video around each
 * event (src/clip/clip.h). from: kvs keeps no video: the event names the range
 * of the camera's KVS stream (src/clip/kvs_ref.c). */
typedef struct {
    bool on;
    bool from_kvs;
    double pre_seconds, post_seconds;
    int64_t max_bytes; /* the camera's ring and queued clips */
} cfg_clip;

typedef struct {
    char *name, *stream_name, *region;
    /* `source:` is the source's (src/source/source.h): its ops and its own
     * settings, read by it; the camera keeps only the reconnect cap. */
    const struct source_ops *source;
    void *source_conf;
    void (*source_conf_free)(void *conf);
    bool kvs_archive; /* the source reads a KVS stream (set by it): clip.from kvs is possible */
    int reconnect_max_s;
    double fps_limit; /* 0: no limit */
    int skip_frames;
    decode_mode decode;
    cfg_roi *rois;
    int nroi;
    cfg_detector *dets;
    int ndet;
    cfg_publishers pub;
    cfg_clip clip;
    char *fingerprint; /* canonical text of the camera's settings, for reload */
} cfg_camera;

typedef struct {
    char *file;
    char *aws_region;
    char *device; /* cpu | cuda:N */
    char *metrics_listen;
    bool ui_enabled; /* the operator page and its API on the metrics listener */
    /* cluster: workers share the cameras through DynamoDB leases (src/cluster) */
    char *lease_table; /* NULL: this process runs every camera */
    char *worker_id;   /* NULL: hostname-pid */
    int lease_seconds;
    int max_cameras; /* per worker, 0: no cap */
    /* after a takeover: analyse only the newest frames instead of every due
     * one until live (docs/cluster.md) */
    bool catch_up_newest;
    char *ui_token; /* NULL or "": none; at most CFG_UI_TOKEN_MAX bytes */
    char *spool_dir;
    int64_t spool_max_bytes;
    int spool_fsync;      /* spool_fsync: 0 batch, 1 always, 2 never */
    int workers;          /* 0: automatic */
    int queue_depth;      /* frames waiting per camera before stale ones are dropped */
    int batch_max;        /* images per model run across cameras; 0: by device */
    double batch_wait_ms; /* the first image's wait for company; < 0: by device */
    char *endpoint[7];    /* kinesisvideo, kinesis, s3, dynamodb, sts, sns, events */
    bool s3_force_path_style;
    char *ca_bundle; /* CA file for TLS to AWS, NULL: the system's */
    char **plugins;  /* detector plugins (.so), resolved paths */
    int nplugins;
    char *models_dir; /* relative model paths are looked up here first */
    cfg_camera *cams;
    int ncam;
    ynode *root;
} config;

enum {
    CFG_EP_KINESISVIDEO,
    CFG_EP_KINESIS,
    CFG_EP_S3,
    CFG_EP_DYNAMODB,
    CFG_EP_STS,
    CFG_EP_SNS,
    CFG_EP_EVENTS,
    CFG_EP_COUNT
};

/* The sections whose keys belong to a registry above this layer (a camera's
 * `source:` to the sources', its `publishers:` to the publishers'): the caller
 * passes their readers in, so config/ calls nothing above it. The app's pair
 * is app_cfg_readers (app.h). */
typedef struct cfg_readers {
    /* Finds the camera's source by `mode:` and lets it read its keys. */
    void (*source)(cfg_diags *d, const config *cfg, const ynode *cam, const char *path,
                   cfg_camera *c);
    /* Reads a camera's `publishers:` (NULL when absent). */
    void (*publishers)(cfg_diags *d, const config *cfg, const ynode *pubs, const char *path,
                       cfg_publishers *out);
} cfg_readers;

/* Parses the file (or, when text != NULL, the text, naming it file). Returns
 * NULL with diagnostics in *d when anything is wrong; on success d->n == 0. */
config *config_load(const cfg_readers *r, const char *file, const char *text, cfg_diags *d);
/* Same, but returns whatever could be read even when there are diagnostics
 * (NULL only when the YAML itself cannot be parsed), so --validate can go on
 * checking detectors and report every problem at once. */
config *config_load_all(const cfg_readers *r, const char *file, const char *text, cfg_diags *d);
void config_free(config *c);
/* Parses a YAML text into a tree; NULL with a diagnostic on syntax errors. */
ynode *ynode_parse(const char *text, size_t len, cfg_diags *d);
void ynode_free(ynode *n);
/* ${VAR} and ${VAR:-default}; "$$" is a literal '$'. NULL + msg on a bad reference. */
char *cfg_expand_env(const char *in, char *msg, size_t msglen);

#endif
