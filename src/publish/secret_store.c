/* Secrets a publisher must not write to disk (a webhook's signing key, a
 * broker's password): the spool record carries a publisher's settings, so
 * those keep only a fingerprint, and the secret stays here, in this process,
 * for as long as it runs. A spooled event whose secret is gone (changed
 * before a restart) is refused by its publisher with that reason. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "publish.h"

static struct {
    char id[17];
    char secret[PUB_SECRET_MAX];
} g_secrets[PUB_MAX_SECRETS];
static int g_nsecrets;
static pthread_mutex_t g_secrets_mu = PTHREAD_MUTEX_INITIALIZER;

static void fingerprint(const char *secret, char id[17])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, "kvs-infer webhook secret", 25);
    EVP_DigestUpdate(c, secret, strlen(secret));
    EVP_DigestFinal_ex(c, md, &n);
    EVP_MD_CTX_free(c);
    for (int i = 0; i < 8; i++)
        snprintf(id + 2 * i, 3, "%02x", md[i]);
}

bool pub_secret_keep(const char *secret, char id[17])
{
    fingerprint(secret, id);
    pthread_mutex_lock(&g_secrets_mu);
    bool ok = false;
    for (int i = 0; i < g_nsecrets && !ok; i++)
        ok = strcmp(g_secrets[i].id, id) == 0;
    if (!ok && g_nsecrets < PUB_MAX_SECRETS) {
        snprintf(g_secrets[g_nsecrets].id, sizeof g_secrets[0].id, "%s", id);
        snprintf(g_secrets[g_nsecrets].secret, PUB_SECRET_MAX, "%s", secret);
        g_nsecrets++;
        ok = true;
    }
    pthread_mutex_unlock(&g_secrets_mu);
    return ok;
}

bool pub_secret_find(const char *id, char *out, size_t len)
{
    pthread_mutex_lock(&g_secrets_mu);
    bool ok = false;
    for (int i = 0; i < g_nsecrets && !ok; i++)
        if (strcmp(g_secrets[i].id, id) == 0) ok = snprintf(out, len, "%s", g_secrets[i].secret);
    pthread_mutex_unlock(&g_secrets_mu);
    return ok;
}
