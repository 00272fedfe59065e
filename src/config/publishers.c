/* A camera's publisher settings as the publishers read them: a list of
 * (publisher, key/value text) that the hub and the spool copy around without
 * knowing what the keys mean. */
#include <stdlib.h>
#include <string.h>

#include "config.h"

const char *cfg_pub_get(const cfg_pub *p, const char *key)
{
    for (int i = 0; p && i < p->n; i++)
        if (strcmp(p->kv[i].key, key) == 0) return p->kv[i].value;
    return NULL;
}

bool cfg_pub_set(cfg_pub *p, const char *key, const char *value)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->kv[i].key, key) == 0) {
            char *v = strdup(value);
            if (!v) return false;
            free(p->kv[i].value);
            p->kv[i].value = v;
            return true;
        }
    cfg_kv *kv = realloc(p->kv, (size_t)(p->n + 1) * sizeof *kv);
    if (!kv) return false;
    p->kv = kv;
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k), free(v);
        return false;
    }
    p->kv[p->n++] = (cfg_kv){k, v};
    return true;
}

const cfg_pub *cfg_publishers_find(const cfg_publishers *ps, const char *publisher)
{
    for (int i = 0; ps && i < ps->n; i++)
        if (strcmp(ps->items[i].publisher, publisher) == 0) return &ps->items[i];
    return NULL;
}

cfg_pub *cfg_publishers_add(cfg_publishers *ps, const char *publisher)
{
    cfg_pub *items = realloc(ps->items, (size_t)(ps->n + 1) * sizeof *items);
    if (!items) return NULL;
    ps->items = items;
    char *name = strdup(publisher);
    if (!name) return NULL;
    ps->items[ps->n] = (cfg_pub){.publisher = name};
    return &ps->items[ps->n++];
}

bool cfg_publishers_copy(cfg_publishers *dst, const cfg_publishers *src)
{
    cfg_publishers out = {0};
    for (int i = 0; i < src->n; i++) {
        cfg_pub *p = cfg_publishers_add(&out, src->items[i].publisher);
        for (int k = 0; p && k < src->items[i].n; k++)
            if (!cfg_pub_set(p, src->items[i].kv[k].key, src->items[i].kv[k].value)) p = NULL;
        if (!p) {
            cfg_publishers_free(&out);
            return false;
        }
    }
    cfg_publishers_free(dst);
    *dst = out;
    return true;
}

void cfg_publishers_free(cfg_publishers *ps)
{
    for (int i = 0; i < ps->n; i++) {
        cfg_pub *p = &ps->items[i];
        for (int k = 0; k < p->n; k++)
            free(p->kv[k].key), free(p->kv[k].value);
        free(p->kv);
        free(p->publisher);
    }
    free(ps->items);
    memset(ps, 0, sizeof *ps);
}
