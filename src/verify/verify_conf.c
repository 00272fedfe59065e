/* params.verify of a detector whose boxes are verified (docs/detectors.md). */
#include <stdio.h>

#include "verify.h"

void verify_conf_default(verify_conf *c, bool enabled)
{
    *c = (verify_conf){.enabled = enabled,
                       .window = 6,
                       .min_frames = 2,
                       .min_colour = 0.25,
                       .min_grey = 0.10,
                       .rejudge_grey = 0.45,
                       .min_score = 0.35,
                       .w_flicker = 1.0,
                       .w_motion = 1.0,
                       .w_growth = 0.5};
}

static const char *const k_keys[] = {"enabled",  "window",       "min_frames", "min_colour",
                                     "min_grey", "rejudge_grey", "min_score",  "flicker",
                                     "motion",   "growth",       NULL};

bool verify_conf_read(const ynode *params, const char *path, cfg_diags *d, verify_conf *c)
{
    const ynode *v = params ? ynode_get(params, "verify") : NULL;
    if (!v) return true;
    size_t before = d->n;
    char pp[640];
    snprintf(pp, sizeof pp, "%s.verify", path);
    if (!cfg_expect_map(d, v, pp)) return false;
    cfg_check_keys(d, v, pp, k_keys);
    cfg_read_bool(d, v, "enabled", pp, &c->enabled);
    int64_t w = c->window, m = c->min_frames;
    cfg_read_int(d, v, "window", pp, 2, VERIFY_MAX_WINDOW, &w);
    cfg_read_int(d, v, "min_frames", pp, 2, VERIFY_MAX_WINDOW, &m);
    if (m > w)
        cfg_diag_add(d, v, pp, "min_frames (%lld) cannot exceed window (%lld)", (long long)m,
                     (long long)w);
    c->window = (int)w, c->min_frames = (int)m;
    cfg_read_double(d, v, "min_colour", pp, 0.0, 1.0, &c->min_colour);
    cfg_read_double(d, v, "min_grey", pp, 0.0, 1.0, &c->min_grey);
    cfg_read_double(d, v, "rejudge_grey", pp, 0.0, 1.0, &c->rejudge_grey);
    cfg_read_double(d, v, "min_score", pp, 0.0, 1.0, &c->min_score);
    /* weights of the temporal parts; 0 leaves a part out */
    cfg_read_double(d, v, "flicker", pp, 0.0, 10.0, &c->w_flicker);
    cfg_read_double(d, v, "motion", pp, 0.0, 10.0, &c->w_motion);
    cfg_read_double(d, v, "growth", pp, 0.0, 10.0, &c->w_growth);
    if (d->n == before && c->min_score > 0 && c->w_flicker + c->w_motion + c->w_growth <= 0)
        cfg_diag_add(d, v, pp, "flicker, motion and growth are all 0: min_score %.2f cannot be met",
                     c->min_score);
    return d->n == before;
}
