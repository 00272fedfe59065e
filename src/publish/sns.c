/* SNS: one Publish per event to a topic, for people and for fan-out. The
 * message is a few human lines (what, where, how sure, when, and a presigned
 * link to the snapshot in S3 that a phone can open) followed by the event
 * JSON; message attributes (camera, label, detector, event_type) let
 * subscription filter policies pick. FIFO topics get the camera as the
 * message group and the event id as the deduplication id, so a replay after
 * a restart is dropped by SNS itself. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../aws/aws.h"
#include "../metrics/metrics.h"
#include "aws_publish.h"

/* SNS takes 256 KiB per message; the human lines and the link take the rest. */
enum { MAX_EVENT_BYTES = 240 * 1024, DEFAULT_LINK_S = 86400, MAX_LINK_S = 604800 };

typedef struct {
    aws_dest dest;
    char topic[320];
    bool fifo;
    int link_s;
    /* where the s3 publisher stores the snapshot, for the presigned link */
    char s3_endpoint[512], s3_region[64];
    bool s3_path_style;
} sns_state;

/* Written `sns: {topic_arn, link_seconds}` (settings.c hands the section over
 * as these flat keys; `when` and `cooldown_seconds` are the hub's). */
static const char *const k_keys[] = {"sns_topic_arn", "sns_link_seconds", NULL};

/* arn:PARTITION:sns:REGION:ACCOUNT:NAME, NAME 1-256 of [A-Za-z0-9_-] (a FIFO
 * topic's ends in .fifo). region gets the ARN's region. */
static bool arn_ok(const char *arn, char *region, size_t rlen, bool *fifo, const char **why)
{
    char part[32], svc[16], reg[64], acct[16];
    int n = 0;
    if (sscanf(arn, "arn:%31[^:]:%15[^:]:%63[^:]:%15[^:]:%n", part, svc, reg, acct, &n) != 4 ||
        n == 0)
        return *why = "expected arn:aws:sns:REGION:ACCOUNT:TOPIC", false;
    if (strcmp(svc, "sns") != 0) return *why = "not an SNS ARN", false;
    if (strlen(acct) != 12 || strspn(acct, "0123456789") != 12)
        return *why = "the account is not 12 digits", false;
    const char *name = arn + n;
    size_t len = strlen(name);
    *fifo = len > 5 && strcmp(name + len - 5, ".fifo") == 0;
    size_t core = *fifo ? len - 5 : len;
    for (size_t i = 0; i < core; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_')
            return *why = "the topic name may hold only letters, digits, '-' and '_'", false;
    if (core == 0 || len > 256) return *why = "the topic name must be 1-256 characters", false;
    snprintf(region, rlen, "%s", reg);
    return true;
}

static bool sns_read(cfg_diags *d, const ynode *pubs, const char *path, bool as_default, cfg_pub *s)
{
    (void)as_default;
    const ynode *sec = ynode_get(pubs, "sns");
    if (!sec && !ynode_get(pubs, "sns_topic_arn") && !ynode_get(pubs, "sns_link_seconds"))
        return false;
    const ynode *m = pubs;
    char p[512];
    snprintf(p, sizeof p, "%s%ssns", path, *path ? "." : "");
    char *arn = NULL, region[64];
    bool fifo;
    const char *why = NULL;
    if (!cfg_read_str(d, m, "sns_topic_arn", path, &arn))
        cfg_diag_add(d, sec ? sec : m, p, "missing `topic_arn`");
    else if (!arn_ok(arn, region, sizeof region, &fifo, &why))
        cfg_diag_add(d, ynode_get(m, "sns_topic_arn"), p, "bad topic_arn \"%s\": %s", arn, why);
    else if (!cfg_pub_set(s, "topic_arn", arn))
        cfg_diag_add(d, m, p, "out of memory");
    free(arn);
    int64_t secs = DEFAULT_LINK_S;
    cfg_read_int(d, m, "sns_link_seconds", path, 1, MAX_LINK_S, &secs);
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)secs);
    if (!cfg_pub_set(s, "link_seconds", num)) cfg_diag_add(d, m, p, "out of memory");
    return true;
}

static void sns_key(const cfg_pub *p, char *out, size_t len)
{
    snprintf(out, len, "sns:%s", cfg_pub_get(p, "topic_arn"));
}

