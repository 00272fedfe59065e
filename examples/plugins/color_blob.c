/* Example kvs-infer detector plugin: finds the region of a given colour (a
 * safety vest, a warning light...) and reports its bounding box. Built and
 * tested by the test suite (tests/integration/it_plugin.sh).
 *
 *   plugins: [build/examples/plugins/libkvs_color_blob.so]
 *   detectors:
 *     - type: color_blob
 *       params: {color: [255, 0, 0], tolerance: 60, min_pixels: 200}
 *
 * params arrive as JSON; this example reads them with a few sscanf calls
 * rather than pull in a JSON library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvs_infer/plugin.h"

#ifndef COLOR_BLOB_ABI
#define COLOR_BLOB_ABI KVS_PLUGIN_ABI_VERSION
#endif

typedef struct {
    int r, g, b, tolerance, min_pixels;
} blob;

static void *blob_init(const char *params, char *err, size_t errlen)
{
    blob *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->r = 255, h->tolerance = 60, h->min_pixels = 100;
    const char *c = strstr(params, "\"color\"");
    if (c && sscanf(strchr(c, '['), "[%d,%d,%d]", &h->r, &h->g, &h->b) != 3) {
        snprintf(err, errlen, "params.color must be [r, g, b]");
        free(h);
        return NULL;
    }
    const char *t = strstr(params, "\"tolerance\"");
    if (t) sscanf(strchr(t, ':') + 1, "%d", &h->tolerance);
    const char *m = strstr(params, "\"min_pixels\"");
    if (m) sscanf(strchr(m, ':') + 1, "%d", &h->min_pixels);
    return h;
}

static int blob_detect(void *handle, const kvs_plugin_frame *f, float threshold,
                       kvs_plugin_box *out, int max, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    blob *h = handle;
    int x1 = f->width, y1 = f->height, x2 = -1, y2 = -1, n = 0;
    for (int y = 0; y < f->height; y++)
        for (int x = 0; x < f->width; x++) {
            const uint8_t *p = f->rgb + (size_t)y * f->stride + (size_t)x * 3;
            if (abs(p[0] - h->r) + abs(p[1] - h->g) + abs(p[2] - h->b) > h->tolerance) continue;
            n++;
            if (x < x1) x1 = x;
            if (x > x2) x2 = x;
            if (y < y1) y1 = y;
            if (y > y2) y2 = y;
        }
    if (n < h->min_pixels || max < 1) return 0;
    /* score: how much of the box the colour fills */
    float score = (float)n / (float)((x2 - x1 + 1) * (y2 - y1 + 1));
    if (score < threshold) return 0;
    out[0] = (kvs_plugin_box){
        .x1 = (float)x1, .y1 = (float)y1, .x2 = (float)x2 + 1, .y2 = (float)y2 + 1, .score = score};
    return 1;
}

static const char *blob_label(void *handle, int cls)
{
    (void)handle, (void)cls;
    return "blob";
}

static const kvs_plugin k_plugin = {
    .abi_version = COLOR_BLOB_ABI,
    .name = "color_blob",
    .default_threshold = 0.5f,
    .init = blob_init,
    .detect = blob_detect,
    .label = blob_label,
    .free = free,
};

const kvs_plugin *kvs_plugin_entry(void)
{
    return &k_plugin;
}
