#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../aws/aws.h"
#include "../cluster/cluster.h"
#include "../decode/decode.h"
#include "../infer/infer.h"
#include "../metrics/metrics.h"
#include "app.h"

/* Watches a drain (stop_guard) until it ends; app_run may run again in the
 * same process (kvs-bench), so the guard ends with the drain it watched. */
typedef struct {
    int64_t limit_ms;
    atomic_bool done;
    pthread_t thread;
    bool started;
} drain_guard;

/* The running service. Its locks are its parts' own, each held only for a
 * copy or a count: the camera list's (camera_list.c), the configs' counts
 * (config_keeper.c), the hub as lent to the API (api_deps.hub_mu), the
 * cluster and the hub as the probes see them (probe_mu) and a
 * camera's own (its view, its checkpoint), which are the only ones taken
 * under another (the camera list's). Only the main thread swaps the config
 * (reload) and, outside cluster mode, adds and removes cameras. */
struct app {
    config_keeper configs; /* the current one (a reload swaps it), the hub's, each camera's */
    camera_list cams;
    api_deps api; /* what the page's API reads, lent to api_route */
    sched *sched;
    publish_hub *hub;
    metrics_server *http;
    detector_ctx dctx;
    int workers;
    int64_t started_ns;
    drain_guard guard;
    cluster *cluster;    /* NULL: this process runs every camera */
    char worker_id[160]; /* "" without a cluster */
    const aws_shared *aws;
    pthread_mutex_t probe_mu; /* a->cluster and a->hub as /readyz reads them (main writes) */
    config_source src;        /* where the config comes from (a file, S3) */
    int poll_s;               /* how often src is asked for a new version; 0: never */
    char version[65];         /* the running config's SHA-256 */
};
typedef struct app app;

/* The current config, on the main thread: the only one that swaps it, so it
 * reads it without taking a reference. */
static config *current(app *a)
{
    return a->configs.current;
}

static bool cameras_ready(app *a, char *why, size_t len)
{
    bool ok = true;
    int n;
    camera **cams = camera_list_lock(&a->cams, &n);
    for (int i = 0; i < n && ok; i++) {
        int s = atomic_load(&cams[i]->state);
        if (s != CAM_RUNNING && s != CAM_ENDED) {
            snprintf(why, len, "camera %s is %s", cams[i]->cfg->name, cam_state_name(s));
            ok = false;
        } else if (cams[i]->dets_failed) {
            snprintf(why, len, "camera %s runs without %d of its detectors (see the log)",
                     cams[i]->cfg->name, cams[i]->dets_failed);
            ok = false;
        }
    }
    camera_list_unlock(&a->cams);
    return ok;
}

/* /readyz, on the listener's threads: the cluster and the hub under
 * probe_mu, as the drain takes them away while probes still come. */
static bool ready(void *user, char *why, size_t len)
{
    app *a = user;
    pthread_mutex_lock(&a->probe_mu);
    bool ok = !a->cluster || cluster_ready(a->cluster, why, len);
    pthread_mutex_unlock(&a->probe_mu);
    if (!ok || !cameras_ready(a, why, len)) return false;
    pthread_mutex_lock(&a->probe_mu);
    ok = a->hub ? publish_hub_healthy(a->hub, why, len) : (snprintf(why, len, "draining"), false);
    pthread_mutex_unlock(&a->probe_mu);
    return ok;
}

/* On the main thread: what the probes see of the cluster and the hub. */
static void set_probed(app *a, cluster *cl, publish_hub *hub)
{
    pthread_mutex_lock(&a->probe_mu);
    a->cluster = cl;
    a->hub = hub;
    pthread_mutex_unlock(&a->probe_mu);
}

static void free_camera(app *a, camera *c)
{
    const config *global = c->global;
    camera_free(c);
    config_keeper_release(&a->configs, global);
}

