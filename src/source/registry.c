#include <stdio.h>
#include <string.h>

#include "source.h"

extern const source_ops source_url, source_kvs_hls, source_kvs_getmedia;

/* One line per source. */
static const source_ops *const k_builtin[] = {&source_url, &source_kvs_hls, &source_kvs_getmedia,
                                              NULL};

/* Sources registered at start-up (SOURCE_REGISTER): constructors run before
 * main and before any thread, so no lock is needed. */
enum { MAX_EXTRA = 4 };
static const source_ops *g_extra[MAX_EXTRA];
static int g_nextra;

const source_ops *source_at(int i)
{
    int n = (int)(sizeof k_builtin / sizeof k_builtin[0]) - 1;
    if (i >= 0 && i < n) return k_builtin[i];
    return i >= n && i < n + g_nextra ? g_extra[i - n] : NULL;
}

const source_ops *source_find(const char *name)
{
    const source_ops *s;
    for (int i = 0; (s = source_at(i)); i++)
        if (strcmp(s->name, name) == 0) return s;
    return NULL;
}

bool source_register(const source_ops *ops)
{
    if (source_find(ops->name) || g_nextra == MAX_EXTRA) return false;
    g_extra[g_nextra++] = ops;
    return true;
}

void source_describe(const cfg_camera *cam, char *out, size_t len)
{
    if (!cam->source) {
        snprintf(out, len, "no source");
        return;
    }
    int w = snprintf(out, len, "%s", cam->source->name);
    if (w < 0 || (size_t)w + 1 >= len || !cam->source->describe) return;
    out[w] = ' ';
    cam->source->describe(cam->source_conf, out + w + 1, len - (size_t)w - 1);
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
