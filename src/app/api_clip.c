/* An event's clip kept in the KVS archive (clip.from kvs, docs/publishing.md
 * "Clips from the KVS archive"): /api/v1/events/{id}/clip.mp4 fetched through
 * GetClip on each request (nothing is stored here), /clip-hls an ON_DEMAND
 * HLS link over the same range that plays without credentials. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

/* How long an HLS link works: long enough to watch it, short for a link. */
#define CLIP_HLS_EXPIRES_S 3600

static bool reply_error(http_response *rs, unsigned status, const char *msg)
{
    rs->status = status;
    rs->type = "application/json";
    json_t *j = json_pack("{ss}", "error", msg);
    rs->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    rs->len = rs->body ? strlen(rs->body) : 0;
    json_decref(j);
    return true;
}

static unsigned status_of(kerr_code rc)
{
    return rc == KERR_NOT_FOUND ? 404 : 502; /* anything else: KVS did not answer as it should */
}

static bool serve_mp4(const config *cfg, const kvs_clip_ref *ref, http_response *rs)
{
    kerr err = {0};
    aws_http_response resp;
    kerr_code rc = kvs_clip_get(cfg, ref, &resp, &err);
    if (rc != KERR_OK) {
        aws_http_response_free(&resp);
        return reply_error(rs, status_of(rc), err.msg);
    }
    rs->status = 200;
    rs->type = "video/mp4";
    rs->body = resp.body; /* the MP4 is the response's now */
    rs->len = resp.body_len;
    resp.body = NULL;
    aws_http_response_free(&resp);
    rs->hdr_name[rs->nhdr] = "Cache-Control"; /* the archived range does not change */
    rs->hdr_value[rs->nhdr++] = "private, max-age=3600";
    return true;
}

static bool serve_hls(const config *cfg, const kvs_clip_ref *ref, http_response *rs)
{
    kerr err = {0};
    char *url = NULL;
    kerr_code rc = kvs_clip_hls_url(cfg, ref, CLIP_HLS_EXPIRES_S, &url, &err);
    if (rc != KERR_OK) return reply_error(rs, status_of(rc), err.msg);
    json_t *j = json_pack("{s:s,s:i}", "url", url, "expires_s", CLIP_HLS_EXPIRES_S);
    free(url);
    rs->status = 200;
    rs->type = "application/json";
    rs->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    rs->len = rs->body ? strlen(rs->body) : 0;
    json_decref(j);
    return true;
}

bool api_kvs_clip(const config *cfg, const char *event_json, bool hls, http_response *rs)
{
    kerr err = {0};
    event *e = event_from_json(event_json, &err);
    if (!e) return reply_error(rs, 500, err.msg);
    const event_clip *c = &e->clip;
    kvs_clip_ref ref = {c->kvs_stream, c->kvs_region, c->kvs_start_ms, c->kvs_end_ms};
    bool done;
    if (!c->kvs_stream[0])
        done = false; /* not an archived clip: the caller serves its file */
    else
        done = hls ? serve_hls(cfg, &ref, rs) : serve_mp4(cfg, &ref, rs);
    event_free(e);
    return done;
}
