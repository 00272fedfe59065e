/* The schema of docs/configuration.md: walks the YAML tree, fills typed structs and
 * reports every problem (not only the first) with its position and key path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static const char *const k_top_keys[] = {
    "aws_region", "device",  "metrics",  "spool", "workers", "queue_depth", "batch", "ui",
    "cluster",    "cameras", "defaults", "aws",   "plugins", "models_dir",  NULL};
static const char *const k_cam_keys[] = {"name",      "stream_name", "region", "source",
                                         "fps_limit", "skip_frames", "decode", "roi",
                                         "detectors", "publishers",  "clip",   NULL};
static const char *const k_det_keys[] = {
    "type", "enabled", "confidence_threshold", "roi", "params", "events", NULL};
static const char *const k_det_event_keys[] = {"cooldown_s", "updates", "summary", "plate_reads",
                                               NULL};
static const char *const k_roi_keys[] = {"name", "polygon", "exclude", NULL};
static const char *const k_ep_names[] = {"kinesisvideo", "kinesis", "s3",     "dynamodb",
                                         "sts",          "sns",     "events", NULL};

/* A merged view of a camera and `defaults:` borrows nodes from both: only the
 * arrays are ours. */
static ynode *merge_view(const ynode *cam, const ynode *defaults)
{
    size_t cap = cam->n + (defaults ? defaults->n : 0);
    ynode *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = YNODE_MAP;
    v->line = cam->line;
    v->col = cam->col;
    v->items = calloc(cap + 1, sizeof *v->items);
    v->keys = calloc(cap + 1, sizeof *v->keys);
    v->key_line = calloc(cap + 1, sizeof(int));
    v->key_col = calloc(cap + 1, sizeof(int));
    if (!v->items || !v->keys || !v->key_line || !v->key_col) {
        free(v->items), free(v->keys), free(v->key_line), free(v->key_col), free(v);
        return NULL;
    }
    for (size_t i = 0; i < cam->n; i++) {
        v->items[v->n] = cam->items[i];
        v->keys[v->n] = cam->keys[i];
        v->key_line[v->n] = cam->key_line[i];
        v->key_col[v->n++] = cam->key_col[i];
    }
    for (size_t i = 0; defaults && i < defaults->n; i++) {
        if (ynode_get(cam, defaults->keys[i])) continue;
        v->items[v->n] = defaults->items[i];
        v->keys[v->n] = defaults->keys[i];
        v->key_line[v->n] = defaults->key_line[i];
        v->key_col[v->n++] = defaults->key_col[i];
    }
    return v;
}

static void free_view(ynode *v)
{
    if (!v) return;
    free(v->items), free(v->keys), free(v->key_line), free(v->key_col), free(v);
}

/* Canonical text of a subtree: equal settings give equal text, whatever the
 * formatting, so SIGHUP restarts only cameras whose settings changed. */
static void dump(const ynode *n, char **buf, size_t *len, size_t *cap)
{
    const char *parts[3] = {NULL, NULL, NULL};
    switch (n->kind) {
    case YNODE_SCALAR:
        parts[0] = "\"";
        parts[1] = n->value;
        parts[2] = "\"";
        break;
    case YNODE_SEQ: parts[0] = "["; break;
    case YNODE_MAP: parts[0] = "{"; break;
    }
    for (int i = 0; i < 3; i++) {
        if (!parts[i]) continue;
        size_t l = strlen(parts[i]);
        if (*len + l + 1 > *cap) {
            size_t nc = (*len + l + 1) * 2;
            char *nb = realloc(*buf, nc);
            if (!nb) return;
            *buf = nb;
            *cap = nc;
        }
        memcpy(*buf + *len, parts[i], l + 1);
        *len += l;
    }
    if (n->kind == YNODE_SCALAR) return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == YNODE_MAP) {
            ynode k = {.kind = YNODE_SCALAR, .value = n->keys[i]};
            dump(&k, buf, len, cap);
            ynode colon = {.kind = YNODE_SCALAR, .value = ":"};
            dump(&colon, buf, len, cap);
        }
        dump(n->items[i], buf, len, cap);
    }
    ynode close = {.kind = YNODE_SCALAR, .value = n->kind == YNODE_MAP ? "}" : "]"};
    dump(&close, buf, len, cap);
}