/* Starts camera cc of cfg, which stays held while the camera lives. */
static void add_camera(app *a, config *cfg, const cfg_camera *cc, int64_t resume_ms)
{
    kerr err = {0};
    if (!config_keeper_hold(&a->configs, cfg)) {
        log_kv(LOG_ERROR, LOG_CTX("camera_name", cc->name), "cannot start: out of memory");
        return;
    }
    /* models_dir from the config the camera starts with (held above): a
     * reload frees the one before, and the coordinator starts cameras on
     * its own thread while the main one reloads */
    detector_ctx dctx = {
        .config_file = a->dctx.config_file, .models_dir = cfg->models_dir, .infer = a->dctx.infer};
    camera_deps deps = {.global = cfg,
                        .cfg = cc,
                        .sched = a->sched,
                        .hub = a->hub,
                        .dctx = &dctx,
                        .worker_id = a->worker_id,
                        .resume_ms = resume_ms};
    camera *c = camera_start(&deps, &err);
    if (!c) {
        log_kv(LOG_ERROR, LOG_CTX("camera_name", cc->name), "cannot start: %s", err.msg);
        config_keeper_release(&a->configs, cfg);
        return;
    }
    if (camera_list_add(&a->cams, c)) return;
    camera_request_stop(c);
    camera_join(c);
    free_camera(a, c);
}

/* A camera survives a reload only if its settings are byte-for-byte the same. */
static bool changed_or_removed(const config *next, const camera *c)
{
    for (int i = 0; i < next->ncam; i++) {
        const cfg_camera *n = &next->cams[i];
        if (strcmp(n->name, c->cfg->name) == 0) return strcmp(n->fingerprint, c->cfg->fingerprint);
    }
    return true;
}

/* The first camera the next config changes or removes, or NULL. */
static camera *first_to_stop(app *a, const config *next)
{
    int n;
    camera **cams = camera_list_lock(&a->cams, &n);
    camera *c = NULL;
    for (int i = 0; i < n && !c; i++)
        if (changed_or_removed(next, cams[i])) c = cams[i];
    camera_list_unlock(&a->cams);
    return c;
}

/* Stops and frees the cameras the next config changes or removes: all asked
 * first, so that they wind down together. */
static void stop_cameras(app *a, const config *next)
{
    int n;
    camera **cams = camera_list_lock(&a->cams, &n);
    for (int i = 0; i < n; i++)
        if (changed_or_removed(next, cams[i])) camera_request_stop(cams[i]);
    camera_list_unlock(&a->cams);
    for (camera *c; (c = first_to_stop(a, next));) {
        camera_join(c);
        camera_list_remove(&a->cams, c);
        free_camera(a, c);
    }
}

static bool is_running(app *a, const char *name)
{
    int n;
    camera **cams = camera_list_lock(&a->cams, &n);
    bool running = camera_list_find(cams, n, name, NULL) != NULL;
    camera_list_unlock(&a->cams);
    return running;
}

static bool all_ended(app *a)
{
    int n;
    camera **cams = camera_list_lock(&a->cams, &n);
    bool all = n > 0;
    for (int i = 0; i < n; i++) {
        int s = atomic_load(&cams[i]->state);
        if (s != CAM_ENDED && s != CAM_FAILED) all = false;
    }
    camera_list_unlock(&a->cams);
    return all;
}

/* The cluster's view of cfg: its cameras and their settings, and its version. */
static bool cluster_view(const config *cfg, const char *version, cluster_conf *cc)
{
    const char **names = calloc((size_t)cfg->ncam + 1, sizeof *names);
    const char **prints = calloc((size_t)cfg->ncam + 1, sizeof *prints);
    if (!names || !prints) {
        free(names), free(prints);
        return false;
    }
    for (int i = 0; i < cfg->ncam; i++)
        names[i] = cfg->cams[i].name, prints[i] = cfg->cams[i].fingerprint;
    *cc = (cluster_conf){.table = cfg->lease_table,
                         .region = cfg->aws_region,
                         .endpoint = cfg->endpoint[CFG_EP_DYNAMODB],
                         .lease_ms = cfg->lease_seconds * 1000,
                         .max_cameras = cfg->max_cameras,
                         .cameras = names,
                         .fingerprints = prints,
                         .ncam = cfg->ncam,
                         .version = version};
    return true;
}

static void free_cluster_view(cluster_conf *cc)
{
    free((void *)cc->cameras), free((void *)cc->fingerprints);
}

