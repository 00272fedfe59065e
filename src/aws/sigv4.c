/* AWS Signature Version 4, header form. See aws.h and
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html */
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws.h"

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} sb;

static void sb_add(sb *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2 + 64;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

void aws_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

bool aws_sha256_file_hex(FILE *f, char out[65])
{
    unsigned char md[32], buf[64 << 10];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    for (size_t got; ok && (got = fread(buf, 1, sizeof buf, f)) > 0;)
        ok = EVP_DigestUpdate(ctx, buf, got) == 1;
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, md, &n) == 1;
    EVP_MD_CTX_free(ctx);
    for (int i = 0; ok && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return ok;
}

void aws_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                     unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &n);
}

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* RFC 3986 encoding: unreserved bytes stay; keep_slash leaves '/', and
 * keep_escapes leaves existing %XX escapes (S3 signs its path as sent). */
static char *encode(const char *s, size_t len, bool keep_slash, bool keep_escapes)
{
    char *out = malloc(len * 3 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool escape = keep_escapes && c == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
                      hexval(s[i + 2]) >= 0;
        if (unreserved(c) || (keep_slash && c == '/') || escape) {
            out[o++] = (char)c;
        } else {
            snprintf(out + o, 4, "%%%02X", c);
            o += 3;
        }
    }
    out[o] = '\0';
    return out;
}

char *aws_uri_encode(const char *s, size_t len, bool keep_slash)
{
    return encode(s, len, keep_slash, false);
}

/* Percent-decoding of a query component ('+' stays '+': AWS does not read it as a space). */
static char *uri_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Removes "." and ".." segments and empty segments; keeps a trailing slash. */
static char *normalize_path(const char *path)
{
    size_t n = strlen(path);
    char **segs = calloc(n + 1, sizeof *segs);
    size_t *lens = calloc(n + 1, sizeof *lens);
    char *out = malloc(n + 2);
    if (!segs || !lens || !out) {
        free(segs), free(lens), free(out);
        return NULL;
    }
    int ns = 0;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t l = (size_t)(e - p);
        if (l == 0 || (l == 1 && p[0] == '.')) {
        } else if (l == 2 && p[0] == '.' && p[1] == '.') {
            if (ns > 0) ns--;
        } else {
            segs[ns] = (char *)p;
            lens[ns++] = l;
        }
        p = e;
    }
    size_t o = 0;
    out[o++] = '/';
    for (int i = 0; i < ns; i++) {
        memcpy(out + o, segs[i], lens[i]);
        o += lens[i];
        if (i + 1 < ns) out[o++] = '/';
    }
    bool trailing = n > 1 && path[n - 1] == '/' && ns > 0;
    if (trailing) out[o++] = '/';
    out[o] = '\0';
    free(segs), free(lens);
    return out;
}

static char *canonical_uri(const char *path, bool s3)
{
    if (!path || !*path) return kstrdup("/");
    if (s3) return encode(path, strlen(path), true, true);
    char *norm = normalize_path(path);
    if (!norm) return NULL;
    char *enc = aws_uri_encode(norm, strlen(norm), true);
    free(norm);
    return enc;
}

typedef struct {
    char *key, *value; /* encoded */
} qparam;