static double cross(const double *o, const double *a, const double *b)
{
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

static bool segments_cross(const double *a, const double *b, const double *c, const double *d)
{
    double d1 = cross(c, d, a), d2 = cross(c, d, b), d3 = cross(a, b, c), d4 = cross(a, b, d);
    return ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0));
}

static void load_polygon(cfg_diags *d, const ynode *pn, const char *path, cfg_roi *r)
{
    if (pn->kind != YNODE_SEQ) {
        cfg_diag_add(d, pn, path, "expected a list of [x, y] points");
        return;
    }
    if (pn->n < 3) {
        cfg_diag_add(d, pn, path, "a polygon needs at least 3 points, got %zu", pn->n);
        return;
    }
    r->pts = calloc(pn->n, sizeof *r->pts);
    if (!r->pts) return;
    bool ok = true;
    for (size_t i = 0; i < pn->n; i++) {
        const ynode *pt = pn->items[i];
        char p[512];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        if (pt->kind != YNODE_SEQ || pt->n != 2) {
            cfg_diag_add(d, pt, p, "expected a point [x, y]");
            ok = false;
            continue;
        }
        for (int k = 0; k < 2; k++) {
            const ynode *c = pt->items[k];
            char *end = NULL;
            double x = c->kind == YNODE_SCALAR ? strtod(c->value, &end) : NAN;
            if (!end || *end || c->value[0] == '\0' || !isfinite(x)) {
                cfg_diag_add(d, c, p, "expected a number");
                ok = false;
            } else if (x < 0.0 || x > 1.0) {
                cfg_diag_add(d, c, p,
                             "%g is outside [0, 1]: ROI coordinates are fractions of the frame's "
                             "width and height",
                             x);
                ok = false;
            } else {
                r->pts[i][k] = x;
            }
        }
    }
    r->npts = (int)pn->n;
    if (!ok) return;
    double area = 0;
    for (int i = 0; i < r->npts; i++) {
        const double *a = r->pts[i], *b = r->pts[(i + 1) % r->npts];
        area += a[0] * b[1] - b[0] * a[1];
    }
    if (fabs(area) / 2 < 1e-6) {
        cfg_diag_add(d, pn, path, "the polygon has no area (points collinear or repeated)");
        return;
    }
    for (int i = 0; i < r->npts; i++)
        for (int j = i + 2; j < r->npts; j++) {
            if (i == 0 && j == r->npts - 1) continue; /* adjacent through the closing edge */
            if (segments_cross(r->pts[i], r->pts[(i + 1) % r->npts], r->pts[j],
                               r->pts[(j + 1) % r->npts])) {
                cfg_diag_add(d, pn, path, "the polygon crosses itself (edges %d and %d)", i, j);
                return;
            }
        }
}

static void load_rois(cfg_diags *d, const ynode *rn, const char *path, cfg_camera *c)
{
    if (rn->kind != YNODE_SEQ) {
        cfg_diag_add(d, rn, path, "expected a list of {name, polygon}");
        return;
    }
    c->rois = calloc(rn->n + 1, sizeof *c->rois);
    if (!c->rois) return;
    for (size_t i = 0; i < rn->n; i++) {
        const ynode *it = rn->items[i];
        char p[512];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        if (!cfg_expect_map(d, it, p)) continue;
        cfg_check_keys(d, it, p, k_roi_keys);
        cfg_roi *r = &c->rois[c->nroi++];
        if (!cfg_read_str(d, it, "name", p, &r->name)) cfg_diag_add(d, it, p, "missing `name`");
        for (int j = 0; r->name && j < c->nroi - 1; j++)
            if (c->rois[j].name && strcmp(c->rois[j].name, r->name) == 0)
                cfg_diag_add(d, ynode_get(it, "name"), p, "duplicate ROI name \"%s\"", r->name);
        cfg_read_bool(d, it, "exclude", p, &r->exclude);
        const ynode *poly = ynode_get(it, "polygon");
        char pp[560];
        snprintf(pp, sizeof pp, "%s.polygon", p);
        if (!poly)
            cfg_diag_add(d, it, p, "missing `polygon`");
        else
            load_polygon(d, poly, pp, r);
    }
}

