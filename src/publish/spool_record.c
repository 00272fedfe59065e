/* An event as one spool record: its JSON (with the image references already
 * decided), the camera's publisher settings, and the JPEG bytes. Everything a
 * publisher needs after a restart, without the config that produced it.
 *
 * v4: [4][json][n publishers]{[name][n keys]{[key][value]}}[snapshot][n crops]{[crop]}[clip]
 * (clip: the MP4 of a clip_ready record; a record without one is written as
 * v3, which has no [clip], so a build rolled back to v3 still reads it)
 * v5: as v4, but [clip] is only its length: the MP4 is the record's file in
 * the spool (spool_append_file), never in memory (event.clip_mp4_file). v4 is
 * still read (records of an earlier build) and written for an MP4 in memory.
 * A version above RECORD_VERSION (a newer build's, after a rollback) is
 * refused with KERR_UNSUPPORTED, which the hub keeps unacknowledged in the
 * spool for a build that reads it (docs/operations.md, "Upgrades and
 * rollbacks"); builds before this one acknowledged it unread.
 * The settings are the publishers' own text (settings.c): this format never
 * changes for a new publisher. v1 and v2 (fixed fields of the four publishers
 * of the time) are still read, through the publishers' own readers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publish.h"

enum { RECORD_VERSION = 5, CLIP_IN_RECORD = 4, NO_STRING = 0xffffffffu, MAX_ENTRIES = 256 };

typedef struct {
    unsigned char *p;
    size_t len, cap;
    bool oom;
} wbuf;

static void w_bytes(wbuf *b, const void *d, size_t n)
{
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2 + 256;
        unsigned char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void w_u32(wbuf *b, uint32_t v)
{
    w_bytes(b, &v, 4);
}

static void w_str(wbuf *b, const char *s)
{
    if (!s) {
        w_u32(b, NO_STRING);
        return;
    }
    w_u32(b, (uint32_t)strlen(s));
    w_bytes(b, s, strlen(s));
}

static void w_blob(wbuf *b, const event_image *img)
{
    w_u32(b, (uint32_t)img->len);
    if (img->len) w_bytes(b, img->data, img->len);
}

void *spool_record_pack(const event *e, const cfg_publishers *p, size_t *len)
{
    char *json = event_to_json(e);
    if (!json) return NULL;
    /* Sized for the images and the clip at once: a clip of megabytes grown
     * by doubling would take twice its size at the peak. */
    bool in_file = e->clip_mp4.len && !e->clip_mp4.data;
    size_t blobs = e->snapshot.len + (in_file ? 0 : e->clip_mp4.len) + 4096;
    for (int i = 0; i < e->ncrops; i++)
        blobs += e->crops[i].len;
    wbuf b = {.p = malloc(strlen(json) + blobs), .cap = strlen(json) + blobs};
    if (!b.p) {
        free(json);
        return NULL;
    }
    /* v3 unless a clip rides along: a build rolled back to v3 reads every
     * other record (it skips, and acknowledges, a version it does not know:
     * the clip is lost there, hence the rollback rule in docs/operations.md) */
    w_u32(&b, in_file ? RECORD_VERSION : e->clip_mp4.len ? CLIP_IN_RECORD : 3);
    w_str(&b, json);
    free(json);
    w_u32(&b, (uint32_t)p->n);
    for (int i = 0; i < p->n; i++) {
        w_str(&b, p->items[i].publisher);
        w_u32(&b, (uint32_t)p->items[i].n);
        for (int k = 0; k < p->items[i].n; k++)
            w_str(&b, p->items[i].kv[k].key), w_str(&b, p->items[i].kv[k].value);
    }
    w_blob(&b, &e->snapshot);
    w_u32(&b, (uint32_t)e->ncrops);
    for (int i = 0; i < e->ncrops; i++)
        w_blob(&b, &e->crops[i]);
    if (in_file)
        w_u32(&b, (uint32_t)e->clip_mp4.len); /* the bytes are the record's file */
    else if (e->clip_mp4.len)
        w_blob(&b, &e->clip_mp4);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

typedef struct {
    const unsigned char *p;
    size_t len, off;
    bool bad;
    unsigned char *own; /* the record, the reader's to free or hand over; NULL: the caller's */
} rbuf;

static uint32_t r_u32(rbuf *r)
{
    uint32_t v = 0;
    if (r->off + 4 > r->len) {
        r->bad = true;
        return 0;
    }
    memcpy(&v, r->p + r->off, 4);
    r->off += 4;
    return v;
}

static char *r_str(rbuf *r)
{
    uint32_t n = r_u32(r);
    if (r->bad || n == NO_STRING) return NULL;
    if (r->off + n > r->len) {
        r->bad = true;
        return NULL;
    }
    char *s = malloc(n + 1);
    if (!s) {
        r->bad = true;
        return NULL;
    }
    memcpy(s, r->p + r->off, n);
    s[n] = '\0';
    r->off += n;
    return s;
}

static void r_blob(rbuf *r, event_image *img)
{
    uint32_t n = r_u32(r);
    if (r->bad || n == 0) return;
    if (r->off + n > r->len || !(img->data = malloc(n))) {
        r->bad = true;
        return;
    }
    memcpy(img->data, r->p + r->off, n);
    img->len = n;
    r->off += n;
}

/* The clip, the record's last blob: a record the reader owns becomes the
 * MP4's buffer itself (moved to its front and shrunk), so a 5 MB clip is
 * not in memory twice while it is unpacked. */
