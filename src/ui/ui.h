/* ui: the operator page's parts that need nothing of the running service:
 * the page's files built into the binary, the token rules
 * (docs/operator-page.md), boxes and labels drawn on a frame, events read
 * back from the local sink, and the config with its secrets redacted.
 * src/app/api.c serves them with the cameras' live state. */
#ifndef KVS_UI_H
#define KVS_UI_H

#include <jansson.h>
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

/* ---- who may see it (auth.c) ---- */
typedef enum {
    UI_ALLOW,
    UI_NEED_AUTH, /* 401: a token is set and the request lacks it */
    UI_NO_TOKEN,  /* 403: reachable beyond this machine and no token set */
} ui_access;

/* The longest ui.token the config accepts (config_load refuses longer). */
enum { UI_TOKEN_MAX = CFG_UI_TOKEN_MAX };

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

/* ---- events from the local sink's events.jsonl files (events.c, index.c) ---- */
enum {
    UI_EVENTS_MAX = 200,
    UI_EVENT_SCAN_BYTES = 256 << 20,  /* read from a file's end without an index */
    UI_INDEXED_TAIL_BYTES = 32 << 20, /* the most read past what an index covers */
    UI_PLATE_MAX = 24
};

bool ui_event_id_ok(const char *id); /* a UUID: 8-4-4-4-12 lowercase hex */

/* What events are asked for; NULL, "" and 0 mean any. */
typedef struct {
    const char *camera, *label, *before; /* before: an event id (pages) */
    char plate[UI_PLATE_MAX];            /* normalised (ui_plate_norm): a prefix ... */
    bool fuzzy;                          /* ... or, also, within one edit of the whole */
    int64_t since_ms, until_ms;          /* detected_at, inclusive */
    int limit;
} ui_filter;

/* An event's searchable fields (pointers into the event's JSON). */
typedef struct {
    const char *id, *camera, *label; /* NULL when absent or not strings */
    int64_t ts_ms;                   /* detected_at; -1 when absent */
    char plate[UI_PLATE_MAX];        /* plate.text, normalised; "" when none */
} ui_event_key;

void ui_event_fields(json_t *e, ui_event_key *k);
bool ui_filter_match(const ui_filter *f, const ui_event_key *k);
/* Upper case letters and digits only ("ab-12 c" -> "AB12C"). */
void ui_plate_norm(const char *in, char *out, size_t len);
/* a and b are at most one edit (substitution, insertion, deletion) apart. */
bool ui_plate_near(const char *a, const char *b);
/* Drops the fields the page shows whose type is wrong (a label that is an
 * object, a confidence that is a string), so one hostile line cannot break
 * the page; the event itself is kept. */
void ui_event_sanitize(json_t *e);

/* The event index of one folder (index.c): {dir}/events.db, kept up to date
 * with {dir}/events.jsonl by a thread of its own. */
typedef struct ui_index ui_index;
typedef struct {
    int64_t off, len; /* a line of events.jsonl */
} ui_place;
ui_index *ui_index_open(const char *dir, kerr *err);
void ui_index_close(ui_index *ix);
/* Bytes of events.jsonl indexed (and the rows, when rows is not NULL). */
int64_t ui_index_covered(ui_index *ix, int64_t *rows);
/* Waits up to wait_ms for the index to cover events.jsonl as it is now. */
bool ui_index_sync(ui_index *ix, int wait_ms);
/* Places of the newest events matching f (and id, when not NULL), newest
 * first, at most max; -1 on a database error. */
int ui_index_find(ui_index *ix, const ui_filter *f, const char *id, ui_place *out, int max);

/* {"events": [...newest first...], "next_before": id or null}: events
 * matching f, at most f->limit (capped at UI_EVENTS_MAX), merged across the
 * folders. Where ix[i] is an index (ix may be NULL) it answers for the part
 * of the file it covers and only the rest is read, from the end; without
 * one, each file is read from its end, at most UI_EVENT_SCAN_BYTES of it. */
char *ui_events_query(ui_index *const *ix, const char *const *dirs, int ndirs, const ui_filter *f,
                      kerr *err);
char *ui_events_page(const char *const *dirs, int ndirs, const char *camera, const char *label,
                     const char *before, int limit, kerr *err);
/* The event's JSON (caller frees) and the folder it was found in; NULL when
 * there is no such event. */
char *ui_event_find(ui_index *const *ix, const char *const *dirs, int ndirs, const char *id,
                    int *dir);
/* Opens one of an event's images: "snapshot" or "crop-N", or its "clip". The path the event
 * names must resolve inside the folder of its events.jsonl. */
kerr_code ui_event_image(ui_index *const *ix, const char *const *dirs, int ndirs, const char *id,
                         const char *which, int *fd, size_t *len, kerr *err);

/* ---- the config, for people (redact.c) ---- */
/* The YAML tree as JSON, every secret replaced by "<redacted>": keys naming
 * tokens, passwords, secrets and credentials, and the password in URLs. */
char *ui_config_json(const ynode *root);
/* One string with the password of a URL's userinfo and the values of
 * credential-like query parameters replaced by "<redacted>"; other strings
 * unchanged. Caller frees; NULL when out of memory. */
char *ui_redact_url(const char *v);

#endif
