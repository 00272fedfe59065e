#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "infer.h"

kerr_code file_sha256(const char *path, char out[65], kerr *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return kerr_set(err, KERR_IO, "%s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        fclose(f);
        return kerr_set(err, KERR_INTERNAL, "SHA-256 unavailable");
    }
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    bool failed = ferror(f);
    fclose(f);
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (failed) return kerr_set(err, KERR_IO, "%s: read error", path);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return KERR_OK;
}
