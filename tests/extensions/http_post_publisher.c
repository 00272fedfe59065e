/* A publisher that exists only in the tests' kvs-infer-ext (tests/CMakeLists.txt):
 * POSTs each event's JSON to a URL. It shows that a publisher is one file plus
 * one registration line: its keys under `publishers:`, their checks, its
 * capabilities and its delivery are all here; the hub, the spool record and
 * the config know nothing of it.
 *
 * (The product has a signed `webhook` publisher, src/publish/webhook.c: this one
 * stays to prove the point with code the product does not have.)
 *
 *   publishers: {http_post_url: "http://127.0.0.1:8080/events", local_dir: ./out}
 *
 * It waits for the images: an event reaches the hook only once the publisher
 * that names its images (S3, else the local folder) has stored them. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/publish/publish.h"

static const char *const k_keys[] = {"http_post_url", NULL};

static bool http_post_read(cfg_diags *d, const ynode *pubs, const char *path, bool as_default,
                           cfg_pub *s)
{
    (void)as_default;
    if (!pub_read_keys(d, pubs, path, k_keys, s)) return false;
    const char *url = cfg_pub_get(s, "http_post_url");
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        cfg_diag_add(d, ynode_get(pubs, "http_post_url"), path,
                     "http_post_url must be an http:// or https:// URL, not \"%s\"", url);
    return true;
}

static void http_post_key(const cfg_pub *s, char *out, size_t len)
{
    snprintf(out, len, "http_post:%s", cfg_pub_get(s, "http_post_url"));
}

static kerr_code http_post_open(const cfg_pub *s, const config *cfg, void **state, kerr *err)
{
    (void)cfg;
    if (!(*state = strdup(cfg_pub_get(s, "http_post_url"))))
        return kerr_set(err, KERR_NOMEM, "out of memory");
    return KERR_OK;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p, (void)u;
    return size * n;
}

/* 2xx: delivered; another 4xx but 408/429: the hook will never take it. */
static kerr_code post(const char *url, const event *e, kerr *err)
{
    char *json = event_to_json(e);
    CURL *c = json ? curl_easy_init() : NULL;
    if (!c) {
        free(json);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(json);
    if (rc != CURLE_OK)
        return kerr_set(err, KERR_IO, "http_post %s: %s", url, curl_easy_strerror(rc));
    if (status >= 200 && status < 300) return KERR_OK;
    kerr_code code = status >= 400 && status < 500 && status != 408 && status != 429
                         ? KERR_UNSUPPORTED
                         : KERR_AGAIN;
    return kerr_set(err, code, "http_post %s answered HTTP %ld", url, status);
}

static kerr_code http_post_publish_one(void *state, const cfg_pub *s, const event *e, kerr *err)
{
    (void)s;
    return post(state, e, err);
}

const publisher_ops publisher_http_post = {
    .name = "http_post",
    .keys = k_keys,
    .caps = PUB_WAITS_FOR_IMAGES,
    .read = http_post_read,
    .key = http_post_key,
    .open = http_post_open,
    .publish_one = http_post_publish_one,
    .close = free,
};

PUBLISHER_REGISTER(publisher_http_post)
