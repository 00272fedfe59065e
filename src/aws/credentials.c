/* The AWS credential provider chain, in the standard order: environment,
 * shared credentials/config files, web identity (STS
 * AssumeRoleWithWebIdentity, as on EKS), ECS container credentials, EC2
 * IMDSv2. Temporary credentials are cached and refreshed ahead of expiry.
 * Values never reach a log: only `source`. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws.h"

static bool from_env(aws_creds *c)
{
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (!id || !*id || !secret || !*secret) return false;
    const char *token = getenv("AWS_SESSION_TOKEN");
    snprintf(c->access_key_id, sizeof c->access_key_id, "%s", id);
    snprintf(c->secret_access_key, sizeof c->secret_access_key, "%s", secret);
    snprintf(c->session_token, sizeof c->session_token, "%s", token ? token : "");
    snprintf(c->source, sizeof c->source, "environment");
    return true;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Reads key = value pairs of one [section] of an INI file. In the config file
 * profiles are "[profile NAME]" except "[default]". */
static bool read_profile(const char *path, const char *profile, bool config_style, aws_creds *c)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char want[300];
    if (config_style && strcmp(profile, "default") != 0)
        snprintf(want, sizeof want, "profile %s", profile);
    else
        snprintf(want, sizeof want, "%s", profile);
    char line[8192];
    bool in = false, found = false;
    char id[128] = "", secret[128] = "", token[4096] = "";
    while (fgets(line, sizeof line, f)) {
        char *l = trim(line);
        if (*l == '#' || *l == ';' || !*l) continue;
        if (*l == '[') {
            char *end = strchr(l, ']');
            if (end) *end = '\0';
            in = strcmp(trim(l + 1), want) == 0;
            continue;
        }
        char *eq = strchr(l, '=');
        if (!in || !eq) continue;
        *eq = '\0';
        char *k = trim(l), *v = trim(eq + 1);
        if (strcmp(k, "aws_access_key_id") == 0)
            snprintf(id, sizeof id, "%s", v);
        else if (strcmp(k, "aws_secret_access_key") == 0)
            snprintf(secret, sizeof secret, "%s", v);
        else if (strcmp(k, "aws_session_token") == 0)
            snprintf(token, sizeof token, "%s", v);
    }
    fclose(f);
    if (*id && *secret) {
        snprintf(c->access_key_id, sizeof c->access_key_id, "%s", id);
        snprintf(c->secret_access_key, sizeof c->secret_access_key, "%s", secret);
        snprintf(c->session_token, sizeof c->session_token, "%s", token);
        snprintf(c->source, sizeof c->source, "%s profile %s",
                 config_style ? "config file" : "credentials file", profile);
        found = true;
    }
    return found;
}

static bool from_files(aws_creds *c)
{
    const char *profile = getenv("AWS_PROFILE");
    if (!profile || !*profile) profile = "default";
    const char *home = getenv("HOME");
    char cred_path[4096], conf_path[4096];
    const char *cp = getenv("AWS_SHARED_CREDENTIALS_FILE"), *fp = getenv("AWS_CONFIG_FILE");
    snprintf(cred_path, sizeof cred_path, "%s", cp ? cp : "");
    snprintf(conf_path, sizeof conf_path, "%s", fp ? fp : "");
    if (!cp && home) snprintf(cred_path, sizeof cred_path, "%s/.aws/credentials", home);
    if (!fp && home) snprintf(conf_path, sizeof conf_path, "%s/.aws/config", home);
    return (*cred_path && read_profile(cred_path, profile, false, c)) ||
           (*conf_path && read_profile(conf_path, profile, true, c));
}

/* "2026-11-25T10:00:00Z" (also with fractional seconds) -> ms */
static int64_t parse_expiration(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000;
}

/* {AccessKeyId, SecretAccessKey, Token, Expiration}: ECS and IMDS answers. */
static kerr_code from_json(const char *body, const char *source, aws_creds *c, kerr *err)
{
    json_t *r = json_loads(body ? body : "", 0, NULL);
    const char *id = json_string_value(json_object_get(r, "AccessKeyId"));
    const char *secret = json_string_value(json_object_get(r, "SecretAccessKey"));
    const char *token = json_string_value(json_object_get(r, "Token"));
    const char *exp = json_string_value(json_object_get(r, "Expiration"));
    kerr_code rc = KERR_OK;
    if (!id || !secret)
        rc = kerr_set(err, KERR_INVALID, "%s: no credentials in the answer", source);
    else {
        snprintf(c->access_key_id, sizeof c->access_key_id, "%s", id);
        snprintf(c->secret_access_key, sizeof c->secret_access_key, "%s", secret);
        snprintf(c->session_token, sizeof c->session_token, "%s", token ? token : "");
        c->expires_ms = parse_expiration(exp);
        snprintf(c->source, sizeof c->source, "%s", source);
    }
    json_decref(r);
    return rc;
}

