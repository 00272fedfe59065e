#include <stdio.h>

#include "app.h"

config *app_load_config(const char *path, bool check_detectors, int *nerrors)
{
    cfg_diags d = {.file = path};
    config *cfg = check_detectors ? config_load_all(path, NULL, &d) : config_load(path, NULL, &d);
    if (cfg) /* plugins first: they add detector types */
        for (int i = 0; i < cfg->nplugins; i++) {
            kerr err = {0};
            const ynode *pl = ynode_get(cfg->root, "plugins");
            if (detector_load_plugin(cfg->plugins[i], &err) != KERR_OK)
                cfg_diag_add(&d, pl && (size_t)i < pl->n ? pl->items[i] : NULL, "plugins", "%s",
                             err.msg);
        }
    if (cfg && check_detectors) {
        detector_ctx ctx = {.config_file = path,
                            .models_dir = cfg->models_dir,
                            .device = cfg->device,
                            .intra_threads = 1};
        for (int i = 0; i < cfg->ncam; i++)
            for (int k = 0; k < cfg->cams[i].ndet; k++)
                detector_check(&cfg->cams[i].dets[k], &ctx, &d);
    }
    for (size_t i = 0; i < d.n; i++) {
        char line[2048];
        cfg_diag_format(&d.items[i], line, sizeof line);
        fprintf(stderr, "%s\n", line);
    }
    *nerrors = (int)d.n;
    cfg_diags_free(&d);
    if (*nerrors) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}
