/* EventBridge: PutEvents to a bus, up to 10 events a call. Source and
 * DetailType are what rules match on; Detail is the event JSON, so rules can
 * also match its fields (label, camera, confidence...). Entries fail one by
 * one with HTTP 200: each failed one is retried on its own. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../aws/aws.h"
#include "../metrics/metrics.h"
#include "aws_publish.h"

/* PutEvents takes 256 KiB per call. The hub's batches count the spooled
 * images, which never go to EventBridge, so the calls are sized here: a batch
 * goes out in as many calls as its entries need. An event's JSON over
 * MAX_EVENT_BYTES (escaped once more as Detail) could never fit. */
enum { MAX_CALL_BYTES = 250 * 1024, MAX_EVENT_BYTES = 120 * 1024, MAX_ENTRIES = 10 };

typedef struct {
    aws_dest dest;
    char bus[320], source[260], detail_type[132];
} eb_state;

/* Written `eventbridge: {bus, source, detail_type}` (settings.c hands the
 * section over as these flat keys; `when` and `cooldown_seconds` are the
 * hub's). */
static const char *const k_keys[] = {"eventbridge_bus", "eventbridge_source",
                                     "eventbridge_detail_type", NULL};

/* A bus is a name ([A-Za-z0-9._/-], 1-256) or
 * arn:PARTITION:events:REGION:ACCOUNT:event-bus/NAME; region gets an ARN's
 * region ("" for a name). */
static bool bus_ok(const char *bus, char *region, size_t rlen, const char **why)
{
    region[0] = '\0';
    if (strncmp(bus, "arn:", 4) == 0) {
        char part[32], svc[16], reg[64], acct[16];
        int n = 0;
        if (sscanf(bus, "arn:%31[^:]:%15[^:]:%63[^:]:%15[^:]:event-bus/%n", part, svc, reg, acct,
                   &n) != 4 ||
            n == 0 || strcmp(svc, "events") != 0)
            return *why = "expected arn:aws:events:REGION:ACCOUNT:event-bus/NAME", false;
        snprintf(region, rlen, "%s", reg);
        bus += n;
    }
    size_t len = strlen(bus);
    if (len == 0 || len > 256) return *why = "the bus name must be 1-256 characters", false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)bus[i]) && !strchr("._/-", bus[i]))
            return *why = "the bus name may hold only letters, digits, '.', '_', '/', '-'", false;
    return true;
}

/* Reads a text key of m that must be 1..max characters (and, for source, not
 * one of AWS's own "aws." sources). */
static void read_text(cfg_diags *d, const ynode *m, const char *path, const char *p,
                      const char *key, const char *dflt, size_t max, cfg_pub *s)
{
    char flat[64], *v = NULL;
    snprintf(flat, sizeof flat, "eventbridge_%s", key);
    bool set = cfg_read_str(d, m, flat, path, &v);
    const char *val = set ? v : dflt;
    size_t len = strlen(val);
    if (len == 0 || len > max)
        cfg_diag_add(d, ynode_get(m, flat), p, "%s must be 1-%zu characters", key, max);
    else if (strcmp(key, "source") == 0 && strncmp(val, "aws.", 4) == 0)
        cfg_diag_add(d, ynode_get(m, flat), p, "source \"%s\": sources starting aws. are AWS's",
                     val);
    else if (!cfg_pub_set(s, key, val))
        cfg_diag_add(d, m, p, "out of memory");
    free(v);
}

static bool eb_read(cfg_diags *d, const ynode *pubs, const char *path, bool as_default, cfg_pub *s)
{
    (void)as_default;
    bool asked = ynode_get(pubs, "eventbridge") != NULL;
    for (int k = 0; k_keys[k]; k++)
        asked |= ynode_get(pubs, k_keys[k]) != NULL;
    if (!asked) return false;
    const ynode *m = pubs;
    char p[512], region[64];
    snprintf(p, sizeof p, "%s%seventbridge", path, *path ? "." : "");
    read_text(d, m, path, p, "bus", "default", 1600, s);
    const char *bus = cfg_pub_get(s, "bus"), *why = NULL;
    if (bus && !bus_ok(bus, region, sizeof region, &why))
        cfg_diag_add(d, ynode_get(m, "eventbridge_bus") ?: m, p, "bad bus \"%s\": %s", bus, why);
    read_text(d, m, path, p, "source", "kvs-infer", 256, s);
    read_text(d, m, path, p, "detail_type", "kvs-infer detection", 128, s);
    return true;
}

static void eb_key(const cfg_pub *p, char *out, size_t len)
{
    snprintf(out, len, "eventbridge:%s", cfg_pub_get(p, "bus"));
}

static kerr_code eb_open(const cfg_pub *p, const config *cfg, void **state, kerr *err)
{
    eb_state *s = calloc(1, sizeof *s);
    if (!s) return kerr_set(err, KERR_NOMEM, "out of memory");
    const char *bus = cfg_pub_get(p, "bus"), *why = NULL;
    char region[64];
    if (!bus || !bus_ok(bus, region, sizeof region, &why)) {
        free(s);
        return kerr_set(err, KERR_INVALID, "eventbridge: bad bus");
    }
    if (aws_dest_open_in(&s->dest, cfg, CFG_EP_EVENTS, "eventbridge", region, err) != KERR_OK) {
        free(s);
        return err ? err->code : KERR_INVALID;
    }
    snprintf(s->bus, sizeof s->bus, "%s", bus);
    snprintf(s->source, sizeof s->source, "%s", cfg_pub_get(p, "source"));
    snprintf(s->detail_type, sizeof s->detail_type, "%s", cfg_pub_get(p, "detail_type"));
    log_kv(LOG_INFO, LOG_CTX("publisher", "eventbridge"), "eventbridge bus %s in %s", s->bus,
           s->dest.region);
    *state = s;
    return KERR_OK;
}