static const char *xml_value(const char *body, const char *tag, char *out, size_t len)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = body ? strstr(body, open) : NULL;
    const char *b = a ? strstr(a, close) : NULL;
    if (!a || !b) return NULL;
    a += strlen(open);
    snprintf(out, len, "%.*s", (int)(b - a), a);
    return out;
}

/* Form encoding for the STS query (RFC 3986 unreserved kept). */
static void form_add(char *q, size_t len, const char *k, const char *v)
{
    char *e = aws_uri_encode(v, strlen(v), false);
    size_t used = strlen(q);
    snprintf(q + used, len - used, "%s%s=%s", used ? "&" : "", k, e ? e : "");
    free(e);
}

static kerr_code from_web_identity(aws_http *http, const char *sts_endpoint, const char *region,
                                   aws_creds *c, kerr *err)
{
    const char *file = getenv("AWS_WEB_IDENTITY_TOKEN_FILE"), *role = getenv("AWS_ROLE_ARN");
    if (!file || !*file || !role || !*role) return KERR_EOF;
    char *token = read_file(file, NULL, err);
    if (!token) return KERR_IO;
    for (char *p = token + strlen(token); p > token && isspace((unsigned char)p[-1]);)
        *--p = '\0';
    const char *session = getenv("AWS_ROLE_SESSION_NAME");
    char *body = malloc(strlen(token) * 3 + 4096);
    if (!body) {
        free(token);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    body[0] = '\0';
    form_add(body, strlen(token) * 3 + 4096, "Action", "AssumeRoleWithWebIdentity");
    form_add(body, strlen(token) * 3 + 4096, "Version", "2011-06-15");
    form_add(body, strlen(token) * 3 + 4096, "RoleArn", role);
    form_add(body, strlen(token) * 3 + 4096, "RoleSessionName",
             session && *session ? session : "kvs-infer");
    form_add(body, strlen(token) * 3 + 4096, "WebIdentityToken", token);
    free(token);
    char url[512];
    if (sts_endpoint && *sts_endpoint)
        snprintf(url, sizeof url, "%s", sts_endpoint);
    else
        snprintf(url, sizeof url, "https://sts.%s.amazonaws.com/", region ? region : "us-east-1");
    aws_header h[] = {{"Content-Type", "application/x-www-form-urlencoded"},
                      {"Accept", "application/xml"}};
    aws_http_response r;
    kerr_code rc = aws_http_do(http, "POST", url, h, 2, body, strlen(body), 10000, &r, err);
    free(body);
    if (rc == KERR_OK && r.status != 200)
        rc = kerr_set(err, KERR_AGAIN, "STS AssumeRoleWithWebIdentity: HTTP %ld", r.status);
    char id[128], secret[128], exp[64];
    if (rc == KERR_OK &&
        (!xml_value(r.body, "AccessKeyId", id, sizeof id) ||
         !xml_value(r.body, "SecretAccessKey", secret, sizeof secret) ||
         !xml_value(r.body, "SessionToken", c->session_token, sizeof c->session_token)))
        rc = kerr_set(err, KERR_INVALID, "STS AssumeRoleWithWebIdentity: unreadable answer");
    if (rc == KERR_OK) {
        snprintf(c->access_key_id, sizeof c->access_key_id, "%s", id);
        snprintf(c->secret_access_key, sizeof c->secret_access_key, "%s", secret);
        c->expires_ms =
            xml_value(r.body, "Expiration", exp, sizeof exp) ? parse_expiration(exp) : 0;
        snprintf(c->source, sizeof c->source, "web identity (%s)", role);
    }
    aws_http_response_free(&r);
    return rc;
}

static kerr_code from_ecs(aws_http *http, aws_creds *c, kerr *err)
{
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if ((!rel || !*rel) && (!full || !*full)) return KERR_EOF;
    char url[1024], auth[4096] = "";
    if (rel && *rel)
        snprintf(url, sizeof url, "http://169.254.170.2%s", rel);
    else
        snprintf(url, sizeof url, "%s", full);
    const char *tok = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    const char *tokfile = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (tokfile && *tokfile) {
        char *t = read_file(tokfile, NULL, err);
        if (!t) return KERR_IO;
        snprintf(auth, sizeof auth, "%s", trim(t));
        free(t);
    } else if (tok) {
        snprintf(auth, sizeof auth, "%s", tok);
    }
    aws_header h[] = {{"Authorization", auth}};
    aws_http_response r;
    kerr_code rc = aws_http_do(http, "GET", url, h, *auth ? 1 : 0, NULL, 0, 5000, &r, err);
    if (rc == KERR_OK && r.status != 200)
        rc = kerr_set(err, KERR_AGAIN, "ECS credentials endpoint: HTTP %ld", r.status);
    if (rc == KERR_OK) rc = from_json(r.body, "container credentials", c, err);
    aws_http_response_free(&r);
    return rc;
}

static kerr_code from_imds(aws_http *http, aws_creds *c, kerr *err)
{
    const char *off = getenv("AWS_EC2_METADATA_DISABLED");
    if (off && strcasecmp(off, "true") == 0) return KERR_EOF;
    const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    char base[512], url[1024];
    snprintf(base, sizeof base, "%s", ep && *ep ? ep : "http://169.254.169.254");
    size_t bl = strlen(base);
    if (bl && base[bl - 1] == '/') base[bl - 1] = '\0';
    aws_http_response r;
    snprintf(url, sizeof url, "%s/latest/api/token", base);
    aws_header th[] = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
    kerr_code rc = aws_http_do(http, "PUT", url, th, 1, "", 0, 1000, &r, err);
    if (rc != KERR_OK || r.status != 200) {
        aws_http_response_free(&r);
        return rc == KERR_OK ? kerr_set(err, KERR_EOF, "IMDSv2: HTTP %ld", r.status) : KERR_EOF;
    }
    char token[1024];
    snprintf(token, sizeof token, "%s", r.body ? trim(r.body) : "");
    aws_http_response_free(&r);
    aws_header h[] = {{"X-aws-ec2-metadata-token", token}};
    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/", base);
    rc = aws_http_do(http, "GET", url, h, 1, NULL, 0, 1000, &r, err);
    char role[256] = "";
    if (rc == KERR_OK && r.status == 200 && r.body) {
        char *nl = strchr(r.body, '\n');
        if (nl) *nl = '\0';
        snprintf(role, sizeof role, "%s", trim(r.body));
    }
    aws_http_response_free(&r);
    if (!*role) return kerr_set(err, KERR_EOF, "IMDSv2: no instance role");
    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/%s", base, role);
    rc = aws_http_do(http, "GET", url, h, 1, NULL, 0, 1000, &r, err);
    if (rc == KERR_OK && r.status != 200)
        rc = kerr_set(err, KERR_AGAIN, "IMDSv2 role credentials: HTTP %ld", r.status);
    if (rc == KERR_OK) rc = from_json(r.body, "instance profile (IMDSv2)", c, err);
    aws_http_response_free(&r);
    return rc;
}

kerr_code aws_creds_fetch(aws_http *http, const char *sts_endpoint, const char *region,
                          aws_creds *out, kerr *err)
{
    memset(out, 0, sizeof *out);
    if (from_env(out) || from_files(out)) return KERR_OK;
    kerr_code rc = KERR_EOF;
    if (http) rc = from_web_identity(http, sts_endpoint, region, out, err);
    if (rc == KERR_EOF && http) rc = from_ecs(http, out, err);
    if (rc == KERR_EOF && http) rc = from_imds(http, out, err);
    if (rc == KERR_EOF)
        rc = kerr_set(err, KERR_INVALID,
                      "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile "
                      "in ~/.aws/credentials (AWS_PROFILE), a web identity, or run with a "
                      "container or instance role");
    return rc;
}

/* ---- the cached provider ---- */
struct aws_creds_provider {
    pthread_mutex_t mu;
    aws_http *http;
    char *sts_endpoint, *region;
    aws_creds cur;
    bool have;
};

aws_creds_provider *aws_creds_provider_new(aws_http *http, const char *sts_endpoint,
                                           const char *region)
{
    aws_creds_provider *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->http = http;
    p->sts_endpoint = kstrdup(sts_endpoint);
    p->region = kstrdup(region);
    return p;
}

void aws_creds_provider_free(aws_creds_provider *p)
{
    if (!p) return;
    memset(&p->cur, 0, sizeof p->cur);
    pthread_mutex_destroy(&p->mu);
    free(p->sts_endpoint), free(p->region);
    free(p);
}

/* Refresh ahead of expiry: 5 minutes, or a quarter of a short lifetime. */
static bool stale(const aws_creds *c, int64_t now, int64_t fetched)
{
    if (!c->expires_ms) return false;
    int64_t life = c->expires_ms - fetched, margin = 300000;
    if (life > 0 && life / 4 < margin) margin = life / 4;
    return now >= c->expires_ms - margin;
}

kerr_code aws_creds_provider_get(aws_creds_provider *p, aws_creds *out, kerr *err)
{
    pthread_mutex_lock(&p->mu);
    int64_t now = clock_wall_ms();
    kerr_code rc = KERR_OK;
    if (!p->have || stale(&p->cur, now, p->cur.fetched_ms)) {
        aws_creds fresh;
        rc = aws_creds_fetch(p->http, p->sts_endpoint, p->region, &fresh, err);
        if (rc == KERR_OK) {
            fresh.fetched_ms = now;
            bool first = !p->have;
            p->cur = fresh;
            p->have = true;
            log_kv(LOG_INFO, LOG_CTX("component", "aws"), "credentials %s from %s%s",
                   first ? "loaded" : "refreshed", fresh.source,
                   fresh.expires_ms ? " (temporary)" : "");
        } else if (p->have && now < p->cur.expires_ms) {
            rc = KERR_OK; /* keep using the current ones until they really expire */
        }
    }
    if (rc == KERR_OK) *out = p->cur;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void aws_creds_provider_invalidate(aws_creds_provider *p)
{
    pthread_mutex_lock(&p->mu);
    p->have = false;
    pthread_mutex_unlock(&p->mu);
}
