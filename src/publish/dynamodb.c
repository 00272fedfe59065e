/* DynamoDB: one item per event, typed attributes, idempotent by event_id
 * (a conditional put: a replayed event finds its item and counts as done). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../aws/aws.h"
#include "../metrics/metrics.h"
#include "aws_publish.h"

typedef struct {
    aws_dest dest;
    char table[256];
} ddb_state;

static bool ddb_wanted(const cfg_publishers *p)
{
    return p->dynamodb_table != NULL;
}

static void ddb_key(const cfg_publishers *p, char *out, size_t len)
{
    snprintf(out, len, "dynamodb:%s", p->dynamodb_table);
}

static kerr_code ddb_open(const cfg_publishers *p, const config *cfg, void **state, kerr *err)
{
    ddb_state *s = calloc(1, sizeof *s);
    if (!s) return kerr_set(err, KERR_NOMEM, "out of memory");
    if (aws_dest_open(&s->dest, cfg, CFG_EP_DYNAMODB, "dynamodb", err) != KERR_OK) {
        free(s);
        return err ? err->code : KERR_INVALID;
    }
    snprintf(s->table, sizeof s->table, "%s", p->dynamodb_table);
    *state = s;
    return KERR_OK;
}

static json_t *S(const char *v)
{
    return json_pack("{s:s}", "S", v ? v : "");
}

static json_t *N(double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", v);
    return json_pack("{s:s}", "N", buf);
}

static json_t *item(const cfg_publishers *p, const event *e)
{
    char *json = event_to_json(e);
    char when[40];
    clock_format_iso(e->detected_at_ms, when, sizeof when);
    json_t *it = json_object();
    json_object_set_new(it, "event_id", S(e->event_id));
    json_object_set_new(it, "camera_name", S(e->camera_name));
    if (e->stream_name) json_object_set_new(it, "stream_name", S(e->stream_name));
    json_object_set_new(it, "detector", S(e->detector));
    json_object_set_new(it, "label", S(e->label));
    json_object_set_new(it, "confidence", N(e->confidence));
    json_object_set_new(it, "detected_at", S(when));
    json_object_set_new(it, "track_id", N((double)e->track_id));
    if (e->pts_ms >= 0) json_object_set_new(it, "pts", N((double)e->pts_ms / 1000.0));
    if (e->snapshot_ref) json_object_set_new(it, "snapshot", S(e->snapshot_ref));
    json_object_set_new(it, "model_sha256", S(e->model_sha256));
    json_object_set_new(it, "event", S(json));
    if (p->dynamodb_ttl_days > 0) /* epoch seconds, for the table's TTL setting */
        json_object_set_new(it, "expires_at",
                            N((double)(e->detected_at_ms / 1000 + p->dynamodb_ttl_days * 86400LL)));
    free(json);
    return it;
}

static kerr_code ddb_publish(void *state, const cfg_publishers *p, const event *e, kerr *err)
{
    ddb_state *s = state;
    json_t *body = json_pack("{s:s,s:o,s:s}", "TableName", s->table, "Item", item(p, e),
                             "ConditionExpression", "attribute_not_exists(event_id)");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) return kerr_set(err, KERR_NOMEM, "out of memory");
    aws_target t = {"dynamodb",          s->dest.region, s->dest.endpoint,
                    "DynamoDB_20120810", "1.0",          10000};
    aws_http_response resp;
    aws_error aerr;
    kerr_code rc = aws_call_with_creds(s->dest.aws, &t, "PutItem", text, &resp, &aerr, err);
    free(text);
    aws_http_response_free(&resp);
    if (aerr.retries) metric_add(M_PUBLISHER_RETRIES, "publisher=\"dynamodb\"", aerr.retries);
    if (rc != KERR_OK && strcmp(aerr.code, "ConditionalCheckFailedException") == 0)
        return KERR_OK;                          /* already there: a replay after a crash */
    return rc == KERR_INVALID ? KERR_AGAIN : rc; /* a missing table may be created: retry */
}

static void ddb_close(void *state)
{
    ddb_state *s = state;
    if (!s) return;
    aws_dest_close(&s->dest);
    free(s);
}

const publisher_ops publisher_dynamodb = {
    .name = "dynamodb",
    .wanted = ddb_wanted,
    .key = ddb_key,
    .open = ddb_open,
    .image_ref = NULL,
    .publish = ddb_publish,
    .close = ddb_close,
};
