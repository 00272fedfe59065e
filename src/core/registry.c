/* One registry shape for every kind of vtable (core.h). */
#include <stdio.h>
#include <string.h>

#include "core.h"

static int builtin_count(const registry *r)
{
    int n = 0;
    while (r->builtin && r->builtin[n])
        n++;
    return n;
}

const void *registry_at(registry *r, int i)
{
    int nb = builtin_count(r);
    if (i < 0) return NULL;
    if (i < nb) return r->builtin[i];
    pthread_mutex_lock(&r->mu);
    const void *e = i - nb < r->nextra ? r->extra[i - nb] : NULL;
    pthread_mutex_unlock(&r->mu);
    return e;
}

const void *registry_find(registry *r, const char *name)
{
    const void *e;
    for (int i = 0; name && (e = registry_at(r, i)); i++)
        if (strcmp(r->name_of(e), name) == 0) return e;
    return NULL;
}

/* Under r->mu. */
static const void *find_unlocked(const registry *r, const char *name)
{
    for (int i = 0; r->builtin && r->builtin[i]; i++)
        if (strcmp(r->name_of(r->builtin[i]), name) == 0) return r->builtin[i];
    for (int i = 0; i < r->nextra; i++)
        if (strcmp(r->name_of(r->extra[i]), name) == 0) return r->extra[i];
    return NULL;
}

kerr_code registry_add(registry *r, const void *entry, kerr *err)
{
    const char *name = r->name_of(entry);
    kerr local = {0};
    kerr_code rc = KERR_OK;
    pthread_mutex_lock(&r->mu);
    if (!name || !*name)
        rc = kerr_set(&local, KERR_INVALID, "a %s without a name", r->kind);
    else if (find_unlocked(r, name))
        rc = kerr_set(&local, KERR_INVALID, "%s \"%s\" is registered twice", r->kind, name);
    else if (r->nextra == REGISTRY_MAX_EXTRA)
        rc = kerr_set(&local, KERR_INVALID, "%s \"%s\": no room (at most %d added %ss)", r->kind,
                      name, REGISTRY_MAX_EXTRA, r->kind);
    else
        r->extra[r->nextra++] = entry;
    if (rc && !r->refused[0]) snprintf(r->refused, sizeof r->refused, "%s", local.msg);
    pthread_mutex_unlock(&r->mu);
    if (rc && err) *err = local;
    return rc;
}

kerr_code registry_check(registry *r, kerr *err)
{
    pthread_mutex_lock(&r->mu);
    kerr_code rc = r->refused[0] ? kerr_set(err, KERR_INVALID, "%s", r->refused) : KERR_OK;
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void registry_names(registry *r, char *buf, size_t len)
{
    size_t used = 0;
    const void *e;
    buf[0] = '\0';
    for (int i = 0; (e = registry_at(r, i)); i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", r->name_of(e));
        if (w < 0 || (size_t)w >= len - used) break;
        used += (size_t)w;
    }
}
