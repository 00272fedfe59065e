/* One libcurl multi loop on its own thread, shared by every AWS caller:
 * connections are reused across publishers, TLS verification is always on,
 * and callers simply block on their own request. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws.h"

struct aws_http_req {
    CURL *easy;
    struct curl_slist *hdrs;
    aws_http_response *resp;
    bool done;
    CURLcode result;
    char errbuf[CURL_ERROR_SIZE];
    bool (*cancel)(void *);
    void *cancel_arg;
    struct aws_http_req *next;
};
typedef struct aws_http_req http_req;

struct aws_http {
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t done;
    http_req *pending; /* submitted, not yet added to the multi handle */
    bool stopping;
    char *ca_bundle;
};

/* No AWS answer we read is near this (KVS fragments are at most 50 MB); a
 * server that sends more is cut off rather than followed into swap. */
enum { BODY_MAX_BYTES = 64 << 20 };

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    aws_http_response *r = user;
    size_t add = size * n;
    if (r->body_len + add > BODY_MAX_BYTES) return 0; /* curl: "Failed writing received data" */
    char *nb = realloc(r->body, r->body_len + add + 1);
    if (!nb) return 0;
    memcpy(nb + r->body_len, p, add);
    r->body = nb;
    r->body_len += add;
    r->body[r->body_len] = '\0';
    return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *user)
{
    aws_http_response *r = user;
    size_t len = size * n;
    /* Keep the few headers callers use (request ids, ETag, Date for clock skew). */
    static const char *const keep[] = {"x-amzn-requestid:", "x-amz-request-id:", "etag:", "date:",
                                       "x-amzn-errortype:", "x-amz-errortype:",  NULL};
    for (int i = 0; keep[i]; i++) {
        size_t kl = strlen(keep[i]);
        if (len > kl && strncasecmp(p, keep[i], kl) == 0) {
            char *dst = i <= 1   ? r->request_id
                        : i == 2 ? r->etag
                        : i == 3 ? r->date
                                 : r->error_type;
            size_t cap = i <= 1   ? sizeof r->request_id
                         : i == 2 ? sizeof r->etag
                         : i == 3 ? sizeof r->date
                                  : sizeof r->error_type;
            size_t vl = len - kl;
            while (vl && (p[kl] == ' '))
                kl++, vl--;
            while (vl && (p[kl + vl - 1] == '\r' || p[kl + vl - 1] == '\n'))
                vl--;
            if (vl >= cap) vl = cap - 1;
            memcpy(dst, p + kl, vl);
            dst[vl] = '\0';
        }
    }
    return len;
}

static _Thread_local bool (*t_cancel)(void *);
static _Thread_local void *t_cancel_arg;

void aws_http_cancel_when(bool (*cancel)(void *arg), void *arg)
{
    t_cancel = cancel;
    t_cancel_arg = arg;
}

/* libcurl calls this about once a second even while connecting or idle. */
static int on_progress(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    http_req *r = user;
    return r->cancel && r->cancel(r->cancel_arg) ? 1 : 0;
}

static void *loop_main(void *arg)
{
    aws_http *h = arg;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        bool stop = h->stopping;
        http_req *add = h->pending;
        h->pending = NULL;
        pthread_mutex_unlock(&h->mu);
        for (http_req *r = add; r; r = r->next)
            curl_multi_add_handle(h->multi, r->easy);
        int running = 0;
        curl_multi_perform(h->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE) continue;
            http_req *r = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            curl_multi_remove_handle(h->multi, msg->easy_handle);
            pthread_mutex_lock(&h->mu);
            r->result = msg->data.result;
            r->done = true;
            pthread_cond_broadcast(&h->done);
            pthread_mutex_unlock(&h->mu);
        }
        if (stop && running == 0) break;
        curl_multi_poll(h->multi, NULL, 0, 200, NULL);
    }
    return NULL;
}

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

aws_http *aws_http_new(const char *ca_bundle, kerr *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, global_init);
    aws_http *h = calloc(1, sizeof *h);
    if (!h) {
        kerr_set(err, KERR_NOMEM, "out of memory");
        return NULL;
    }
    h->multi = curl_multi_init();
    h->ca_bundle = kstrdup(ca_bundle);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->done, NULL);
    if (!h->multi || pthread_create(&h->thread, NULL, loop_main, h) != 0) {
        kerr_set(err, KERR_INTERNAL, "cannot start the HTTP loop");
        curl_multi_cleanup(h->multi);
        free(h->ca_bundle);
        free(h);
        return NULL;
    }
    return h;
}

