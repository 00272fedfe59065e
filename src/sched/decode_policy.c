/* Which packets a camera decodes. A camera analysed at one frame per GOP or
 * less needs only its key frames, and those decode on their own: skipping the
 * rest before the decoder saves nearly all the decoding (a 2 s GOP at 25 fps:
 * 1 frame decoded instead of 50). `auto` learns the key-frame interval from
 * the packets and decodes key frames only while the sampler asks for no more
 * than that; a stream without regular key frames (intra refresh, a GOP that
 * grows) falls back to decoding everything. Until two intervals are known it
 * hopes for key frames only (decoding everything while learning held a whole
 * reference set of pictures per camera: 64 cameras starting together took 1 GB
 * for those seconds, never given back). The caller keeps the packets skipped
 * while hoping; when a frame is wanted before the next key frame comes
 * (catch_up_now), it decodes them after all and every frame from then on. */
#include "sched.h"

#include <math.h>
#include <stdlib.h>

enum { MIN_GAP_MS = 10000 }; /* no key frame for this long (or 3 GOPs): decode all */

void decode_policy_init(decode_policy *p, decode_mode mode, double fps_limit, int skip_frames)
{
    *p = (decode_policy){.mode = mode,
                         .want_ms = fps_limit > 0 ? (int64_t)llround(1000.0 / fps_limit) : 0,
                         .skip = skip_frames,
                         .last_key_ms = -1};
    p->hoping = mode == DECODE_AUTO && p->want_ms > 0 && !p->skip;
    p->keys_only = mode == DECODE_KEYFRAMES || p->hoping;
}

/* Key frames only while every wanted frame is a key frame: one frame per GOP
 * or fewer, and no skip_frames counting (it counts decoded frames); regular
 * intervals, or too few yet to tell. */
static bool auto_keys_only(const decode_policy *p)
{
    if (p->want_ms <= 0 || p->skip) return false;
    if (p->gop_ms > 0 && p->want_ms * 100 < p->gop_ms * 95) return false;
    return p->regular >= 1 || p->intervals < 2;
}

static void learn(decode_policy *p, int64_t pts_ms)
{
    if (p->last_key_ms >= 0 && pts_ms > p->last_key_ms) {
        int64_t gap = pts_ms - p->last_key_ms;
        /* Regular: within a quarter of the previous interval. */
        bool close = p->gop_ms > 0 && llabs(gap - p->gop_ms) * 4 <= p->gop_ms;
        p->regular = close ? p->regular + 1 : 0;
        p->gop_ms = gap;
        p->intervals++;
    }
    p->last_key_ms = pts_ms;
}

bool decode_policy_wants(decode_policy *p, bool key, int64_t pts_ms)
{
    if (p->mode == DECODE_ALL || pts_ms < 0) return true;
    /* Time went back (a loop, a reconnect): the next key frame starts the
     * count again; what was learned stands until an interval differs. */
    if (p->last_key_ms >= 0 && pts_ms + 1000 < p->last_key_ms) p->last_key_ms = -1;
    if (key) {
        learn(p, pts_ms);
        if (p->mode == DECODE_AUTO && !p->fell_back) {
            p->keys_only = auto_keys_only(p); /* switches at a key frame: decodable */
            p->hoping = p->keys_only && p->intervals < 2;
        }
        return true;
    }
    if (!p->keys_only) return true;
    /* Hoping, and a wanted frame is not a key frame: this GOP is longer than
     * the sampling interval (as long as this, at least). */
    if (p->hoping && p->last_key_ms >= 0 && (pts_ms - p->last_key_ms) * 95 > p->want_ms * 100) {
        p->keys_only = p->hoping = false;
        p->catch_up_now = true;
        if (p->gop_ms < pts_ms - p->last_key_ms) p->gop_ms = pts_ms - p->last_key_ms;
        return true;
    }
    int64_t limit = p->gop_ms * 3 > MIN_GAP_MS ? p->gop_ms * 3 : MIN_GAP_MS;
    if (p->last_key_ms >= 0 && pts_ms - p->last_key_ms > limit) {
        p->keys_only = false; /* no key frame for too long: decode everything */
        p->fell_back = p->fell_back_now = true;
        return true;
    }
    return false;
}
