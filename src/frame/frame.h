/* frame: one decoded, sampled picture in packed RGB24 with its timestamps.
 * Frames are reference counted: the analysing worker and the event builder
 * (snapshots) may hold the same frame. */
#ifndef KVS_FRAME_H
#define KVS_FRAME_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct {
    int width, height, stride;
    uint8_t *rgb;             /* stride * height bytes, R,G,B order */
    int64_t pts_ms;           /* media time of the frame */
    int64_t producer_ts_ms;   /* capture time from the source, -1 when unknown */
    int64_t server_ts_ms;     /* ingestion time, -1 when unknown */
    char fragment_number[64]; /* KVS fragment, "" when none */
    int64_t decoded_mono_ns;  /* when the decoder produced it (latency) */
    int64_t seq;              /* per-camera sequence of analysed frames */
    atomic_int refs;
} kframe;

kframe *frame_new(int width, int height);
kframe *frame_ref(kframe *f);
void frame_unref(kframe *f);

#endif
