/* Per-camera backoff for one publisher's delivery loop: a camera whose event
 * failed is held back (its later events wait too, so its order is kept)
 * while every other camera's events go on. Without it one camera's failing
 * destination (its own folder, its own bucket) stopped delivery for all. */
#include <stdlib.h>
#include <string.h>

#include "camera_gate.h"

typedef struct {
    char *camera;
    int64_t retry_at_ms, delay_ms;
    bool skipped; /* events were passed over: the spool must hand them out again */
    bool cleared; /* delivered since, but passed-over events still wait for the rewind */
} held;

struct camera_gate {
    held *h;
    int n;
};

camera_gate *camera_gate_new(void)
{
    return calloc(1, sizeof(camera_gate));
}

void camera_gate_free(camera_gate *g)
{
    if (!g) return;
    for (int i = 0; i < g->n; i++)
        free(g->h[i].camera);
    free(g->h);
    free(g);
}

static held *find(camera_gate *g, const char *camera)
{
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->h[i].camera, camera) == 0) return &g->h[i];
    return NULL;
}

/* A camera stays closed after its retry time while events of it were passed
 * over and not yet handed out again: a newer event must not overtake them. */
bool camera_gate_closed(camera_gate *g, const char *camera, int64_t now_ms)
{
    held *e = find(g, camera);
    if (!e || (now_ms >= e->retry_at_ms && !e->skipped)) return false;
    e->skipped = true;
    return true;
}

int64_t camera_gate_fail(camera_gate *g, const char *camera, int64_t now_ms, int64_t first_ms)
{
    held *e = find(g, camera);
    if (!e) {
        held *nh = realloc(g->h, (size_t)(g->n + 1) * sizeof *nh);
        char *name = strdup(camera);
        if (!nh || !name) { /* no memory: behave as an immediate retry */
            if (nh) g->h = nh;
            free(name);
            return 0;
        }
        g->h = nh;
        e = &g->h[g->n++];
        *e = (held){.camera = name, .delay_ms = first_ms};
    } else if (e->cleared) {
        e->delay_ms = first_ms, e->cleared = false;
    } else {
        e->delay_ms = e->delay_ms * 2 > CAMERA_GATE_MAX_MS ? CAMERA_GATE_MAX_MS : e->delay_ms * 2;
    }
    e->retry_at_ms = now_ms + e->delay_ms;
    return e->delay_ms;
}

static void drop(camera_gate *g, held *e)
{
    free(e->camera);
    *e = g->h[--g->n];
}

void camera_gate_ok(camera_gate *g, const char *camera)
{
    held *e = find(g, camera);
    if (!e) return;
    if (!e->skipped) {
        drop(g, e);
        return;
    }
    e->cleared = true; /* no more backoff; camera_gate_due still asks for the rewind */
    e->retry_at_ms = 0;
}

int64_t camera_gate_due(camera_gate *g, int64_t now_ms, bool *rewind)
{
    int64_t next = -1;
    *rewind = false;
    for (int i = 0; i < g->n; i++) {
        held *e = &g->h[i];
        if (e->skipped && now_ms >= e->retry_at_ms) {
            *rewind = true;
            e->skipped = false;
            if (e->cleared) {
                drop(g, e);
                i--;
                continue;
            }
        }
        if (!e->skipped && now_ms >= e->retry_at_ms) continue; /* open: nothing to wait for */
        int64_t wait = e->retry_at_ms - now_ms;
        if (wait < 0) wait = 0;
        if (next < 0 || wait < next) next = wait;
    }
    return next;
}
