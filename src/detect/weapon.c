/* `weapon`: the YOLO detector restricted to weapon classes. With a COCO model
 * the stand-ins knife, scissors and baseball bat are what it can see; a
 * dedicated weapon model's own class names (gun, pistol, rifle...) match too. */
#include "yolo_internal.h"

static const char *const k_weapon_classes[] = {
    "weapon", "gun",   "handgun", "pistol",   "rifle",        "firearm", "shotgun",
    "knife",  "blade", "machete", "scissors", "baseball bat", NULL};

static const yolo_defaults k_weapon = {
    .kind = "weapon",
    .default_classes = k_weapon_classes,
    .require_default_class = true,
};

static void *weapon_configure(const cfg_detector *cfg, const detector_ctx *ctx, cfg_diags *d)
{
    return yolo_configure_with(cfg, ctx, d, &k_weapon);
}

const detector_ops detector_weapon = {
    .name = "weapon",
    .default_threshold = 0.6f,
    .configure = weapon_configure,
    .free_conf = yolo_free_conf,
    .open = yolo_open,
    .detect = yolo_detect,
    .label = yolo_label,
    .close = yolo_close,
};