static int qparam_cmp(const void *a, const void *b)
{
    const qparam *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

/* Each key and value decoded, then encoded the SigV4 way; sorted by key, then value. */
static bool canonical_query(const char *q, sb *out)
{
    if (!q || !*q) return true;
    size_t cap = 1;
    for (const char *p = q; *p; p++)
        cap += *p == '&';
    qparam *ps = calloc(cap, sizeof *ps);
    if (!ps) return false;
    size_t n = 0;
    bool ok = true;
    for (const char *p = q; ok && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t kl = eq ? (size_t)(eq - p) : len;
            char *k = uri_decode(p, kl);
            char *v = eq ? uri_decode(eq + 1, len - kl - 1) : kstrdup("");
            ps[n].key = k ? aws_uri_encode(k, strlen(k), false) : NULL;
            ps[n].value = v ? aws_uri_encode(v, strlen(v), false) : NULL;
            ok = ps[n].key && ps[n].value;
            n++;
            free(k), free(v);
        }
        p = amp ? amp + 1 : p + len;
    }
    if (ok) {
        qsort(ps, n, sizeof *ps, qparam_cmp);
        for (size_t i = 0; i < n; i++) {
            if (i) sb_str(out, "&");
            sb_str(out, ps[i].key);
            sb_str(out, "=");
            sb_str(out, ps[i].value);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(ps[i].key), free(ps[i].value);
    free(ps);
    return ok;
}

typedef struct {
    char *name;  /* lower case */
    char *value; /* trimmed, inner whitespace runs collapsed */
    int order;
} hdr;

static int hdr_cmp(const void *a, const void *b)
{
    const hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->order - y->order; /* repeated headers keep their order */
}

static char *lower(const char *s)
{
    char *d = kstrdup(s);
    for (char *p = d; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

static char *trim_value(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    size_t o = 0;
    bool space = false;
    for (const char *p = s; *p; p++) {
        if (isspace((unsigned char)*p)) {
            space = o > 0;
            continue;
        }
        if (space) d[o++] = ' ';
        space = false;
        d[o++] = *p;
    }
    d[o] = '\0';
    return d;
}

/* Appends the canonical header block and fills signed_headers. */
static bool canonical_headers(const aws_request *req, const char *amz_date, const char *token,
                              sb *out, char *signed_headers, size_t shlen)
{
    int n = req->nheaders + 2;
    hdr *h = calloc((size_t)n, sizeof *h);
    if (!h) return false;
    int k = 0;
    bool ok = true;
    for (int i = 0; i < req->nheaders; i++, k++) {
        h[k] = (hdr){lower(req->headers[i].name), trim_value(req->headers[i].value), k};
        ok &= h[k].name && h[k].value;
    }
    h[k] = (hdr){kstrdup("x-amz-date"), kstrdup(amz_date), k};
    k++;
    if (token) h[k] = (hdr){kstrdup("x-amz-security-token"), trim_value(token), k}, k++;
    if (ok) qsort(h, (size_t)k, sizeof *h, hdr_cmp);
    size_t sl = 0;
    signed_headers[0] = '\0';
    for (int i = 0; ok && i < k; i++) {
        bool same = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;
        if (same) { /* repeated header: values joined with commas */
            sb_str(out, ",");
            sb_str(out, h[i].value);
            continue;
        }
        if (i > 0) sb_str(out, "\n");
        sb_str(out, h[i].name);
        sb_str(out, ":");
        sb_str(out, h[i].value);
        int w = snprintf(signed_headers + sl, shlen - sl, "%s%s", sl ? ";" : "", h[i].name);
        if (w < 0 || (size_t)w >= shlen - sl)
            ok = false;
        else
            sl += (size_t)w;
    }
    if (ok && k) sb_str(out, "\n");
    for (int i = 0; i < k; i++)
        free(h[i].name), free(h[i].value);
    free(h);
    return ok;
}

/* The string to sign for a canonical request; scope gets
 * date/region/service/aws4_request. */
static kerr_code string_to_sign(const sb *creq, const char *amz_date, const aws_signing *how,
                                sb *sts, char *scope, size_t scope_len)
{
    char creq_hash[65];
    aws_sha256_hex(creq->p, creq->len, creq_hash);
    snprintf(scope, scope_len, "%.8s/%s/%s/aws4_request", amz_date, how->region, how->service);
    sb_str(sts, "AWS4-HMAC-SHA256\n");
    sb_str(sts, amz_date);
    sb_str(sts, "\n");
    sb_str(sts, scope);
    sb_str(sts, "\n");
    sb_str(sts, creq_hash);
    return sts->oom ? KERR_NOMEM : KERR_OK;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
 * "aws4_request"); the signature is HMAC(kSigning, string to sign) in hex. */
static kerr_code sign_string(const sb *sts, const char *secret, const char *amz_date,
                             const aws_signing *how, char out[65])
{
    unsigned char k[32];
    size_t slen = strlen(secret);
    char *seed = malloc(slen + 5);
    if (!seed) return KERR_NOMEM;
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, secret, slen + 1);
    aws_hmac_sha256(seed, slen + 4, amz_date, 8, k);
    OPENSSL_cleanse(seed, slen + 4);
    free(seed);
    aws_hmac_sha256(k, 32, how->region, strlen(how->region), k);
    aws_hmac_sha256(k, 32, how->service, strlen(how->service), k);
    aws_hmac_sha256(k, 32, "aws4_request", 12, k);
    unsigned char sig[32];
    aws_hmac_sha256(k, 32, sts->p, sts->len, sig);
    OPENSSL_cleanse(k, sizeof k);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", sig[i]);
    return KERR_OK;
}

kerr_code sigv4_sign(const aws_request *req, const aws_credentials *cred, const aws_signing *how,
                     int64_t now_ms, aws_signature *out, kerr *err)
{
    memset(out, 0, sizeof *out);
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out->amz_date, sizeof out->amz_date, "%Y%m%dT%H%M%SZ", &tm);

    char body_hash[65];
    if (!req->payload_hash) aws_sha256_hex(req->body ? req->body : "", req->body_len, body_hash);
    sb creq = {0};
    sb_str(&creq, req->method);
    sb_str(&creq, "\n");
    char *uri = canonical_uri(req->path, how->s3);
    if (!uri) return kerr_set(err, KERR_NOMEM, "out of memory");
    sb_str(&creq, uri);
    free(uri);
    sb_str(&creq, "\n");
    bool ok = canonical_query(req->query, &creq);
    sb_str(&creq, "\n");
    ok = ok && canonical_headers(req, out->amz_date, cred->session_token, &creq,
                                 out->signed_headers, sizeof out->signed_headers);
    sb_str(&creq, "\n");
    sb_str(&creq, out->signed_headers);
    sb_str(&creq, "\n");
    sb_str(&creq, req->payload_hash ? req->payload_hash : body_hash);
    if (!ok || creq.oom) {
        free(creq.p);
        return kerr_set(err, KERR_INVALID,
                        "cannot build the canonical request (headers too long?)");
    }
    char scope[256];
    sb sts = {0};
    if (string_to_sign(&creq, out->amz_date, how, &sts, scope, sizeof scope) != KERR_OK ||
        sign_string(&sts, cred->secret_access_key, out->amz_date, how, out->signature) != KERR_OK) {
        free(creq.p), free(sts.p);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    snprintf(out->authorization, sizeof out->authorization,
             "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
             cred->access_key_id, scope, out->signed_headers, out->signature);
    out->canonical_request = creq.p;
    out->string_to_sign = sts.p;
    return KERR_OK;
}

void aws_signature_free(aws_signature *s)
{
    free(s->canonical_request);
    free(s->string_to_sign);
    s->canonical_request = s->string_to_sign = NULL;
}

/* The query a presigned URL carries: the X-Amz-* parameters (sorted, as the
 * canonical query wants them), the host the only signed header, the payload
 * unsigned. */
static void presign_params(sb *q, const aws_credentials *cred, const char *scope,
                           const char *amz_date, int expires_s)
{
    char *c = NULL, *tok = NULL;
    char credential[512], num[16];
    snprintf(credential, sizeof credential, "%s/%s", cred->access_key_id, scope);
    c = aws_uri_encode(credential, strlen(credential), false);
    if (cred->session_token)
        tok = aws_uri_encode(cred->session_token, strlen(cred->session_token), false);
    snprintf(num, sizeof num, "%d", expires_s);
    sb_str(q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
    sb_str(q, c ? c : "");
    sb_str(q, "&X-Amz-Date=");
    sb_str(q, amz_date);
    sb_str(q, "&X-Amz-Expires=");
    sb_str(q, num);
    if (cred->session_token) {
        sb_str(q, "&X-Amz-Security-Token=");
        sb_str(q, tok ? tok : "");
    }
    sb_str(q, "&X-Amz-SignedHeaders=host");
    if (!c || (cred->session_token && !tok)) q->oom = true;
    free(c), free(tok);
}

kerr_code sigv4_presign(const char *method, const char *host, const char *path,
                        const aws_credentials *cred, const aws_signing *how, int64_t now_ms,
                        int expires_s, char **query, kerr *err)
{
    *query = NULL;
    if (expires_s < 1 || expires_s > 604800)
        return kerr_set(err, KERR_INVALID, "a presigned URL lasts 1 s to 7 days, not %d s",
                        expires_s);
    char amz_date[17], scope[256];
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(scope, sizeof scope, "%.8s/%s/%s/aws4_request", amz_date, how->region, how->service);
    sb q = {0}, creq = {0}, sts = {0};
    presign_params(&q, cred, scope, amz_date, expires_s);
    char *uri = canonical_uri(path, how->s3);
    sb_str(&creq, method);
    sb_str(&creq, "\n");
    sb_str(&creq, uri ? uri : "");
    sb_str(&creq, "\n");
    sb_str(&creq, q.p ? q.p : "");
    sb_str(&creq, "\nhost:");
    sb_str(&creq, host);
    sb_str(&creq, "\n\nhost\nUNSIGNED-PAYLOAD");
    free(uri);
    char sig[65] = "";
    kerr_code rc = !uri || q.oom || creq.oom ? KERR_NOMEM : KERR_OK;
    if (rc == KERR_OK) rc = string_to_sign(&creq, amz_date, how, &sts, scope, sizeof scope);
    if (rc == KERR_OK) rc = sign_string(&sts, cred->secret_access_key, amz_date, how, sig);
    sb_str(&q, "&X-Amz-Signature=");
    sb_str(&q, sig);
    free(creq.p), free(sts.p);
    if (rc != KERR_OK || q.oom) {
        free(q.p);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    *query = q.p;
    return KERR_OK;
}
