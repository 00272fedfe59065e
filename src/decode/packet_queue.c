/* Compressed packets kept in order, as references, up to a byte budget: what
 * a camera did not decode while hoping for key frames only (decode_policy.c), to be
 * decoded after all if a frame in between turns out to be wanted. */
#include <stdlib.h>

#include "decode.h"

void packet_queue_init(packet_queue *q, size_t max_bytes)
{
    *q = (packet_queue){.max_bytes = max_bytes};
}

bool packet_queue_push(packet_queue *q, const AVPacket *pkt)
{
    if (q->bytes + (size_t)pkt->size > q->max_bytes) return false;
    if (q->n == q->cap) {
        int nc = q->cap ? q->cap * 2 : 64;
        AVPacket **nv = realloc(q->v, sizeof *nv * (size_t)nc);
        if (!nv) return false;
        q->v = nv, q->cap = nc;
    }
    AVPacket *p = av_packet_clone(pkt);
    if (!p) return false;
    q->v[q->n++] = p;
    q->bytes += (size_t)pkt->size;
    return true;
}

int packet_queue_clear(packet_queue *q)
{
    int n = q->n;
    for (int i = 0; i < q->n; i++)
        av_packet_free(&q->v[i]);
    q->n = 0;
    q->bytes = 0;
    return n;
}

void packet_queue_free(packet_queue *q)
{
    packet_queue_clear(q);
    free(q->v);
    *q = (packet_queue){0};
}
