#include <dlfcn.h>
#include <onnxruntime_c_api.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "infer.h"

struct model {
    model_info info;
    infer_opts opts; /* opts.device is owned */
    OrtSession *session;
    batcher *batch; /* NULL: every run alone */
    int refs;
    model *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static const OrtApi *g_api;
static OrtEnv *g_env;
static model *g_models;

/* Turns an OrtStatus into our error and frees it. */
static kerr_code ort_fail(OrtStatus *st, kerr *err, const char *what, const char *path)
{
    const char *m = g_api->GetErrorMessage(st);
    kerr_set(err, KERR_INVALID, "%s%s%s: %s", what, path ? " " : "", path ? path : "", m);
    g_api->ReleaseStatus(st);
    return KERR_INVALID;
}

/* For calls whose failure leaves a safe default (thread counts, optional info). */
static bool ort_ok(OrtStatus *st)
{
    if (!st) return true;
    g_api->ReleaseStatus(st);
    return false;
}

/* ONNX Runtime's own messages join our JSON log instead of raw stderr. */
static void ort_log(void *param, OrtLoggingLevel severity, const char *category, const char *logid,
                    const char *code_location, const char *message)
{
    (void)param, (void)logid, (void)code_location;
    log_level lvl = severity >= ORT_LOGGING_LEVEL_ERROR     ? LOG_ERROR
                    : severity == ORT_LOGGING_LEVEL_WARNING ? LOG_WARN
                                                            : LOG_DEBUG;
    log_kv(lvl, LOG_CTX("component", "onnxruntime", "category", category), "%s", message);
}

static kerr_code ensure_env(kerr *err)
{
    if (g_env) return KERR_OK;
    g_api = OrtGetApiBase()->GetApi(ORT_API_VERSION);
    if (!g_api)
        return kerr_set(err, KERR_UNSUPPORTED, "ONNX Runtime %s does not provide API version %d",
                        OrtGetApiBase()->GetVersionString(), ORT_API_VERSION);
    OrtStatus *st = g_api->CreateEnvWithCustomLogger(ort_log, NULL, ORT_LOGGING_LEVEL_ERROR,
                                                     "kvs-infer", &g_env);
    if (st) return ort_fail(st, err, "cannot create the ONNX Runtime environment", NULL);
    return KERR_OK;
}

const char *infer_runtime_version(void)
{
    return OrtGetApiBase()->GetVersionString();
}

static bool has_cuda(char *available, size_t len)
{
    char **names = NULL;
    int n = 0;
    bool found = false;
    available[0] = '\0';
    OrtStatus *st = g_api->GetAvailableProviders(&names, &n);
    if (st) {
        g_api->ReleaseStatus(st);
        return false;
    }
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], "CUDAExecutionProvider") == 0) found = true;
        int w = snprintf(available + used, len - used, "%s%s", i ? ", " : "", names[i]);
        if (w > 0 && (size_t)w < len - used) used += (size_t)w;
    }
    ort_ok(g_api->ReleaseAvailableProviders(names, n));
    return found;
}

static int cuda_index(const char *device)
{
    if (strcmp(device, "cuda") == 0) return 0;
    if (strncmp(device, "cuda:", 5) == 0) return atoi(device + 5);
    return -1;
}

static OrtStatus *append_cuda(OrtSessionOptions *so, int device_id)
{
    OrtCUDAProviderOptions opts;
    memset(&opts, 0, sizeof opts);
    opts.device_id = device_id;
    opts.gpu_mem_limit = SIZE_MAX;
    opts.do_copy_in_default_stream = 1;
    return g_api->SessionOptionsAppendExecutionProvider_CUDA(so, &opts);
}

/* The CUDA provider library beside the loaded libonnxruntime, as official
 * builds and the GPU packages place it; false when there is none. */
static bool provider_path(char *path, size_t len)
{
    Dl_info info;
    if (!dladdr((void *)OrtGetApiBase, &info) || !info.dli_fname) return false;
    snprintf(path, len, "%s", info.dli_fname);
    char *slash = strrchr(path, '/');
    if (!slash) return false;
    snprintf(slash + 1, len - (size_t)(slash + 1 - path), "libonnxruntime_providers_cuda.so");
    return access(path, R_OK) == 0;
}

