/* infer: the one place that talks to ONNX Runtime. One environment for the
 * process, one session per (model file, device) shared by every camera and
 * worker that uses it (Run is thread-safe), thread counts chosen by the
 * caller, and errors that say which model and which tensor is wrong. */
#ifndef KVS_INFER_H
#define KVS_INFER_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/core.h"

enum { INFER_MAX_DIMS = 8, INFER_MAX_OUTPUTS = 8 };

typedef struct {
    char name[128];
    int ndims;
    int64_t dims[INFER_MAX_DIMS]; /* -1 for dynamic dimensions */
    int elem_type;                /* ONNXTensorElementDataType */
} tensor_info;

typedef struct {
    char *path;
    char sha256[65];
    tensor_info input;
    tensor_info outputs[INFER_MAX_OUTPUTS];
    int noutputs;
    char *meta_names; /* the "names" custom metadata (Ultralytics), NULL when absent */
    /* Ultralytics hints at the output layout (NULL when absent): "end2end"
     * (True for YOLOv10/nms exports), "args" (the export arguments, nms=True
     * among them) and "task" (written by every Ultralytics export). */
    char *meta_end2end, *meta_args, *meta_task;
} model_info;

typedef struct model model;

typedef struct {
    const float *data;
    int64_t dims[INFER_MAX_DIMS];
    int ndims;
    size_t count;
    int batch;    /* images in the run that produced it (1 unless batched) */
    void *handle; /* the OrtValue; released by infer_output_release */
    float *owned; /* a batched run's slice for this image; freed by release */
} infer_output;

enum { INFER_BATCH_MAX = 64 };

/* How a session runs. Sessions are shared by every caller with the same
 * model, device and options. infer_opts_init fills the defaults chosen by
 * measurement (docs/benchmarks.md "Inference settings"). */
typedef struct {
    const char *device; /* cpu | cuda:N */
    int intra_threads;  /* <= 0: the runtime decides */
    bool spinning;      /* intra-op threads spin between runs (only pays on idle cores) */
    int opt_level;      /* graph optimisation: 0 none, 1 basic, 2 extended, 99 all */
    bool arena;         /* ONNX Runtime's CPU memory arena */
    int batch_max;      /* > 1: concurrent one-image runs of a batch-dynamic model combine */
    int batch_wait_us;  /* how long the first image of a batch waits for company */
} infer_opts;

void infer_opts_init(infer_opts *o, const char *device, int intra_threads);

/* Checks a device string against the installed runtime: cpu always works;
 * cuda:N needs the CUDA execution provider (no silent fallback). */
kerr_code infer_check_device(const char *device, kerr *err);
/* Opens (or shares) a session. */
model *model_open(const char *path, const infer_opts *o, kerr *err);
void model_release(model *m);
const model_info *model_get_info(const model *m);
/* Runs the model on one float tensor; the first output comes back in *out. */
kerr_code model_run(model *m, const float *input, const int64_t *shape, int ndims,
                    infer_output *out, kerr *err);
/* One image ([1, ...]): runs it together with other callers' images of the
 * same shape as one batch when the model's first input dimension is dynamic
 * and the session's batch_max > 1 (batch.c); alone otherwise. The output is
 * this image's part, with dims[0] = 1. */
kerr_code model_run_batched(model *m, const float *input, const int64_t *shape, int ndims,
                            infer_output *out, kerr *err);
/* Whether model_run_batched can combine runs of this model. */
bool model_batches(const model *m);
void infer_output_release(infer_output *out);
/* Lowercase hex SHA-256 of a file into out[65]. */
kerr_code file_sha256(const char *path, char out[65], kerr *err);
/* Releases the environment at exit (after every model is released). */
void infer_shutdown(void);
const char *infer_runtime_version(void);

#endif
