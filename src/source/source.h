/* source: where compressed video comes from. A source hands out packets with
 * their codec parameters; decoding is the decoder's job. Sources register by
 * name (their `mode:`) the way FFmpeg registers demuxers: one file plus one
 * line in registry.c (or SOURCE_REGISTER in a program's own file). Each
 * source reads its own keys under a camera's `source:` (settings.c). */
#ifndef KVS_SOURCE_H
#define KVS_SOURCE_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <stdatomic.h>

#include "../aws/aws.h"
#include "../config/config.h"
#include "../core/core.h"

typedef struct {
    const AVCodecParameters *codecpar; /* owned by the source, valid until close */
    AVRational time_base;
    double fps; /* nominal frame rate, 0 when unknown */
    /* Frames are released at their media time (a file played like a live
     * camera); live inputs are paced by themselves. */
    bool pace;
    bool loop; /* at the end, rewind and play on (rewind) */
} source_info;

typedef struct {
    int64_t producer_ts_ms; /* -1 when unknown */
    int64_t server_ts_ms;
    char fragment_number[64];
    int64_t fragment_start_ms; /* the KVS fragment's producer start time, -1 when unknown */
    bool new_stream;           /* codec parameters changed: the decoder must be reopened */
} packet_meta;

/* How a source reports to its camera while it reconnects on its own. */
typedef enum { SRC_CONNECTING, SRC_RUNNING, SRC_BACKOFF, SRC_STALLED } source_state;

typedef struct {
    const config *global; /* aws settings, endpoints */
    const char *camera;   /* for logs and metric labels */
    /* Set by the camera to stop: every wait, retry and I/O callback of the
     * source checks it, from the first instruction of open to close. */
    const atomic_bool *stop;
    void *owner;
    void (*state)(void *owner, source_state s);
    void (*error)(void *owner, const char *kind); /* counts kvs_infer_stream_errors_total */
    /* > 0: start at this producer time instead of the configured start (a
     * camera taken over from another worker resumes at its checkpoint: the
     * fragment it was in, through KVS replay). Only KVS sources use it. */
    int64_t resume_ms;
} source_env;

/* What a source's read_conf gets: the camera being read (its name,
 * stream_name and region are already read) and where its `source:` is. */
typedef struct {
    cfg_diags *d;
    const config *cfg;
    const ynode *cam, *src; /* src: the camera's `source:` map, NULL when absent */
    const char *cam_path, *src_path;
    const cfg_camera *c;
} source_read_ctx;

/* What the camera does with a source's failures and frames. */
enum {
    /* On the network: a failed open, a read error and the end of the stream
     * are disconnects, retried forever with capped backoff (a camera
     * rebooting, a stream not created yet, a network not up yet). Otherwise
     * (local files) they end the camera. */
    SOURCE_RETRY = 1 << 0,
    /* Every frame is analysed: none is dropped as stale, the reader waits
     * for inference instead (a file read as fast as it can be). */
    SOURCE_BATCH = 1 << 1,
    /* It reads a KVS stream, which archives what it reads: its events may
     * name their clip there (clip.from kvs) instead of keeping a copy. */
    SOURCE_KVS_ARCHIVE = 1 << 2,
};

typedef struct source_ops {
    const char *name;        /* its `mode:` */
    const char *const *keys; /* its keys under `source:`, besides mode and reconnect_max_s */
    /* `mode:` may be left out when this key is given (url: a url); without
     * either, the source marked is_default (KVS HLS with a stream_name). */
    const char *implied_by;
    bool is_default;
    /* Reads and checks its keys, reporting to r->d; returns its settings
     * (NULL only when out of memory), freed with conf_free. */
    void *(*read_conf)(const source_read_ctx *r);
    void (*conf_free)(void *conf);
    /* The settings as text. Read by the tests (test_config.c) only: the
     * service does not log it yet. */
    void (*describe)(const void *conf, char *out, size_t len);
    unsigned (*traits)(const void *conf); /* SOURCE_* */
    /* cam->source_conf holds the settings. info stays the source's to update
     * until close: when a packet comes with meta->new_stream,
     * info->codecpar describes the new stream. */
    kerr_code (*open)(void **state, const cfg_camera *cam, const source_env *env, source_info *info,
                      kerr *err);
    /* KERR_OK with a packet, KERR_EOF at the end of the input, other codes on errors.
     * KVS sources retry inside, forever, reporting through env, and return only
     * once env->stop is set. */
    kerr_code (*read)(void *state, AVPacket *pkt, packet_meta *meta, kerr *err);
    /* Rewind to the start (info->loop); NULL when not seekable. */
    kerr_code (*rewind)(void *state, kerr *err);
    void (*close)(void *state);
} source_ops;

/* Whether env->stop is set (sources poll it in every wait). */
static inline bool source_stopping(const source_env *env)
{
    return env->stop && atomic_load(env->stop);
}

const source_ops *source_find(const char *name);
/* The i-th registered source, NULL past the end. */
const source_ops *source_at(int i);
/* Adds a source built outside registry.c, before the config is loaded;
 * KERR_INVALID when the name is taken or the table is full. */
kerr_code source_register(const source_ops *ops, kerr *err);
/* One line in the source's own file registers it at start-up; a refusal is
 * kept and reported by source_registry_check (the program then exits 2). */
#define SOURCE_REGISTER(ops)                                                                       \
    __attribute__((constructor)) static void register_##ops(void)                                  \
    {                                                                                              \
        source_register(&ops, NULL);                                                               \
    }
/* KERR_INVALID naming a source refused at start-up (a taken name, a full table). */
kerr_code source_registry_check(kerr *err);

/* Reconnect policy: capped exponential backoff, reset after a good read. */
typedef struct {
    int64_t delay_ms, max_ms;
} backoff;
void backoff_init(backoff *b, int64_t max_ms);
int64_t backoff_next(backoff *b); /* the delay to wait now, then doubles */
void backoff_reset(backoff *b);

/* kvs_clip.c: a clip kept in a KVS stream's archive (clip.from kvs), for the
 * operator page's API. */
typedef struct {
    const char *stream, *region; /* region NULL or "": the config's aws_region */
    int64_t start_ms, end_ms;    /* producer time, epoch ms */
} kvs_clip_ref;
/* GetClip: the range as one MP4 in out->body (body_len bytes). KERR_NOT_FOUND
 * when the archive has nothing there (expired, never written). */
kerr_code kvs_clip_get(const config *g, const kvs_clip_ref *ref, aws_http_response *out, kerr *err);
/* GetHLSStreamingSessionURL, ON_DEMAND over the range: *url (caller frees)
 * plays in a browser or VLC for expires_s seconds without credentials. */
kerr_code kvs_clip_hls_url(const config *g, const kvs_clip_ref *ref, int expires_s, char **url,
                           kerr *err);

/* The sources' reader of a camera's `source:` (a cfg_readers member): finds
 * the source by `mode:` and lets it read its keys. */
void cfg_source_read(cfg_diags *d, const config *cfg, const ynode *cam, const char *path,
                     cfg_camera *c);

#endif
