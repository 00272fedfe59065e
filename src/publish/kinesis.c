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

static bool kinesis_wanted(const cfg_publishers *p)
{
    return p->kinesis_stream_name != NULL;
}

static void kinesis_key(const cfg_publishers *p, char *out, size_t len)
{
    snprintf(out, len, "kinesis:%s", p->kinesis_stream_name);
}

static kerr_code kinesis_open(const cfg_publishers *p, const config *cfg, void **state, kerr *err)
{
    kinesis_state *s = calloc(1, sizeof *s);
    if (!s) return kerr_set(err, KERR_NOMEM, "out of memory");
    if (aws_dest_open(&s->dest, cfg, CFG_EP_KINESIS, "kinesis", err) != KERR_OK) {
        free(s);
        return err ? err->code : KERR_INVALID;
    }
    snprintf(s->stream, sizeof s->stream, "%s", p->kinesis_stream_name);
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

static kerr_code kinesis_batch(void *state, const cfg_publishers *p, const event *const *ev, int n,
                               bool *ok, kerr *err)
{
    (void)p;
    kinesis_state *s = state;
    for (int i = 0; i < n; i++)
        ok[i] = false;
    char *text = records_body(s, ev, n, err);
    if (!text) return KERR_NOMEM;
    aws_target t = {"kinesis", s->dest.region, s->dest.endpoint, "Kinesis_20131202", "1.1", 15000};
    aws_http_response resp;
    aws_error aerr;
    kerr_code rc = aws_call_with_creds(s->dest.aws, &t, "PutRecords", text, &resp, &aerr, err);
    free(text);
    if (aerr.retries) metric_add(M_PUBLISHER_RETRIES, "publisher=\"kinesis\"", aerr.retries);
    if (rc == KERR_OK) { /* per-record failures come back with HTTP 200 */
        json_t *r = json_loads(resp.body ? resp.body : "", 0, NULL);
        json_t *recs = json_object_get(r, "Records");
        const char *first_error = NULL;
        int failed = 0;
        for (int i = 0; i < n; i++) {
            json_t *ri = json_array_get(recs, (size_t)i);
            const char *code = json_string_value(json_object_get(ri, "ErrorCode"));
            ok[i] = ri && !code && json_object_get(ri, "SequenceNumber");
            if (!ok[i]) failed++, first_error = first_error ? first_error : code;
        }
        if (failed) {
            metric_add(M_PUBLISHER_RETRIES, "publisher=\"kinesis\"", failed);
            kerr_set(err, KERR_AGAIN, "PutRecords: %d of %d records failed (%s)", failed, n,
                     first_error ? first_error : "unreadable response");
        }
        json_decref(r);
    }
    aws_http_response_free(&resp);
    return rc;
}

static kerr_code kinesis_publish(void *state, const cfg_publishers *p, const event *e, kerr *err)
{
    char *json = event_to_json(e);
    size_t n = json ? strlen(json) : 0;
    free(json);
    if (n + strlen(e->camera_name) > MAX_RECORD_BYTES)
        return kerr_set(err, KERR_UNSUPPORTED,
                        "event %s is %zu bytes, over the 1 MiB Kinesis record limit", e->event_id,
                        n);
    bool ok = false;
    kerr_code rc = kinesis_batch(state, p, &e, 1, &ok, err);
    return rc == KERR_OK && !ok ? KERR_AGAIN : rc;
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
    .wanted = kinesis_wanted,
    .key = kinesis_key,
    .open = kinesis_open,
    .image_ref = NULL,
    .publish = kinesis_publish,
    .publish_batch = kinesis_batch,
    .batch_max = 500,
    .batch_max_bytes = 5u << 20,
    .record_max_bytes = MAX_RECORD_BYTES,
    .close = kinesis_close,
};