static void load_detector(cfg_diags *d, const ynode *it, const char *p, cfg_camera *c,
                          cfg_detector *det)
{
    det->enabled = true;
    det->confidence_threshold = -1;
    det->path = kstrdup(p);
    det->line = it->line;
    det->col = it->col;
    cfg_check_keys(d, it, p, k_det_keys);
    if (!cfg_read_str(d, it, "type", p, &det->type)) cfg_diag_add(d, it, p, "missing `type`");
    cfg_read_bool(d, it, "enabled", p, &det->enabled);
    cfg_read_double(d, it, "confidence_threshold", p, 0.0, 1.0, &det->confidence_threshold);
    const ynode *params = ynode_get(it, "params");
    char pp[560];
    const ynode *ev = ynode_get(it, "events");
    snprintf(pp, sizeof pp, "%s.events", p);
    if (ev && cfg_expect_map(d, ev, pp)) {
        cfg_check_keys(d, ev, pp, k_det_event_keys);
        double cd;
        int64_t reads;
        if (cfg_read_double(d, ev, "cooldown_s", pp, 0, 86400, &cd)) det->cooldown_s = cd;
        cfg_read_bool(d, ev, "updates", pp, &det->updates);
        cfg_read_bool(d, ev, "summary", pp, &det->summary);
        if (cfg_read_int(d, ev, "plate_reads", pp, 1, 100, &reads)) det->plate_reads = (int)reads;
    }
    snprintf(pp, sizeof pp, "%s.params", p);
    if (params && cfg_expect_map(d, params, pp)) det->params = params;
    const ynode *rn = ynode_get(it, "roi");
    if (!rn) return;
    snprintf(pp, sizeof pp, "%s.roi", p);
    if (rn->kind == YNODE_SCALAR) { /* a single name is accepted for convenience */
        rn = NULL;
    }
    const ynode *single = ynode_get(it, "roi");
    size_t n = rn ? rn->n : 1;
    det->roi = calloc(n + 1, sizeof *det->roi);
    if (!det->roi) return;
    for (size_t i = 0; i < n; i++) {
        const ynode *nm = rn ? rn->items[i] : single;
        if (nm->kind != YNODE_SCALAR) {
            cfg_diag_add(d, nm, pp, "expected ROI names");
            continue;
        }
        bool found = false;
        for (int j = 0; j < c->nroi; j++)
            if (c->rois[j].name && strcmp(c->rois[j].name, nm->value) == 0) {
                found = true;
                if (c->rois[j].exclude)
                    cfg_diag_add(d, nm, pp,
                                 "\"%s\" is an exclusion zone; it already applies to every "
                                 "detector",
                                 nm->value);
            }
        if (!found) cfg_diag_add(d, nm, pp, "no ROI named \"%s\" in this camera", nm->value);
        det->roi[det->nroi++] = kstrdup(nm->value);
    }
}

/* start: now | earliest | an ISO-8601 time or epoch seconds (replay from there). */
/* KVS: [a-zA-Z0-9_.-]{1,256}; it also goes into JSON request bodies as is. */
static bool valid_stream_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 256) return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* plugins: [path.so, ...] and models_dir: both relative to the config file. */
static void load_plugins_and_models(cfg_diags *d, config *cfg, const ynode *root)
{
    const ynode *pl = ynode_get(root, "plugins");
    if (pl && pl->kind != YNODE_SEQ)
        cfg_diag_add(d, pl, "plugins", "plugins must be a list of .so files");
    if (pl && pl->kind == YNODE_SEQ && (cfg->plugins = calloc(pl->n + 1, sizeof *cfg->plugins))) {
        for (size_t i = 0; i < pl->n; i++) {
            const ynode *it = pl->items[i];
            struct stat st;
            if (it->kind != YNODE_SCALAR) {
                cfg_diag_add(d, it, "plugins", "a plugin is the path of a .so file");
                continue;
            }
            char *path = cfg_resolve_path(cfg->file, it->value);
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                cfg_diag_add(d, it, "plugins", "plugin \"%s\" not found", it->value);
            cfg->plugins[cfg->nplugins++] = path;
        }
    }
    char *md = NULL;
    if (cfg_read_str(d, root, "models_dir", "", &md)) {
        struct stat st;
        cfg->models_dir = cfg_resolve_path(cfg->file, md);
        if (stat(cfg->models_dir, &st) != 0 || !S_ISDIR(st.st_mode))
            cfg_diag_add(d, ynode_get(root, "models_dir"), "models_dir", "\"%s\" is not a folder",
                         md);
        free(md);
        return;
    }
    /* The container sets KVS_MODELS_DIR=/app/models, where the README's
     * docker run line mounts the models. */
    const char *env = getenv("KVS_MODELS_DIR");
    struct stat st;
    if (env && *env && stat(env, &st) == 0 && S_ISDIR(st.st_mode)) cfg->models_dir = kstrdup(env);
}

