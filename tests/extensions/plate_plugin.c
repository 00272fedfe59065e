/* A plate-reading detector plugin (ABI 2, KVS_PLUGIN_READS_PLATES), built
 * only for the tests (it_plugin.sh): it "reads" a painted plate, a rectangle
 * of one colour, as the text its params give. Nothing else in the tree knows
 * it; the caps flag alone makes its boxes plates, voted per track, with the
 * text in the event, as the built-in alpr's are.
 *   params: {color: [r, g, b], text: "AB123CD", confidence: 0.9}
 * (params are read with sscanf, as in examples/plugins/color_blob.c) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvs_infer/plugin.h"

typedef struct {
    int r, g, b;
    char text[17];
    float confidence;
} painted;

static void *painted_init(const char *params, char *err, size_t errlen)
{
    painted *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->r = 255, h->confidence = 0.9f;
    const char *c = strstr(params, "\"color\"");
    if (c && sscanf(strchr(c, '['), "[%d,%d,%d]", &h->r, &h->g, &h->b) != 3) {
        snprintf(err, errlen, "params.color must be [r, g, b]");
        free(h);
        return NULL;
    }
    const char *t = strstr(params, "\"text\"");
    if (!t || sscanf(strchr(t, ':') + 1, " \"%16[A-Za-z0-9]\"", h->text) != 1) {
        snprintf(err, errlen, "params.text (the plate's text, A-Z 0-9) is required");
        free(h);
        return NULL;
    }
    const char *k = strstr(params, "\"confidence\"");
    if (k) sscanf(strchr(k, ':') + 1, "%f", &h->confidence);
    return h;
}

static int painted_detect(void *handle, const kvs_plugin_frame *f, float threshold,
                          kvs_plugin_box *out, int max, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    painted *h = handle;
    int x1 = f->width, y1 = f->height, x2 = -1, y2 = -1, n = 0;
    for (int y = 0; y < f->height; y++)
        for (int x = 0; x < f->width; x++) {
            const uint8_t *p = f->rgb + (size_t)y * f->stride + (size_t)x * 3;
            if (abs(p[0] - h->r) + abs(p[1] - h->g) + abs(p[2] - h->b) > 90) continue;
            n++;
            if (x < x1) x1 = x;
            if (x > x2) x2 = x;
            if (y < y1) y1 = y;
            if (y > y2) y2 = y;
        }
    if (n < 200 || max < 1 || threshold > 0.9f) return 0;
    out[0] = (kvs_plugin_box){.x1 = (float)x1,
                              .y1 = (float)y1,
                              .x2 = (float)x2 + 1,
                              .y2 = (float)y2 + 1,
                              .score = 0.9f,
                              .plate_confidence = h->confidence};
    snprintf(out[0].plate, sizeof out[0].plate, "%s", h->text);
    return 1;
}

static const char *painted_label(void *handle, int cls)
{
    (void)handle, (void)cls;
    return "plate";
}

static const kvs_plugin k_plugin = {
    .abi_version = KVS_PLUGIN_ABI_VERSION,
    .name = "painted_plate",
    .default_threshold = 0.5f,
    .init = painted_init,
    .detect = painted_detect,
    .label = painted_label,
    .free = free,
    .caps = KVS_PLUGIN_READS_PLATES,
};

const kvs_plugin *kvs_plugin_entry(void)
{
    return &k_plugin;
}
