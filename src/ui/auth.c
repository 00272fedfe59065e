/* The token rules of docs/operator-page.md: a token, when set, is always wanted (as a
 * Bearer token or as the basic-auth password, which browsers send by
 * themselves once asked); without one the page is open on loopback only. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ui.h"

static bool same(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    return alen == blen && CRYPTO_memcmp(a, b, blen) == 0;
}

/* "Basic base64(user:password)": the password part. Room for any user name
 * of up to 1 KiB beside the longest token the config accepts. */
static bool basic_password_is(const char *b64, const char *token)
{
    size_t n = strlen(b64);
    if (n == 0 || n > 4 * ((UI_TOKEN_MAX + 1024 + 2) / 3 + 1) || n % 4) return false;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out) return false;
    int len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    bool ok = false;
    if (len >= 0) {
        while (len > 0 && n > 0 && b64[--n] == '=') /* DecodeBlock counts the padding */
            len--;
        out[len] = '\0';
        const char *colon = memchr(out, ':', (size_t)len);
        const char *pw = colon ? colon + 1 : NULL;
        ok = pw && same(pw, (size_t)len - (size_t)(pw - (const char *)out), token);
    }
    free(out);
    return ok;
}

ui_access ui_check_access(const char *token, bool loopback, const char *authorization)
{
    if (!token || !*token) return loopback ? UI_ALLOW : UI_NO_TOKEN;
    if (!authorization) return UI_NEED_AUTH;
    if (strncasecmp(authorization, "Bearer ", 7) == 0) {
        const char *t = authorization + 7;
        return same(t, strlen(t), token) ? UI_ALLOW : UI_NEED_AUTH;
    }
    if (strncasecmp(authorization, "Basic ", 6) == 0)
        return basic_password_is(authorization + 6, token) ? UI_ALLOW : UI_NEED_AUTH;
    return UI_NEED_AUTH;
}
