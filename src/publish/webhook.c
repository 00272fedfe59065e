/* `webhook`: each event's JSON POSTed to a URL over HTTP(S), signed so the
 * receiver can tell it is ours and not a replay:
 *
 *   X-KVS-Infer-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *
 *   publishers:
 *     webhook: {url: "https://ops.example/hook", secret: "${HOOK_SECRET}",
 *               headers: {Authorization: "Bearer ${TOKEN}"}, timeout_seconds: 10}
 *
 * 2xx: delivered; 408, 429, 5xx and network errors: retried with the camera's
 * backoff; any other answer: refused for good (the dead-letter file, with the
 * status). The secret never reaches the spool: the settings carry only its
 * fingerprint, and the secret itself stays in this process (secret_store.c). */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "publish.h"

static const char *const k_keys[] = {"webhook_url",     "webhook_secret",
                                     "webhook_headers", "webhook_timeout_seconds",
                                     "webhook_ca_file", NULL};

/* ---- settings ---- */

static bool header_name_ok(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!strchr("!#$%&'*+-.^_`|~", *s) && !(*s >= '0' && *s <= '9') &&
            !((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z'))
            return false;
    return true;
}

/* headers: {Name: value} into "Name: value\n..." */
static void read_headers(cfg_diags *d, const ynode *pubs, const char *path, cfg_pub *s)
{
    const ynode *h = ynode_get(pubs, "webhook_headers");
    char p[512], all[8192] = "";
    size_t used = 0;
    snprintf(p, sizeof p, "%s.webhook.headers", path);
    if (!h || !cfg_expect_map(d, h, p)) return;
    for (size_t i = 0; i < h->n; i++) {
        const ynode *v = h->items[i];
        if (!header_name_ok(h->keys[i]) || v->kind != YNODE_SCALAR || strpbrk(v->value, "\r\n")) {
            cfg_diag_add_pos(d, h->key_line[i], h->key_col[i], p,
                             "`%s`: a header needs a token name and a one-line text value",
                             h->keys[i]);
            continue;
        }
        int w = snprintf(all + used, sizeof all - used, "%s: %s\n", h->keys[i], v->value);
        if (w < 0 || (size_t)w >= sizeof all - used) {
            cfg_diag_add(d, h, p, "the headers are too long (8 KiB at most)");
            return;
        }
        used += (size_t)w;
    }
    if (!cfg_pub_set(s, "webhook_headers", all)) cfg_diag_add(d, h, p, "out of memory");
}

static void read_secret(cfg_diags *d, const ynode *pubs, const char *path, cfg_pub *s)
{
    char *secret = NULL, id[17];
    if (!cfg_read_str(d, pubs, "webhook_secret", path, &secret)) return;
    const ynode *at = ynode_get(pubs, "webhook_secret");
    if (!*secret || strlen(secret) >= PUB_SECRET_MAX)
        cfg_diag_add(d, at, path, "webhook secret: 1 to %d characters (is its variable set?)",
                     PUB_SECRET_MAX - 1);
    else if (!pub_secret_keep(secret, id))
        cfg_diag_add(d, at, path, "too many different webhook secrets (%d at most)",
                     PUB_MAX_SECRETS);
    else if (!cfg_pub_set(s, "webhook_secret_id", id))
        cfg_diag_add(d, at, path, "out of memory");
    free(secret);
}

static bool webhook_read(cfg_diags *d, const ynode *pubs, const char *path, bool as_default,
                         cfg_pub *s)
{
    (void)as_default;
    if (!pub_read_keys(d, pubs, path, (const char *const[]){"webhook_url", "webhook_ca_file", NULL},
                       s) ||
        !cfg_pub_get(s, "webhook_url")) {
        for (int k = 1; k_keys[k]; k++)
            if (ynode_get(pubs, k_keys[k]))
                cfg_diag_add(d, ynode_get(pubs, k_keys[k]), path, "the webhook needs its url");
        return false;
    }
    const char *url = cfg_pub_get(s, "webhook_url");
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        cfg_diag_add(d, ynode_get(pubs, "webhook_url"), path,
                     "the webhook url must be http:// or https://, not \"%s\"", url);
    int64_t t;
    if (cfg_read_int(d, pubs, "webhook_timeout_seconds", path, 1, 300, &t)) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)t);
        if (!cfg_pub_set(s, "webhook_timeout_seconds", num))
            cfg_diag_add(d, pubs, path, "out of memory");
    }
    read_secret(d, pubs, path, s);
    read_headers(d, pubs, path, s);
    return true;
}

static void webhook_key(const cfg_pub *s, char *out, size_t len)
{
    const char *id = cfg_pub_get(s, "webhook_secret_id");
    snprintf(out, len, "webhook:%s%s%s", cfg_pub_get(s, "webhook_url"), id ? "#" : "",
             id ? id : "");
}

/* ---- delivery ---- */

typedef struct {
    CURL *curl; /* one connection kept open per destination */
    struct curl_slist *headers;
    char url[2048], secret[PUB_SECRET_MAX];
    bool signed_;
    long timeout_ms;
} webhook_state;

