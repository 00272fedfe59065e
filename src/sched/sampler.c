#include "sched.h"

#include <math.h>

void sampler_init(sampler *s, double fps_limit, int skip_frames)
{
    s->interval_ms = fps_limit > 0 ? (int64_t)llround(1000.0 / fps_limit) : 0;
    s->skip = skip_frames > 0 ? skip_frames : 0;
    s->count = 0;
    s->next_ms = 0;
    s->tolerance_ms = 0;
    s->started = false;
}

/* The first due time after t on the stream's timeline: frames are due at
 * whole multiples of the interval, so a new owner resuming a camera from a
 * checkpoint analyses the frames the old one did (docs/cluster.md). */
static int64_t due_after(const sampler *s, int64_t t)
{
    return t - t % s->interval_ms + s->interval_ms;
}

bool sampler_take(sampler *s, int64_t pts_ms)
{
    int64_t n = s->count++;
    if (s->skip && n % (s->skip + 1) != 0) return false;
    if (!s->interval_ms || pts_ms < 0) return true;
    /* A jump backwards (a looped file, a reconnect) restarts the schedule. */
    if (!s->started || pts_ms < s->next_ms - 2 * s->interval_ms) {
        s->started = true;
        s->next_ms = due_after(s, pts_ms);
        return true;
    }
    /* Decoding key frames only, the due frame is the key frame nearest its
     * time: one a little early must not cost a whole GOP. */
    if (pts_ms + s->tolerance_ms < s->next_ms) return false;
    s->next_ms += s->interval_ms;
    if (s->next_ms <= pts_ms) s->next_ms = due_after(s, pts_ms); /* after a gap, no burst */
    return true;
}