static kerr_code sns_open(const cfg_pub *p, const config *cfg, void **state, kerr *err)
{
    sns_state *s = calloc(1, sizeof *s);
    if (!s) return kerr_set(err, KERR_NOMEM, "out of memory");
    const char *arn = cfg_pub_get(p, "topic_arn"), *why = NULL;
    char region[64];
    if (!arn || !arn_ok(arn, region, sizeof region, &s->fifo, &why)) {
        free(s);
        return kerr_set(err, KERR_INVALID, "sns: bad topic_arn");
    }
    if (aws_dest_open_in(&s->dest, cfg, CFG_EP_SNS, "sns", region, err) != KERR_OK) {
        free(s);
        return err ? err->code : KERR_INVALID;
    }
    snprintf(s->topic, sizeof s->topic, "%s", arn);
    const char *ls = cfg_pub_get(p, "link_seconds");
    s->link_s = ls ? atoi(ls) : DEFAULT_LINK_S;
    const char *s3ep = cfg->endpoint[CFG_EP_S3];
    snprintf(s->s3_endpoint, sizeof s->s3_endpoint, "%s", s3ep ? s3ep : "");
    snprintf(s->s3_region, sizeof s->s3_region, "%s", cfg->aws_region ? cfg->aws_region : region);
    s->s3_path_style = cfg->s3_force_path_style || (s3ep && *s3ep);
    log_kv(LOG_INFO, LOG_CTX("publisher", "sns"), "sns topic %s%s", s->topic,
           s->fifo ? " (FIFO)" : "");
    *state = s;
    return KERR_OK;
}

/* The snapshot's S3 URL, presigned for link_seconds with the current
 * credentials (a link made with temporary credentials ends with them).
 * NULL when the snapshot is not in S3. */
static char *snapshot_link(sns_state *s, const event *e)
{
    const char *ref = e->snapshot_ref;
    if (!ref || strncmp(ref, "s3://", 5) != 0 || !strchr(ref + 5, '/')) return NULL;
    const char *slash = strchr(ref + 5, '/');
    char bucket[256], base[1024], host[512], path[3072];
    snprintf(bucket, sizeof bucket, "%.*s", (int)(slash - ref - 5), ref + 5);
    char *ekey = aws_uri_encode(slash + 1, strlen(slash + 1), true);
    if (!ekey) return NULL;
    if (s->s3_path_style) {
        aws_split_endpoint(*s->s3_endpoint ? s->s3_endpoint : "https://s3.amazonaws.com", host,
                           sizeof host, base, sizeof base);
        snprintf(path, sizeof path, "/%s/%s", bucket, ekey);
    } else {
        char ep[600];
        snprintf(ep, sizeof ep, "https://%s.s3.%s.amazonaws.com", bucket, s->s3_region);
        aws_split_endpoint(ep, host, sizeof host, base, sizeof base);
        snprintf(path, sizeof path, "/%s", ekey);
    }
    free(ekey);
    aws_creds c;
    char *query = NULL, *url = NULL;
    if (aws_creds_provider_get(s->dest.aws->creds, &c, NULL) != KERR_OK) return NULL;
    aws_credentials cr = {c.access_key_id, c.secret_access_key,
                          c.session_token[0] ? c.session_token : NULL};
    aws_signing how = {s->s3_region, "s3", true};
    if (sigv4_presign("GET", host, path, &cr, &how, clock_wall_ms(), s->link_s, &query, NULL) ==
        KERR_OK) {
        size_t n = strlen(base) + strlen(path) + strlen(query) + 2;
        url = malloc(n);
        if (url) snprintf(url, n, "%s%s?%s", base, path, query);
    }
    free(query);
    return url;
}

/* SNS subjects are at most 100 printable ASCII characters on one line. */
static void subject(const event *e, char *out, size_t len)
{
    snprintf(out, len < 100 ? len : 100, "%s on %s (%.0f%%)", e->label ? e->label : "object",
             e->camera_name, e->confidence * 100);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) *p = '?';
}

static char *message(sns_state *s, const event *e, const char *json)
{
    char when[40], link_line[64] = "";
    clock_format_iso(e->detected_at_ms, when, sizeof when);
    char *link = snapshot_link(s, e);
    if (s->link_s % 3600 == 0)
        snprintf(link_line, sizeof link_line, "Snapshot (link valid %d h): ", s->link_s / 3600);
    else
        snprintf(link_line, sizeof link_line, "Snapshot (link valid %d s): ", s->link_s);
    size_t n = strlen(json) + (link ? strlen(link) : 0) + strlen(e->camera_name) +
               (e->label ? strlen(e->label) : 0) + (e->detector ? strlen(e->detector) : 0) + 256;
    char *m = malloc(n);
    if (m)
        snprintf(m, n, "%s on camera %s, confidence %.0f%%, at %s (detector %s, %s)\n%s%s%s\n%s\n",
                 e->label ? e->label : "object", e->camera_name, e->confidence * 100, when,
                 e->detector ? e->detector : "", e->kind[0] ? e->kind : "object",
                 link ? link_line : "", link ? link : "", link ? "\n" : "", json);
    free(link);
    return m;
}

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} form;

/* Appends &key=value, the value form-encoded. */
static void form_add(form *f, const char *key, const char *value)
{
    char *v = f->oom ? NULL : aws_uri_encode(value, strlen(value), false);
    size_t need = v ? f->len + strlen(key) + strlen(v) + 3 : 0;
    if (v && need > f->cap) {
        char *np = realloc(f->p, need * 2);
        if (np) f->p = np, f->cap = need * 2;
        if (!np) free(v), v = NULL;
    }
    if (!v) {
        f->oom = true;
        return;
    }
    f->len +=
        (size_t)snprintf(f->p + f->len, f->cap - f->len, "%s%s=%s", f->len ? "&" : "", key, v);
    free(v);
}

