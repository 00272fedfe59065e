/* frame: one decoded, sampled picture with its timestamps. A frame from the
 * decoder keeps the decoder's own picture (YUV, a reference into its buffer
 * pool): detectors scale it straight into their input (frame_scale_rgb), and
 * the full-size packed RGB copy is made only when something asks for it
 * (frame_rgb: a crop reader, a plugin), then kept with the frame. A key frame
 * also keeps its compressed packet, so that a frame left waiting (a track's
 * best sighting, for its snapshot) can shrink to that (frame_compact: 150 KB
 * instead of 3 MB at 1080p) and be decoded again if its event comes.
 * Frames are reference counted: the analysing worker and the tracks waiting
 * to report (snapshots) may hold the same frame. */
#ifndef KVS_FRAME_H
#define KVS_FRAME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "../core/core.h"

struct AVFrame;
struct AVPacket;
struct AVCodecParameters;

typedef struct {
    int width, height;
    struct AVFrame *pic;           /* the decoder's picture, NULL for frames made as RGB */
    struct AVPacket *key;          /* a key frame's packet: the picture decodes from it alone */
    struct AVCodecParameters *par; /* the stream's, to decode key with */
    int stride;                    /* of rgb: bytes per row */
    uint8_t *rgb;                  /* stride * height bytes, R,G,B order; see frame_rgb */
    int64_t pts_ms;                /* media time of the frame */
    int64_t producer_ts_ms;        /* capture time from the source, -1 when unknown */
    int64_t server_ts_ms;          /* ingestion time, -1 when unknown */
    char fragment_number[64];      /* KVS fragment, "" when none */
    int64_t fragment_start_ms;     /* its producer start time, -1 when unknown */
    int64_t decoded_mono_ns;       /* when the decoder produced it (latency) */
    int64_t seq;                   /* per-camera sequence of analysed frames */
    unsigned clip_gen;             /* the camera's clip ring generation it was read in */
    atomic_int refs;
    pthread_mutex_t rgb_lock; /* makes the RGB copy once */
} kframe;

/* A frame of packed RGB (rgb allocated, contents undefined). */
kframe *frame_new(int width, int height);
/* A frame holding a new reference to a decoded picture (any pixel format
 * libswscale reads); NULL with err set when it cannot be used. */
kframe *frame_from_picture(const struct AVFrame *pic, kerr *err);
/* Keeps the key frame's packet (a reference) and the stream's parameters. */
kerr_code frame_keep_key(kframe *f, const struct AVPacket *pkt, const struct AVCodecParameters *par,
                         kerr *err);
/* A frame that can be decoded again from its key packet lets go of its
 * picture and RGB copy. Only by the thread analysing the frame's camera, the
 * one thread that reads a camera's frames at a time. */
void frame_compact(kframe *f);
kframe *frame_ref(kframe *f);
void frame_unref(kframe *f);

/* The frame as packed RGB24 (f->stride bytes per row), made from the picture on
 * the first call and kept with the frame; NULL with err set when that fails.
 * Safe to call from several threads. */
const uint8_t *frame_rgb(const kframe *f, kerr *err);

/* The frame's picture, or one decoded again from its key packet (then *owned,
 * which the caller frees with av_frame_free); NULL with err set when there is
 * neither. */
const struct AVFrame *frame_picture(const kframe *f, struct AVFrame **owned, kerr *err);

/* Scales the frame's picture (decoded again if compacted) into a packed RGB24
 * image of dw x dh (dst_stride bytes per row) in one libswscale pass. */
kerr_code frame_scale_rgb(const kframe *f, int dw, int dh, uint8_t *dst, int dst_stride, kerr *err);

/* Nanoseconds this thread spent converting pictures since the last call (the
 * app reports it as the "convert" stage); conversions made elsewhere (a
 * detector's own letterbox) add theirs. */
int64_t frame_convert_ns_take(void);
void frame_convert_ns_add(int64_t ns);
/* Frees the cached converters (at exit, for the leak checkers). */
void frame_convert_shutdown(void);

#endif
