/* decode: compressed packets -> AVFrames (libavcodec, H.264/H.265 and the
 * rest of FFmpeg's decoders), and AVFrame -> packed RGB kframe (libswscale).
 * Conversion is a separate call so frames the sampler drops are never
 * converted or copied. */
#ifndef KVS_DECODE_H
#define KVS_DECODE_H

#include <libavcodec/avcodec.h>

#include "../core/core.h"
#include "../frame/frame.h"

typedef struct decoder decoder;

/* From now on FFmpeg's messages go to the JSON log (ffmpeg_log.c). */
void decode_route_ffmpeg_logs(void);

/* threads: decoder threads (0 lets FFmpeg choose). */
decoder *decoder_open(const AVCodecParameters *par, AVRational time_base, int threads, kerr *err);
void decoder_close(decoder *d);
/* Feeds one packet (NULL flushes). KERR_INVALID on corrupt data: the caller
 * counts it and goes on with the next packet. */
kerr_code decoder_send(decoder *d, const AVPacket *pkt, kerr *err);
/* KERR_OK with a frame, KERR_AGAIN when more input is needed, KERR_EOF after a flush. */
kerr_code decoder_receive(decoder *d, AVFrame *out, kerr *err);
/* Media time of a decoded frame in ms (best effort timestamp). */
int64_t decoder_frame_ms(const decoder *d, const AVFrame *f);
/* Converts to a new RGB kframe (caller owns the reference). */
kframe *decoder_to_rgb(decoder *d, const AVFrame *f, kerr *err);

#endif
