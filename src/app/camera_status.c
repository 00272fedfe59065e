/* What a camera records of itself: its state, its error and drop counts (as
 * metrics too) and its checkpoint. Both its reader (camera.c) and the workers
 * analysing its frames (analyse.c) write here, so it sits below both. */
#include <stdio.h>

#include "../metrics/metrics.h"
#include "app.h"

static const char *const k_states[] = {"connecting", "running", "backoff",
                                       "ended",      "failed",  "stalled"};

const char *cam_state_name(cam_state s)
{
    return k_states[s];
}

void camera_set_state(camera *c, cam_state s)
{
    int old = atomic_exchange(&c->state, (int)s);
    char labels[300];
    mlabels(labels, sizeof labels, "camera", c->cfg->name, "state", k_states[old], NULL);
    metric_set(M_SOURCE_STATE, labels, 0);
    mlabels(labels, sizeof labels, "camera", c->cfg->name, "state", k_states[s], NULL);
    metric_set(M_SOURCE_STATE, labels, 1);
}

void camera_count_error(camera *c, const char *kind)
{
    char labels[300];
    mlabels(labels, sizeof labels, "camera", c->cfg->name, "kind", kind, NULL);
    metric_add(M_STREAM_ERRORS, labels, 1);
    atomic_fetch_add(&c->errors, 1);
}

void camera_count_drop(camera *c, const char *reason)
{
    char labels[300];
    atomic_fetch_add(&c->dropped, 1);
    mlabels(labels, sizeof labels, "camera", c->cfg->name, "reason", reason, NULL);
    metric_add(M_FRAMES_DROPPED, labels, 1);
}

void camera_advance_checkpoint(camera *c, const char *fragment, int64_t start_ms, bool first)
{
    if (!fragment[0] || start_ms <= 0) return;
    pthread_mutex_lock(&c->ckpt_mu);
    if (first ? !c->ckpt_fragment[0] : start_ms >= c->ckpt_start_ms) {
        snprintf(c->ckpt_fragment, sizeof c->ckpt_fragment, "%s", fragment);
        c->ckpt_start_ms = start_ms;
    }
    pthread_mutex_unlock(&c->ckpt_mu);
}

bool camera_checkpoint(camera *c, char *fragment, size_t len, int64_t *start_ms)
{
    pthread_mutex_lock(&c->ckpt_mu);
    bool have = c->ckpt_fragment[0] && c->ckpt_start_ms > 0;
    if (have) {
        snprintf(fragment, len, "%s", c->ckpt_fragment);
        *start_ms = c->ckpt_start_ms;
    }
    pthread_mutex_unlock(&c->ckpt_mu);
    return have;
}
