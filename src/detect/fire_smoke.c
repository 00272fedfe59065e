/* `fire_smoke`: a YOLO model with fire/smoke classes, reported as the labels
 * "fire" and "smoke", with temporal confirmation by default (seen in 3 of the
 * last 5 analysed frames) and a minimum box area, because single-frame fire
 * detections are notoriously noisy (sunsets, red lights, steam). Per-class
 * thresholds, class_map, confirm and min_area are params like yolo's. */
#include <string.h>

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
    .default_label = fire_label,
};

static void *fire_configure(const cfg_detector *cfg, const detector_ctx *ctx, cfg_diags *d)
{
    return yolo_configure_with(cfg, ctx, d, &k_fire);
}

const detector_ops detector_fire_smoke = {
    .name = "fire_smoke",
    .default_threshold = 0.5f,
    .configure = fire_configure,
    .free_conf = yolo_free_conf,
    .open = yolo_open,
    .detect = yolo_detect,
    .label = yolo_label,
    .close = yolo_close,
};
