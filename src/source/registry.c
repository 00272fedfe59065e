#include "source.h"

extern const source_ops source_url, source_kvs_hls, source_kvs_getmedia;

static const source_ops *const k_sources[] = {&source_url, &source_kvs_hls, &source_kvs_getmedia,
                                              NULL};

const source_ops *source_find(source_mode mode)
{
    for (int i = 0; k_sources[i]; i++)
        if (k_sources[i]->mode == mode) return k_sources[i];
    return NULL;
}

const char *source_mode_name(source_mode mode)
{
    switch (mode) {
    case SOURCE_HLS: return "hls";
    case SOURCE_GETMEDIA: return "getmedia";
    case SOURCE_URL: return "url";
    }
    return "?";
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
