/* ui: the operator page's parts that need nothing of the running service:
 * the page's files built into the binary, the token rules
 * (docs/operator-page.md), boxes and labels drawn on a frame, events read
 * back from the local sink, and the config with its secrets redacted.
 * src/app/api.c serves them with the cameras' live state. */
#ifndef KVS_UI_H
#define KVS_UI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config/config.h"
#include "../core/core.h"

/* ---- the page (assets.c, generated from src/ui/page at build time) ---- */
typedef struct {
    const char *path; /* "/", "/app.js", ... */
    const char *type;
    const unsigned char *data;
    size_t len;
} ui_asset;

const ui_asset *ui_asset_find(const char *path);
/* The page's total size in bytes (its weight, for the docs and tests). */
size_t ui_assets_bytes(void);

/* ---- who may see it (auth.c) ---- */
typedef enum {
    UI_ALLOW,
    UI_NEED_AUTH, /* 401: a token is set and the request lacks it */
    UI_NO_TOKEN,  /* 403: reachable beyond this machine and no token set */
} ui_access;

/* token: ui.token ("" or NULL: none); loopback: the listener is 127.x;
 * authorization: the request's header (Bearer TOKEN, or Basic with TOKEN as
 * the password). Compares in constant time. */
ui_access ui_check_access(const char *token, bool loopback, const char *authorization);

/* ---- drawing on a packed RGB image (draw.c) ---- */
typedef struct {
    float x1, y1, x2, y2; /* pixels of the image drawn on */
    char text[48];
    uint8_t rgb[3];
} ui_box;

void ui_draw_box(uint8_t *img, int w, int h, int stride, const ui_box *b);
/* 5x7 bitmap text, scale px per font pixel, on a dark band; printable ASCII. */
void ui_draw_text(uint8_t *img, int w, int h, int stride, int x, int y, const char *text,
                  const uint8_t rgb[3], int scale);
/* A label's colour, the same for the same label on every camera. */
void ui_label_colour(const char *label, uint8_t rgb[3]);

/* ---- events from the local sink's events.jsonl files (events.c) ---- */
enum { UI_EVENTS_MAX = 200, UI_EVENT_SCAN_BYTES = 256 << 20 };

bool ui_event_id_ok(const char *id); /* a UUID: 8-4-4-4-12 lowercase hex */
/* {"events": [...newest first...], "next_before": id or null}: events of
 * camera/label (NULL: any) older than `before` (an event id, NULL: newest),
 * at most limit (capped at UI_EVENTS_MAX), merged across the folders. Reads
 * each file from its end, at most UI_EVENT_SCAN_BYTES of it. */
char *ui_events_page(const char *const *dirs, int ndirs, const char *camera, const char *label,
                     const char *before, int limit, kerr *err);
/* The event's JSON (caller frees) and the folder it was found in; NULL when
 * there is no such event. */
char *ui_event_find(const char *const *dirs, int ndirs, const char *id, int *dir);
/* Opens one of an event's images: "snapshot" or "crop-N". The path the event
 * names must resolve inside the folder of its events.jsonl. */
kerr_code ui_event_image(const char *const *dirs, int ndirs, const char *id, const char *which,
                         int *fd, size_t *len, kerr *err);

/* ---- the config, for people (redact.c) ---- */
/* The YAML tree as JSON, every secret replaced by "<redacted>": keys naming
 * tokens, passwords, secrets and credentials, and the password in URLs. */
char *ui_config_json(const ynode *root);

#endif
