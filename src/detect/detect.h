/* detect: detectors behind one small vtable, registered by name (registry.c).
 * A new detector is one file with a `const detector_ops` plus one line in the
 * registry. The YOLO helpers (letterbox, layout decoding, NMS, class names) are
 * exported here because they are the building blocks of several detectors and
 * are tested on known tensors. */
#ifndef KVS_DETECT_H
#define KVS_DETECT_H

#include <stdbool.h>
#include <stdint.h>

#include "../config/config.h"
#include "../core/core.h"
#include "../frame/frame.h"
#include "../infer/infer.h"

/* A plate read that goes with a detection (ALPR). */
typedef struct {
    bool has;
    char text[17];  /* A-Z 0-9 */
    float conf[16]; /* per character */
    int n;
    float mean;    /* mean character confidence */
    int format;    /* index of the matched format, -1 none */
    float box[4];  /* the plate, axis-aligned, frame pixels: x1 y1 x2 y2 */
    float quality; /* 0..1: the plate's size and sharpness in this frame (voting) */
} plate_read;

typedef struct {
    float x1, y1, x2, y2; /* pixels of the analysed frame */
    float score;
    int cls;
    plate_read plate;
} detection;

typedef struct {
    detection *v;
    int n, cap;
} det_list;

void det_list_push(det_list *l, detection d);
void det_list_free(det_list *l);

/* ---- geometry ---- */
float box_iou(const detection *a, const detection *b);
/* Clips every box (and plate box) to [0, frame_w] x [0, frame_h]. */
void det_list_clip(det_list *l, int frame_w, int frame_h);
/* Greedy NMS in place, highest score first; per_class keeps overlapping boxes of
 * different classes. Keeps at most max_det. */
void nms(det_list *l, float iou_threshold, bool per_class, int max_det);

/* ---- letterbox ---- */
typedef struct {
    float scale;
    float pad_x, pad_y;
} letterbox;

typedef struct {
    bool bgr;       /* channel order the model expects */
    bool normalize; /* divide by 255 */
    bool center;    /* centred padding (Ultralytics) or top-left (YOLOX) */
} preprocess_opts;

/* Writes a [3, in_h, in_w] float tensor (bilinear resize, pad value 114):
 * from the decoder's picture in one libswscale pass when the frame has one. */
kerr_code letterbox_to_tensor(const kframe *f, int in_w, int in_h, const preprocess_opts *o,
                              float *dst, letterbox *lb, kerr *err);
/* Maps a box from model-input pixels back to frame pixels, clipped. */
void letterbox_unmap(const letterbox *lb, detection *d, int frame_w, int frame_h);

/* ---- YOLO output layouts ---- */
typedef enum { YOLO_AUTO = 0, YOLO_V5, YOLO_V8, YOLO_X } yolo_layout;

const char *yolo_layout_name(yolo_layout l);
int yolo_layout_parse(const char *s, yolo_layout *out); /* 0 on success */
/* Picks the layout from the output shape and the input size; also returns the
 * number of classes the output carries. */
kerr_code yolo_layout_detect(const int64_t *dims, int ndims, int in_w, int in_h, yolo_layout *out,
                             int *nclasses, kerr *err);
/* Decodes candidates with score >= threshold (allowed: per class, NULL = all)
 * into boxes in model-input pixels. Scores are already probabilities in all
 * three layouts for the standard exports. */
kerr_code yolo_decode(yolo_layout l, const float *data, const int64_t *dims, int ndims, int in_w,
                      int in_h, float threshold, const bool *allowed, det_list *out, kerr *err);

/* ---- class names ---- */
typedef struct {
    char **names;
    int n;
} class_names;

void class_names_coco(class_names *out);
/* Parses Ultralytics metadata: "{0: 'person', 1: 'bicycle'}". */
kerr_code class_names_from_meta(const char *meta, class_names *out, kerr *err);
/* One name per line; blank lines end nothing, '#' comments skipped. */
kerr_code class_names_from_file(const char *path, class_names *out, kerr *err);
int class_names_find(const class_names *c, const char *name);
void class_names_free(class_names *c);

/* ---- the detector interface ---- */
typedef struct {
    const char *config_file; /* relative model paths resolve beside it too */
    const char *models_dir;  /* ...and first in models_dir when set */
    infer_opts infer;        /* device, threads, batching */
} detector_ctx;

typedef struct {
    char name[128]; /* model file name */
    char sha256[65];
    char classes[512]; /* the labels it reports, comma separated (for the start log) */
} detector_model;

typedef struct detector_ops {
    const char *name;
    float default_threshold;
    /* Validates cfg->params (reporting into d); returns the parsed settings or NULL. */
    void *(*configure)(const cfg_detector *cfg, const detector_ctx *ctx, cfg_diags *d);
    void (*free_conf)(void *conf);
    kerr_code (*open)(const void *conf, const detector_ctx *ctx, void **state,
                      detector_model *model, kerr *err);
    /* Appends detections with score >= threshold, in frame pixels. */
    kerr_code (*detect)(void *state, const kframe *f, float threshold, det_list *out, kerr *err);
    const char *(*label)(void *state, int cls);
    void (*close)(void *state);
} detector_ops;

typedef struct {
    const detector_ops *ops;
    void *conf, *state;
    float threshold;
    detector_model model;
} detector;

const detector_ops *detector_find(const char *type);
/* Plugins (plugin.c): loads a shared object exporting kvs_plugin_entry and
 * registers its detector type; loading the same path again does nothing. */
kerr_code detector_load_plugin(const char *path, kerr *err);
const detector_ops *detector_find_plugin(const char *type);
const detector_ops *detector_find_builtin(const char *type);
/* Comma separated registered names, for error messages. */
void detector_names(char *buf, size_t len);
/* Validation only (config --validate): true when the detector would open. */
bool detector_check(const cfg_detector *cfg, const detector_ctx *ctx, cfg_diags *d);
/* Only whether the type exists (built in or from a loaded plugin): what a run
 * checks before starting, so an unknown type is refused as --validate does. */
bool detector_type_check(const cfg_detector *cfg, cfg_diags *d);
detector *detector_open(const cfg_detector *cfg, const detector_ctx *ctx, kerr *err);
kerr_code detector_run(detector *d, const kframe *f, det_list *out, kerr *err);
const char *detector_label(detector *d, int cls);
void detector_close(detector *d);
/* ALPR: the configured name of plate format i (NULL when none). */
const char *alpr_format_name(const void *conf, int i);

#endif
