/* What every AWS caller shares (publishers and KVS sources): one libcurl
 * multi loop and one cached credentials provider for the whole process. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "aws.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_refs;
static aws_shared g_shared;

const aws_shared *aws_shared_acquire(const char *ca_bundle, const char *sts_endpoint,
                                     const char *region, kerr *err)
{
    pthread_mutex_lock(&g_mu);
    if (g_refs == 0) {
        g_shared.http = aws_http_new(ca_bundle, err);
        g_shared.creds =
            g_shared.http ? aws_creds_provider_new(g_shared.http, sts_endpoint, region) : NULL;
        aws_creds c;
        if (!g_shared.creds || aws_creds_provider_get(g_shared.creds, &c, err) != KERR_OK) {
            aws_creds_provider_free(g_shared.creds);
            aws_http_free(g_shared.http);
            g_shared.http = NULL;
            g_shared.creds = NULL;
            pthread_mutex_unlock(&g_mu);
            return NULL;
        }
    }
    g_refs++;
    pthread_mutex_unlock(&g_mu);
    return &g_shared;
}

void aws_shared_release(void)
{
    pthread_mutex_lock(&g_mu);
    if (g_refs > 0 && --g_refs == 0) {
        aws_http_free(g_shared.http);
        aws_creds_provider_free(g_shared.creds);
        g_shared.http = NULL;
        g_shared.creds = NULL;
    }
    pthread_mutex_unlock(&g_mu);
}

/* A token that expired under us (clock skew, a revoked session): fetch new
 * credentials and try once more. */
static bool expired(const aws_error *e)
{
    static const char *const codes[] = {"ExpiredToken", "ExpiredTokenException",
                                        "TokenRefreshRequired", "InvalidToken", NULL};
    for (int i = 0; codes[i]; i++)
        if (strcmp(e->code, codes[i]) == 0) return true;
    return false;
}

/* One signed call with the current credentials (json: an aws_target call;
 * otherwise a REST aws_call); an expired token is refreshed and the call tried
 * once more. */
static kerr_code with_creds(const aws_shared *a, const aws_target *t, const char *operation,
                            const char *body, const aws_call *call, aws_http_response *resp,
                            aws_error *aerr, kerr *err)
{
    kerr_code rc = KERR_AGAIN;
    for (int attempt = 0; attempt < 2; attempt++) {
        aws_creds c;
        memset(aerr, 0, sizeof *aerr);
        memset(resp, 0, sizeof *resp);
        if (aws_creds_provider_get(a->creds, &c, err) != KERR_OK) return KERR_AGAIN;
        rc = t ? aws_json_call(a->http, &c, t, operation, body, resp, aerr, err)
               : aws_signed_call(a->http, &c, call, resp, aerr, err);
        OPENSSL_cleanse(&c, sizeof c);
        if (rc == KERR_OK || !expired(aerr) || attempt) break;
        aws_creds_provider_invalidate(a->creds);
        aws_http_response_free(resp);
    }
    return rc;
}

kerr_code aws_call_with_creds(const aws_shared *a, const aws_target *t, const char *operation,
                              const char *body, aws_http_response *resp, aws_error *aerr, kerr *err)
{
    return with_creds(a, t, operation, body, NULL, resp, aerr, err);
}

kerr_code aws_signed_call_with_creds(const aws_shared *a, const aws_call *call,
                                     aws_http_response *resp, aws_error *aerr, kerr *err)
{
    return with_creds(a, NULL, NULL, NULL, call, resp, aerr, err);
}
