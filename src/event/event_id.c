/* Event ids that a replay reproduces (docs/cluster.md "Event ids"): a new
 * owner re-raising an event from the replayed fragments gives it the id the
 * old owner gave it, so the DynamoDB conditional put and Kinesis consumers
 * can drop the duplicate. */
#include <stdio.h>
#include <stdlib.h>

#include "event.h"

enum { ID_GRID = 16 }; /* box centres in a 16x16 grid: coarse enough to survive float noise */

static int cell(double lo, double hi, int size)
{
    if (size <= 0) return 0;
    int c = (int)((lo + hi) / 2.0 / size * ID_GRID);
    return c < 0 ? 0 : c >= ID_GRID ? ID_GRID - 1 : c;
}

bool event_id_derive(const event *e, int ordinal, char out[UUID_TEXT_LEN + 1])
{
    /* Only the producer timeline is the same for every reader of the stream:
     * media time restarts with each file loop or RTSP session. */
    if (e->producer_ts_ms <= 0) return false;
    /* the model's digest tells two detectors of one type on a camera apart */
    const char *fmt = "kvs-infer/event/1\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%lld\x1f%d,%d\x1f%d";
    const char *cam = e->camera_name ? e->camera_name : "";
    const char *det = e->detector ? e->detector : "";
    const char *label = e->label ? e->label : "";
    int cx = cell(e->x1, e->x2, e->frame_w), cy = cell(e->y1, e->y2, e->frame_h);
    int n = snprintf(NULL, 0, fmt, cam, det, e->model_sha256, label, e->kind,
                     (long long)e->producer_ts_ms, cx, cy, ordinal);
    char *name = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!name) return false;
    snprintf(name, (size_t)n + 1, fmt, cam, det, e->model_sha256, label, e->kind,
             (long long)e->producer_ts_ms, cx, cy, ordinal);
    bool ok = uuid_v8_name(name, (size_t)n, out);
    free(name);
    return ok;
}
