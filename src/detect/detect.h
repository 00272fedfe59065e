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
    char text[PLATE_MAX_LEN + 1]; /* A-Z 0-9 */
    float conf[PLATE_MAX_LEN];    /* per character */
    int n;
    float mean;    /* mean character confidence */
    int format;    /* index of the matched format, -1 none */
    float box[4];  /* the plate, axis-aligned, frame pixels: x1 y1 x2 y2 */
    float quality; /* 0..1: the plate's size and sharpness in this frame (voting) */
} plate_read;

/* Why a verified box is an alarm (src/verify): each part 0..1. */
typedef struct {
    bool has; /* set by the verification stage only */
    bool verified;
    bool smoke; /* judged as smoke (greyish), whatever the model's class */
    float colour, flicker, motion, growth, persistence, score;
    /* the box's shares of fire-coloured and greyish pixels (window means),
     * whatever it is judged as: why a fire box was judged as smoke */
    float fire_share, grey_share;
} box_evidence;

typedef struct {
    float x1, y1, x2, y2; /* pixels of the analysed frame */
    float score;
    int cls;
    plate_read plate;
    box_evidence ev;
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
typedef enum { YOLO_AUTO = 0, YOLO_V5, YOLO_V8, YOLO_X, YOLO_E2E } yolo_layout;

const char *yolo_layout_name(yolo_layout l);
int yolo_layout_parse(const char *s, yolo_layout *out); /* 0 on success */
/* What the model says beside its output shape. An end-to-end [1, N, 6] and a
 * one-class YOLOv5 [1, N, 5+1] have the same shape: only these tell them apart. */
typedef struct {
    int end2end;      /* metadata end2end / export argument nms: 1 yes, 0 no, -1 not said */
    bool ultralytics; /* exported by the Ultralytics package (its "task" metadata) */
    int nnames;       /* class names known from the metadata or the config, 0: unknown */
} yolo_hints;
/* Picks the layout from the output shape, the input size and the hints (NULL:
 * none); also returns the number of classes the output carries (0 for an
 * end-to-end output, whose class is an index: the names give the count).
 * A shape it cannot tell apart is an error naming params.layout. */
kerr_code yolo_layout_detect(const int64_t *dims, int ndims, int in_w, int in_h,
                             const yolo_hints *h, yolo_layout *out, int *nclasses, kerr *err);
/* The class count a layout (given by the user) reads from an output shape;
 * an error when the shape cannot be that layout. */
kerr_code yolo_layout_classes(yolo_layout l, const int64_t *dims, int ndims, int *nclasses,
                              kerr *err);
/* Decodes candidates with score >= threshold (allowed: per class, NULL = all)
 * into boxes in model-input pixels. Scores are already probabilities in all
 * layouts for the standard exports. nclasses bounds an end-to-end output's
 * class indices (the other layouts carry one score per class). */
kerr_code yolo_decode(yolo_layout l, const float *data, const int64_t *dims, int ndims, int in_w,
                      int in_h, int nclasses, float threshold, const bool *allowed, det_list *out,
                      kerr *err);

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

/* What a detector does besides finding boxes; the pipeline acts on these
 * flags and never on a detector's name. */
enum {
    /* Its detections carry plate reads (det.plate): a track is a plate, voted
     * over plate_reads sightings, and its event carries the plate. */
    DET_READS_PLATES = 1 << 0,
    /* Its boxes may be verified over time (src/verify, params.verify)... */
    DET_VERIFY = 1 << 1,
    /* ...and are unless params.verify.enabled is false. */
    DET_VERIFY_DEFAULT = 1 << 2,
};

typedef struct detector_ops {
    const char *name;
    unsigned caps; /* DET_* */
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
    /* DET_READS_PLATES: the configured name of plate format i; NULL: none. */
    const char *(*format_name)(const void *conf, int i);
} detector_ops;

typedef struct {
    const detector_ops *ops;
    void *conf, *state;
    float threshold;
    detector_model model;
} detector;

const detector_ops *detector_find(const char *type);
/* Adds a detector type built outside registry.c (a plugin, an embedding
 * program); KERR_INVALID when the name is taken or the table is full. */
kerr_code detector_register(const detector_ops *ops, kerr *err);
/* One line in the detector's own file registers it at start-up; a refusal
 * is kept and reported by detector_registry_check (the program exits 2). */
#define DETECTOR_REGISTER(ops)                                                                     \
    __attribute__((constructor)) static void register_##ops(void)                                  \
    {                                                                                              \
        detector_register(&ops, NULL);                                                             \
    }
/* KERR_INVALID naming a detector refused at start-up. */
kerr_code detector_registry_check(kerr *err);
/* Plugins (plugin.c): loads a shared object exporting kvs_plugin_entry and
 * registers its detector type; loading the same path again does nothing. */
kerr_code detector_load_plugin(const char *path, kerr *err);
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
/* A plate-reading detector's configured name of plate format i (NULL when
 * none or not such a detector). */
const char *detector_format_name(const detector *d, int i);

#endif