/* What a failure to enable the CUDA provider means, for the person who has to
 * fix it: ONNX Runtime's status only says "Failed to load shared library".
 * Loading the provider ourselves names the library that is missing. */
static const char *cuda_fix(bool listed, char *detail, size_t len)
{
    char path[4096];
    detail[0] = '\0';
    if (!listed || !provider_path(path, sizeof path))
        return "this ONNX Runtime has no CUDA provider library: use the CUDA image (docker build "
               "--target cuda), KVS_ORT=gpu scripts/setup.sh, or ORT_ROOT=<an "
               "onnxruntime-linux-x64-gpu release>; or set device: cpu";
    bool driver;
    void *h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
    const char *why = h ? NULL : dlerror();
    if (why) {
        snprintf(detail, len, "%s", why);
        driver = strstr(why, "libcuda.so") != NULL;
    } else {
        dlclose(h);
        void *drv = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
        driver = drv == NULL;
        if (drv) dlclose(drv);
    }
    if (driver)
        return "no NVIDIA driver/GPU was found (libcuda.so.1, the driver's library, is not "
               "there): run on a machine with an NVIDIA GPU and its driver (docker run --gpus "
               "all), or set device: cpu";
    if (why)
        return "the CUDA provider cannot load a library it needs (CUDA 13 runtime and cuDNN 9 "
               "on the library path; the CUDA image has them); or set device: cpu";
    return "ONNX Runtime could not start CUDA on this GPU (see its message); or set device: cpu";
}

/* Listing a provider only means the build knows it: official builds list CUDA
 * and load it from a separate library at run time. Enabling it on a throwaway
 * session options object is the real test. */
static kerr_code probe_cuda(const char *device, kerr *err)
{
    char avail[256];
    bool listed = has_cuda(avail, sizeof avail);
    OrtSessionOptions *so = NULL;
    OrtStatus *st = g_api->CreateSessionOptions(&so);
    if (!st && listed) st = append_cuda(so, cuda_index(device));
    kerr_code rc = KERR_OK;
    if (st || !listed) {
        const char *msg = st ? g_api->GetErrorMessage(st) : "not built in";
        char detail[512];
        const char *fix = cuda_fix(listed, detail, sizeof detail);
        rc = kerr_set(
            err, KERR_UNSUPPORTED, "device %s: %s (ONNX Runtime %s, providers: %s: %s%s%s)", device,
            fix, OrtGetApiBase()->GetVersionString(), avail, msg, detail[0] ? "; " : "", detail);
        if (st) g_api->ReleaseStatus(st);
    }
    if (so) g_api->ReleaseSessionOptions(so);
    return rc;
}

kerr_code infer_check_device(const char *device, kerr *err)
{
    pthread_mutex_lock(&g_lock);
    kerr_code rc = ensure_env(err);
    if (rc == KERR_OK && cuda_index(device) >= 0)
        rc = probe_cuda(device, err);
    else if (rc == KERR_OK && strcmp(device, "cpu") != 0)
        rc = kerr_set(err, KERR_INVALID, "unknown device \"%s\" (cpu or cuda:N)", device);
    pthread_mutex_unlock(&g_lock);
    return rc;
}

static kerr_code read_tensor_info(OrtTypeInfo *ti, tensor_info *out, kerr *err, const char *path)
{
    const OrtTensorTypeAndShapeInfo *tsi = NULL;
    OrtStatus *st = g_api->CastTypeInfoToTensorInfo(ti, &tsi);
    if (st || !tsi) {
        if (st) g_api->ReleaseStatus(st);
        return kerr_set(err, KERR_INVALID, "%s: tensor %s is not a tensor", path, out->name);
    }
    enum ONNXTensorElementDataType et;
    size_t nd = 0;
    ort_ok(g_api->GetTensorElementType(tsi, &et));
    ort_ok(g_api->GetDimensionsCount(tsi, &nd));
    if (nd > INFER_MAX_DIMS) return kerr_set(err, KERR_INVALID, "%s: too many dims", path);
    out->elem_type = (int)et;
    out->ndims = (int)nd;
    ort_ok(g_api->GetDimensions(tsi, out->dims, nd));
    return KERR_OK;
}