static void refuse(app *a, const char *version, int nerr, const char *why)
{
    log_error("reload: the new config has %d error(s) (version %.12s from %s, first: %s); "
              "keeping the running one (version %.12s)",
              nerr, version, a->src.where, why, a->version);
    metric_add(M_CONFIG_RELOADS, "result=\"refused\"", 1);
    if (a->cluster) cluster_refused(a->cluster, version, why);
}

/* In cluster mode the coordinator moves the cameras (cluster_update): it
 * restarts the changed ones it holds, releases the removed ones and takes
 * new ones as leases allow. Settings of the cluster itself need a restart.
 * False (nothing changed) when out of memory before the swap. */
static bool apply_to_cluster(app *a, config *next, const char *version)
{
    const config *cur = current(a);
    if (strcmp(next->lease_table ? next->lease_table : "", cur->lease_table) != 0 ||
        next->lease_seconds != cur->lease_seconds || next->max_cameras != cur->max_cameras)
        log_warn("reload: cluster settings (lease_table, lease_seconds, max_cameras) take effect "
                 "after a restart");
    cluster_conf cc;
    kerr err = {0};
    if (!cluster_view(next, version, &cc)) return false;
    config_keeper_swap(&a->configs, next); /* the coordinator starts cameras from it */
    if (cluster_update(a->cluster, &cc, &err) != KERR_OK) /* swapped: no way back */
        log_error("reload: %s: the cluster keeps its camera list until the next version", err.msg);
    free_cluster_view(&cc);
    return true;
}

/* Validates the text as a start would (config errors, detectors that cannot
 * load) and applies it, or refuses it and keeps the running config. */
static void reload(app *a, const char *text)
{
    int nerr = 0;
    char why[512] = "";
    const char *version = config_source_version(&a->src);
    config *next = app_load_config(a->src.where, text, false, &nerr, why, sizeof why);
    /* Its detectors open before anything stops, with this run's inference
     * options: a model that cannot load refuses the reload as --validate
     * would, and the running detectors stay. */
    detector_ctx ctx = a->dctx;
    detector_set held = {0};
    if (next) {
        ctx.models_dir = next->models_dir;
        nerr = app_open_detectors(next, &ctx, &held);
        if (nerr) snprintf(why, sizeof why, "%d detector(s) cannot be loaded (see the log)", nerr);
    }
    if (next && !nerr && a->cluster && !next->lease_table) {
        snprintf(why, sizeof why, "cluster.lease_table removed: leaving a cluster needs a restart");
        nerr = 1;
    }
    if (!next || nerr || !config_keeper_hold(&a->configs, next)) {
        refuse(a, version, nerr, why[0] ? why : "out of memory");
        app_close_detectors(&held);
        config_free(next);
        return;
    }
    const config *cur = current(a);
    if (strcmp(next->device, cur->device) != 0 || next->workers != cur->workers ||
        next->batch_max != cur->batch_max || next->batch_wait_ms != cur->batch_wait_ms)
        log_warn("reload: device, workers and batch changes take effect after a restart");
    int started = 0;
    if (a->cluster) {
        if (!apply_to_cluster(a, next, version)) {
            refuse(a, version, 1, "out of memory");
            config_keeper_release(&a->configs, next);
            app_close_detectors(&held);
            return;
        }
    } else {
        stop_cameras(a, next);
        config_keeper_swap(&a->configs, next); /* the API's readers keep the old one till done */
        for (int i = 0; i < next->ncam; i++)
            if (!is_running(a, next->cams[i].name))
                add_camera(a, next, &next->cams[i], 0), started++;
    }
    app_close_detectors(&held); /* the cameras hold their own now */
    snprintf(a->version, sizeof a->version, "%s", version);
    metric_add(M_CONFIG_RELOADS, "result=\"applied\"", 1);
    if (a->cluster)
        log_info("reload: config version %.12s applied: %d camera(s) listed; the coordinator "
                 "moves them",
                 version, next->ncam);
    else
        log_info("reload: %d camera(s) running, %d (re)started (config version %.12s)", a->cams.n,
                 started, version);
}

/* Asks the config's source for a new version (force: SIGHUP, reload even
 * an unchanged one) and reloads it. */
