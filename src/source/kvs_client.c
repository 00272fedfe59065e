/* The KVS control plane for one camera: GetDataEndpoint with a cache, and
 * signed calls on the process-wide AWS session (SigV4, service kinesisvideo
 * for every KVS API). */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kvs.h"

#define ENDPOINT_TTL_MS (45 * 60 * 1000)

static bool stop_requested(void *env)
{
    return source_stopping(env);
}

kerr_code kvs_client_open(kvs_client *k, const cfg_camera *cam, const source_env *env, kerr *err)
{
    memset(k, 0, sizeof *k);
    const config *g = env->global;
    const char *region = cam->region ? cam->region : g ? g->aws_region : NULL;
    if (!region || !cam->stream_name)
        return kerr_set(err, KERR_INVALID, "a KVS source needs stream_name and a region");
    snprintf(k->region, sizeof k->region, "%s", region);
    snprintf(k->stream, sizeof k->stream, "%s", cam->stream_name);
    const char *ep = g ? g->endpoint[CFG_EP_KINESISVIDEO] : NULL;
    if (ep && *ep)
        snprintf(k->control, sizeof k->control, "%s", ep);
    else
        snprintf(k->control, sizeof k->control, "https://kinesisvideo.%s.amazonaws.com", region);
    size_t n = strlen(k->control);
    while (n && k->control[n - 1] == '/')
        k->control[--n] = '\0';
    k->env = env;
    /* Requests made on this (the reader's) thread give up once the camera stops. */
    aws_http_cancel_when(stop_requested, (void *)env);
    k->aws = aws_shared_acquire(g ? g->ca_bundle : NULL, g ? g->endpoint[CFG_EP_STS] : NULL, region,
                                err);
    return k->aws ? KERR_OK : (err ? err->code : KERR_INVALID);
}

void kvs_client_close(kvs_client *k)
{
    if (k->aws) aws_shared_release();
    k->aws = NULL;
}

kerr_code kvs_post(kvs_client *k, const char *base, const char *path, const char *body,
                   aws_http_response *resp, aws_error *ae, kerr *err)
{
    char url[1024], host[512], b[600];
    aws_split_endpoint(base, host, sizeof host, b, sizeof b);
    snprintf(url, sizeof url, "%s%s", b, path);
    aws_header h[] = {{"Host", host}, {"Content-Type", "application/json"}};
    aws_call c = {.method = "POST",
                  .url = url,
                  .path = path,
                  .headers = h,
                  .nheaders = 2,
                  .body = body,
                  .body_len = strlen(body),
                  .service = "kinesisvideo",
                  .region = k->region,
                  .timeout_ms = 10000};
    return aws_signed_call_with_creds(k->aws, &c, resp, ae, err);
}

void kvs_forget_endpoint(kvs_client *k)
{
    k->endpoint[0] = '\0';
}

kerr_code kvs_data_endpoint(kvs_client *k, const char *api, aws_error *ae, kerr *err)
{
    if (k->endpoint[0] && strcmp(k->endpoint_api, api) == 0 &&
        kvs_now_ms() - k->endpoint_ms < ENDPOINT_TTL_MS)
        return KERR_OK;
    json_t *req = json_pack("{s:s, s:s}", "StreamName", k->stream, "APIName", api);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) return kerr_set(err, KERR_NOMEM, "out of memory");
    aws_http_response resp;
    kerr_code rc = kvs_post(k, k->control, "/getDataEndpoint", body, &resp, ae, err);
    free(body);
    if (rc != KERR_OK) return rc;
    json_t *root = json_loads(resp.body ? resp.body : "", 0, NULL);
    const char *ep = json_string_value(json_object_get(root, "DataEndpoint"));
    /* KVS may answer 200 with an UnknownOperationException body: check the field. */
    if (!ep || (strncmp(ep, "https://", 8) != 0 && strncmp(ep, "http://", 7) != 0))
        rc = kerr_set(err, KERR_INVALID, "GetDataEndpoint for %s: no DataEndpoint in the answer",
                      k->stream);
    else {
        snprintf(k->endpoint, sizeof k->endpoint, "%s", ep);
        snprintf(k->endpoint_api, sizeof k->endpoint_api, "%s", api);
        k->endpoint_ms = kvs_now_ms();
    }
    json_decref(root);
    aws_http_response_free(&resp);
    return rc;
}