/* One custom metadata value, malloc'd; NULL when absent. */
static char *meta_value(OrtModelMetadata *meta, OrtAllocator *alloc, const char *key)
{
    char *v = NULL, *copy = NULL;
    OrtStatus *st = g_api->ModelMetadataLookupCustomMetadataMap(meta, alloc, key, &v);
    if (st)
        g_api->ReleaseStatus(st);
    else if (v) {
        copy = kstrdup(v);
        alloc->Free(alloc, v);
    }
    return copy;
}

static kerr_code read_io(model *m, OrtAllocator *alloc, kerr *err)
{
    size_t nin = 0, nout = 0;
    ort_ok(g_api->SessionGetInputCount(m->session, &nin));
    ort_ok(g_api->SessionGetOutputCount(m->session, &nout));
    if (nin != 1)
        return kerr_set(err, KERR_INVALID, "%s: expected one input tensor, the model has %zu",
                        m->info.path, nin);
    if (nout < 1 || nout > INFER_MAX_OUTPUTS)
        return kerr_set(err, KERR_INVALID, "%s: unsupported output count %zu", m->info.path, nout);
    for (size_t i = 0; i < 1 + nout; i++) {
        bool is_in = i == 0;
        size_t idx = is_in ? 0 : i - 1;
        tensor_info *t = is_in ? &m->info.input : &m->info.outputs[idx];
        char *name = NULL;
        OrtTypeInfo *ti = NULL;
        OrtStatus *st = is_in ? g_api->SessionGetInputName(m->session, idx, alloc, &name)
                              : g_api->SessionGetOutputName(m->session, idx, alloc, &name);
        if (st) return ort_fail(st, err, "cannot read tensor names of", m->info.path);
        snprintf(t->name, sizeof t->name, "%s", name);
        alloc->Free(alloc, name);
        st = is_in ? g_api->SessionGetInputTypeInfo(m->session, idx, &ti)
                   : g_api->SessionGetOutputTypeInfo(m->session, idx, &ti);
        if (st) return ort_fail(st, err, "cannot read tensor types of", m->info.path);
        kerr_code rc = read_tensor_info(ti, t, err, m->info.path);
        g_api->ReleaseTypeInfo(ti);
        if (rc) return rc;
    }
    m->info.noutputs = (int)nout;
    OrtModelMetadata *meta = NULL;
    if (!g_api->SessionGetModelMetadata(m->session, &meta) && meta) {
        m->info.meta_names = meta_value(meta, alloc, "names");
        m->info.meta_end2end = meta_value(meta, alloc, "end2end");
        m->info.meta_args = meta_value(meta, alloc, "args");
        m->info.meta_task = meta_value(meta, alloc, "task");
        g_api->ReleaseModelMetadata(meta);
    }
    return KERR_OK;
}

void infer_opts_init(infer_opts *o, const char *device, int intra_threads)
{
    /* Measured with kvs-bench-infer (docs/benchmarks.md "Inference settings"). */
    *o = (infer_opts){.device = device,
                      .intra_threads = intra_threads,
                      .spinning = false,
                      .opt_level = 99,
                      .arena = true,
                      .batch_max = 1,
                      .batch_wait_us = 2000};
}

static bool same_opts(const infer_opts *a, const infer_opts *b)
{
    return strcmp(a->device, b->device) == 0 && a->intra_threads == b->intra_threads &&
           a->spinning == b->spinning && a->opt_level == b->opt_level && a->arena == b->arena &&
           a->batch_max == b->batch_max && a->batch_wait_us == b->batch_wait_us;
}

static GraphOptimizationLevel opt_level(int level)
{
    return level <= 0   ? ORT_DISABLE_ALL
           : level == 1 ? ORT_ENABLE_BASIC
           : level == 2 ? ORT_ENABLE_EXTENDED
                        : ORT_ENABLE_ALL;
}