static void poll_config(app *a, bool force)
{
    char *text = NULL;
    kerr err = {0};
    if (config_source_fetch(&a->src, force, &text, &err) != KERR_OK) {
        log_warn("reload: cannot read the config from %s: %s; keeping version %.12s", a->src.where,
                 err.msg, a->version);
        metric_add(M_CONFIG_RELOADS, "result=\"unreadable\"", 1);
        return;
    }
    if (!text) return; /* unchanged */
    log_info("config: version %.12s from %s", config_source_version(&a->src), a->src.where);
    reload(a, text);
    free(text);
}

static void summary(app *a, const char *where)
{
    camera **cams = a->cams.v; /* the main thread's, every other one stopped */
    int n = a->cams.n;
    double secs = (double)(clock_mono_ns() - a->started_ns) / 1e9;
    long long dec = 0, ana = 0, drop = 0, ev = 0, err = 0;
    for (int i = 0; i < n; i++) {
        dec += cams[i]->decoded, ana += cams[i]->analysed, drop += cams[i]->dropped;
        ev += cams[i]->events, err += cams[i]->errors;
    }
    fprintf(stderr,
            "\nkvs-infer summary: %d camera(s), %lld frames decoded, %lld analysed (%.1f/s), "
            "%lld dropped as stale, %lld events, %lld stream errors, %.1f s\n",
            n, dec, ana, secs > 0 ? (double)ana / secs : 0, drop, ev, err, secs);
    for (int i = 0; i < n; i++) {
        camera *c = cams[i];
        fprintf(stderr,
                "  %-16s %-9s decoded %lld, analysed %lld, dropped %lld, detections %lld, "
                "events %lld\n",
                c->cfg->name, cam_state_name(atomic_load(&c->state)), (long long)c->decoded,
                (long long)c->analysed, (long long)c->dropped, (long long)c->detections,
                (long long)c->events);
    }
    double runs = metric_sum(M_INFER_RUNS), images = metric_sum(M_INFER_IMAGES);
    if (runs > 0)
        fprintf(stderr, "  batches: %.0f images in %.0f runs (mean batch %.2f)\n", images, runs,
                images / runs);
    fprintf(stderr, "  output: %s\n", *where ? where : "(none)");
}

/* How long a drain may take: after a signal, Docker's and Kubernetes' stop
 * timeouts are 10 s and 30 s and the promise (docs/publishing.md, stopping) is 4 s from the signal
 * to the exit, in every state: 2.5 s to deliver, then the joins, the hub's
 * close and the frees (0.1-0.5 s, more on a loaded machine), with the hard
 * exit at 3.5 s. After every source ended on its own there is more time to
 * deliver what is left. */
enum { DRAIN_SIGNAL_MS = 2500, DRAIN_ENDED_MS = 10000, DRAIN_HARD_MARGIN_MS = 1000 };
/* Every source ended: the frames read are analysed first, for as long as
 * that makes progress; this long without a frame analysed is a stall. */
enum { ANALYSIS_STALL_MS = 30000 };

/* Runs from the start of the drain: a second SIGINT/SIGTERM ends the process
 * at once, and so does a drain that overruns its limit by the margin (a bug,
 * logged as one). Either way what was not delivered stays in the spool, which
 * is written before an event counts as produced. */
static void *stop_guard(void *arg)
{
    drain_guard *g = arg;
    int64_t limit_ms = g->limit_ms;
    int64_t until = clock_mono_ns() + limit_ms * 1000000LL;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    for (;;) {
        if (atomic_load(&g->done)) return NULL;
        int64_t left = until - clock_mono_ns();
        if (left <= 0) {
            log_error("the drain overran %lld ms: exiting now; undelivered events stay in the "
                      "spool",
                      (long long)limit_ms);
            break;
        }
        if (left > 20000000LL) left = 20000000LL; /* looks at done 50 times a second */
        struct timespec ts = {0, left};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            log_warn("signal %d again: exiting now; undelivered events stay in the spool", sig);
            break;
        }
    }
    fflush(stdout);
    _exit(1);
}

static void start_drain(app *a, int64_t ms)
{
    publish_hub_drain_by(a->hub, clock_wall_ms() + ms);
    a->guard.limit_ms = ms + DRAIN_HARD_MARGIN_MS;
    atomic_init(&a->guard.done, false);
    a->guard.started = pthread_create(&a->guard.thread, NULL, stop_guard, &a->guard) == 0;
}

