/* source: where compressed video comes from. A source hands out packets with
 * their codec parameters; decoding is the decoder's job. Sources register by
 * name the way FFmpeg registers demuxers: one file plus one line in
 * registry.c. */
#ifndef KVS_SOURCE_H
#define KVS_SOURCE_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <stdatomic.h>

#include "../config/config.h"
#include "../core/core.h"

typedef struct {
    const AVCodecParameters *codecpar; /* owned by the source, valid until close */
    AVRational time_base;
    double fps;   /* nominal frame rate, 0 when unknown */
    bool is_live; /* network/live input: pacing comes from the source itself */
} source_info;

typedef struct {
    int64_t producer_ts_ms; /* -1 when unknown */
    int64_t server_ts_ms;
    char fragment_number[64];
    bool new_stream; /* codec parameters changed: the decoder must be reopened */
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
} source_env;

typedef struct source_ops {
    const char *name;
    source_mode mode;
    /* info stays the source's to update until close: when a packet comes with
     * meta->new_stream, info->codecpar describes the new stream. */
    kerr_code (*open)(void **state, const cfg_camera *cam, const source_env *env, source_info *info,
                      kerr *err);
    /* KERR_OK with a packet, KERR_EOF at the end of the input, other codes on errors.
     * KVS sources retry inside, forever, reporting through env, and return only
     * once env->stop is set. */
    kerr_code (*read)(void *state, AVPacket *pkt, packet_meta *meta, kerr *err);
    /* Rewind to the start (files with loop: true); NULL when not seekable. */
    kerr_code (*rewind)(void *state, kerr *err);
    void (*close)(void *state);
    /* Whether this camera's input is on the network: then a failed open, a read
     * error and the end of the stream are all disconnects, retried forever with
     * capped backoff (a camera rebooting, a stream not created yet, a network
     * not up yet). Otherwise (local files) they end the camera. */
    bool (*network)(const cfg_camera *cam);
} source_ops;

/* Whether env->stop is set (sources poll it in every wait). */
static inline bool source_stopping(const source_env *env)
{
    return env->stop && atomic_load(env->stop);
}

const source_ops *source_find(source_mode mode);
const char *source_mode_name(source_mode mode);

/* Reconnect policy: capped exponential backoff, reset after a good read. */
typedef struct {
    int64_t delay_ms, max_ms;
} backoff;
void backoff_init(backoff *b, int64_t max_ms);
int64_t backoff_next(backoff *b); /* the delay to wait now, then doubles */
void backoff_reset(backoff *b);

#endif
