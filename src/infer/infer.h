/* infer: the one place that talks to ONNX Runtime. One environment for the
 * process, one session per (model file, device) shared by every camera and
 * worker that uses it (Run is thread-safe), thread counts chosen by the
 * caller, and errors that say which model and which tensor is wrong. */
#ifndef KVS_INFER_H
#define KVS_INFER_H

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
} model_info;

typedef struct model model;

typedef struct {
    const float *data;
    int64_t dims[INFER_MAX_DIMS];
    int ndims;
    size_t count;
    void *handle; /* the OrtValue; released by infer_output_release */
} infer_output;

/* Checks a device string against the installed runtime: cpu always works;
 * cuda:N needs the CUDA execution provider (no silent fallback). */
kerr_code infer_check_device(const char *device, kerr *err);
/* Opens (or shares) a session. intra_threads <= 0 lets the runtime decide. */
model *model_open(const char *path, const char *device, int intra_threads, kerr *err);
void model_release(model *m);
const model_info *model_get_info(const model *m);
/* Runs the model on one float tensor; the first output comes back in *out. */
kerr_code model_run(model *m, const float *input, const int64_t *shape, int ndims,
                    infer_output *out, kerr *err);
void infer_output_release(infer_output *out);
/* Lowercase hex SHA-256 of a file into out[65]. */
kerr_code file_sha256(const char *path, char out[65], kerr *err);
/* Releases the environment at exit (after every model is released). */
void infer_shutdown(void);
const char *infer_runtime_version(void);

#endif