static void end_drain(app *a)
{
    if (!a->guard.started) return;
    atomic_store(&a->guard.done, true);
    pthread_join(a->guard.thread, NULL);
    a->guard.started = false;
}

/* Frames read and not yet analysed, over every camera. */
static long long pending_frames(app *a, long long *analysed)
{
    long long n = 0;
    int ncam;
    *analysed = 0;
    camera **cams = camera_list_lock(&a->cams, &ncam);
    for (int i = 0; i < ncam; i++) {
        if (cams[i]->slot) n += sched_cam_pending(cams[i]->slot);
        *analysed += atomic_load(&cams[i]->analysed);
    }
    camera_list_unlock(&a->cams);
    return n;
}

/* Every source ended by itself, but frames read may still wait for analysis
 * (222 ALPR file cameras: minutes of them). They are analysed before the
 * drain starts, as long as analysis makes progress; a signal cuts it short.
 * Returns whether a signal came. */
static bool analyse_what_was_read(app *a, sigset_t *set)
{
    long long analysed, last_analysed = -1, last_pending = -1;
    int64_t last_progress = clock_mono_ns(), next_note = last_progress + 5000000000LL;
    for (;;) {
        long long pending = pending_frames(a, &analysed);
        if (pending == 0) return false;
        int64_t now = clock_mono_ns();
        if (analysed != last_analysed || pending != last_pending) {
            if (last_pending < 0)
                log_info("every source has ended: analysing the %lld frame(s) read first", pending);
            last_analysed = analysed, last_pending = pending, last_progress = now;
        } else if (now - last_progress > ANALYSIS_STALL_MS * 1000000LL) {
            log_error("no frame analysed for %d s: %lld frame(s) left unanalysed",
                      ANALYSIS_STALL_MS / 1000, pending);
            return false;
        }
        if (now >= next_note) {
            log_info("%lld frame(s) still to analyse", pending);
            next_note = now + 5000000000LL;
        }
        struct timespec ts = {0, 50000000L};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info("signal %d: draining; %lld frame(s) read are not analysed", sig, pending);
            return true;
        }
        if (sig == SIGHUP) log_warn("SIGHUP: every source has ended, nothing to reload");
    }
}

/* An S3 config is polled always; a file only in cluster mode, where the
 * workers share it and no one sends each a SIGHUP. */
static bool polls(const app *a)
{
    return a->poll_s > 0 && (a->src.s3 || a->cluster);
}

/* Returns 0 at a signal (*signalled set) or when every source has ended. */
static int wait_for_end(app *a, sigset_t *set, bool *signalled)
{
    int64_t next_trim = clock_mono_ns();
    int64_t next_poll = clock_mono_ns() + (int64_t)a->poll_s * 1000000000LL;
    for (;;) {
        if (polls(a) && clock_mono_ns() >= next_poll) {
            poll_config(a, false);
            next_poll = clock_mono_ns() + (int64_t)a->poll_s * 1000000000LL;
        }
        if (clock_mono_ns() >= next_trim) { /* see heap_give_back */
            heap_give_back();
            next_trim = clock_mono_ns() + 5000000000LL;
        }
        struct timespec ts = {0, 200000000L};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info("signal %d: draining", sig);
            start_drain(a, DRAIN_SIGNAL_MS);
            return *signalled = true, 0;
        }
        if (sig == SIGHUP) {
            log_info("SIGHUP: reloading %s", a->src.where);
            poll_config(a, true);
        }
        if (!a->cluster && all_ended(a)) { /* a cluster worker ends on a signal only */
            if (analyse_what_was_read(a, set)) {
                start_drain(a, DRAIN_SIGNAL_MS);
                return *signalled = true, 0;
            }
            log_info("every source has ended: draining");
            start_drain(a, DRAIN_ENDED_MS);
            return 0;
        }
    }
}