/* The Publish call, Query protocol (form-encoded, as botocore sends it). */
static char *publish_body(sns_state *s, const event *e, const char *msg)
{
    form f = {0};
    char subj[128], key[64];
    subject(e, subj, sizeof subj);
    form_add(&f, "Action", "Publish");
    form_add(&f, "Version", "2010-03-31");
    form_add(&f, "TopicArn", s->topic);
    form_add(&f, "Subject", subj);
    form_add(&f, "Message", msg);
    const char *attr[][2] = {{"camera", e->camera_name},
                             {"label", e->label},
                             {"detector", e->detector},
                             {"event_type", e->kind[0] ? e->kind : "object"}};
    int k = 0;
    for (int i = 0; i < 4; i++) {
        if (!attr[i][1] || !*attr[i][1]) continue; /* SNS refuses empty values */
        k++;
        snprintf(key, sizeof key, "MessageAttributes.entry.%d.Name", k);
        form_add(&f, key, attr[i][0]);
        snprintf(key, sizeof key, "MessageAttributes.entry.%d.Value.DataType", k);
        form_add(&f, key, "String");
        snprintf(key, sizeof key, "MessageAttributes.entry.%d.Value.StringValue", k);
        form_add(&f, key, attr[i][1]);
    }
    if (s->fifo) {
        form_add(&f, "MessageGroupId", e->camera_name);
        /* a clip_ready repeats its event's id: within SNS's 5-minute window the
         * same deduplication id would drop it as a copy of the event */
        char dedup[UUID_TEXT_LEN + 8];
        snprintf(dedup, sizeof dedup, "%s%s", e->event_id,
                 strcmp(e->kind, "clip_ready") == 0 ? "-clip" : "");
        form_add(&f, "MessageDeduplicationId", dedup);
    }
    if (f.oom) free(f.p);
    return f.oom ? NULL : f.p;
}

/* Parameters SNS will never take for this message: dead-letter it. */
static bool refused_for_good(const char *code)
{
    return strcmp(code, "InvalidParameter") == 0 || strcmp(code, "InvalidParameterValue") == 0 ||
           strcmp(code, "ParameterValueInvalid") == 0;
}

static kerr_code publish_one(sns_state *s, const event *e, kerr *err)
{
    char *json = event_to_json(e);
    char *msg = json ? message(s, e, json) : NULL;
    char *body = msg ? publish_body(s, e, msg) : NULL;
    free(json), free(msg);
    if (!body) return kerr_set(err, KERR_NOMEM, "out of memory");
    char url[1024], host[512], base[1024];
    if (*s->dest.endpoint)
        snprintf(url, sizeof url, "%s", s->dest.endpoint);
    else
        snprintf(url, sizeof url, "https://sns.%s.amazonaws.com", s->dest.region);
    aws_split_endpoint(url, host, sizeof host, base, sizeof base);
    snprintf(url, sizeof url, "%s/", base);
    aws_header h[] = {{"Host", host},
                      {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    aws_call c = {.method = "POST",
                  .url = url,
                  .path = "/",
                  .headers = h,
                  .nheaders = 2,
                  .body = body,
                  .body_len = strlen(body),
                  .service = "sns",
                  .region = s->dest.region,
                  .timeout_ms = 15000};
    aws_http_response resp;
    aws_error aerr;
    kerr_code rc = aws_signed_call_with_creds(s->dest.aws, &c, &resp, &aerr, err);
    free(body);
    if (aerr.retries) metric_add(M_PUBLISHER_RETRIES, "publisher=\"sns\"", aerr.retries);
    if (rc == KERR_OK && (!resp.body || !strstr(resp.body, "<MessageId>")))
        rc = kerr_set(err, KERR_AGAIN, "sns Publish: no MessageId in the answer");
    else if (rc != KERR_OK && refused_for_good(aerr.code))
        rc = kerr_set(err, KERR_UNSUPPORTED, "sns Publish refused: %s %s", aerr.code, aerr.message);
    aws_http_response_free(&resp);
    return rc;
}

static kerr_code sns_publish_one(void *state, const cfg_pub *p, const event *e, kerr *err)
{
    (void)p;
    return publish_one(state, e, err);
}

static void sns_close(void *state)
{
    sns_state *s = state;
    if (!s) return;
    aws_dest_close(&s->dest);
    free(s);
}

const publisher_ops publisher_sns = {
    .name = "sns",
    .keys = k_keys,
    .caps = PUB_WAITS_FOR_IMAGES, /* the region is the topic's */
    .read = sns_read,
    .key = sns_key,
    .open = sns_open,
    .publish_one = sns_publish_one,
    .record_max_bytes = MAX_EVENT_BYTES,
    .close = sns_close,
};
