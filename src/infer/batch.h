/* Internal to infer: combines concurrent one-image runs of one session into
 * batches (batch.c). */
#ifndef KVS_INFER_BATCH_H
#define KVS_INFER_BATCH_H

#include "infer.h"

typedef struct batcher batcher;

/* How a batcher runs its model: the model's own run and the release of its
 * outputs, passed in by ort.c so that batch.c calls nothing of it. */
typedef struct {
    kerr_code (*run)(void *model, const float *input, const int64_t *shape, int ndims,
                     infer_output *out, kerr *err);
    void (*release)(infer_output *out);
    void *model;
} batch_runner;

/* name: the model's file name, for the metrics. NULL when out of memory. */
batcher *batcher_new(int max, int wait_us, const char *name, const batch_runner *r);
void batcher_free(batcher *b);
/* Whether m gives each image the same result in a batch as alone, running
 * two test pictures both ways. When not, why[] says how it differs: an
 * output that is not per image, or values that move (a dynamically
 * quantised model scales its activations over the whole batch, so one
 * camera's picture would move another's boxes). */
kerr_code batch_consistent(const batch_runner *r, const tensor_info *in, bool *same, char *why,
                           size_t len, kerr *err);
/* Runs input ([1, ...] of shape) within the next batch of the runner's model. */
kerr_code batcher_submit(batcher *b, const float *input, const int64_t *shape, int ndims,
                         infer_output *out, kerr *err);

#endif
