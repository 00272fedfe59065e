#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"

extern const detector_ops detector_yolo;
extern const detector_ops detector_weapon;
extern const detector_ops detector_alpr;
extern const detector_ops detector_fire_smoke;

/* One line per detector. */
static const void *const k_builtin[] = {
    &detector_yolo, &detector_weapon, &detector_alpr, &detector_fire_smoke, NULL,
};

static const char *name_of(const void *e)
{
    return ((const detector_ops *)e)->name;
}

static registry g_detectors = REGISTRY_INIT("detector", k_builtin, name_of);

const detector_ops *detector_find(const char *type)
{
    return registry_find(&g_detectors, type);
}

kerr_code detector_register(const detector_ops *ops, kerr *err)
{
    return registry_add(&g_detectors, ops, err);
}

kerr_code detector_registry_check(kerr *err)
{
    return registry_check(&g_detectors, err);
}

void detector_names(char *buf, size_t len)
{
    registry_names(&g_detectors, buf, len);
}

const char *detector_format_name(const detector *d, int i)
{
    return d->ops->format_name ? d->ops->format_name(d->conf, i) : NULL;
}

static const detector_ops *find_or_report(const cfg_detector *cfg, cfg_diags *d)
{
    const detector_ops *ops = detector_find(cfg->type);
    if (!ops && cfg->type) {
        char names[256];
        detector_names(names, sizeof names);
        cfg_diag_add_pos(d, cfg->line, cfg->col, cfg->path,
                         "unknown detector type \"%s\" (available in this build: %s)", cfg->type,
                         names);
    }
    return ops;
}

bool detector_type_check(const cfg_detector *cfg, cfg_diags *d)
{
    return find_or_report(cfg, d) != NULL;
}

bool detector_check(const cfg_detector *cfg, const detector_ctx *ctx, cfg_diags *d)
{
    const detector_ops *ops = find_or_report(cfg, d);
    if (!ops) return false;
    void *conf = ops->configure(cfg, ctx, d);
    if (!conf) return false;
    ops->free_conf(conf);
    return true;
}

detector *detector_open(const cfg_detector *cfg, const detector_ctx *ctx, kerr *err)
{
    cfg_diags d = {.file = ctx->config_file};
    const detector_ops *ops = find_or_report(cfg, &d);
    void *conf = ops ? ops->configure(cfg, ctx, &d) : NULL;
    if (!conf) {
        char msg[600] = "invalid detector settings";
        if (d.n) cfg_diag_format(&d.items[0], msg, sizeof msg);
        kerr_set(err, KERR_INVALID, "%s", msg);
        cfg_diags_free(&d);
        return NULL;
    }
    cfg_diags_free(&d);
    detector *det = calloc(1, sizeof *det);
    if (!det) {
        ops->free_conf(conf);
        kerr_set(err, KERR_NOMEM, "out of memory");
        return NULL;
    }
    det->ops = ops;
    det->conf = conf;
    det->threshold =
        cfg->confidence_threshold >= 0 ? (float)cfg->confidence_threshold : ops->default_threshold;
    if (ops->open(conf, ctx, &det->state, &det->model, err) != KERR_OK) {
        ops->free_conf(conf);
        free(det);
        return NULL;
    }
    return det;
}

kerr_code detector_run(detector *d, const kframe *f, det_list *out, kerr *err)
{
    out->n = 0;
    kerr_code rc = d->ops->detect(d->state, f, d->threshold, out, err);
    det_list_clip(out, f->width, f->height);
    return rc;
}

const char *detector_label(detector *d, int cls)
{
    return d->ops->label(d->state, cls);
}

void detector_close(detector *d)
{
    if (!d) return;
    d->ops->close(d->state);
    d->ops->free_conf(d->conf);
    free(d);
}