kerr_code kvs_sign(kvs_client *k, const char *url, const char *body, struct curl_slist **out,
                   kerr *err)
{
    char host[512], base[600];
    aws_split_endpoint(url, host, sizeof host, base, sizeof base);
    const char *path = url + strlen(base);
    aws_creds c;
    kerr_code rc = aws_creds_provider_get(k->aws->creds, &c, err);
    if (rc != KERR_OK) return rc;
    aws_header h[] = {{"Host", host}, {"Content-Type", "application/json"}};
    aws_request req = {"POST", *path ? path : "/", NULL, h, 2, body, strlen(body), NULL};
    aws_credentials cr = {c.access_key_id, c.secret_access_key,
                          c.session_token[0] ? c.session_token : NULL};
    aws_signing how = {k->region, "kinesisvideo", false};
    aws_signature sig;
    rc = sigv4_sign(&req, &cr, &how, clock_wall_ms(), &sig, err);
    if (rc == KERR_OK) {
        char line[4200];
        struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
        snprintf(line, sizeof line, "X-Amz-Date: %s", sig.amz_date);
        l = curl_slist_append(l, line);
        snprintf(line, sizeof line, "Authorization: %s", sig.authorization);
        l = curl_slist_append(l, line);
        if (cr.session_token) {
            snprintf(line, sizeof line, "X-Amz-Security-Token: %s", cr.session_token);
            l = curl_slist_append(l, line);
        }
        OPENSSL_cleanse(line, sizeof line);
        *out = l;
        aws_signature_free(&sig);
    }
    OPENSSL_cleanse(&c, sizeof c);
    return rc;
}

bool kvs_sleep(kvs_client *k, int64_t ms)
{
    for (int64_t t = 0; t < ms; t += 50) {
        if (source_stopping(k->env)) return false;
        clock_sleep_ns((ms - t < 50 ? ms - t : 50) * 1000000LL);
    }
    return !source_stopping(k->env);
}

unsigned kvs_traits(const void *conf)
{
    (void)conf;
    return SOURCE_RETRY | SOURCE_KVS_ARCHIVE;
}

static void read_start(const source_read_ctx *r, kvs_conf *c)
{
    char *start = NULL;
    if (!cfg_read_str(r->d, r->src, "start", r->src_path, &start)) return;
    char *end = NULL;
    double secs = strtod(start, &end);
    if (strcmp(start, "now") == 0)
        c->start_ms = KVS_START_NOW;
    else if (strcmp(start, "earliest") == 0)
        c->start_ms = KVS_START_EARLIEST;
    else if (end != start && !*end && secs > 0)
        c->start_ms = (int64_t)(secs * 1000);
    else if ((c->start_ms = clock_parse_iso(start)) < 0)
        cfg_diag_add(r->d, ynode_get(r->src, "start"), r->src_path,
                     "start \"%s\" is not now, earliest, an ISO-8601 time "
                     "(2026-01-02T03:04:05Z) or epoch seconds",
                     start);
    free(start);
}

static void read_hls(const source_read_ctx *r, kvs_conf *c)
{
    char *container = NULL;
    if (cfg_read_str(r->d, r->src, "container", r->src_path, &container)) {
        if (strcmp(container, "ts") == 0)
            c->ts = true;
        else if (strcmp(container, "fmp4") != 0)
            cfg_diag_add(r->d, ynode_get(r->src, "container"), r->src_path,
                         "container \"%s\" is not fmp4 or ts", container);
    }
    free(container);
    int64_t v;
    if (cfg_read_int(r->d, r->src, "playlist_fragments", r->src_path, 1, 5000, &v))
        c->playlist_fragments = (int)v;
    if (cfg_read_int(r->d, r->src, "expires_s", r->src_path, 300, 43200, &v)) c->expires_s = (int)v;
}

void *kvs_conf_read(const source_read_ctx *r, bool hls)
{
    kvs_conf *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = (kvs_conf){.start_ms = KVS_START_NOW, .playlist_fragments = 5, .expires_s = 3600};
    read_start(r, c);
    if (hls) read_hls(r, c);
    const char *mode = hls ? "hls" : "getmedia";
    if (!r->c->stream_name)
        cfg_diag_add(r->d, r->cam, r->cam_path, "a KVS source (mode %s) needs `stream_name`", mode);
    if (!r->c->region && !(r->cfg && r->cfg->aws_region))
        cfg_diag_add(r->d, r->cam, r->cam_path,
                     "a KVS source needs `region` here, `aws_region` at the top, AWS_REGION, "
                     "AWS_DEFAULT_REGION or the profile's region");
    return c;
}

void kvs_conf_free(void *conf)
{
    free(conf);
}

void kvs_conf_describe(const void *conf, char *out, size_t len)
{
    const kvs_conf *c = conf;
    char start[32];
    if (c->start_ms == KVS_START_NOW)
        snprintf(start, sizeof start, "now");
    else if (c->start_ms == KVS_START_EARLIEST)
        snprintf(start, sizeof start, "earliest");
    else
        snprintf(start, sizeof start, "%lld", (long long)c->start_ms);
    snprintf(out, len, "start=%s container=%s playlist_fragments=%d expires_s=%d", start,
             c->ts ? "ts" : "fmp4", c->playlist_fragments, c->expires_s);
}

void kvs_report(const source_env *env, source_state st)
{
    if (env->state) env->state(env->owner, st);
}

void kvs_count(const source_env *env, const char *kind)
{
    if (env->error) env->error(env->owner, kind);
}

int64_t kvs_now_ms(void)
{
    return clock_mono_ns() / 1000000;
}