static kerr_code create_session(model *m, kerr *err)
{
    const infer_opts *o = &m->opts;
    OrtSessionOptions *so = NULL;
    OrtStatus *st = g_api->CreateSessionOptions(&so);
    if (st) return ort_fail(st, err, "cannot create session options for", m->info.path);
    if (o->intra_threads > 0) ort_ok(g_api->SetIntraOpNumThreads(so, o->intra_threads));
    ort_ok(g_api->SetInterOpNumThreads(so, 1));
    ort_ok(g_api->SetSessionExecutionMode(so, ORT_SEQUENTIAL));
    ort_ok(g_api->SetSessionGraphOptimizationLevel(so, opt_level(o->opt_level)));
    /* Several workers share few cores: a spinning pool burns the core another
     * worker's run (or a decoder) needs. */
    ort_ok(g_api->AddSessionConfigEntry(so, "session.intra_op.allow_spinning",
                                        o->spinning ? "1" : "0"));
    if (!o->arena) ort_ok(g_api->DisableCpuMemArena(so));
    int cuda = cuda_index(o->device);
    if (cuda >= 0) {
        st = append_cuda(so, cuda);
        if (st) {
            g_api->ReleaseSessionOptions(so);
            return ort_fail(st, err, "cannot enable CUDA for", m->info.path);
        }
    }
    st = g_api->CreateSession(g_env, m->info.path, so, &m->session);
    g_api->ReleaseSessionOptions(so);
    if (st) return ort_fail(st, err, "cannot load the model", m->info.path);
    OrtAllocator *alloc = NULL;
    ort_ok(g_api->GetAllocatorWithDefaultOptions(&alloc));
    return read_io(m, alloc, err);
}

static void free_model(model *m)
{
    batcher_free(m->batch);
    if (m->session) g_api->ReleaseSession(m->session);
    free(m->info.path);
    free(m->info.meta_names);
    free(m->info.meta_end2end);
    free(m->info.meta_args);
    free(m->info.meta_task);
    free((char *)m->opts.device);
    free(m);
}

static kerr_code run_alone(void *m, const float *input, const int64_t *shape, int ndims,
                           infer_output *out, kerr *err)
{
    return model_run(m, input, shape, ndims, out, err);
}

/* A model batches when its input's first dimension is dynamic, the others
 * are fixed (images of one size), and a batch gives each image what it would
 * get alone. */
static kerr_code start_batching(model *m, kerr *err)
{
    const tensor_info *in = &m->info.input;
    if (m->opts.batch_max <= 1 || in->ndims < 2 || in->dims[0] > 0) return KERR_OK;
    const char *base = strrchr(m->info.path, '/');
    for (int i = 1; i < in->ndims; i++)
        if (in->dims[i] <= 0) {
            log_kv(LOG_INFO, LOG_CTX("model", base ? base + 1 : m->info.path),
                   "batching off for this model: its input size is not fixed");
            return KERR_OK;
        }
    bool same;
    char why[320];
    batch_runner r = {.run = run_alone, .release = infer_output_release, .model = m};
    kerr_code rc = batch_consistent(&r, in, &same, why, sizeof why, err);
    if (rc) return rc;
    if (!same) {
        log_kv(LOG_WARN, LOG_CTX("model", base ? base + 1 : m->info.path),
               "batching off for this model: %s; each image runs alone", why);
        return KERR_OK;
    }
    m->batch =
        batcher_new(m->opts.batch_max, m->opts.batch_wait_us, base ? base + 1 : m->info.path, &r);
    return m->batch ? KERR_OK : kerr_set(err, KERR_NOMEM, "out of memory");
}

model *model_open(const char *path, const infer_opts *o, kerr *err)
{
    if (infer_check_device(o->device, err) != KERR_OK) return NULL;
    pthread_mutex_lock(&g_lock);
    for (model *m = g_models; m; m = m->next)
        if (strcmp(m->info.path, path) == 0 && same_opts(&m->opts, o)) {
            m->refs++;
            pthread_mutex_unlock(&g_lock);
            return m;
        }
    model *m = calloc(1, sizeof *m);
    if (!m) {
        pthread_mutex_unlock(&g_lock);
        kerr_set(err, KERR_NOMEM, "out of memory");
        return NULL;
    }
    m->info.path = kstrdup(path);
    m->opts = *o;
    m->opts.device = kstrdup(o->device);
    if (m->opts.batch_max > INFER_BATCH_MAX) m->opts.batch_max = INFER_BATCH_MAX;
    m->refs = 1;
    if (file_sha256(path, m->info.sha256, err) != KERR_OK || create_session(m, err) != KERR_OK ||
        start_batching(m, err) != KERR_OK) {
        free_model(m);
        pthread_mutex_unlock(&g_lock);
        return NULL;
    }
    m->next = g_models;
    g_models = m;
    pthread_mutex_unlock(&g_lock);
    return m;
}

