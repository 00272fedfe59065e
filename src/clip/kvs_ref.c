/* clip.from kvs: the KVS stream already archives the camera's video, so an
 * event keeps no copy; it names the stream and the producer-time range, and
 * the operator page's API fetches the clip on demand (GetClip) or hands out
 * an ON_DEMAND HLS link for it (src/source/kvs_clip.c). */
#include <stdio.h>
#include <string.h>

#include "clip.h"

bool clip_attach_kvs(const cfg_camera *cam, const char *region, event *e)
{
    if (!cam->clip.on || !cam->clip.from_kvs || !cam->stream_name) return false;
    /* The range is in producer time (what GetClip selects on); the media
     * time of a KVS source is the same clock. */
    if (e->producer_ts_ms < 0 || strcmp(e->kind, "object") != 0) return false;
    int64_t pre = (int64_t)(cam->clip.pre_seconds * 1000),
            post = (int64_t)(cam->clip.post_seconds * 1000);
    int64_t at = e->pts_ms >= 0 ? e->pts_ms : e->producer_ts_ms;
    e->clip = (event_clip){.on = true,
                           .start_ms = at - pre,
                           .end_ms = at + post,
                           .status = "archived",
                           .kvs_start_ms = e->producer_ts_ms - pre,
                           .kvs_end_ms = e->producer_ts_ms + post};
    snprintf(e->clip.kvs_stream, sizeof e->clip.kvs_stream, "%s", cam->stream_name);
    snprintf(e->clip.kvs_region, sizeof e->clip.kvs_region, "%s",
             cam->region ? cam->region
             : region    ? region
                         : "");
    snprintf(e->clip.owner_id, sizeof e->clip.owner_id, "%s", e->event_id);
    e->clip.owner_at_ms = e->detected_at_ms;
    return true;
}
