/* When a camera resumed from a checkpoint is live again (sched.h). */
#include "sched.h"

enum {
    LIVE_LAG_MS = 1500, /* this close to the producer: live whatever the trend */
    /* Not gaining any more this close is the source's own live latency (KVS
     * HLS lists a fragment only once it is complete): live, not a failure. */
    NEAR_LAG_MS = 4000,
    WINDOW_MS = 2000,  /* the trend is judged over this much wall time */
    MIN_GAIN_MS = 500, /* gaining less than this per window: not catching up */
    STILL_WINDOWS = 2, /* that many windows in a row end the catch-up */
};

void catch_up_init(catch_up *k, bool on)
{
    *k = (catch_up){.on = on};
}

catch_up_state catch_up_frame(catch_up *k, int64_t producer_ms, int64_t now_ms, int64_t *lag_ms)
{
    int64_t lag = now_ms - producer_ms;
    if (lag < 0) lag = 0;
    *lag_ms = lag;
    if (!k->on) return CATCH_UP_OFF;
    catch_up_state st = CATCH_UP_BEHIND;
    if (lag <= LIVE_LAG_MS) {
        st = CATCH_UP_LIVE;
    } else if (!k->have_window) {
        k->window_ms = now_ms, k->window_lag_ms = lag, k->have_window = true;
    } else if (now_ms - k->window_ms >= WINDOW_MS) {
        /* Not gaining on the producer: a source whose live latency is long
         * (KVS HLS: a fragment or more) is live, or analysis is too slow to
         * catch up and the newest frames are all it can have. */
        k->still = k->window_lag_ms - lag < MIN_GAIN_MS ? k->still + 1 : 0;
        if (k->still >= STILL_WINDOWS) st = lag <= NEAR_LAG_MS ? CATCH_UP_LIVE : CATCH_UP_STILL;
        k->window_ms = now_ms, k->window_lag_ms = lag;
    }
    if (st != CATCH_UP_BEHIND) k->on = false;
    return st;
}
