/* DynamoDB: one item per event, each event field a typed attribute (docs/publishing.md
 * "DynamoDB"), idempotent by event_id
 * (a conditional put: a replayed event finds its item and counts as done);
 * a clip_ready record updates the item's `clip`. */
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

static const char *const k_keys[] = {"dynamodb_table", "dynamodb_ttl_days", NULL};

static bool ddb_read(cfg_diags *d, const ynode *pubs, const char *path, bool as_default, cfg_pub *s)
{
    (void)as_default;
    int64_t ttl;
    pub_read_keys(d, pubs, path, (const char *const[]){"dynamodb_table", NULL}, s);
    if (pubs && cfg_read_int(d, pubs, "dynamodb_ttl_days", path, 1, 36500, &ttl)) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)ttl);
        if (!cfg_pub_set(s, "dynamodb_ttl_days", num)) cfg_diag_add(d, pubs, path, "out of memory");
    }
    return cfg_pub_get(s, "dynamodb_table") != NULL;
}

static void ddb_key(const cfg_pub *p, char *out, size_t len)
{
    snprintf(out, len, "dynamodb:%s", cfg_pub_get(p, "dynamodb_table"));
}

static kerr_code ddb_open(const cfg_pub *p, const config *cfg, void **state, kerr *err)
{
    ddb_state *s = calloc(1, sizeof *s);
    if (!s) return kerr_set(err, KERR_NOMEM, "out of memory");
    if (aws_dest_open(&s->dest, cfg, CFG_EP_DYNAMODB, "dynamodb", err) != KERR_OK) {
        free(s);
        return err ? err->code : KERR_INVALID;
    }
    snprintf(s->table, sizeof s->table, "%s", cfg_pub_get(p, "dynamodb_table"));
    *state = s;
    return KERR_OK;
}

/* The shortest decimal that reads back as the same double: full precision
 * without 0.90000000000000002 for 0.9. */
static void shortest(double v, char *buf, size_t len)
{
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, len, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* A JSON value as a DynamoDB AttributeValue: objects are maps (M), arrays
 * lists (L), numbers N at full precision, strings S, booleans BOOL, null NULL,
 * so every field can be used in filter expressions and indexes. */
static json_t *attr(const json_t *v)
{
    char num[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        json_t *m = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) json_object_set_new(m, k, attr(x));
        return json_pack("{s:o}", "M", m);
    }
    case JSON_ARRAY: {
        json_t *l = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(l, attr(x));
        return json_pack("{s:o}", "L", l);
    }
    case JSON_STRING: return json_pack("{s:s}", "S", json_string_value(v));
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return json_pack("{s:s}", "N", num);
    case JSON_REAL:
        shortest(json_real_value(v), num, sizeof num);
        return json_pack("{s:s}", "N", num);
    case JSON_TRUE: return json_pack("{s:b}", "BOOL", 1);
    case JSON_FALSE: return json_pack("{s:b}", "BOOL", 0);
    case JSON_NULL: break;
    }
    return json_pack("{s:b}", "NULL", 1);
}

/* The item: each field of the event (docs/publishing.md) as a typed attribute,
 * event_id the key, plus expires_at (epoch seconds) for the table's TTL. */
static json_t *item(const cfg_pub *p, const event *e)
{
    char *text = event_to_json(e);
    json_t *ev = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!ev) return NULL;
    json_t *it = json_object();
    const char *k;
    json_t *x;
    json_object_foreach(ev, k, x) json_object_set_new(it, k, attr(x));
    json_decref(ev);
    const char *ttl = cfg_pub_get(p, "dynamodb_ttl_days");
    long long days = ttl ? strtoll(ttl, NULL, 10) : 0;
    if (days > 0) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)(e->detected_at_ms / 1000 + days * 86400LL));
        json_object_set_new(it, "expires_at", json_pack("{s:s}", "N", num));
    }
    return it;
}

/* A clip_ready record updates its event's item: `clip` becomes the stored
 * clip's (status ready or cut). Idempotent: a replay sets the same value. */
static json_t *clip_update(ddb_state *s, const event *e)
{
    char *text = event_to_json(e);
    json_t *ev = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    json_t *clip = json_object_get(ev, "clip");
    /* Only an item that exists (an event a cool-down or a route kept from this
     * table must not appear as a stub), and a clip "ready" is never replaced by
     * a lesser one (the old and the new owner of a camera both deliver theirs
     * after a takeover). A failed condition counts as done (publish_one). */
    json_t *body = NULL;
    if (clip && strcmp(e->clip.status, "ready") == 0)
        body =
            json_pack("{s:s,s:{s:{s:s}},s:s,s:s,s:{s:o}}", "TableName", s->table, "Key", "event_id",
                      "S", e->event_id, "UpdateExpression", "SET clip = :c", "ConditionExpression",
                      "attribute_exists(event_id)", "ExpressionAttributeValues", ":c", attr(clip));
    else if (clip)
        body = json_pack(
            "{s:s,s:{s:{s:s}},s:s,s:s,s:{s:s},s:{s:o,s:{s:s}}}", "TableName", s->table, "Key",
            "event_id", "S", e->event_id, "UpdateExpression", "SET clip = :c",
            "ConditionExpression",
            "attribute_exists(event_id) AND (attribute_not_exists(clip.#st) OR clip.#st <> :ready)",
            "ExpressionAttributeNames", "#st", "status", "ExpressionAttributeValues", ":c",
            attr(clip), ":ready", "S", "ready");
    json_decref(ev);
    return body;
}

static kerr_code publish_one(void *state, const cfg_pub *p, const event *e, kerr *err)
{
    ddb_state *s = state;
    bool update = strcmp(e->kind, "clip_ready") == 0;
    json_t *body = NULL;
    if (update) {
        body = clip_update(s, e);
    } else {
        json_t *it = item(p, e);
        if (!it) return kerr_set(err, KERR_NOMEM, "cannot serialise event %s", e->event_id);
        body = json_pack("{s:s,s:o,s:s}", "TableName", s->table, "Item", it, "ConditionExpression",
                         "attribute_not_exists(event_id)");
    }
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) return kerr_set(err, KERR_NOMEM, "out of memory");
    aws_target t = {"dynamodb",          s->dest.region, s->dest.endpoint,
                    "DynamoDB_20120810", "1.0",          10000};
    aws_http_response resp;
    aws_error aerr;
    kerr_code rc = aws_call_with_creds(s->dest.aws, &t, update ? "UpdateItem" : "PutItem", text,
                                       &resp, &aerr, err);
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
    .keys = k_keys,
    .caps = PUB_WAITS_FOR_IMAGES | PUB_NEEDS_REGION,
    .read = ddb_read,
    .key = ddb_key,
    .open = ddb_open,
    .publish_one = publish_one,
    .close = ddb_close,
};
