/* ${VAR} / ${VAR:-default} expansion, done on scalar text after YAML parsing
 * so that a value can never inject YAML structure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

typedef struct {
    char *p;
    size_t len, cap;
} dstr;

static int ds_add(dstr *s, const char *src, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t cap = (s->len + n + 1) * 2;
        char *np = realloc(s->p, cap);
        if (!np) return -1;
        s->p = np;
        s->cap = cap;
    }
    memcpy(s->p + s->len, src, n);
    s->len += n;
    s->p[s->len] = '\0';
    return 0;
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return 1;
}

char *cfg_expand_env(const char *in, char *msg, size_t msglen)
{
    dstr out = {0};
    if (ds_add(&out, "", 0) != 0) return NULL;
    for (const char *p = in; *p;) {
        if (p[0] == '$' && p[1] == '$') {
            ds_add(&out, "$", 1);
            p += 2;
            continue;
        }
        if (!(p[0] == '$' && p[1] == '{')) {
            ds_add(&out, p, 1);
            p++;
            continue;
        }
        const char *end = strchr(p + 2, '}');
        if (!end) {
            snprintf(msg, msglen, "unterminated ${ in \"%s\"", in);
            free(out.p);
            return NULL;
        }
        const char *body = p + 2;
        const char *dflt = strstr(body, ":-");
        if (dflt && dflt > end) dflt = NULL;
        size_t nlen = (size_t)((dflt ? dflt : end) - body);
        if (!valid_name(body, nlen)) {
            snprintf(msg, msglen, "bad variable reference \"%.*s\"", (int)(end - p + 1), p);
            free(out.p);
            return NULL;
        }
        char name[256];
        if (nlen >= sizeof name) nlen = sizeof name - 1;
        memcpy(name, body, nlen);
        name[nlen] = '\0';
        const char *val = getenv(name);
        if (val && *val) {
            ds_add(&out, val, strlen(val));
        } else if (dflt) {
            ds_add(&out, dflt + 2, (size_t)(end - dflt - 2));
        } else if (!val) {
            snprintf(msg, msglen, "environment variable %s is not set (use ${%s:-default})", name,
                     name);
            free(out.p);
            return NULL;
        }
        p = end + 1;
    }
    return out.p;
}
