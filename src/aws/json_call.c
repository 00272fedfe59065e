/* AWS JSON-protocol calls (Kinesis, DynamoDB): sign, send on the shared HTTP
 * loop, classify errors, and retry the AWS "standard" way: capped exponential
 * backoff with full jitter, a retry quota so an outage does not turn into a
 * retry storm, throttling and transient errors retried, client errors not. */
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"

enum { QUOTA_MAX = 500, COST_RETRY = 5, COST_TIMEOUT = 10, MAX_ATTEMPTS = 3 };
static pthread_mutex_t g_quota_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_quota = QUOTA_MAX;

static bool take_quota(int cost)
{
    pthread_mutex_lock(&g_quota_mu);
    bool ok = g_quota >= cost;
    if (ok) g_quota -= cost;
    pthread_mutex_unlock(&g_quota_mu);
    return ok;
}

static void give_quota(int amount)
{
    pthread_mutex_lock(&g_quota_mu);
    g_quota = g_quota + amount > QUOTA_MAX ? QUOTA_MAX : g_quota + amount;
    pthread_mutex_unlock(&g_quota_mu);
}

static const char *const k_throttling[] = {"Throttling",
                                           "ClientLimitExceededException",
                                           "ConnectionLimitExceededException",
                                           "ThrottlingException",
                                           "ThrottledException",
                                           "RequestThrottledException",
                                           "TooManyRequestsException",
                                           "ProvisionedThroughputExceededException",
                                           "TransactionInProgressException",
                                           "RequestLimitExceeded",
                                           "BandwidthLimitExceeded",
                                           "LimitExceededException",
                                           "RequestThrottled",
                                           "SlowDown",
                                           "PriorRequestNotComplete",
                                           "EC2ThrottledException",
                                           NULL};
static const char *const k_transient[] = {"RequestTimeout",
                                          "RequestTimeoutException",
                                          "InternalError",
                                          "InternalFailure",
                                          "ServiceUnavailable",
                                          "KMSThrottlingException",
                                          NULL};

static bool listed(const char *code, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(code, list[i]) == 0) return true;
    return false;
}

void aws_classify(long status, const char *code, aws_error *e)
{
    e->status = status;
    e->throttle = listed(code, k_throttling);
    e->retryable = e->throttle || listed(code, k_transient) || status >= 500 || status == 429;
}

/* "__type" may be "prefix#Code"; the message key varies in case. */
static void parse_error(const aws_http_response *r, aws_error *e)
{
    memset(e, 0, sizeof *e);
    json_t *root = r->body ? json_loads(r->body, 0, NULL) : NULL;
    const char *type = root ? json_string_value(json_object_get(root, "__type")) : NULL;
    const char *msg = root ? json_string_value(json_object_get(root, "message")) : NULL;
    if (!msg && root) msg = json_string_value(json_object_get(root, "Message"));
    if (type && strchr(type, '#')) type = strchr(type, '#') + 1;
    snprintf(e->code, sizeof e->code, "%s", type ? type : "");
    /* KVS: the code is in x-amzn-ErrorType, maybe with ":namespace" after it. */
    if (!*e->code && r->error_type[0])
        snprintf(e->code, sizeof e->code, "%.*s", (int)strcspn(r->error_type, ":"), r->error_type);
    snprintf(e->message, sizeof e->message, "%s", msg ? msg : "");
    if (!*e->code) snprintf(e->code, sizeof e->code, "HTTP%ld", r->status);
    aws_classify(r->status, e->code, e);
    json_decref(root);
}

int64_t aws_backoff_ms(int attempt)
{
    /* full jitter: random in [0, min(cap, base * 2^attempt)) */
    int64_t cap = 20000, base = 50;
    int64_t ceiling = base << (attempt > 16 ? 16 : attempt);
    if (ceiling > cap) ceiling = cap;
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1) r = (uint32_t)clock_mono_ns();
    return (int64_t)(r % (uint32_t)ceiling);
}

static void split_endpoint(const char *url, char *host, size_t hlen, char *base, size_t blen)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    snprintf(host, hlen, "%.*s", (int)n, p);
    snprintf(base, blen, "%.*s", (int)(p - url) + (int)n, url);
}

/* Error code from a JSON body (__type) or an XML one (<Code>), else the status. */
static void parse_any_error(const aws_http_response *r, aws_error *e)
{
    parse_error(r, e);
    if (strncmp(e->code, "HTTP", 4) != 0 || !r->body) return;
    const char *c = strstr(r->body, "<Code>"), *m = strstr(r->body, "<Message>");
    if (c) {
        const char *end = strstr(c, "</Code>");
        if (end) snprintf(e->code, sizeof e->code, "%.*s", (int)(end - c - 6), c + 6);
    }
    if (m) {
        const char *end = strstr(m, "</Message>");
        if (end) snprintf(e->message, sizeof e->message, "%.*s", (int)(end - m - 9), m + 9);
    }
    aws_classify(r->status, e->code, e);
}