static void r_clip(rbuf *r, event_image *img)
{
    if (!r->own) {
        r_blob(r, img);
        return;
    }
    uint32_t n = r_u32(r);
    if (r->bad || n == 0) return;
    if (r->off + n != r->len) { /* not last: written by another build; copied */
        r->off -= 4;
        r_blob(r, img);
        return;
    }
    memmove(r->own, r->own + r->off, n);
    unsigned char *shrunk = realloc(r->own, n);
    img->data = shrunk ? shrunk : r->own;
    img->len = n;
    r->own = NULL;
    r->off += n;
}

static void read_settings(rbuf *r, cfg_publishers *p)
{
    uint32_t n = r_u32(r);
    if (n > MAX_ENTRIES) r->bad = true;
    for (uint32_t i = 0; !r->bad && i < n; i++) {
        char *name = r_str(r);
        cfg_pub *s = name ? cfg_publishers_add(p, name) : NULL;
        free(name);
        uint32_t nkv = s ? r_u32(r) : 0;
        if (!s || nkv > MAX_ENTRIES) r->bad = true;
        for (uint32_t k = 0; !r->bad && k < nkv; k++) {
            char *key = r_str(r), *value = r_str(r);
            if (!key || !value || !cfg_pub_set(s, key, value)) r->bad = true;
            free(key), free(value);
        }
    }
}

/* v1/v2 held the `publishers:` keys of their time as fixed fields; they are
 * handed to today's publishers as the YAML map they came from. */
static void read_legacy(rbuf *r, uint32_t version, cfg_publishers *p)
{
    static const char *const names[] = {"kinesis_stream_name", "s3_bucket",        "s3_prefix",
                                        "dynamodb_table",      "local_dir",        "s3_sse",
                                        "s3_kms_key_id",       "dynamodb_ttl_days"};
    char *vals[8] = {0};
    ynode leaf[8], *items[8];
    char *keys[8];
    int lines[8] = {0}, n = 0;
    for (int i = 0; i < 5; i++)
        vals[i] = r_str(r);
    if (version >= 2) {
        vals[5] = r_str(r), vals[6] = r_str(r);
        uint32_t ttl = r_u32(r);
        char num[16];
        snprintf(num, sizeof num, "%u", ttl);
        if (ttl) vals[7] = kstrdup(num);
    }
    for (int i = 0; i < 8; i++) {
        if (!vals[i]) continue;
        leaf[n] = (ynode){.kind = YNODE_SCALAR, .line = 1, .col = 1, .value = vals[i]};
        items[n] = &leaf[n];
        keys[n++] = (char *)names[i];
    }
    ynode map = {.kind = YNODE_MAP,
                 .line = 1,
                 .col = 1,
                 .n = (size_t)n,
                 .items = items,
                 .keys = keys,
                 .key_line = lines,
                 .key_col = lines};
    cfg_diags d = {.file = "spool record"};
    if (!r->bad) cfg_publishers_read(&d, NULL, &map, "publishers", p);
    if (d.n) r->bad = true; /* written by our own reader once: only a bug gets here */
    cfg_diags_free(&d);
    for (int i = 0; i < 8; i++)
        free(vals[i]);
}

static event *unpack(rbuf *rb, cfg_publishers *p, kerr *err);

event *spool_record_unpack(const void *data, size_t len, cfg_publishers *p, kerr *err)
{
    rbuf r = {data, len, 0, false, NULL};
    return unpack(&r, p, err);
}

event *spool_record_unpack_take(void *data, size_t len, cfg_publishers *p, kerr *err)
{
    rbuf r = {data, len, 0, false, data};
    event *e = unpack(&r, p, err);
    free(r.own); /* unless the clip took it */
    return e;
}

static event *unpack(rbuf *rb, cfg_publishers *p, kerr *err)
{
    rbuf r = *rb;
    memset(p, 0, sizeof *p);
    uint32_t version = r_u32(&r);
    if (version > RECORD_VERSION && !r.bad) { /* a newer build's: never taken as damage */
        kerr_set(err, KERR_UNSUPPORTED,
                 "spool record: format version %u is newer than this build reads (up to %d)",
                 version, RECORD_VERSION);
        return NULL;
    }
    if (version < 1 || r.bad) {
        kerr_set(err, KERR_INVALID, "spool record: unknown version");
        return NULL;
    }
    char *json = r_str(&r);
    event *e = json ? event_from_json(json, err) : NULL;
    free(json);
    if (!e) {
        if (!r.bad && err && !err->msg[0]) kerr_set(err, KERR_INVALID, "spool record: no event");
        return NULL;
    }
    if (version >= 3)
        read_settings(&r, p);
    else
        read_legacy(&r, version, p);
    r_blob(&r, &e->snapshot);
    uint32_t nc = r_u32(&r);
    /* Checked before reading: crops beyond the JSON's count would not be freed. */
    if (nc > 4 || (int)nc != e->ncrops) r.bad = true;
    for (uint32_t i = 0; !r.bad && i < nc; i++)
        r_blob(&r, &e->crops[i]);
    if (version == CLIP_IN_RECORD && !r.bad) r_clip(&r, &e->clip_mp4);
    if (version == RECORD_VERSION && !r.bad) /* the reader names the file (spool_file_path) */
        e->clip_mp4.len = r_u32(&r);
    rb->own = r.own;
    if (r.bad) {
        kerr_set(err, KERR_INVALID, "spool record: truncated or inconsistent");
        event_free(e);
        cfg_publishers_free(p);
        return NULL;
    }
    return e;
}

bool spool_record_has_clip(const void *data, size_t len)
{
    uint32_t version = 0;
    if (len >= 4) memcpy(&version, data, 4);
    return version >= CLIP_IN_RECORD; /* written as v4 or v5 only when a clip rides along */
}