/* One PutEvents entry; Time is the detection's, in whole seconds (as the
 * SDKs send timestamps in this protocol). NULL only on memory. */
static json_t *entry(const eb_state *s, const event *e)
{
    char *json = event_to_json(e);
    json_t *o = json ? json_pack("{s:s,s:s,s:s,s:s,s:I}", "Source", s->source, "DetailType",
                                 s->detail_type, "Detail", json, "EventBusName", s->bus, "Time",
                                 (json_int_t)(e->detected_at_ms / 1000))
                     : NULL;
    free(json);
    return o;
}

/* Entry codes that no retry will change: dead-letter those. */
static bool refused_for_good(const char *code)
{
    return strcmp(code, "MalformedDetail") == 0 || strcmp(code, "InvalidArgument") == 0 ||
           strcmp(code, "ValidationException") == 0;
}

/* Entries[i] answers ev[i]: an EventId, or an ErrorCode to retry (or refuse). */
static void entry_results(const char *body, int n, kerr *res)
{
    json_t *r = json_loads(body ? body : "", 0, NULL);
    json_t *entries = json_object_get(r, "Entries");
    int failed = 0;
    for (int i = 0; i < n; i++) {
        json_t *ei = json_array_get(entries, (size_t)i);
        const char *code = json_string_value(json_object_get(ei, "ErrorCode"));
        if (ei && !code && json_string_value(json_object_get(ei, "EventId"))) {
            res[i].code = KERR_OK;
            continue;
        }
        const char *msg = json_string_value(json_object_get(ei, "ErrorMessage"));
        kerr_set(&res[i], code && refused_for_good(code) ? KERR_UNSUPPORTED : KERR_AGAIN,
                 "PutEvents: entry failed (%s%s%s)", code ? code : "unreadable response",
                 msg ? ": " : "", msg ? msg : "");
        failed += res[i].code == KERR_AGAIN;
    }
    if (failed) metric_add(M_PUBLISHER_RETRIES, "publisher=\"eventbridge\"", failed);
    json_decref(r);
}

/* One PutEvents call for ev[0..n) (already serialised as entries). */
static void put_events(eb_state *s, json_t *entries, int n, kerr *res)
{
    kerr err = {0};
    json_t *body = json_pack("{s:O}", "Entries", entries);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    kerr_code rc = kerr_set(&err, KERR_NOMEM, "out of memory");
    aws_http_response resp = {0};
    aws_error aerr = {0};
    if (text) {
        aws_target t = {"events", s->dest.region, s->dest.endpoint, "AWSEvents", "1.1", 15000};
        rc = aws_call_with_creds(s->dest.aws, &t, "PutEvents", text, &resp, &aerr, &err);
        free(text);
        if (aerr.retries)
            metric_add(M_PUBLISHER_RETRIES, "publisher=\"eventbridge\"", aerr.retries);
    }
    if (rc == KERR_OK)
        entry_results(resp.body, n, res);
    else
        for (int i = 0; i < n; i++)
            res[i] = err;
    aws_http_response_free(&resp);
}

static size_t dumped_len(const json_t *e)
{
    char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
    size_t len = text ? strlen(text) + 1 : 0;
    free(text);
    return len;
}

/* Entries go out in calls of up to MAX_CALL_BYTES (one entry always goes). */
static void eb_publish(void *state, const cfg_pub *p, const event *const *ev, int n, kerr *res)
{
    (void)p;
    eb_state *s = state;
    json_t *chunk = json_array();
    size_t bytes = 0;
    int first = 0;
    for (int i = 0; i < n; i++) {
        json_t *e = chunk ? entry(s, ev[i]) : NULL;
        size_t len = dumped_len(e);
        if (json_array_size(chunk) && (!len || bytes + len + 16 > MAX_CALL_BYTES)) {
            put_events(s, chunk, i - first, res + first);
            json_array_clear(chunk);
            bytes = 0;
        }
        if (!len) {
            json_decref(e);
            kerr_set(&res[i], KERR_NOMEM, "out of memory");
            continue;
        }
        if (!json_array_size(chunk)) first = i;
        json_array_append_new(chunk, e);
        bytes += len;
    }
    if (json_array_size(chunk)) put_events(s, chunk, n - first, res + first);
    json_decref(chunk);
}

static void eb_close(void *state)
{
    eb_state *s = state;
    if (!s) return;
    aws_dest_close(&s->dest);
    free(s);
}

const publisher_ops publisher_eventbridge = {
    .name = "eventbridge",
    .keys = k_keys,
    .caps = PUB_WAITS_FOR_IMAGES, /* a bus ARN names its region; else aws_region */
    .read = eb_read,
    .key = eb_key,
    .open = eb_open,
    .publish = eb_publish,
    .batch_max = MAX_ENTRIES,
    .record_max_bytes = MAX_EVENT_BYTES,
    .close = eb_close,
};
