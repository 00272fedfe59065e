/* Detector plugins (include/kvs_infer/plugin.h): shared objects loaded with
 * dlopen, checked for the ABI version, and registered as detector types next
 * to the built-in ones. Loaded once and never unloaded (code of a detector in
 * flight must not vanish on a reload). */
#include <ctype.h>
#include <dlfcn.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../include/kvs_infer/plugin.h"
#include "../infer/infer.h"
#include "detect.h"

#define MAX_PLUGINS 32

typedef struct {
    char *path;
    const kvs_plugin *p;
    detector_ops ops;
} loaded;

static loaded g_plugins[MAX_PLUGINS];
static int g_n;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    const kvs_plugin *p;
    char *params_json;
} plugin_conf;

typedef struct {
    const kvs_plugin *p;
    void *h;
    kvs_plugin_box *boxes;
} plugin_state;

static json_t *to_json(const ynode *n)
{
    if (!n) return json_object();
    if (n->kind == YNODE_MAP) {
        json_t *o = json_object();
        for (size_t i = 0; i < n->n; i++)
            json_object_set_new(o, n->keys[i], to_json(n->items[i]));
        return o;
    }
    if (n->kind == YNODE_SEQ) {
        json_t *a = json_array();
        for (size_t i = 0; i < n->n; i++)
            json_array_append_new(a, to_json(n->items[i]));
        return a;
    }
    const char *v = n->value ? n->value : "";
    if (!n->quoted || n->expanded) {
        char *end = NULL;
        long long i = strtoll(v, &end, 10);
        if (*v && end && !*end) return json_integer(i);
        double d = strtod(v, &end);
        if (*v && end && !*end) return json_real(d);
        if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) return json_boolean(v[0] == 't');
        if (strcmp(v, "null") == 0 || strcmp(v, "~") == 0) return json_null();
    }
    return json_string(v);
}

static const kvs_plugin *plugin_of(const cfg_detector *cfg)
{
    pthread_mutex_lock(&g_mu);
    const kvs_plugin *p = NULL;
    for (int i = 0; i < g_n && !p; i++)
        if (strcmp(g_plugins[i].p->name, cfg->type) == 0) p = g_plugins[i].p;
    pthread_mutex_unlock(&g_mu);
    return p;
}

static void *plugin_configure(const cfg_detector *cfg, const detector_ctx *ctx, cfg_diags *d)
{
    (void)ctx;
    plugin_conf *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->p = plugin_of(cfg);
    json_t *j = to_json(cfg->params);
    c->params_json = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(j);
    if (!c->p || !c->params_json) {
        cfg_diag_add_pos(d, cfg->line, cfg->col, cfg->path, "plugin detector %s is not loaded",
                         cfg->type);
        free(c->params_json);
        free(c);
        return NULL;
    }
    char msg[256] = ""; /* the plugin judges its own params: a trial init */
    void *h = c->p->init(c->params_json, msg, sizeof msg);
    if (!h) {
        cfg_diag_add(d, cfg->params, cfg->path, "plugin %s: %s", cfg->type,
                     msg[0] ? msg : "init failed");
        free(c->params_json);
        free(c);
        return NULL;
    }
    if (c->p->free) c->p->free(h);
    return c;
}

static void plugin_free_conf(void *conf)
{
    plugin_conf *c = conf;
    if (c) free(c->params_json);
    free(c);
}

static void plugin_close(void *state)
{
    plugin_state *s = state;
    if (!s) return;
    if (s->h && s->p->free) s->p->free(s->h);
    free(s->boxes);
    free(s);
}

static kerr_code plugin_open(const void *conf, const detector_ctx *ctx, void **state,
                             detector_model *model, kerr *err)
{
    (void)ctx;
    const plugin_conf *c = conf;
    plugin_state *s = calloc(1, sizeof *s);
    if (!s || !(s->boxes = calloc(256, sizeof *s->boxes))) {
        free(s);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    s->p = c->p;
    char msg[256] = "";
    s->h = c->p->init(c->params_json, msg, sizeof msg);
    if (!s->h) {
        plugin_close(s);
        return kerr_set(err, KERR_INVALID, "plugin %s: %s", c->p->name,
                        msg[0] ? msg : "init failed");
    }
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < g_n; i++)
        if (g_plugins[i].p == c->p) {
            const char *base = strrchr(g_plugins[i].path, '/');
            snprintf(model->name, sizeof model->name, "%s", base ? base + 1 : g_plugins[i].path);
            kerr herr = {0};
            if (file_sha256(g_plugins[i].path, model->sha256, &herr) != KERR_OK)
                model->sha256[0] = '\0';
        }
    pthread_mutex_unlock(&g_mu);
    *state = s;
    return KERR_OK;
}

/* A plugin's plate read as the pipeline's: A-Z 0-9 only, upper case; the
 * box is the plate; quality unknown (0 counts as 1 in the votes). */