/* clip: {pre_seconds, post_seconds, max_bytes, from: packets | kvs}. cam:
 * the camera, its source already read (only a KVS stream has an archive). */
static void load_clip(cfg_diags *d, const ynode *n, const char *path, cfg_camera *cam)
{
    cfg_clip *c = &cam->clip;
    if (!cfg_expect_map(d, n, path)) return;
    cfg_check_keys(d, n, path,
                   (const char *const[]){"pre_seconds", "post_seconds", "max_bytes", "from", NULL});
    *c = (cfg_clip){.on = true, .pre_seconds = 5, .post_seconds = 5, .max_bytes = 32LL << 20};
    cfg_read_double(d, n, "pre_seconds", path, 0, 60, &c->pre_seconds);
    cfg_read_double(d, n, "post_seconds", path, 0, 60, &c->post_seconds);
    cfg_read_int(d, n, "max_bytes", path, 1LL << 20, 1LL << 30, &c->max_bytes);
    char *from = NULL;
    if (!cfg_read_str(d, n, "from", path, &from)) return;
    c->from_kvs = strcmp(from, "kvs") == 0;
    if (!c->from_kvs && strcmp(from, "packets") != 0)
        cfg_diag_add(d, ynode_get(n, "from"), path, "from \"%s\" is not packets or kvs", from);
    if (c->from_kvs && !cam->kvs_archive)
        cfg_diag_add(d, ynode_get(n, "from"), path,
                     "camera %s: clip.from kvs needs a KVS source (mode hls or getmedia, with a "
                     "stream_name): no archive to play otherwise",
                     cam->name ? cam->name : "?");
    free(from);
}

static void load_camera(const cfg_readers *r, cfg_diags *d, config *cfg, const ynode *cam,
                        const char *path, cfg_camera *c)
{
    cfg_check_keys(d, cam, path, k_cam_keys);
    const char *why = NULL;
    if (!cfg_read_str(d, cam, "name", path, &c->name))
        cfg_diag_add(d, cam, path, "missing `name`");
    else if (!cfg_camera_name_ok(c->name, &why))
        cfg_diag_add(d, ynode_get(cam, "name"), path, "camera name %s", why);
    if (cfg_read_str(d, cam, "stream_name", path, &c->stream_name) &&
        !valid_stream_name(c->stream_name))
        cfg_diag_add(d, ynode_get(cam, "stream_name"), path,
                     "stream_name \"%s\" is not a KVS stream name (1-256 of A-Z a-z 0-9 _ . -)",
                     c->stream_name);
    cfg_read_str(d, cam, "region", path, &c->region);
    if (!c->region && cfg->aws_region) c->region = kstrdup(cfg->aws_region);
    r->source(d, cfg, cam, path, c);
    cfg_read_double(d, cam, "fps_limit", path, 0.0, 1000.0, &c->fps_limit);
    int64_t sk;
    if (cfg_read_int(d, cam, "skip_frames", path, 0, 10000, &sk)) c->skip_frames = (int)sk;
    char *dec = NULL;
    if (cfg_read_str(d, cam, "decode", path, &dec)) {
        if (strcmp(dec, "all") == 0)
            c->decode = DECODE_ALL;
        else if (strcmp(dec, "keyframes") == 0)
            c->decode = DECODE_KEYFRAMES;
        else if (strcmp(dec, "auto") != 0)
            cfg_diag_add(d, ynode_get(cam, "decode"), path,
                         "decode \"%s\" is not auto, all or keyframes", dec);
        free(dec);
    }
    char p[512];
    snprintf(p, sizeof p, "%s.clip", path);
    if (ynode_get(cam, "clip")) load_clip(d, ynode_get(cam, "clip"), p, c);
    const ynode *rn = ynode_get(cam, "roi");
    snprintf(p, sizeof p, "%s.roi", path);
    if (rn) load_rois(d, rn, p, c);
    const ynode *dn = ynode_get(cam, "detectors");
    snprintf(p, sizeof p, "%s.detectors", path);
    if (!dn) {
        cfg_diag_add(d, cam, path, "missing `detectors` (at least one)");
    } else if (dn->kind != YNODE_SEQ) {
        cfg_diag_add(d, dn, p, "expected a list of detectors");
    } else {
        c->dets = calloc(dn->n + 1, sizeof *c->dets);
        for (size_t i = 0; c->dets && i < dn->n; i++) {
            char ip[560];
            snprintf(ip, sizeof ip, "%s[%zu]", p, i);
            if (!cfg_expect_map(d, dn->items[i], ip)) continue;
            load_detector(d, dn->items[i], ip, c, &c->dets[c->ndet++]);
        }
    }
    const ynode *pn = ynode_get(cam, "publishers");
    snprintf(p, sizeof p, "%s.publishers", path);
    if (!pn || cfg_expect_map(d, pn, p)) r->publishers(d, cfg, pn, p, &c->pub);
    size_t len = 0, cap = 0;
    dump(cam, &c->fingerprint, &len, &cap);
}