/* ---- cluster hooks (called on the coordinator's thread) ---- */
static void hook_start(void *user, const char *name, int64_t resume_ms)
{
    app *a = user;
    config *cfg = config_keeper_current(&a->configs);
    for (int i = 0; i < cfg->ncam; i++) {
        if (strcmp(cfg->cams[i].name, name) != 0) continue;
        if (resume_ms > 0) {
            char at[32];
            clock_format_iso(resume_ms, at, sizeof at);
            log_kv(LOG_INFO, LOG_CTX("camera_name", name),
                   "resuming at the checkpoint of the lease: fragment starting %s", at);
        }
        add_camera(a, cfg, &cfg->cams[i], resume_ms);
        break;
    }
    config_keeper_release(&a->configs, cfg);
}

static void hook_stop(void *user, const char *name)
{
    app *a = user;
    int n;
    camera **cams = camera_list_lock(&a->cams, &n);
    camera *c = camera_list_find(cams, n, name, NULL);
    if (c) camera_request_stop(c);
    camera_list_unlock(&a->cams);
}

static bool hook_checkpoint(void *user, const char *name, char *frag, size_t len, int64_t *start)
{
    app *a = user;
    int n;
    camera **cams = camera_list_lock(&a->cams, &n);
    camera *c = camera_list_find(cams, n, name, NULL);
    bool have = c && camera_checkpoint(c, frag, len, start);
    camera_list_unlock(&a->cams);
    return have;
}

static void hook_lease_until(void *user, const char *name, int64_t until_ns)
{
    app *a = user;
    int n;
    camera **cams = camera_list_lock(&a->cams, &n);
    camera *c = camera_list_find(cams, n, name, NULL);
    if (c) atomic_store(&c->lease_until_ns, until_ns);
    camera_list_unlock(&a->cams);
}

static bool hook_wait(void *user, const char *name, char *frag, size_t len, int64_t *start)
{
    app *a = user;
    int n;
    camera **cams = camera_list_lock(&a->cams, &n);
    camera *c = camera_list_find(cams, n, name, NULL);
    camera_list_unlock(&a->cams); /* only this thread removes cameras now */
    if (!c) return false;
    camera_request_stop(c);
    camera_join(c);
    bool have = camera_checkpoint(c, frag, len, start);
    camera_list_remove(&a->cams, c);
    free_camera(a, c);
    return have;
}

/* cluster: {lease_table} set: the cameras start as this worker takes their
 * leases, not all at once. */
static bool start_cluster(app *a, kerr *err)
{
    const config *cfg = current(a);
    a->aws = aws_shared_acquire(cfg->ca_bundle, cfg->endpoint[CFG_EP_STS], cfg->aws_region, err);
    if (!a->aws) return false;
    cluster_worker_id(cfg->worker_id, a->aws->http, a->worker_id, sizeof a->worker_id);
    cluster_conf cc;
    if (!cluster_view(cfg, a->version, &cc))
        return kerr_set(err, KERR_NOMEM, "out of memory"), false;
    cc.worker_id = a->worker_id;
    cluster_hooks h = {a, hook_start, hook_stop, hook_wait, hook_checkpoint, hook_lease_until};
    cluster *cl = cluster_start(&cc, a->aws, &h, err);
    free_cluster_view(&cc);
    set_probed(a, cl, a->hub);
    return cl != NULL;
}

/* Workers, threads and batching. Without batching a worker per core, each
 * run on CPUs / workers threads. With batches of B, a run serves B workers,
 * so there are 2B workers (one batch filling while another runs) and the
 * cores are split between the runs that can happen at once. A GPU batches
 * by default; on CPU batching bought nothing measurable (docs/benchmarks.md "Inference
 * settings"), so it is off unless asked for. */
static int plan_inference(const config *cfg, infer_opts *o)
{
    int ncpu = cpu_count();
    bool gpu = strncmp(cfg->device, "cuda", 4) == 0;
    int batch = cfg->batch_max > 0 ? cfg->batch_max : gpu ? 8 : 1;
    int workers = cfg->workers;
    if (workers <= 0) {
        workers = batch > 1 ? (2 * batch > ncpu ? 2 * batch : ncpu) : ncpu;
        if (cfg->ncam < workers) workers = cfg->ncam > 0 ? cfg->ncam : 1;
    }
    int runs = workers / batch > 1 ? workers / batch : 1;
    infer_opts_init(o, cfg->device, ncpu / runs > 1 ? ncpu / runs : 1);
    o->batch_max = batch;
    if (cfg->batch_wait_ms >= 0) o->batch_wait_us = (int)(cfg->batch_wait_ms * 1000);
    return workers;
}

