/* Batching across callers. Workers analyse different cameras at once; when
 * several wait on the same batch-dynamic model, one run over all their images
 * costs less than one run each (much less on a GPU, where a single image
 * leaves most of the device idle).
 *
 * No extra thread: the first caller of a batch leads it. It waits until the
 * batch is full or its wait ends, closes the batch (later callers start the
 * next one), runs it and hands each caller its part of the output. The
 * others sleep until the run is done. A caller never waits longer than the
 * wait plus one run, and an image whose shape differs from the open batch's
 * runs alone rather than waiting. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../metrics/metrics.h"
#include "batch.h"

typedef struct {
    const float *input;
    infer_output *out;
    kerr err;
    kerr_code rc;
    bool done;
} request;

struct batcher {
    pthread_mutex_t mu;
    pthread_cond_t full; /* the open batch is full: its leader goes */
    pthread_cond_t done; /* a batch finished: its callers collect */
    pthread_cond_t room; /* a full batch was closed: the next one opens */
    unsigned max;
    int64_t wait_ns;
    request *open[INFER_BATCH_MAX];
    unsigned nopen;
    int64_t shape[INFER_MAX_DIMS]; /* of the open batch */
    int ndims;
    char labels[160];
    batch_runner r;
};

batcher *batcher_new(int max, int wait_us, const char *name, const batch_runner *r)
{
    batcher *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->full, &ca);
    pthread_cond_init(&b->done, &ca);
    pthread_cond_init(&b->room, &ca);
    pthread_condattr_destroy(&ca);
    b->max = max < 1 ? 1u : max > INFER_BATCH_MAX ? (unsigned)INFER_BATCH_MAX : (unsigned)max;
    b->wait_ns = wait_us < 0 ? 0 : (int64_t)wait_us * 1000;
    mlabels(b->labels, sizeof b->labels, "model", name, NULL);
    b->r = *r;
    return b;
}

void batcher_free(batcher *b)
{
    if (!b) return;
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->full);
    pthread_cond_destroy(&b->done);
    pthread_cond_destroy(&b->room);
    free(b);
}

static size_t image_count(const int64_t *shape, int ndims)
{
    size_t n = 1;
    for (int i = 1; i < ndims; i++)
        n *= (size_t)shape[i];
    return n;
}

/* Gives each request its image's part of a batched output. */
static kerr_code split_output(const batch_runner *r, const infer_output *o, request **reqs, int n,
                              kerr *err)
{
    if (o->ndims < 1 || o->dims[0] != n || o->count % (size_t)n)
        return kerr_set(err, KERR_INVALID,
                        "a batch of %d gave an output of %zu values with first dimension %lld "
                        "(the model's first dimension is not the batch)",
                        n, o->count, o->ndims > 0 ? (long long)o->dims[0] : -1LL);
    size_t part = o->count / (size_t)n;
    for (int i = 0; i < n; i++) {
        infer_output *out = reqs[i]->out;
        out->owned = malloc(part * sizeof(float));
        if (!out->owned) {
            for (int k = 0; k < i; k++)
                r->release(reqs[k]->out);
            return kerr_set(err, KERR_NOMEM, "out of memory");
        }
        memcpy(out->owned, o->data + part * (size_t)i, part * sizeof(float));
        out->data = out->owned;
        memcpy(out->dims, o->dims, sizeof out->dims);
        out->dims[0] = 1;
        out->ndims = o->ndims;
        out->count = part;
        out->batch = n;
    }
    return KERR_OK;
}

