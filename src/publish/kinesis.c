/* Kinesis Data Streams: each event's JSON as one record, partition key = the
 * camera, so one camera's events stay in order on one shard. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../aws/aws.h"
#include "../metrics/metrics.h"
#include "aws_publish.h"

enum { MAX_RECORD_BYTES = 1 << 20 };

typedef struct {
    aws_dest dest;
    char stream[256];
} kinesis_state;

static const char *const k_keys[] = {"kinesis_stream_name", NULL};

static bool kinesis_read(cfg_diags *d, const ynode *pubs, const char *path, bool as_default,
                         cfg_pub *s)
{
    (void)as_default;
    return pub_read_keys(d, pubs, path, k_keys, s);
}

static void kinesis_key(const cfg_pub *p, char *out, size_t len)
{
    snprintf(out, len, "kinesis:%s", cfg_pub_get(p, "kinesis_stream_name"));
}

static kerr_code kinesis_open(const cfg_pub *p, const config *cfg, void **state, kerr *err)
{
    kinesis_state *s = calloc(1, sizeof *s);
    if (!s) return kerr_set(err, KERR_NOMEM, "out of memory");
    if (aws_dest_open(&s->dest, cfg, CFG_EP_KINESIS, "kinesis", err) != KERR_OK) {
        free(s);
        return err ? err->code : KERR_INVALID;
    }
    snprintf(s->stream, sizeof s->stream, "%s", cfg_pub_get(p, "kinesis_stream_name"));
    log_kv(LOG_INFO, LOG_CTX("publisher", "kinesis"), "kinesis stream %s in %s", s->stream,
           s->dest.region);
    *state = s;
    return KERR_OK;
}

static char *base64(const char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out) EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data, (int)len);
    return out;
}

/* Builds the PutRecords body; fails only on memory. */
static char *records_body(const kinesis_state *s, const event *const *ev, int n, kerr *err)
{
    json_t *recs = json_array();
    for (int i = 0; i < n; i++) {
        char *json = event_to_json(ev[i]);
        char *data = json ? base64(json, strlen(json)) : NULL;
        free(json);
        json_array_append_new(recs, json_pack("{s:s,s:s}", "Data", data ? data : "", "PartitionKey",
                                              ev[i]->camera_name));
        free(data);
    }
    json_t *body = json_pack("{s:s,s:o}", "StreamName", s->stream, "Records", recs);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) kerr_set(err, KERR_NOMEM, "out of memory");
    return text;
}

/* Per-record failures come back with HTTP 200: each is retried on its own. */
static void record_results(const char *body, int n, kerr *res)
{
    json_t *r = json_loads(body ? body : "", 0, NULL);
    json_t *recs = json_object_get(r, "Records");
    int failed = 0;
    for (int i = 0; i < n; i++) {
        json_t *ri = json_array_get(recs, (size_t)i);
        const char *code = json_string_value(json_object_get(ri, "ErrorCode"));
        if (ri && !code && json_object_get(ri, "SequenceNumber")) continue;
        const char *msg = json_string_value(json_object_get(ri, "ErrorMessage"));
        kerr_set(&res[i], KERR_AGAIN, "PutRecords: record failed (%s%s%s)",
                 code ? code : "unreadable response", msg ? ": " : "", msg ? msg : "");
        failed++;
    }
    if (failed) metric_add(M_PUBLISHER_RETRIES, "publisher=\"kinesis\"", failed);
    json_decref(r);
}

static void kinesis_publish(void *state, const cfg_pub *p, const event *const *ev, int n, kerr *res)
{
    (void)p;
    kinesis_state *s = state;
    kerr err = {0};
    char *text = records_body(s, ev, n, &err);
    kerr_code rc = KERR_NOMEM;
    aws_http_response resp = {0};
    aws_error aerr = {0};
    if (text) {
        aws_target t = {"kinesis",          s->dest.region, s->dest.endpoint,
                        "Kinesis_20131202", "1.1",          15000};
        rc = aws_call_with_creds(s->dest.aws, &t, "PutRecords", text, &resp, &aerr, &err);
        free(text);
        if (aerr.retries) metric_add(M_PUBLISHER_RETRIES, "publisher=\"kinesis\"", aerr.retries);
    }
    if (rc == KERR_OK)
        record_results(resp.body, n, res);
    else
        for (int i = 0; i < n; i++)
            res[i] = err;
    aws_http_response_free(&resp);
}

static void kinesis_close(void *state)
{
    kinesis_state *s = state;
    if (!s) return;
    aws_dest_close(&s->dest);
    free(s);
}

const publisher_ops publisher_kinesis = {
    .name = "kinesis",
    .keys = k_keys,
    .caps = PUB_WAITS_FOR_IMAGES | PUB_NEEDS_REGION,
    .read = kinesis_read,
    .key = kinesis_key,
    .open = kinesis_open,
    .publish = kinesis_publish,
    .batch_max = 500,
    .batch_max_bytes = 5u << 20,
    .record_max_bytes = MAX_RECORD_BYTES,
    .close = kinesis_close,
};