static void plate_of(const kvs_plugin_box *b, plate_read *r)
{
    float conf = b->plate_confidence < 0 ? 0 : b->plate_confidence > 1 ? 1 : b->plate_confidence;
    *r = (plate_read){.format = -1, .mean = conf, .box = {b->x1, b->y1, b->x2, b->y2}};
    for (size_t i = 0; i < sizeof b->plate && b->plate[i] && r->n < PLATE_MAX_LEN; i++) {
        char c = (char)toupper((unsigned char)b->plate[i]);
        if (!isalnum((unsigned char)c) || (unsigned char)c > 127) continue;
        r->conf[r->n] = conf;
        r->text[r->n++] = c;
    }
    r->text[r->n] = '\0';
    r->has = r->n > 0;
}

static kerr_code plugin_detect(void *state, const kframe *f, float threshold, det_list *out,
                               kerr *err)
{
    plugin_state *s = state;
    const uint8_t *rgb = frame_rgb(f, err); /* the plugin ABI's frames are packed RGB */
    if (!rgb) return err->code;
    kvs_plugin_frame pf = {f->width, f->height, f->stride, rgb, f->pts_ms};
    char msg[256] = "";
    int n = s->p->detect(s->h, &pf, threshold, s->boxes, 256, msg, sizeof msg);
    if (n < 0 || n > 256)
        return kerr_set(err, KERR_INVALID, "plugin %s: %s", s->p->name,
                        n < 0 ? (msg[0] ? msg : "detect failed")
                              : "returned more boxes than allowed");
    for (int i = 0; i < n; i++) {
        const kvs_plugin_box *b = &s->boxes[i];
        if (!(b->x2 > b->x1 && b->y2 > b->y1) || b->score < threshold) continue;
        detection d = {
            .x1 = b->x1, .y1 = b->y1, .x2 = b->x2, .y2 = b->y2, .score = b->score, .cls = b->cls};
        if (s->p->caps & KVS_PLUGIN_READS_PLATES) plate_of(b, &d.plate);
        det_list_push(out, d);
    }
    return KERR_OK;
}

static const char *plugin_label(void *state, int cls)
{
    plugin_state *s = state;
    const char *l = s->p->label ? s->p->label(s->h, cls) : NULL;
    return l ? l : "object";
}

kerr_code detector_load_plugin(const char *path, kerr *err)
{
    pthread_mutex_lock(&g_mu);
    kerr_code rc = KERR_OK;
    for (int i = 0; i < g_n; i++)
        if (strcmp(g_plugins[i].path, path) == 0) goto out; /* loaded before (reload) */
    if (g_n == MAX_PLUGINS) {
        rc = kerr_set(err, KERR_INVALID, "plugin %s: too many plugins (%d)", path, MAX_PLUGINS);
        goto out;
    }
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        rc = kerr_set(err, KERR_INVALID, "plugin %s: %s", path, dlerror());
        goto out;
    }
    const kvs_plugin *(*entry)(void) = (const kvs_plugin *(*)(void))dlsym(dl, "kvs_plugin_entry");
    const kvs_plugin *p = entry ? entry() : NULL;
    if (!p) {
        rc = kerr_set(err, KERR_INVALID, "plugin %s: no kvs_plugin_entry (not a kvs-infer plugin)",
                      path);
    } else if (p->abi_version != KVS_PLUGIN_ABI_VERSION) {
        rc = kerr_set(err, KERR_INVALID,
                      "plugin %s: built for plugin ABI version %u, this kvs-infer speaks version "
                      "%u (rebuild it against this include/kvs_infer/plugin.h)",
                      path, p->abi_version, KVS_PLUGIN_ABI_VERSION);
    } else if (!p->name || !*p->name || !p->init || !p->detect) {
        rc = kerr_set(err, KERR_INVALID, "plugin %s: name, init and detect are required", path);
    } else if (detector_find(p->name)) {
        rc = kerr_set(err, KERR_INVALID, "plugin %s: detector type \"%s\" already exists", path,
                      p->name);
    }
    if (rc != KERR_OK) {
        dlclose(dl);
        goto out;
    }
    loaded *l = &g_plugins[g_n];
    l->p = p;
    l->ops = (detector_ops){.name = p->name,
                            .caps = (p->caps & KVS_PLUGIN_READS_PLATES) ? DET_READS_PLATES : 0,
                            .default_threshold = p->default_threshold,
                            .configure = plugin_configure,
                            .free_conf = plugin_free_conf,
                            .open = plugin_open,
                            .detect = plugin_detect,
                            .label = plugin_label,
                            .close = plugin_close};
    kerr rerr = {0};
    if (detector_register(&l->ops, &rerr) != KERR_OK) {
        rc = kerr_set(err, KERR_INVALID, "plugin %s: %s", path, rerr.msg);
        dlclose(dl);
        goto out;
    }
    l->path = kstrdup(path);
    g_n++;
    log_info("plugin %s loaded: detector type %s (ABI %u%s)", path, p->name, p->abi_version,
             (p->caps & KVS_PLUGIN_READS_PLATES) ? ", reads plates" : "");
out:
    pthread_mutex_unlock(&g_mu);
    return rc;
}
