/* An event as one spool record: its JSON (with the image references already
 * decided), the camera's publisher settings, and the JPEG bytes. Everything a
 * publisher needs after a restart, without the config that produced it. */
#include <stdlib.h>
#include <string.h>

#include "publish.h"

/* v2 added s3_sse, s3_kms_key_id and dynamodb_ttl_days; v1 records still read. */
enum { RECORD_VERSION = 2, NO_STRING = 0xffffffffu };

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
    wbuf b = {0};
    w_u32(&b, RECORD_VERSION);
    w_str(&b, json);
    free(json);
    const char *pubs[5] = {p->kinesis_stream_name, p->s3_bucket, p->s3_prefix, p->dynamodb_table,
                           p->local_dir};
    for (int i = 0; i < 5; i++)
        w_str(&b, pubs[i]);
    w_str(&b, p->s3_sse);
    w_str(&b, p->s3_kms_key_id);
    w_u32(&b, (uint32_t)p->dynamodb_ttl_days);
    w_blob(&b, &e->snapshot);
    w_u32(&b, (uint32_t)e->ncrops);
    for (int i = 0; i < e->ncrops; i++)
        w_blob(&b, &e->crops[i]);
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

event *spool_record_unpack(const void *data, size_t len, cfg_publishers *p, kerr *err)
{
    rbuf r = {data, len, 0, false};
    memset(p, 0, sizeof *p);
    uint32_t version = r_u32(&r);
    if ((version != 1 && version != RECORD_VERSION) || r.bad) {
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
    char **pubs[5] = {&p->kinesis_stream_name, &p->s3_bucket, &p->s3_prefix, &p->dynamodb_table,
                      &p->local_dir};
    for (int i = 0; i < 5; i++)
        *pubs[i] = r_str(&r);
    if (version >= 2) {
        p->s3_sse = r_str(&r);
        p->s3_kms_key_id = r_str(&r);
        p->dynamodb_ttl_days = (int)r_u32(&r);
    }
    r_blob(&r, &e->snapshot);
    uint32_t nc = r_u32(&r);
    if (nc > 4) r.bad = true;
    for (uint32_t i = 0; !r.bad && i < nc; i++)
        r_blob(&r, &e->crops[i]);
    if (r.bad || (int)nc != e->ncrops) {
        kerr_set(err, KERR_INVALID, "spool record: truncated or inconsistent");
        event_free(e);
        cfg_publishers_free(p);
        return NULL;
    }
    return e;
}

void cfg_publishers_free(cfg_publishers *p)
{
    free(p->kinesis_stream_name), free(p->s3_bucket), free(p->s3_prefix);
    free(p->dynamodb_table), free(p->local_dir);
    free(p->s3_sse), free(p->s3_kms_key_id);
    memset(p, 0, sizeof *p);
}