/* batch: {max, wait_ms}: cameras' frames run through a batch-dynamic model
 * together. 0 and -1 leave the choice to the device (app.c). */
static void read_batch(cfg_diags *d, config *cfg, const ynode *root)
{
    cfg->batch_max = 0;
    cfg->batch_wait_ms = -1;
    const ynode *b = ynode_get(root, "batch");
    if (!b || !cfg_expect_map(d, b, "batch")) return;
    cfg_check_keys(d, b, "batch", (const char *const[]){"max", "wait_ms", NULL});
    int64_t v;
    if (cfg_read_int(d, b, "max", "batch", 1, 64 /* INFER_BATCH_MAX */, &v))
        cfg->batch_max = (int)v;
    cfg_read_double(d, b, "wait_ms", "batch", 0, 1000, &cfg->batch_wait_ms);
}

static void load_top(cfg_diags *d, config *cfg, const ynode *root)
{
    cfg_check_keys(d, root, "", k_top_keys);
    if (!cfg_read_str(d, root, "aws_region", "", &cfg->aws_region))
        cfg->aws_region = cfg_default_region();
    load_plugins_and_models(d, cfg, root);
    cfg->device = kstrdup("cpu");
    if (cfg_read_str(d, root, "device", "", &cfg->device)) {
        const char *dv = cfg->device;
        char *end = NULL;
        bool ok = strcmp(dv, "cpu") == 0 ||
                  (strncmp(dv, "cuda:", 5) == 0 && dv[5] && (strtol(dv + 5, &end, 10), !*end));
        if (strcmp(dv, "cuda") == 0) ok = true;
        if (!ok)
            cfg_diag_add(d, ynode_get(root, "device"), "device",
                         "\"%s\" is not a device: use cpu, cuda or cuda:N", dv);
    }
    cfg->metrics_listen = kstrdup("0.0.0.0:9090");
    const ynode *m = ynode_get(root, "metrics");
    if (m && cfg_expect_map(d, m, "metrics")) {
        cfg_check_keys(d, m, "metrics", (const char *const[]){"listen", NULL});
        cfg_read_str(d, m, "listen", "metrics", &cfg->metrics_listen);
    }
    cfg->lease_seconds = 10;
    const ynode *cl = ynode_get(root, "cluster");
    if (cl && cfg_expect_map(d, cl, "cluster")) {
        cfg_check_keys(d, cl, "cluster",
                       (const char *const[]){"lease_table", "worker_id", "lease_seconds",
                                             "max_cameras", "catch_up", NULL});
        cfg_read_str(d, cl, "lease_table", "cluster", &cfg->lease_table);
        cfg_read_str(d, cl, "worker_id", "cluster", &cfg->worker_id);
        int64_t v;
        if (cfg_read_int(d, cl, "lease_seconds", "cluster", 3, 600, &v))
            cfg->lease_seconds = (int)v;
        if (cfg_read_int(d, cl, "max_cameras", "cluster", 0, 100000, &v)) cfg->max_cameras = (int)v;
        char *cu = NULL;
        if (cfg_read_str(d, cl, "catch_up", "cluster", &cu)) {
            if (strcmp(cu, "newest") == 0)
                cfg->catch_up_newest = true;
            else if (strcmp(cu, "due") != 0)
                cfg_diag_add(d, ynode_get(cl, "catch_up"), "cluster.catch_up",
                             "\"%s\" is not a catch-up mode: use due or newest", cu);
        }
        free(cu);
        if (cfg->lease_table && !*cfg->lease_table) { /* ${LEASE_TABLE:-}: not clustered */
            free(cfg->lease_table);
            cfg->lease_table = NULL;
        }
        const char *t = cfg->lease_table;
        if (t && (strlen(t) < 3 || strlen(t) > 255 ||
                  strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
                      strlen(t)))
            cfg_diag_add(d, ynode_get(cl, "lease_table"), "cluster.lease_table",
                         "\"%s\" is not a DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -)", t);
        if (cfg->worker_id && strlen(cfg->worker_id) > 128)
            cfg_diag_add(d, ynode_get(cl, "worker_id"), "cluster.worker_id",
                         "longer than 128 characters");
    }
    cfg->ui_enabled = true;
    const ynode *ui = ynode_get(root, "ui");
    if (ui && cfg_expect_map(d, ui, "ui")) {
        cfg_check_keys(d, ui, "ui", (const char *const[]){"enabled", "token", NULL});
        cfg_read_bool(d, ui, "enabled", "ui", &cfg->ui_enabled);
        cfg_read_str(d, ui, "token", "ui", &cfg->ui_token);
        if (cfg->ui_token && strlen(cfg->ui_token) > CFG_UI_TOKEN_MAX)
            cfg_diag_add(d, ynode_get(ui, "token"), "ui.token",
                         "%zu bytes: at most %d are compared, so a longer token is refused",
                         strlen(cfg->ui_token), (int)CFG_UI_TOKEN_MAX);
    }
    cfg->spool_dir = kstrdup("./spool");
    cfg->spool_max_bytes = 1LL << 30;
    const ynode *s = ynode_get(root, "spool");
    if (s && cfg_expect_map(d, s, "spool")) {
        cfg_check_keys(d, s, "spool", (const char *const[]){"dir", "max_bytes", "fsync", NULL});
        cfg_read_str(d, s, "dir", "spool", &cfg->spool_dir);
        char *fs = NULL;
        if (cfg_read_str(d, s, "fsync", "spool", &fs)) {
            if (strcmp(fs, "batch") == 0)
                cfg->spool_fsync = 0;
            else if (strcmp(fs, "always") == 0)
                cfg->spool_fsync = 1;
            else if (strcmp(fs, "never") == 0)
                cfg->spool_fsync = 2;
            else
                cfg_diag_add(d, ynode_get(s, "fsync"), "spool.fsync",
                             "must be batch, always or never");
        }
        free(fs);
        cfg_read_int(d, s, "max_bytes", "spool", 1 << 20, INT64_C(1) << 50, &cfg->spool_max_bytes);
    }
    int64_t v;
    if (cfg_read_int(d, root, "workers", "", 0, 256, &v)) cfg->workers = (int)v;
    cfg->queue_depth = 2;
    if (cfg_read_int(d, root, "queue_depth", "", 1, 64, &v)) cfg->queue_depth = (int)v;
    read_batch(d, cfg, root);
    const ynode *aws = ynode_get(root, "aws");
    if (aws && cfg_expect_map(d, aws, "aws")) {
        cfg_check_keys(
            d, aws, "aws",
            (const char *const[]){"endpoints", "s3_force_path_style", "ca_bundle", NULL});
        cfg_read_str(d, aws, "ca_bundle", "aws", &cfg->ca_bundle);
        cfg_read_bool(d, aws, "s3_force_path_style", "aws", &cfg->s3_force_path_style);
        const ynode *ep = ynode_get(aws, "endpoints");
        if (ep && cfg_expect_map(d, ep, "aws.endpoints")) {
            cfg_check_keys(d, ep, "aws.endpoints", k_ep_names);
            for (int i = 0; k_ep_names[i]; i++)
                cfg_read_str(d, ep, k_ep_names[i], "aws.endpoints", &cfg->endpoint[i]);
        }
    }
}

