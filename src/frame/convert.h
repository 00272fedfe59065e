/* frame.c's helpers: picture -> packed RGB24 with libswscale at any size, and
 * a key frame decoded again. */
#ifndef KVS_FRAME_CONVERT_H
#define KVS_FRAME_CONVERT_H

#include <stdbool.h>

#include "frame.h"

bool convert_supported(int pix_fmt);
kerr_code convert_to_rgb(const struct AVFrame *pic, int dw, int dh, uint8_t *dst, int dst_stride,
                         kerr *err);

/* Decodes a key frame's packet on its own (a decoder for this one picture). */
struct AVFrame *convert_redecode(const struct AVPacket *key, const struct AVCodecParameters *par,
                                 kerr *err);

#endif
