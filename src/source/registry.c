#include <stdio.h>
#include <string.h>

#include "source.h"

extern const source_ops source_url, source_kvs_hls, source_kvs_getmedia;

/* One line per source. */
static const void *const k_builtin[] = {&source_url, &source_kvs_hls, &source_kvs_getmedia, NULL};

static const char *name_of(const void *e)
{
    return ((const source_ops *)e)->name;
}

static registry g_sources = REGISTRY_INIT("source", k_builtin, name_of);

const source_ops *source_at(int i)
{
    return registry_at(&g_sources, i);
}

const source_ops *source_find(const char *name)
{
    return registry_find(&g_sources, name);
}

kerr_code source_register(const source_ops *ops, kerr *err)
{
    return registry_add(&g_sources, ops, err);
}

kerr_code source_registry_check(kerr *err)
{
    return registry_check(&g_sources, err);
}

void backoff_init(backoff *b, int64_t max_ms)
{
    b->delay_ms = 250;
    b->max_ms = max_ms > 250 ? max_ms : 250;
}

int64_t backoff_next(backoff *b)
{
    int64_t d = b->delay_ms;
    b->delay_ms = b->delay_ms * 2 > b->max_ms ? b->max_ms : b->delay_ms * 2;
    return d;
}

void backoff_reset(backoff *b)
{
    b->delay_ms = 250;
}