config *config_load(const cfg_readers *r, const char *file, const char *text, cfg_diags *d)
{
    size_t before = d->n;
    config *cfg = config_load_all(r, file, text, d);
    if (cfg && d->n > before) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

config *config_load_all(const cfg_readers *r, const char *file, const char *text, cfg_diags *d)
{
    d->file = file;
    char *owned = NULL;
    size_t len = 0;
    if (!text) {
        kerr err = {0};
        owned = read_file(file, &len, &err);
        if (!owned) {
            /* The usual cause in a container: the config folder is not mounted. */
            bool missing = access(file, F_OK) != 0;
            cfg_diag_add_pos(d, 1, 1, "", "cannot read the config: %s%s", err.msg,
                             missing ? " (mount the folder holding it, e.g. docker run -v "
                                       "$(pwd)/config:/app/config, or pass --config FILE)"
                                     : "");
            return NULL;
        }
        text = owned;
    } else {
        len = strlen(text);
    }
    ynode *root = ynode_parse(text, len, d);
    free(owned);
    if (!root) return NULL;
    config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        ynode_free(root);
        return NULL;
    }
    cfg->root = root;
    cfg->file = kstrdup(file);
    if (!cfg_expect_map(d, root, "")) {
        config_free(cfg);
        return NULL;
    }
    load_top(d, cfg, root);
    const ynode *defaults = ynode_get(root, "defaults");
    if (defaults && cfg_expect_map(d, defaults, "defaults")) {
        cfg_check_keys(d, defaults, "defaults", k_cam_keys);
        if (ynode_get(defaults, "name"))
            cfg_diag_add(d, ynode_get(defaults, "name"), "defaults.name",
                         "camera names must be unique: no default name");
    } else {
        defaults = NULL;
    }
    const ynode *cams = ynode_get(root, "cameras");
    if (!cams) {
        cfg_diag_add(d, root, "cameras", "missing `cameras:` (a list of cameras)");
    } else if (cams->kind != YNODE_SEQ || cams->n == 0) {
        cfg_diag_add(d, cams, "cameras", "expected a non-empty list of cameras");
    } else {
        cfg->cams = calloc(cams->n, sizeof *cfg->cams);
        for (size_t i = 0; cfg->cams && i < cams->n; i++) {
            char p[64];
            snprintf(p, sizeof p, "cameras[%zu]", i);
            if (!cfg_expect_map(d, cams->items[i], p)) continue;
            ynode *view = merge_view(cams->items[i], defaults);
            if (!view) continue;
            cfg_camera *c = &cfg->cams[cfg->ncam++];
            load_camera(r, d, cfg, view, p, c);
            free_view(view);
            for (int j = 0; c->name && j < cfg->ncam - 1; j++)
                if (cfg->cams[j].name && strcmp(cfg->cams[j].name, c->name) == 0)
                    cfg_diag_add(d, ynode_get(cams->items[i], "name"), p,
                                 "duplicate camera name \"%s\" (also cameras[%d])", c->name, j);
        }
    }
    return cfg;
}

