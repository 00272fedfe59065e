/* An archived clip (clip.from kvs) on demand, for the operator page's API:
 * GetClip (one MP4) or an ON_DEMAND HLS session over the range, through the
 * stream's data endpoint like the KVS sources (kvs_client.c, SigV4). Runs on
 * the API's connection thread: a short-lived client per request. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kvs.h"

static const atomic_bool k_never_stop = false;

static void close_client(kvs_client *k)
{
    kvs_client_close(k);
    aws_http_cancel_when(NULL, NULL); /* env was on the caller's stack */
}

/* A client for stream in region, as a camera reading it would have. */
static kerr_code open_client(kvs_client *k, const config *g, const kvs_clip_ref *ref,
                             source_env *env, kerr *err)
{
    cfg_camera cam = {.name = "api",
                      .stream_name = (char *)ref->stream,
                      .region = ref->region && *ref->region ? (char *)ref->region : NULL};
    *env = (source_env){.global = g, .camera = "api", .stop = &k_never_stop};
    kerr_code rc = kvs_client_open(k, &cam, env, err);
    if (rc != KERR_OK) close_client(k);
    return rc;
}

/* The API's status for an AWS error: a range that is gone is not found. */
static kerr_code aws_rc(kerr_code rc, const aws_error *ae, kerr *err)
{
    if (rc != KERR_OK && strcmp(ae->code, "ResourceNotFoundException") == 0) {
        err->code = KERR_NOT_FOUND;
        return KERR_NOT_FOUND;
    }
    return rc;
}

static kerr_code call(const config *g, const kvs_clip_ref *ref, const char *api, const char *path,
                      const char *body, aws_http_response *out, kerr *err)
{
    kvs_client k;
    source_env env;
    kerr_code rc = open_client(&k, g, ref, &env, err);
    if (rc != KERR_OK) return rc;
    aws_error ae = {0};
    rc = kvs_data_endpoint(&k, api, &ae, err);
    if (rc == KERR_OK) rc = aws_rc(kvs_post(&k, k.endpoint, path, body, out, &ae, err), &ae, err);
    close_client(&k);
    return rc;
}

/* The JSON of a request over the range (caller frees); selector: the field
 * holding the fragment selector. */
static char *range_body(const kvs_clip_ref *ref, const char *selector, json_t *extra)
{
    json_t *range = json_pack("{s:f,s:f}", "StartTimestamp", (double)ref->start_ms / 1000.0,
                              "EndTimestamp", (double)ref->end_ms / 1000.0);
    json_t *req = json_pack("{s:s,s:{s:s,s:o}}", "StreamName", ref->stream, selector,
                            "FragmentSelectorType", "PRODUCER_TIMESTAMP", "TimestampRange", range);
    if (req && extra) json_object_update(req, extra);
    json_decref(extra);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    return body;
}

kerr_code kvs_clip_get(const config *g, const kvs_clip_ref *ref, aws_http_response *out, kerr *err)
{
    memset(out, 0, sizeof *out);
    char *body = range_body(ref, "ClipFragmentSelector", NULL);
    if (!body) return kerr_set(err, KERR_NOMEM, "out of memory");
    kerr_code rc = call(g, ref, "GET_CLIP", "/getClip", body, out, err);
    free(body);
    return rc;
}

kerr_code kvs_clip_hls_url(const config *g, const kvs_clip_ref *ref, int expires_s, char **url,
                           kerr *err)
{
    *url = NULL;
    char *body = range_body(ref, "HLSFragmentSelector",
                            json_pack("{s:s,s:s,s:i}", "PlaybackMode", "ON_DEMAND",
                                      "ContainerFormat", "FRAGMENTED_MP4", "Expires", expires_s));
    if (!body) return kerr_set(err, KERR_NOMEM, "out of memory");
    aws_http_response resp = {0};
    kerr_code rc = call(g, ref, "GET_HLS_STREAMING_SESSION_URL", "/getHLSStreamingSessionURL", body,
                        &resp, err);
    free(body);
    if (rc != KERR_OK) return rc;
    json_t *root = json_loads(resp.body ? resp.body : "", 0, NULL);
    const char *u = json_string_value(json_object_get(root, "HLSStreamingSessionURL"));
    *url = u ? kstrdup(u) : NULL;
    json_decref(root);
    aws_http_response_free(&resp);
    return *url ? KERR_OK
                : kerr_set(err, KERR_INVALID, "GetHLSStreamingSessionURL: no URL in the answer");
}
