/* The config as JSON for the page, with what must not leave the process
 * replaced: values under keys that name a secret, passwords inside URLs
 * (rtsp://user:password@host/...) and the values of credential-like query
 * parameters (presigned URLs, api keys). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ui.h"

static bool secret_key(const char *key)
{
    static const char *const words[] = {"token",      "secret",  "password", "passwd", "credential",
                                        "access_key", "session", "private",  NULL};
    for (int i = 0; words[i]; i++)
        if (strcasestr(key, words[i])) return true;
    return false;
}

/* A query parameter whose value is a credential: AWS presigned URLs
 * (X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token), API keys,
 * access tokens, signatures. */
static bool secret_param(const char *k, size_t n)
{
    static const char *const words[] = {"sig",  "cred", "token", "key",     "secret",
                                        "pass", "auth", "pwd",   "session", NULL};
    for (int i = 0; words[i]; i++) {
        size_t w = strlen(words[i]);
        for (size_t at = 0; at + w <= n; at++)
            if (strncasecmp(k + at, words[i], w) == 0) return true;
    }
    return false;
}

static void put(char **o, const char *s, size_t n)
{
    memcpy(*o, s, n);
    *o += n;
}

/* scheme://user:password@host/path?key=value -> the password and the values
 * of secret-looking parameters replaced. The userinfo ends at the LAST '@'
 * of the authority (a password may hold '@'). Caller frees. */
char *ui_redact_url(const char *v)
{
    size_t len = strlen(v);
    char *out = malloc(len * 11 + 1), *o = out; /* each char at worst "<redacted>" */
    if (!out) return NULL;
    const char *scheme = strstr(v, "://"), *p = v;
    if (scheme && scheme > v &&
        strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789+.-") == (size_t)(scheme - v)) {
        const char *auth = scheme + 3, *auth_end = auth + strcspn(auth, "/?#");
        const char *at = NULL;
        for (const char *q = auth; q < auth_end; q++)
            if (*q == '@') at = q;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            put(&o, v, (size_t)(colon + 1 - v));
            put(&o, "<redacted>", 10);
            p = at;
        }
    }
    const char *qs = strchr(p, '?');
    if (!qs || !scheme) {
        put(&o, p, strlen(p) + 1);
        return out;
    }
    put(&o, p, (size_t)(qs + 1 - p));
    for (const char *q = qs + 1; *q && *q != '#';) {
        size_t pair = strcspn(q, "&#");
        const char *eq = memchr(q, '=', pair);
        if (eq && secret_param(q, (size_t)(eq - q))) {
            put(&o, q, (size_t)(eq + 1 - q));
            put(&o, "<redacted>", 10);
        } else
            put(&o, q, pair);
        q += pair;
        if (*q == '&') put(&o, q++, 1);
        if (*q == '#') break;
    }
    const char *frag = strchr(qs, '#');
    put(&o, frag ? frag : "", frag ? strlen(frag) + 1 : 1);
    return out;
}

static json_t *scalar(const char *v)
{
    char *r = ui_redact_url(v);
    json_t *s = json_string(r ? r : "<redacted>");
    free(r);
    return s;
}

static json_t *convert(const ynode *n)
{
    if (!n) return json_null();
    if (n->kind == YNODE_SCALAR) return n->value ? scalar(n->value) : json_null();
    json_t *out = n->kind == YNODE_SEQ ? json_array() : json_object();
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == YNODE_SEQ) {
            json_array_append_new(out, convert(n->items[i]));
            continue;
        }
        const char *k = n->keys[i];
        bool hide = secret_key(k) && n->items[i] && n->items[i]->kind == YNODE_SCALAR;
        json_object_set_new(out, k, hide ? json_string("<redacted>") : convert(n->items[i]));
    }
    return out;
}

char *ui_config_json(const ynode *root)
{
    json_t *j = convert(root);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}