static kerr_code run_many(const batch_runner *r, request **reqs, int n, const int64_t *shape,
                          int ndims, kerr *err)
{
    size_t per = image_count(shape, ndims);
    float *input = malloc(per * (size_t)n * sizeof(float));
    if (!input) return kerr_set(err, KERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        memcpy(input + per * (size_t)i, reqs[i]->input, per * sizeof(float));
    int64_t bshape[INFER_MAX_DIMS];
    memcpy(bshape, shape, sizeof(int64_t) * (size_t)ndims);
    bshape[0] = n;
    infer_output o;
    kerr_code rc = r->run(r->model, input, bshape, ndims, &o, err);
    free(input);
    if (rc) return rc;
    rc = split_output(r, &o, reqs, n, err);
    r->release(&o);
    return rc;
}

static void run_batch(batcher *b, request **reqs, int n, const int64_t *shape, int ndims)
{
    kerr err = {0};
    kerr_code rc = n == 1 ? b->r.run(b->r.model, reqs[0]->input, shape, ndims, reqs[0]->out, &err)
                          : run_many(&b->r, reqs, n, shape, ndims, &err);
    for (int i = 0; i < n; i++) {
        reqs[i]->rc = rc;
        if (rc) reqs[i]->err = err;
    }
    metric_add(M_INFER_RUNS, b->labels, 1);
    metric_add(M_INFER_IMAGES, b->labels, n);
}

/* The largest difference between the batched parts and the lone runs,
 * relative to the largest value. */
static double batch_difference(const infer_output *a, const infer_output *b, const infer_output *ab)
{
    double worst = 0, scale = 1e-12;
    for (size_t i = 0; i < a->count; i++) {
        worst = fmax(worst, fabs((double)ab->data[i] - a->data[i]));
        worst = fmax(worst, fabs((double)ab->data[a->count + i] - b->data[i]));
        scale = fmax(scale, fmax(fabs((double)a->data[i]), fabs((double)b->data[i])));
    }
    return worst / scale;
}

kerr_code batch_consistent(const batch_runner *r, const tensor_info *in, bool *same, char *why,
                           size_t len, kerr *err)
{
    int64_t one[INFER_MAX_DIMS], two[INFER_MAX_DIMS];
    size_t n = 1;
    for (int i = 0; i < in->ndims; i++) {
        one[i] = two[i] = i == 0 ? 1 : in->dims[i];
        if (i > 0) n *= (size_t)in->dims[i];
    }
    two[0] = 2;
    float *pics = malloc(2 * n * sizeof *pics);
    if (!pics) return kerr_set(err, KERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) { /* a ramp and coarse stripes */
        pics[i] = (float)(i % 251) / 250.f;
        pics[n + i] = ((i / 16 + i / 4096) % 2) ? 0.9f : 0.1f;
    }
    infer_output a = {0}, b = {0}, ab = {0};
    kerr_code rc = r->run(r->model, pics, one, in->ndims, &a, err);
    if (!rc) rc = r->run(r->model, pics + n, one, in->ndims, &b, err);
    if (!rc) rc = r->run(r->model, pics, two, in->ndims, &ab, err);
    free(pics);
    *same = false;
    if (rc) {
    } else if (ab.count != a.count + b.count || a.count != b.count || ab.dims[0] != 2) {
        snprintf(why, len,
                 "a batch of two gives %zu output values, not twice %zu: its output is not one "
                 "part per image",
                 ab.count, a.count);
    } else {
        double diff = batch_difference(&a, &b, &ab);
        *same = diff <= 1e-4;
        snprintf(why, len,
                 "an image's output in a batch differs from its output alone by %.2g%% of the "
                 "largest value (a dynamically quantised model scales over the whole batch, so "
                 "one camera's picture would move another's boxes)",
                 diff * 100);
    }
    r->release(&a);
    r->release(&b);
    r->release(&ab);
    return rc;
}

static void deadline_after(struct timespec *ts, int64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ns / 1000000000);
    ts->tv_nsec += (long)(ns % 1000000000);
    if (ts->tv_nsec >= 1000000000) ts->tv_sec++, ts->tv_nsec -= 1000000000;
}

/* The leader's part: wait for company, close the batch, run it. */
static void lead(batcher *b)
{
    struct timespec until;
    deadline_after(&until, b->wait_ns);
    while (b->nopen < b->max)
        if (pthread_cond_timedwait(&b->full, &b->mu, &until) != 0) break;
    request *reqs[INFER_BATCH_MAX];
    int n = (int)b->nopen;
    int64_t shape[INFER_MAX_DIMS];
    int ndims = b->ndims;
    memcpy(reqs, b->open, sizeof(request *) * (size_t)n);
    memcpy(shape, b->shape, sizeof shape);
    b->nopen = 0;
    pthread_cond_broadcast(&b->room);
    pthread_mutex_unlock(&b->mu);
    run_batch(b, reqs, n, shape, ndims);
    pthread_mutex_lock(&b->mu);
    for (int i = 0; i < n; i++)
        reqs[i]->done = true;
    pthread_cond_broadcast(&b->done);
}

kerr_code batcher_submit(batcher *b, const float *input, const int64_t *shape, int ndims,
                         infer_output *out, kerr *err)
{
    memset(out, 0, sizeof *out);
    if (ndims > INFER_MAX_DIMS) return b->r.run(b->r.model, input, shape, ndims, out, err);
    pthread_mutex_lock(&b->mu);
    /* A full batch whose leader has not woken yet: this image opens the next. */
    while (b->nopen >= b->max)
        pthread_cond_wait(&b->room, &b->mu);
    if (b->nopen > 0 &&
        (b->ndims != ndims || memcmp(b->shape, shape, sizeof(int64_t) * (size_t)ndims) != 0)) {
        pthread_mutex_unlock(&b->mu);
        return b->r.run(b->r.model, input, shape, ndims, out, err);
    }
    request r = {.input = input, .out = out};
    if (b->nopen == 0) {
        memcpy(b->shape, shape, sizeof(int64_t) * (size_t)ndims);
        b->ndims = ndims;
    }
    b->open[b->nopen++] = &r;
    if (b->nopen == 1)
        lead(b);
    else if (b->nopen == b->max)
        pthread_cond_signal(&b->full);
    while (!r.done)
        pthread_cond_wait(&b->done, &b->mu);
    pthread_mutex_unlock(&b->mu);
    if (r.rc && err) *err = r.err;
    return r.rc;
}