kerr_code aws_signed_call(aws_http *http, const aws_creds *creds, const aws_call *c,
                          aws_http_response *resp, aws_error *aerr, kerr *err)
{
    memset(aerr, 0, sizeof *aerr);
    for (int attempt = 0;; attempt++) {
        aws_header h[16];
        int nh = 0;
        for (int i = 0; i < c->nheaders && nh < 12; i++)
            h[nh++] = c->headers[i];
        aws_request req = {c->method, c->path, c->query,    h,
                           nh,        c->body, c->body_len, c->payload_hash};
        aws_credentials cr = {creds->access_key_id, creds->secret_access_key,
                              creds->session_token[0] ? creds->session_token : NULL};
        aws_signing how = {c->region, c->service, c->s3};
        aws_signature sig;
        kerr_code rc = sigv4_sign(&req, &cr, &how, clock_wall_ms(), &sig, err);
        if (rc) return rc;
        h[nh++] = (aws_header){"X-Amz-Date", sig.amz_date};
        h[nh++] = (aws_header){"Authorization", sig.authorization};
        if (cr.session_token) h[nh++] = (aws_header){"X-Amz-Security-Token", cr.session_token};
        int ms = c->timeout_ms ? c->timeout_ms : 10000;
        if (c->body_file && fseek(c->body_file, 0, SEEK_SET) != 0)
            rc = kerr_set(err, KERR_IO, "%s: cannot rewind the body", c->service);
        else if (c->body_file)
            rc = aws_http_do_file(http, c->method, c->url, h, nh, c->body_file, c->body_len, ms,
                                  resp, err);
        else
            rc = aws_http_do(http, c->method, c->url, h, nh, c->body, c->body_len, ms, resp, err);
        aws_signature_free(&sig);
        int cost = COST_RETRY;
        if (rc == KERR_OK && resp->status >= 200 && resp->status < 300) {
            give_quota(attempt ? COST_RETRY : 1);
            return KERR_OK;
        }
        int retries = aerr->retries;
        if (rc == KERR_OK) {
            parse_any_error(resp, aerr);
        } else {
            memset(aerr, 0, sizeof *aerr);
            snprintf(aerr->code, sizeof aerr->code, "TransportError");
            snprintf(aerr->message, sizeof aerr->message, "%s", err ? err->msg : "");
            aerr->retryable = true;
            cost = COST_TIMEOUT;
        }
        aerr->retries = retries;
        int most = c->max_attempts > 0 ? c->max_attempts : MAX_ATTEMPTS;
        if (!aerr->retryable || attempt + 1 >= most || !take_quota(cost)) break;
        aerr->retries++;
        aws_http_response_free(resp);
        clock_sleep_ns(aws_backoff_ms(attempt) * 1000000LL);
    }
    aws_http_response_free(resp); /* aerr holds what the answer said */
    return kerr_set(err, aerr->retryable ? KERR_AGAIN : KERR_INVALID, "%s %s %s: %s %s", c->service,
                    c->method, c->path, aerr->code, aerr->message);
}

kerr_code aws_json_call(aws_http *http, const aws_creds *creds, const aws_target *t,
                        const char *operation, const char *body, aws_http_response *resp,
                        aws_error *aerr, kerr *err)
{
    char url[1024], host[512], base[1024], target[256], ctype[64];
    if (t->endpoint && *t->endpoint)
        snprintf(url, sizeof url, "%s", t->endpoint);
    else
        snprintf(url, sizeof url, "https://%s.%s.amazonaws.com/", t->service, t->region);
    split_endpoint(url, host, sizeof host, base, sizeof base);
    snprintf(url, sizeof url, "%s/", base);
    snprintf(target, sizeof target, "%s.%s", t->target_prefix, operation);
    snprintf(ctype, sizeof ctype, "application/x-amz-json-%s", t->json_version);
    aws_header h[] = {{"Host", host}, {"Content-Type", ctype}, {"X-Amz-Target", target}};
    aws_call c = {.method = "POST",
                  .url = url,
                  .path = "/",
                  .headers = h,
                  .nheaders = 3,
                  .body = body,
                  .body_len = strlen(body),
                  .service = t->service,
                  .region = t->region,
                  .timeout_ms = t->timeout_ms};
    kerr_code rc = aws_signed_call(http, creds, &c, resp, aerr, err);
    if (rc != KERR_OK) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s %s: %s %s", t->service, operation, aerr->code, aerr->message);
        kerr_set(err, rc, "%s", why);
    }
    return rc;
}

void aws_split_endpoint(const char *url, char *host, size_t hlen, char *base, size_t blen)
{
    split_endpoint(url, host, hlen, base, blen);
}
