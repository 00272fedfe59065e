/* `fire_smoke`: a YOLO model with fire/smoke classes, reported as the labels
 * "fire" and "smoke", with temporal confirmation by default (seen in 3 of the
 * last 5 analysed frames) and a minimum box area, because single-frame fire
 * detections are notoriously noisy (sunsets, red lights, steam). Per-class
 * thresholds, class_map, confirm and min_area are params like yolo's. */
#include <stdio.h>
#include <string.h>

#include "../verify/verify.h"
#include "yolo_internal.h"

static const char *const k_fire_classes[] = {"fire",        "flame",      "flames", "small_flame",
                                             "large_flame", "smoke",      "Fire",   "Flame",
                                             "Smoke",       "fire_smoke", NULL};

static const char *fire_label(const char *name)
{
    if (strcasestr(name, "smoke")) return "smoke";
    if (strcasestr(name, "fire") || strcasestr(name, "flame")) return "fire";
    return NULL;
}

static const yolo_defaults k_fire = {
    .kind = "fire/smoke",
    .default_classes = k_fire_classes,
    .require_default_class = true,
    .confirm_hits = 3,
    .confirm_window = 5,
    .min_area = 0.0005,
    .verified = true,
    .default_label = fire_label,
};

/* params.verify is read by the pipeline's verification stage (src/verify);
 * it is checked here so that --validate reports its mistakes too. */
static void *fire_configure(const cfg_detector *cfg, const detector_ctx *ctx, cfg_diags *d)
{
    char pp[600];
    snprintf(pp, sizeof pp, "%s.params", cfg->path);
    verify_conf vc;
    verify_conf_default(&vc, true);
    size_t before = d->n;
    verify_conf_read(cfg->params, pp, d, &vc);
    void *c = yolo_configure_with(cfg, ctx, d, &k_fire);
    if (c && d->n > before) {
        yolo_free_conf(c);
        return NULL;
    }
    return c;
}

const detector_ops detector_fire_smoke = {
    .name = "fire_smoke",
    /* verified by default: flip DET_VERIFY_DEFAULT to make it opt-in */
    .caps = DET_VERIFY | DET_VERIFY_DEFAULT,
    .default_threshold = 0.5f,
    .configure = fire_configure,
    .free_conf = yolo_free_conf,
    .open = yolo_open,
    .detect = yolo_detect,
    .label = yolo_label,
    .close = yolo_close,
};