void aws_http_free(aws_http *h)
{
    if (!h) return;
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_mutex_unlock(&h->mu);
    curl_multi_wakeup(h->multi);
    pthread_join(h->thread, NULL);
    curl_multi_cleanup(h->multi);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->done);
    free(h->ca_bundle);
    free(h);
}

static kerr_code do_request(aws_http *h, const char *method, const char *url,
                            const aws_header *headers, int nheaders, const void *body, FILE *upload,
                            size_t body_len, int timeout_ms, aws_http_response *resp, kerr *err);

kerr_code aws_http_do(aws_http *h, const char *method, const char *url, const aws_header *headers,
                      int nheaders, const void *body, size_t body_len, int timeout_ms,
                      aws_http_response *resp, kerr *err)
{
    return do_request(h, method, url, headers, nheaders, body, NULL, body_len, timeout_ms, resp,
                      err);
}

kerr_code aws_http_do_file(aws_http *h, const char *method, const char *url,
                           const aws_header *headers, int nheaders, FILE *upload, size_t body_len,
                           int timeout_ms, aws_http_response *resp, kerr *err)
{
    return do_request(h, method, url, headers, nheaders, NULL, upload, body_len, timeout_ms, resp,
                      err);
}

static kerr_code do_request(aws_http *h, const char *method, const char *url,
                            const aws_header *headers, int nheaders, const void *body, FILE *upload,
                            size_t body_len, int timeout_ms, aws_http_response *resp, kerr *err)
{
    memset(resp, 0, sizeof *resp);
    http_req r;
    memset(&r, 0, sizeof r);
    r.resp = resp;
    r.easy = curl_easy_init();
    if (!r.easy) return kerr_set(err, KERR_NOMEM, "curl_easy_init failed");
    for (int i = 0; i < nheaders; i++) {
        char line[8192];
        snprintf(line, sizeof line, "%s: %s", headers[i].name, headers[i].value);
        r.hdrs = curl_slist_append(r.hdrs, line);
    }
    r.hdrs = curl_slist_append(r.hdrs, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(r.easy, CURLOPT_URL, url);
    curl_easy_setopt(r.easy, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(r.easy, CURLOPT_HTTPHEADER, r.hdrs);
    if (upload) { /* curl's default read function: fread from READDATA */
        curl_easy_setopt(r.easy, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(r.easy, CURLOPT_READDATA, upload);
        curl_easy_setopt(r.easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_len);
    } else if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(r.easy, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(r.easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    curl_easy_setopt(r.easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r.easy, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(r.easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(r.easy, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(r.easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(r.easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(r.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r.easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(r.easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_bundle) curl_easy_setopt(r.easy, CURLOPT_CAINFO, h->ca_bundle);
    curl_easy_setopt(r.easy, CURLOPT_ERRORBUFFER, r.errbuf);
    curl_easy_setopt(r.easy, CURLOPT_PRIVATE, &r);
    if (t_cancel) {
        r.cancel = t_cancel;
        r.cancel_arg = t_cancel_arg;
        if (r.cancel(r.cancel_arg)) {
            curl_easy_cleanup(r.easy);
            curl_slist_free_all(r.hdrs);
            return kerr_set(err, KERR_IO, "%s: cancelled (stopping)", method);
        }
        curl_easy_setopt(r.easy, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(r.easy, CURLOPT_XFERINFODATA, &r);
        curl_easy_setopt(r.easy, CURLOPT_NOPROGRESS, 0L);
    }
    pthread_mutex_lock(&h->mu);
    r.next = h->pending;
    h->pending = &r;
    pthread_mutex_unlock(&h->mu);
    curl_multi_wakeup(h->multi);
    pthread_mutex_lock(&h->mu);
    while (!r.done)
        pthread_cond_wait(&h->done, &h->mu);
    pthread_mutex_unlock(&h->mu);
    kerr_code rc = KERR_OK;
    if (r.result != CURLE_OK) {
        /* Never the query: it may hold a session token or a presigned signature. */
        rc = kerr_set(err, KERR_IO, "%s %.*s: %s", method, (int)strcspn(url, "?"), url,
                      r.errbuf[0] ? r.errbuf : curl_easy_strerror(r.result));
        aws_http_response_free(resp); /* a part of an answer is no answer */
    } else
        curl_easy_getinfo(r.easy, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_cleanup(r.easy);
    curl_slist_free_all(r.hdrs);
    return rc;
}

void aws_http_response_free(aws_http_response *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}