/* Many cameras, each with sockets, decoders and files, plus HTTP clients: the
 * usual 1,024 soft limit is a default, not a choice, so take the hard one. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) log_warn("cannot raise the open-file limit");
    }
}

/* The service's parts, in order: device, detectors, hub, workers, the
 * metrics listener (and the page). 0, or the exit code when one cannot
 * start; what did start is left for close_service. */
static int open_service(app *a, const char *path, detector_set *held)
{
    const config *cfg = current(a);
    kerr err = {0};
    if (infer_check_device(cfg->device, &err) != KERR_OK) {
        log_error("%s", err.msg);
        return 1;
    }
    a->dctx = (detector_ctx){.config_file = path, .models_dir = cfg->models_dir};
    a->workers = plan_inference(cfg, &a->dctx.infer);
    /* A detector the config asks for and cannot load is a config error, as
     * in --validate: exit 2 rather than run on without it. */
    int bad = app_open_detectors(cfg, &a->dctx, held);
    if (bad) {
        fprintf(stderr, "%s: %d detector(s) cannot be loaded\n", path, bad);
        return 2;
    }
    a->hub = publish_hub_new(cfg, &err);
    a->sched = a->hub ? sched_new(a->workers, camera_analyse, NULL) : NULL;
    if (!a->sched) {
        char hint[256] = "";
        if (strstr(err.msg, "Permission denied") || strstr(err.msg, "Read-only"))
            snprintf(hint, sizeof hint,
                     " (spool.dir must be writable by this process, uid %u; in a container mount "
                     "a volume writable by it there, e.g. -v kvs-spool:/app/spool)",
                     (unsigned)getuid());
        log_error("cannot start: %s%s", err.msg, hint);
        return err.code == KERR_BUSY ? 2 : 1; /* 2: the spool folder is another process's */
    }
    api_use_hub(&a->api, a->hub);
    int port = 0;
    a->http = metrics_serve(cfg->metrics_listen, ready, a, cfg->ui_enabled ? api_route : NULL,
                            &a->api, &port, &err);
    if (!a->http) { /* probes and Prometheus would reach whatever holds the port */
        log_error("cannot serve metrics.listen: %s", err.msg);
        fprintf(stderr, "kvs-infer: cannot serve metrics.listen: %s\n", err.msg);
        return 2;
    }
    atomic_store(&a->api.loopback, metrics_server_loopback(a->http));
    log_kv(LOG_INFO, NULL, "metrics on http://%.*s:%d/metrics",
           (int)(strrchr(cfg->metrics_listen, ':') - cfg->metrics_listen), cfg->metrics_listen,
           port);
    return 0;
}

static void log_start(app *a)
{
    const config *cfg = current(a);
    char batching[64] = "no batching";
    if (a->dctx.infer.batch_max > 1)
        snprintf(batching, sizeof batching, "batches of up to %d (%.1f ms wait)",
                 a->dctx.infer.batch_max, a->dctx.infer.batch_wait_us / 1000.0);
    log_info("kvs-infer starting: %d camera(s), %d inference worker(s) x %d thread(s), %s, "
             "device %s, ONNX Runtime %s",
             cfg->ncam, a->workers, a->dctx.infer.intra_threads, batching, cfg->device,
             infer_runtime_version());
}

/* The drain, from the end of the run to the hub's last delivery. */
static void drain(app *a, bool abandon)
{
    int64_t t0 = clock_mono_ns();
    /* Hands the leases back first: each camera drains and writes its
     * checkpoint, and its next owner starts while we finish here. */
    cluster *cl = a->cluster;
    set_probed(a, NULL, a->hub);
    cluster_stop(cl);
    /* Readers stop first; queued frames are analysed (after a signal only
     * the ones in analysis: the exit is due in 4 s); then the publisher
     * flushes. From here on only this thread changes the camera list. */
    int n;
    camera **cams = camera_list_lock(&a->cams, &n);
    for (int i = 0; i < n; i++)
        camera_request_stop(cams[i]);
    camera_list_unlock(&a->cams);
    if (abandon) sched_abandon(a->sched);
    for (int i = 0; i < n; i++)
        camera_join(cams[i]);
    sched_free(a->sched);
    a->sched = NULL;
    char where[2048];
    publish_hub_describe(a->hub, where, sizeof where);
    publish_hub *hub = a->hub;
    api_use_hub(&a->api, NULL);
    set_probed(a, NULL, NULL);
    publish_hub_free(hub);
    end_drain(a);
    log_info("drained in %.2f s", (double)(clock_mono_ns() - t0) / 1e9);
    summary(a, where);
}

