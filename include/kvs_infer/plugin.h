/* kvs-infer detector plugins: the C ABI a shared object implements to add a
 * detector type. List the .so under `plugins:` in the config and use its name
 * as a detector `type:`; it then runs in the normal pipeline (fps_limit, ROI,
 * tracking, one event per object, every publisher).
 *
 * A plugin exports one function, kvs_plugin_entry, returning a pointer to a
 * static kvs_plugin. kvs-infer refuses a plugin whose abi_version differs from
 * the KVS_PLUGIN_ABI_VERSION it was built with. The version changes whenever a
 * struct below changes; fields are never reordered within a version.
 *
 * Threads: init and free run on kvs-infer's main thread; detect runs on one
 * inference worker at a time per handle (one handle per camera), so a handle
 * needs no locking. Strings returned by label must live as long as the handle. */
#ifndef KVS_INFER_PLUGIN_H
#define KVS_INFER_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

/* 2: boxes carry a plate read, plugins declare capabilities. */
#define KVS_PLUGIN_ABI_VERSION 2u

/* kvs_plugin.caps */
#define KVS_PLUGIN_READS_PLATES 1u /* boxes are plates and carry their text */

typedef struct {
    int width, height, stride; /* stride: bytes per row */
    const uint8_t *rgb;        /* packed R, G, B */
    int64_t pts_ms;            /* media time of the frame */
} kvs_plugin_frame;

typedef struct {
    float x1, y1, x2, y2; /* pixels of the frame */
    float score;          /* 0..1 */
    int cls;              /* the plugin's class number, named by label() */
    /* KVS_PLUGIN_READS_PLATES: the plate's text (A-Z 0-9; other characters
     * are dropped; "" when unread) and how sure the read is (0..1). kvs-infer
     * votes over a track's reads as it does for its own ALPR. */
    char plate[17];
    float plate_confidence;
} kvs_plugin_box;

typedef struct kvs_plugin {
    uint32_t abi_version;    /* KVS_PLUGIN_ABI_VERSION */
    const char *name;        /* the detector type, e.g. "color_blob" */
    float default_threshold; /* used when the config gives no confidence_threshold */
    /* params_json: the detector's `params:` as a JSON object ("{}" when none).
     * Returns a handle, or NULL with a message in err. */
    void *(*init)(const char *params_json, char *err, size_t errlen);
    /* Writes up to max boxes with score >= threshold; returns how many, or -1
     * with a message in err. */
    int (*detect)(void *handle, const kvs_plugin_frame *frame, float threshold, kvs_plugin_box *out,
                  int max, char *err, size_t errlen);
    const char *(*label)(void *handle, int cls);
    void (*free)(void *handle);
    uint32_t caps; /* KVS_PLUGIN_* */
} kvs_plugin;

/* The one symbol a plugin exports. */
const kvs_plugin *kvs_plugin_entry(void);

#endif
