/* The config as JSON for the page, with what must not leave the process
 * replaced: values under keys that name a secret, and passwords inside URLs
 * (rtsp://user:password@host/...). */
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

/* scheme://user:password@host -> scheme://user:<redacted>@host */
static json_t *scalar(const char *v)
{
    const char *scheme = strstr(v, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    const char *colon = scheme ? memchr(scheme + 3, ':', at ? (size_t)(at - scheme - 3) : 0) : NULL;
    if (!at || !colon || (slash && slash < at)) return json_string(v);
    size_t head = (size_t)(colon + 1 - v), tail = strlen(at);
    char *buf = malloc(head + 10 + tail + 1);
    if (!buf) return json_string("<redacted>");
    memcpy(buf, v, head);
    memcpy(buf + head, "<redacted>", 10);
    memcpy(buf + head + 10, at, tail + 1);
    json_t *s = json_string(buf);
    free(buf);
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
