/* `weapon`: the YOLO detector restricted to weapon classes. With a COCO model
 * the stand-ins knife, scissors and baseball bat are what it can see; a
 * dedicated weapon model's own class names (gun, pistol, rifle...) match too.
 * A weapon must be seen in 2 of the last 3 analysed frames before it is
 * reported (params.confirm), and params.require_person: true keeps only
 * weapons that touch a person the same model sees. */
#include "yolo_internal.h"

static const char *const k_weapon_classes[] = {
    "weapon", "gun",   "handgun", "pistol",   "rifle",        "firearm", "shotgun",
    "knife",  "blade", "machete", "scissors", "baseball bat", NULL};

static const yolo_defaults k_weapon = {
    .kind = "weapon",
    .default_classes = k_weapon_classes,
    .require_default_class = true,
    .confirm_hits = 2,
    .confirm_window = 3,
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