static void webhook_close(void *state)
{
    webhook_state *w = state;
    if (!w) return;
    curl_easy_cleanup(w->curl);
    curl_slist_free_all(w->headers);
    OPENSSL_cleanse(w->secret, sizeof w->secret);
    free(w);
}

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool add_headers(webhook_state *w, const char *text)
{
    w->headers = curl_slist_append(NULL, "Content-Type: application/json");
    char line[8192];
    for (const char *p = text; w->headers && p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        snprintf(line, sizeof line, "%.*s", (int)n, p);
        struct curl_slist *h = curl_slist_append(w->headers, line);
        if (!h) return false;
        w->headers = h;
        p = nl ? nl + 1 : NULL;
    }
    return w->headers != NULL;
}

static kerr_code webhook_open(const cfg_pub *s, const config *cfg, void **state, kerr *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, global_init);
    const char *id = cfg_pub_get(s, "webhook_secret_id");
    const char *timeout = cfg_pub_get(s, "webhook_timeout_seconds");
    webhook_state *w = calloc(1, sizeof *w);
    if (!w) return kerr_set(err, KERR_NOMEM, "out of memory");
    snprintf(w->url, sizeof w->url, "%s", cfg_pub_get(s, "webhook_url"));
    w->timeout_ms = timeout ? atol(timeout) * 1000 : 10000;
    /* a spooled event whose secret is no longer configured can never be signed */
    if (id && !(w->signed_ = pub_secret_find(id, w->secret, sizeof w->secret))) {
        webhook_close(w);
        return kerr_set(err, KERR_UNSUPPORTED,
                        "webhook %s: this event was spooled with a secret that is no longer "
                        "configured (changed since)",
                        cfg_pub_get(s, "webhook_url"));
    }
    const char *extra = cfg_pub_get(s, "webhook_headers");
    if (!(w->curl = curl_easy_init()) || !add_headers(w, extra ? extra : "")) {
        webhook_close(w);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    curl_easy_setopt(w->curl, CURLOPT_URL, w->url);
    curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, w->timeout_ms);
    curl_easy_setopt(w->curl, CURLOPT_CONNECTTIMEOUT_MS,
                     w->timeout_ms < 5000 ? w->timeout_ms : 5000L);
    curl_easy_setopt(w->curl, CURLOPT_USERAGENT, "kvs-infer");
    curl_easy_setopt(w->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    const char *ca = cfg_pub_get(s, "webhook_ca_file");
    if (!ca && cfg) ca = cfg->ca_bundle;
    if (ca) curl_easy_setopt(w->curl, CURLOPT_CAINFO, ca);
    *state = w;
    return KERR_OK;
}

/* "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" */
static void signature(const webhook_state *w, const char *body, long long t, char *out, size_t len)
{
    char ts[32];
    int tn = snprintf(ts, sizeof ts, "%lld.", t);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    size_t blen = strlen(body);
    unsigned char *msg = malloc((size_t)tn + blen);
    out[0] = '\0';
    if (!msg) return;
    memcpy(msg, ts, (size_t)tn);
    memcpy(msg + tn, body, blen);
    HMAC(EVP_sha256(), w->secret, (int)strlen(w->secret), msg, (size_t)tn + blen, md, &mdlen);
    free(msg);
    int used = snprintf(out, len, "X-KVS-Infer-Signature: t=%lld,v1=", t);
    for (unsigned i = 0; i < mdlen && (size_t)used + 3 <= len; i++)
        used += snprintf(out + used, len - (size_t)used, "%02x", md[i]);
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p, (void)u;
    return size * n;
}

static kerr_code answer(const webhook_state *w, CURLcode rc, long status, kerr *err)
{
    if (rc != CURLE_OK)
        return kerr_set(err, KERR_IO, "webhook %s: %s", w->url, curl_easy_strerror(rc));
    if (status >= 200 && status < 300) return KERR_OK;
    bool again = status == 408 || status == 429 || status >= 500;
    return kerr_set(err, again ? KERR_AGAIN : KERR_UNSUPPORTED, "webhook %s answered HTTP %ld%s",
                    w->url, status, again ? "" : " (not retried)");
}

static kerr_code post(webhook_state *w, const event *e, kerr *err)
{
    char *json = event_to_json(e);
    if (!json) return kerr_set(err, KERR_NOMEM, "out of memory");
    char sig[256], idh[128];
    struct curl_slist *extra = NULL, *h = w->headers;
    snprintf(idh, sizeof idh, "X-KVS-Infer-Event-Id: %s", e->event_id);
    if (w->signed_) signature(w, json, (long long)time(NULL), sig, sizeof sig);
    /* per-request lines go on a list of their own, before the fixed ones */
    extra = curl_slist_append(NULL, idh);
    if (extra && w->signed_ && !curl_slist_append(extra, sig))
        curl_slist_free_all(extra), extra = NULL;
    if (!extra) {
        free(json);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    struct curl_slist *last = extra;
    while (last->next)
        last = last->next;
    last->next = h; /* borrowed: unlinked below */
    curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, extra);
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
    curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(w->curl);
    long status = 0;
    curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
    last->next = NULL;
    curl_slist_free_all(extra);
    free(json);
    return answer(w, rc, status, err);
}

static void webhook_publish(void *state, const cfg_pub *s, const event *const *e, int n, kerr *res)
{
    (void)s;
    for (int i = 0; i < n; i++)
        res[i].code = post(state, e[i], &res[i]);
}

const publisher_ops publisher_webhook = {
    .name = "webhook",
    .keys = k_keys,
    .read = webhook_read,
    .key = webhook_key,
    .open = webhook_open,
    .publish = webhook_publish,
    .close = webhook_close,
};
