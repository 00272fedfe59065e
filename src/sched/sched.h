/* sched: between the readers and the detectors. A sampler decides which
 * decoded frames are analysed (before any conversion); each camera has a small
 * frame slot; a bounded pool of workers takes cameras whose slot holds a frame.
 * A camera is analysed by one worker at a time, so its frames stay in order and
 * its tracker needs no lock. When analysis falls behind a live camera, the
 * oldest waiting frame is dropped (stale), never an event. */
#ifndef KVS_SCHED_H
#define KVS_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "../config/config.h"
#include "../frame/frame.h"

typedef struct {
    int64_t interval_ms; /* 0: no fps limit */
    int skip;            /* analyse every (skip+1)th frame */
    int64_t count;
    int64_t next_ms;
    int64_t tolerance_ms; /* a frame this early still counts as due (key frames only) */
    bool started;
} sampler;

void sampler_init(sampler *s, double fps_limit, int skip_frames);
/* pts_ms < 0 (unknown) passes the fps limit; the skip rule still applies. */
bool sampler_take(sampler *s, int64_t pts_ms);

/* Catch-up after a takeover (catch_up.c): a camera resumed from a lease's
 * checkpoint reads the replayed fragments faster than real time and analyses
 * every due frame, none dropped as stale, until it is live: its lag behind the
 * producer small, or no longer shrinking (a long live latency, or analysis
 * too slow to gain on the stream). */
typedef struct {
    bool on;
    bool have_window;
    int still;                        /* windows in a row without gaining */
    int64_t window_ms, window_lag_ms; /* the trend's reference: wall time and lag */
} catch_up;

typedef enum {
    CATCH_UP_OFF,    /* not catching up */
    CATCH_UP_BEHIND, /* still behind: every due frame */
    CATCH_UP_LIVE,   /* this frame is close to live: ends the catch-up */
    CATCH_UP_STILL,  /* the lag stopped shrinking: ends the catch-up */
} catch_up_state;

void catch_up_init(catch_up *k, bool on);
/* A due frame with producer time producer_ms at wall time now_ms; writes its
 * lag. LIVE or STILL once, on the frame that ends the catch-up. */
catch_up_state catch_up_frame(catch_up *k, int64_t producer_ms, int64_t now_ms, int64_t *lag_ms);

/* Which packets go to the decoder (decode_policy.c). */
typedef struct {
    decode_mode mode;
    int64_t want_ms; /* the sampler's interval, 0: every frame */
    int skip;        /* skip_frames */
    int64_t last_key_ms, gop_ms;
    int regular;        /* key intervals in a row like the one before (1: two alike) */
    int intervals;      /* key intervals seen */
    bool keys_only;     /* the decision now */
    bool hoping;        /* auto, GOP not known yet: key frames only until one is wanted */
    bool catch_up_now;  /* set once hope ends: decode the skipped packets of this GOP */
    bool fell_back;     /* key frames stopped coming: decoding all from now on */
    bool fell_back_now; /* set once, for the caller's log line */
} decode_policy;

void decode_policy_init(decode_policy *p, decode_mode mode, double fps_limit, int skip_frames);
/* Whether the packet (key frame or not, its time in ms; < 0 unknown) is
 * decoded; a packet that is not is dropped before the decoder. */
bool decode_policy_wants(decode_policy *p, bool key, int64_t pts_ms);

typedef struct sched sched;
typedef struct sched_cam sched_cam;
/* Called on a worker thread; takes ownership of the frame reference. */
typedef void (*sched_fn)(void *cam_ctx, kframe *f, int worker, void *user);

sched *sched_new(int workers, sched_fn fn, void *user);
/* Finishes the frames already queued, then joins the workers. */
void sched_free(sched *s);
/* After a signal: the workers finish the frame each is on and stop; queued
 * frames are dropped (sched_cam_remove counts them) and pushes refused, so a
 * backlog of minutes cannot hold up the exit. */
void sched_abandon(sched *s);

/* drop_stale: live cameras drop the oldest waiting frame when the slot is
 * full, and a worker analyses a live camera's newest waiting frame, dropping
 * the older ones; batch inputs (realtime: false) block the reader instead and
 * have every frame analysed in order. */
sched_cam *sched_cam_add(sched *s, void *cam_ctx, int depth, bool drop_stale);
/* Catching up (a camera resumed from a checkpoint) analyses every due frame
 * like a batch input; once live it drops stale frames again. */
void sched_cam_set_drop_stale(sched_cam *c, bool drop_stale);
/* Returns the number of stale frames dropped since the last push (to make
 * room, or by a worker taking a newer one), or -1 when the camera was closed
 * (the frame is released). */
int sched_push(sched_cam *c, kframe *f);
/* Stops accepting frames, waits until the queued ones are analysed (or only
 * the one in analysis after sched_abandon), frees; returns the frames dropped
 * since the last push (stale, or left queued by sched_abandon). */
int sched_cam_remove(sched_cam *c);
int sched_cam_depth(sched_cam *c);
/* Frames queued plus the one in analysis. */
int sched_cam_pending(sched_cam *c);

#endif
