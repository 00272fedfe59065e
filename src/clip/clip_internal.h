/* What the clip stage's files share (not part of its face, clip.h). */
#ifndef KVS_CLIP_INTERNAL_H
#define KVS_CLIP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "clip.h"

enum { CLIP_MAX_OPEN = 16 };

typedef struct {
    AVPacket *pkt;
    int64_t offset_tb;              /* the loop offset, in the stream's time base */
    int64_t pts_ms, dts_ms, dur_ms; /* with the loop offset */
    bool key;
} clip_entry;

/* A clip waiting for its post-roll. */
typedef struct {
    uint64_t from_seq; /* its first packet: a key frame */
    int64_t start_ms, end_ms;
    bool cut; /* its start was no longer kept */
    char owner_id[37];
    int64_t owner_at_ms;
    char **events; /* the JSON of each event sharing it, as published */
    int nevents;
} clip_open;

/* A finished clip on its way to the clip thread. */
typedef struct clip_job {
    AVCodecParameters *par;
    AVRational tb;
    AVPacket **pkts;
    int64_t *offsets;
    int n;
    size_t bytes;
    int64_t start_ms, end_ms; /* what the packets cover */
    bool cut;
    char **events;
    int nevents;
    struct clip_job *next;
} clip_job;

struct clip_ring {
    pthread_mutex_t mu;
    char camera[CFG_CAMERA_NAME_MAX + 1];
    char cam_label[200];
    publish_hub *hub;
    int64_t pre_ms, post_ms;
    int64_t slack_ms; /* kept before the pre-roll of the frame in analysis (CLIP_SLACK_MS) */
    long long max_bytes;
    /* the packets, oldest first, in a circular array; seq numbers them */
    clip_entry *v;
    int head, n, cap;
    uint64_t first_seq;
    size_t bytes;
    int64_t max_pts_ms;        /* of the packets pushed in this stream */
    int64_t last_dts_ms;       /* of the last packet pushed in this generation */
    atomic_uint gen;           /* the generation: one per connection (clip_ring_generation) */
    atomic_uint analysing_gen; /* of the frame in analysis */
    atomic_llong
        analysing_ms; /* the frame in analysis (clip_ring_analysing), LLONG_MIN: none yet */
    bool dropped;     /* packets of this stream were dropped: an older start is gone */
    AVCodecParameters *par;
    AVRational tb;
    bool have_stream, ended;
    clip_open open[CLIP_MAX_OPEN];
    int nopen;
    /* the clip thread's queue (writer.c), under mu too */
    pthread_cond_t cv;
    clip_job *qhead, *qtail;
    size_t queued;   /* bytes of the queued jobs' packets */
    int unsubmitted; /* events named a clip and not yet spooled themselves */
    bool stop;
    atomic_llong close_by_ms; /* wall: past it the clip thread waits for nothing; 0: open */
    bool lost_logged;         /* the clip thread logged why clips are lost (once a run) */
    bool gop_warned;          /* clip.max_bytes is below one GOP: said once */
    pthread_t thread;
    bool thread_started;
};

/* Bytes of packets every ring and queue hold (CLIP_TOTAL_MAX_BYTES). */
extern atomic_llong clip_total_bytes;

/* writer.c; called with mu held. */
void clip_writer_enqueue(clip_ring *r, clip_job *j);
void clip_job_free(clip_job *j);
/* ring.c: cuts the open clips and lets go of every packet. */
void clip_ring_drop_all(clip_ring *r);

#endif
