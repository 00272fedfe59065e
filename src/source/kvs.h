/* What the two KVS sources (kvs_hls.c, kvs_getmedia.c) share: the stream's
 * control-plane client with cached data endpoints, signed calls, and the
 * reconnect bookkeeping. Private to src/source. */
#ifndef KVS_SOURCE_KVS_H
#define KVS_SOURCE_KVS_H

#include <curl/curl.h>
#include <stdatomic.h>

#include "../aws/aws.h"
#include "source.h"

enum { KVS_START_NOW = -1, KVS_START_EARLIEST = -2 };

/* The KVS sources' settings under `source:` (getmedia reads only start). */
typedef struct {
    int64_t start_ms;       /* KVS_START_NOW, KVS_START_EARLIEST or an epoch ms (replay) */
    bool ts;                /* container: ts (MPEG-TS) instead of fmp4 */
    int playlist_fragments; /* HLS MaxMediaPlaylistFragmentResults */
    int expires_s;          /* HLS session lifetime asked for (renewed before it ends) */
} kvs_conf;

/* Reads start (and, for HLS, container, playlist_fragments, expires_s) and
 * checks that the camera has a stream_name and a region. */
void *kvs_conf_read(const source_read_ctx *r, bool hls);
void kvs_conf_free(void *conf);
void kvs_conf_describe(const void *conf, char *out, size_t len);
/* Both KVS sources are network sources: every error is retried. */
unsigned kvs_traits(const void *conf);

typedef struct {
    const aws_shared *aws;
    const source_env *env;
    char region[64], control[512], stream[260];
    char endpoint[512], endpoint_api[48]; /* the cached data endpoint and its APIName */
    int64_t endpoint_ms;
} kvs_client;

kerr_code kvs_client_open(kvs_client *k, const cfg_camera *cam, const source_env *env, kerr *err);
void kvs_client_close(kvs_client *k);
/* GetDataEndpoint for api (GET_MEDIA, GET_HLS_STREAMING_SESSION_URL), cached
 * for 45 minutes and until kvs_forget_endpoint after an error. */
kerr_code kvs_data_endpoint(kvs_client *k, const char *api, aws_error *ae, kerr *err);
void kvs_forget_endpoint(kvs_client *k);
/* A signed POST of JSON to base + path (service kinesisvideo). */
kerr_code kvs_post(kvs_client *k, const char *base, const char *path, const char *body,
                   aws_http_response *resp, aws_error *ae, kerr *err);
/* The signed headers for a POST the caller sends itself (GetMedia streams). */
kerr_code kvs_sign(kvs_client *k, const char *url, const char *body, struct curl_slist **out,
                   kerr *err);
/* What a source tells its camera: its state, and an error of a kind
 * (kvs_infer_stream_errors_total). */
void kvs_report(const source_env *env, source_state st);
void kvs_count(const source_env *env, const char *kind);
int64_t kvs_now_ms(void); /* monotonic */
/* Waits ms unless the camera stops; false when it stops. */
bool kvs_sleep(kvs_client *k, int64_t ms);

#endif
