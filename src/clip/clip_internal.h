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

/* A clip waiting for its post-roll. Its packets go to the clip thread as
 * they are read (from its key frame on), which muxes them into the clip's
 * file: the ring keeps no packet for it. */
typedef struct {
    uint64_t id;         /* names its file on the clip thread */
    int64_t from_pts_ms; /* its first packet's (a key frame) */
    int64_t start_ms, end_ms;
    bool cut; /* its start was no longer kept */
    char owner_id[37];
    int64_t owner_at_ms;
    char **events; /* the JSON of each event sharing it, as published */
    int nevents;
} clip_open;

/* What the ring tells the clip thread about clip_id, in order: its stream
 * (open: a file is started), each of its packets, and that it is over
 * (finish: the file is closed and spooled with the events sharing it). */
typedef enum { CLIP_JOB_OPEN, CLIP_JOB_PACKET, CLIP_JOB_FINISH } clip_job_kind;

typedef struct clip_job {
    clip_job_kind kind;
    uint64_t clip_id;
    AVCodecParameters *par; /* open */
    AVRational tb;          /* open */
    AVPacket *pkt;          /* packet: a reference, shared with the ring while it keeps it */
    int64_t offset_tb;      /* packet: the loop offset, in the stream's time base */
    int64_t pts_ms, dur_ms; /* packet: with the loop offset */
    size_t bytes;           /* packet: its size, counted in queued until written */
    bool cut;               /* finish */
    char **events;          /* finish: the JSON of each event sharing it */
    int nevents;
    struct clip_job *next;
} clip_job;

/* A clip's file on the clip thread (writer.c). */
typedef struct clip_file {
    uint64_t id;
    clip_mux *mux; /* NULL: it failed, err says why */
    kerr err;
    int64_t start_ms, end_ms; /* what its packets cover, -1: none yet */
    double secs;              /* spent muxing */
    struct clip_file *next;
} clip_file;

struct clip_ring {
    pthread_mutex_t mu;
    char camera[CFG_CAMERA_NAME_MAX + 1];
    char cam_label[200];
    publish_hub *hub;
    int64_t pre_ms, post_ms;
    int64_t
        slack_ms; /* kept at most before the pre-roll of the frame in analysis (CLIP_SLACK_MS) */
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
        analysing_ms;     /* the frame in analysis (clip_ring_analysing), LLONG_MIN: none yet */
    atomic_llong hold_ms; /* clip_ring_hold, LLONG_MAX: nothing held */
    bool dropped;         /* packets of this stream were dropped: an older start is gone */
    AVCodecParameters *par;
    AVRational tb;
    bool have_stream, ended;
    clip_open open[CLIP_MAX_OPEN];
    int nopen;
    uint64_t next_id;
    /* the clip thread's queue (writer.c), under mu too */
    pthread_cond_t cv;
    clip_job *qhead, *qtail;
    size_t queued;    /* bytes of the queued jobs' packets */
    clip_file *files; /* the clip thread's own: the open clips' files */
    int unsubmitted;  /* events named a clip and not yet spooled themselves */
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