/* Starts the cameras (or the cluster's coordinator), runs until a signal or
 * the end of every source, and drains. */
static int serve(app *a, detector_set *held, sigset_t *set)
{
    int rc = 0;
    config *cfg = current(a);
    kerr err = {0};
    if (cfg->lease_table) {
        if (!start_cluster(a, &err)) {
            log_error("cannot start the cluster: %s", err.msg);
            start_drain(a, 1000);
            rc = 1;
        }
    } else
        for (int i = 0; i < cfg->ncam; i++)
            add_camera(a, cfg, &cfg->cams[i], 0);
    app_close_detectors(held); /* the cameras hold their own now */
    bool signalled = false;
    if (rc == 0) rc = wait_for_end(a, set, &signalled);
    drain(a, signalled || rc != 0);
    return rc;
}

/* The one clean-up, after a run or a failed start: frees whatever was
 * started, in the reverse order. */
static void close_service(app *a, detector_set *held)
{
    metrics_server_stop(a->http); /* no probe or page reads the cameras from here on */
    api_stop(&a->api);
    sched_free(a->sched); /* set only when the run did not start: the drain freed it */
    app_close_detectors(held);
    if (a->hub) { /* a start that failed: the spool waits for the next start */
        publish_hub_drain_by(a->hub, clock_wall_ms());
        publish_hub_free(a->hub);
    }
    for (int i = 0; i < a->cams.n; i++)
        free_camera(a, a->cams.v[i]);
    camera_list_free(&a->cams);
    config_keeper_free(&a->configs); /* the current one and the hub's */
    if (a->aws) aws_shared_release();
    config_source_close(&a->src);
    infer_shutdown();
    frame_convert_shutdown();
    pthread_mutex_destroy(&a->probe_mu);
}

/* Signals are taken by the main thread only (sigtimedwait): every thread
 * started from here inherits the mask. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* The first version of the config, from its source; NULL (reported) when it
 * cannot be read or is invalid. A file that cannot be read is left to
 * config_load, which says why in the usual form. */
static config *first_config(app *a, const char *path)
{
    kerr err = {0};
    char *text = NULL;
    if (config_source_open(&a->src, path, &err) != KERR_OK ||
        (config_source_fetch(&a->src, true, &text, &err) != KERR_OK && a->src.s3)) {
        fprintf(stderr, "%s: cannot read the config: %s\n", path, err.msg);
        log_error("cannot read the config from %s: %s", path, err.msg);
        return NULL;
    }
    int nerr = 0;
    config *cfg = app_load_config(path, text, false, &nerr, NULL, 0);
    free(text);
    snprintf(a->version, sizeof a->version, "%s", config_source_version(&a->src));
    return cfg;
}

int app_run(const char *path, int poll_s)
{
    raise_fd_limit();
    decode_route_ffmpeg_logs();
    sigset_t set;
    block_signals(&set);
    app a;
    memset(&a, 0, sizeof a);
    a.poll_s = poll_s;
    config *cfg = first_config(&a, path);
    if (!cfg) {
        config_source_close(&a.src);
        return 2;
    }
    /* held as the current config and for the hub, which keeps the first */
    if (!config_keeper_init(&a.configs, cfg)) {
        config_free(cfg);
        config_source_close(&a.src);
        return 1;
    }
    camera_list_init(&a.cams);
    api_init(&a.api, &a.cams, &a.configs);
    pthread_mutex_init(&a.probe_mu, NULL);
    a.started_ns = clock_mono_ns();
    detector_set held = {0};
    int rc = config_keeper_hold(&a.configs, cfg) ? open_service(&a, path, &held) : 1;
    if (rc == 0) {
        log_start(&a);
        rc = serve(&a, &held, &set);
    }
    close_service(&a, &held);
    return rc;
}