void model_release(model *m)
{
    if (!m) return;
    pthread_mutex_lock(&g_lock);
    if (--m->refs == 0) {
        for (model **pp = &g_models; *pp; pp = &(*pp)->next)
            if (*pp == m) {
                *pp = m->next;
                break;
            }
        free_model(m);
    }
    pthread_mutex_unlock(&g_lock);
}

const model_info *model_get_info(const model *m)
{
    return &m->info;
}

kerr_code model_run(model *m, const float *input, const int64_t *shape, int ndims,
                    infer_output *out, kerr *err)
{
    memset(out, 0, sizeof *out);
    const tensor_info *in = &m->info.input;
    if (in->elem_type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT)
        return kerr_set(err, KERR_INVALID, "%s: input %s must be float32 (element type %d)",
                        m->info.path, in->name, in->elem_type);
    if (ndims != in->ndims)
        return kerr_set(err, KERR_INVALID, "%s: input %s has %d dims, we feed %d", m->info.path,
                        in->name, in->ndims, ndims);
    size_t count = 1;
    for (int i = 0; i < ndims; i++) {
        if (in->dims[i] > 0 && in->dims[i] != shape[i])
            return kerr_set(err, KERR_INVALID, "%s: input %s dim %d is %lld, we feed %lld",
                            m->info.path, in->name, i, (long long)in->dims[i], (long long)shape[i]);
        count *= (size_t)shape[i];
    }
    OrtMemoryInfo *mi = NULL;
    OrtStatus *st = g_api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &mi);
    if (st) return ort_fail(st, err, "memory info", NULL);
    OrtValue *tin = NULL, *tout = NULL;
    st = g_api->CreateTensorWithDataAsOrtValue(mi, (void *)input, count * sizeof(float), shape,
                                               (size_t)ndims, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
                                               &tin);
    g_api->ReleaseMemoryInfo(mi);
    if (st) return ort_fail(st, err, "cannot wrap the input for", m->info.path);
    const char *in_names[] = {in->name};
    const char *out_names[] = {m->info.outputs[0].name};
    st = g_api->Run(m->session, NULL, in_names, (const OrtValue *const *)&tin, 1, out_names, 1,
                    &tout);
    g_api->ReleaseValue(tin);
    if (st) return ort_fail(st, err, "inference failed for", m->info.path);
    OrtTensorTypeAndShapeInfo *tsi = NULL;
    st = g_api->GetTensorTypeAndShape(tout, &tsi);
    if (st) {
        g_api->ReleaseValue(tout);
        return ort_fail(st, err, "output shape of", m->info.path);
    }
    enum ONNXTensorElementDataType et;
    size_t nd = 0, cnt = 0;
    ort_ok(g_api->GetTensorElementType(tsi, &et));
    ort_ok(g_api->GetDimensionsCount(tsi, &nd));
    ort_ok(g_api->GetTensorShapeElementCount(tsi, &cnt));
    if (nd <= INFER_MAX_DIMS) ort_ok(g_api->GetDimensions(tsi, out->dims, nd));
    g_api->ReleaseTensorTypeAndShapeInfo(tsi);
    if (et != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || nd > INFER_MAX_DIMS) {
        g_api->ReleaseValue(tout);
        return kerr_set(err, KERR_INVALID, "%s: output %s must be a float32 tensor", m->info.path,
                        out_names[0]);
    }
    void *data = NULL;
    ort_ok(g_api->GetTensorMutableData(tout, &data));
    out->data = data;
    out->ndims = (int)nd;
    out->count = cnt;
    out->batch = ndims > 0 ? (int)shape[0] : 1;
    out->handle = tout;
    return KERR_OK;
}

bool model_batches(const model *m)
{
    return m->batch != NULL;
}

kerr_code model_run_batched(model *m, const float *input, const int64_t *shape, int ndims,
                            infer_output *out, kerr *err)
{
    if (!m->batch || ndims < 1 || shape[0] != 1) return model_run(m, input, shape, ndims, out, err);
    return batcher_submit(m->batch, input, shape, ndims, out, err);
}

void infer_output_release(infer_output *out)
{
    if (!out) return;
    if (out->handle) g_api->ReleaseValue((OrtValue *)out->handle);
    free(out->owned);
    out->handle = NULL;
    out->owned = NULL;
}

void infer_shutdown(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_env && !g_models) {
        g_api->ReleaseEnv(g_env);
        g_env = NULL;
    }
    pthread_mutex_unlock(&g_lock);
}
