/* Shared by the detectors built on the generic YOLO one (yolo.c, weapon.c). */
#ifndef KVS_YOLO_INTERNAL_H
#define KVS_YOLO_INTERNAL_H

#include "../infer/infer.h"
#include "detect.h"

typedef struct {
    const char *kind;                   /* detector type, for messages */
    const char *const *default_classes; /* filter used when `classes` is not given */
    bool require_default_class;         /* the model must have one of them */
    int confirm_hits, confirm_window;   /* default confirmation (0: none) */
    bool verified;                      /* params.verify is the pipeline's (src/verify) */
    double min_area;                    /* default minimum box area, share of the frame */
    /* default label for a model class name (NULL: the name itself) */
    const char *(*default_label)(const char *class_name);
} yolo_defaults;

/* The layout hints of a model's metadata; nnames: the class names known
 * (metadata or config), 0 if none. */
void yolo_hints_read(const model_info *mi, int nnames, yolo_hints *h);

void *yolo_configure_with(const cfg_detector *cfg, const detector_ctx *ctx, cfg_diags *d,
                          const yolo_defaults *defs);
void yolo_free_conf(void *conf);
kerr_code yolo_open(const void *conf, const detector_ctx *ctx, void **state, detector_model *model,
                    kerr *err);
kerr_code yolo_detect(void *state, const kframe *f, float threshold, det_list *out, kerr *err);
const char *yolo_label(void *state, int cls);
void yolo_close(void *state);

#endif
