#include "frame.h"

#include <stdlib.h>

kframe *frame_new(int width, int height)
{
    if (width <= 0 || height <= 0 || width > 16384 || height > 16384) return NULL;
    kframe *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->width = width;
    f->height = height;
    /* Rows 32-byte aligned and 64 bytes to spare at the end: libswscale's SIMD
     * writes whole vectors and may run past the last pixel of a row. */
    f->stride = (width * 3 + 31) & ~31;
    f->rgb = malloc((size_t)f->stride * (size_t)height + 64);
    if (!f->rgb) {
        free(f);
        return NULL;
    }
    f->producer_ts_ms = -1;
    f->server_ts_ms = -1;
    atomic_init(&f->refs, 1);
    return f;
}

kframe *frame_ref(kframe *f)
{
    atomic_fetch_add(&f->refs, 1);
    return f;
}

void frame_unref(kframe *f)
{
    if (!f) return;
    if (atomic_fetch_sub(&f->refs, 1) == 1) {
        free(f->rgb);
        free(f);
    }
}
