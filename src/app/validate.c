#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

/* --validate loads each detector's models as a run would: a 0-byte file, a
 * JPEG named .onnx or a model whose outputs do not fit the detector is an
 * error here, not a detector disabled at run time. */
static void load_model(const cfg_detector *dc, const detector_ctx *ctx, cfg_diags *d)
{
    if (!dc->enabled) return;
    kerr err = {0};
    detector *det = detector_open(dc, ctx, &err);
    if (det)
        detector_close(det);
    else
        cfg_diag_add_pos(d, dc->line, dc->col, dc->path, "%s", err.msg);
}

config *app_load_config(const char *path, const char *text, bool check_detectors, int *nerrors,
                        char *why, size_t why_len)
{
    cfg_diags d = {.file = path};
    config *cfg = check_detectors ? config_load_all(&app_cfg_readers, path, text, &d)
                                  : config_load(&app_cfg_readers, path, text, &d);
    if (cfg) /* plugins first: they add detector types */
        for (int i = 0; i < cfg->nplugins; i++) {
            kerr err = {0};
            const ynode *pl = ynode_get(cfg->root, "plugins");
            if (detector_load_plugin(cfg->plugins[i], &err) != KERR_OK)
                cfg_diag_add(&d, pl && (size_t)i < pl->n ? pl->items[i] : NULL, "plugins", "%s",
                             err.msg);
        }
    if (cfg && check_detectors) {
        detector_ctx ctx = {.config_file = path, .models_dir = cfg->models_dir};
        infer_opts_init(&ctx.infer, cfg->device, 1);
        for (int i = 0; i < cfg->ncam; i++)
            for (int k = 0; k < cfg->cams[i].ndet; k++)
                if (detector_check(&cfg->cams[i].dets[k], &ctx, &d))
                    load_model(&cfg->cams[i].dets[k], &ctx, &d);
    } else if (cfg) { /* a run refuses what --validate refuses, bar missing models */
        for (int i = 0; i < cfg->ncam; i++)
            for (int k = 0; k < cfg->cams[i].ndet; k++)
                detector_type_check(&cfg->cams[i].dets[k], &d);
    }
    for (size_t i = 0; i < d.n; i++) {
        char line[2048];
        cfg_diag_format(&d.items[i], line, sizeof line);
        fprintf(stderr, "%s\n", line);
        if (i == 0 && why) snprintf(why, why_len, "%s", line);
    }
    *nerrors = (int)d.n;
    cfg_diags_free(&d);
    if (*nerrors) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* Detectors of the same type on the same params node (from `defaults:`) are
 * one check: 200 cameras sharing a detector load it once here. */
static bool seen(const config *cfg, int cam, int det)
{
    const cfg_detector *x = &cfg->cams[cam].dets[det];
    for (int i = 0; i <= cam; i++)
        for (int k = 0; k < (i == cam ? det : cfg->cams[i].ndet); k++) {
            const cfg_detector *y = &cfg->cams[i].dets[k];
            if (y->enabled && y->params == x->params && strcmp(y->type, x->type) == 0) return true;
        }
    return false;
}

int app_open_detectors(const config *cfg, const detector_ctx *ctx, detector_set *held)
{
    cfg_diags d = {.file = ctx->config_file};
    for (int i = 0; i < cfg->ncam; i++)
        for (int k = 0; k < cfg->cams[i].ndet; k++) {
            const cfg_detector *dc = &cfg->cams[i].dets[k];
            if (!dc->enabled || seen(cfg, i, k) || !detector_check(dc, ctx, &d)) continue;
            kerr err = {0};
            detector *det = detector_open(dc, ctx, &err);
            detector **v = det ? realloc(held->v, (size_t)(held->n + 1) * sizeof *v) : NULL;
            if (v) {
                held->v = v;
                held->v[held->n++] = det;
            } else if (det) { /* out of memory: the camera opens it again */
                detector_close(det);
            } else {
                cfg_diag_add_pos(&d, dc->line, dc->col, dc->path, "%s", err.msg);
            }
        }
    for (size_t i = 0; i < d.n; i++) {
        char line[2048];
        cfg_diag_format(&d.items[i], line, sizeof line);
        fprintf(stderr, "%s\n", line);
        log_error("%s", line);
    }
    int n = (int)d.n;
    cfg_diags_free(&d);
    return n;
}

void app_close_detectors(detector_set *held)
{
    for (int i = 0; i < held->n; i++)
        detector_close(held->v[i]);
    free(held->v);
    *held = (detector_set){0};
}