static void free_camera(cfg_camera *c)
{
    free(c->name), free(c->stream_name), free(c->region), free(c->fingerprint);
    if (c->source_conf_free) c->source_conf_free(c->source_conf);
    for (int i = 0; i < c->nroi; i++)
        free(c->rois[i].name), free(c->rois[i].pts);
    free(c->rois);
    for (int i = 0; i < c->ndet; i++) {
        free(c->dets[i].type);
        free(c->dets[i].path);
        for (int j = 0; j < c->dets[i].nroi; j++)
            free(c->dets[i].roi[j]);
        free(c->dets[i].roi);
    }
    free(c->dets);
    cfg_publishers_free(&c->pub);
}

void config_free(config *c)
{
    if (!c) return;
    for (int i = 0; i < c->nplugins; i++)
        free(c->plugins[i]);
    free(c->plugins);
    free(c->models_dir);
    for (int i = 0; i < c->ncam; i++)
        free_camera(&c->cams[i]);
    free(c->cams);
    free(c->file), free(c->aws_region), free(c->device), free(c->metrics_listen), free(c->ui_token);
    free(c->lease_table), free(c->worker_id);
    free(c->spool_dir), free(c->ca_bundle);
    for (int i = 0; i < CFG_EP_COUNT; i++)
        free(c->endpoint[i]);
    ynode_free(c->root);
    free(c);
}
