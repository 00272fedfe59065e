/* decode: compressed packets -> AVFrames (libavcodec, H.264/H.265 and the
 * rest of FFmpeg's decoders) -> kframes. Wrapping is a separate call so frames
 * the sampler drops are never kept; a kframe holds the decoder's picture
 * itself (no copy, no conversion: see frame.h). */
#ifndef KVS_DECODE_H
#define KVS_DECODE_H

#include <libavcodec/avcodec.h>

#include "../core/core.h"
#include "../frame/frame.h"

typedef struct decoder decoder;

/* From now on FFmpeg's messages go to the JSON log (ffmpeg_log.c). */
void decode_route_ffmpeg_logs(void);

/* Only key frames will be sent: each comes out at once, and the decoder keeps
 * no pictures between them. Without it a stream with B-frames holds its
 * reorder depth of pictures back: two GOPs late when only key frames go in,
 * and three pictures held (15 MB at 1080p). */
#define DECODER_KEYS_ONLY 1u

/* threads: decoder threads (0 lets FFmpeg choose); flags: DECODER_*. */
decoder *decoder_open(const AVCodecParameters *par, AVRational time_base, int threads,
                      unsigned flags, kerr *err);
bool decoder_keys_only(const decoder *d);
void decoder_close(decoder *d);
/* Feeds one packet (NULL flushes). KERR_INVALID on corrupt data: the caller
 * counts it and goes on with the next packet. */
kerr_code decoder_send(decoder *d, const AVPacket *pkt, kerr *err);
/* KERR_OK with a frame, KERR_AGAIN when more input is needed, KERR_EOF after a flush. */
kerr_code decoder_receive(decoder *d, AVFrame *out, kerr *err);
/* Media time of a decoded frame in ms (best effort timestamp). */
int64_t decoder_frame_ms(const decoder *d, const AVFrame *f);
/* A new kframe holding a reference to the decoded picture (the caller owns
 * the kframe; f itself may be unreferenced at once). */
kframe *decoder_to_frame(decoder *d, const AVFrame *f, kerr *err);

/* Packets kept in order (references), up to max_bytes (packet_queue.c). */
typedef struct {
    AVPacket **v;
    int n, cap;
    size_t bytes, max_bytes;
} packet_queue;

void packet_queue_init(packet_queue *q, size_t max_bytes);
/* False when the budget or memory runs out: the packet is not kept. */
bool packet_queue_push(packet_queue *q, const AVPacket *pkt);
/* Drops every packet; returns how many there were. */
int packet_queue_clear(packet_queue *q);
void packet_queue_free(packet_queue *q);

#endif
