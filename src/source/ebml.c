/* Streaming EBML reader. Known-size masters end at their size; unknown-size
 * ones (KVS writes Segment and Cluster that way) end when an element appears
 * that cannot be their child, as the Matroska spec says. Leaves we use are
 * buffered whole (bounded); everything else is skipped without buffering. */
#include <stdlib.h>
#include <string.h>

#include "ebml.h"

enum {
    ID_EBML = 0x1A45DFA3,
    ID_SEGMENT = 0x18538067,
    ID_INFO = 0x1549A966,
    ID_TIMECODE_SCALE = 0x2AD7B1,
    ID_TRACKS = 0x1654AE6B,
    ID_TRACK_ENTRY = 0xAE,
    ID_TRACK_NUMBER = 0xD7,
    ID_CODEC_ID = 0x86,
    ID_CODEC_PRIVATE = 0x63A2,
    ID_VIDEO = 0xE0,
    ID_PIXEL_WIDTH = 0xB0,
    ID_PIXEL_HEIGHT = 0xBA,
    ID_TAGS = 0x1254C367,
    ID_TAG = 0x7373,
    ID_SIMPLE_TAG = 0x67C8,
    ID_TAG_NAME = 0x45A3,
    ID_TAG_STRING = 0x4487,
    ID_CLUSTER = 0x1F43B675,
    ID_TIMECODE = 0xE7,
    ID_SIMPLE_BLOCK = 0xA3,
    ID_BLOCK_GROUP = 0xA0,
    ID_BLOCK = 0xA1,
    ID_CUES = 0x1C53BB6B,
    ID_SEEK_HEAD = 0x114D9B74,
    ID_CHAPTERS = 0x1043A770,
    ID_ATTACHMENTS = 0x1941A469,
};

#define MAX_DEPTH 16
#define MAX_LEAF (64u << 20) /* a single video frame larger than this is not video */
#define MAX_META 65536u      /* names, codec private data, numbers */

typedef struct {
    uint32_t id;
    uint64_t end; /* absolute offset; UINT64_MAX: unknown size */
} open_el;

struct ebml_reader {
    ebml_callbacks cb;
    uint8_t *buf;
    size_t len, cap, pos;
    uint64_t base; /* stream offset of buf[0] */
    uint64_t skip; /* bytes still to skip of an element we ignore */
    open_el stack[MAX_DEPTH];
    int depth;
    uint64_t timecode_scale;
    /* the TrackEntry and SimpleTag being read */
    uint64_t trk_number;
    char codec_id[64];
    uint8_t *priv;
    size_t priv_len;
    int width, height;
    char tag_name[256], tag_value[512];
};

ebml_reader *ebml_reader_new(const ebml_callbacks *cb)
{
    ebml_reader *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->cb = *cb;
    r->timecode_scale = 1000000;
    return r;
}

static void clear_track(ebml_reader *r)
{
    free(r->priv);
    r->priv = NULL;
    r->priv_len = 0;
    r->trk_number = 0;
    r->codec_id[0] = '\0';
    r->width = r->height = 0;
}

void ebml_reader_reset(ebml_reader *r)
{
    clear_track(r);
    r->len = r->pos = 0;
    r->base = r->skip = 0;
    r->depth = 0;
    r->timecode_scale = 1000000;
    r->tag_name[0] = r->tag_value[0] = '\0';
}

void ebml_reader_free(ebml_reader *r)
{
    if (!r) return;
    clear_track(r);
    free(r->buf);
    free(r);
}

uint64_t ebml_reader_timecode_scale(const ebml_reader *r)
{
    return r->timecode_scale;
}

/* Reads a variable-length integer. Returns its length, 0 when more bytes are
 * needed, -1 when malformed. keep_marker: IDs keep their length bits. */
static int read_vint(const uint8_t *p, size_t avail, bool keep_marker, uint64_t *out, bool *unknown)
{
    if (!avail) return 0;
    if (p[0] == 0) return -1;
    int n = 1;
    while (!(p[0] & (0x80 >> (n - 1))))
        n++;
    if ((size_t)n > avail) return 0;
    uint64_t mask = 0xFF >> n;
    uint64_t v = keep_marker ? p[0] : (p[0] & mask);
    bool ones = (p[0] & mask) == mask;
    for (int i = 1; i < n; i++) {
        v = (v << 8) | p[i];
        if (p[i] != 0xFF) ones = false;
    }
    *out = v;
    if (unknown) *unknown = !keep_marker && ones;
    return n;
}

static bool is_master(uint32_t id)
{
    switch (id) {
    case ID_SEGMENT:
    case ID_INFO:
    case ID_TRACKS:
    case ID_TRACK_ENTRY:
    case ID_VIDEO:
    case ID_TAGS:
    case ID_TAG:
    case ID_SIMPLE_TAG:
    case ID_CLUSTER:
    case ID_BLOCK_GROUP: return true;
    default: return false;
    }
}

static bool is_wanted_leaf(uint32_t id)
{
    switch (id) {
    case ID_TIMECODE_SCALE:
    case ID_TRACK_NUMBER:
    case ID_CODEC_ID:
    case ID_CODEC_PRIVATE:
    case ID_PIXEL_WIDTH:
    case ID_PIXEL_HEIGHT:
    case ID_TAG_NAME:
    case ID_TAG_STRING:
    case ID_TIMECODE:
    case ID_SIMPLE_BLOCK:
    case ID_BLOCK: return true;
    default: return false;
    }
}

static bool is_top_level(uint32_t id)
{
    return id == ID_EBML || id == ID_SEGMENT;
}

static bool is_segment_child(uint32_t id)
{
    return id == ID_INFO || id == ID_TRACKS || id == ID_TAGS || id == ID_CLUSTER || id == ID_CUES ||
           id == ID_SEEK_HEAD || id == ID_CHAPTERS || id == ID_ATTACHMENTS;
}

/* Children a KVS Segment or Cluster may have: anything else there is damage
 * (garbage between fragments), reported instead of skipped, since a random
 * "size" could swallow megabytes of good fragments. */
static bool valid_child(uint32_t parent, uint32_t id)
{
    if (id == 0xEC || id == 0xBF) return true; /* Void, CRC-32 */
    if (parent == ID_SEGMENT) return is_segment_child(id);
    if (parent == ID_CLUSTER)
        return id == ID_TIMECODE || id == ID_SIMPLE_BLOCK || id == ID_BLOCK_GROUP ||
               id == 0xA7 /* Position */ || id == 0xAB /* PrevSize */ ||
               id == 0x5854 /* SilentTracks */ || id == 0xAF /* EncryptedBlock */;
    return true;
}

/* Whether an element with this ID ends the unknown-size master `parent`. */
static bool ends_unknown(uint32_t parent, uint32_t id)
{
    if (is_top_level(id)) return true;
    if (parent == ID_CLUSTER) return is_segment_child(id);
    return false;
}

static void finish(ebml_reader *r, uint32_t id)
{
    if (id == ID_TRACK_ENTRY) {
        if (r->cb.track)
            r->cb.track(r->cb.user, r->trk_number, r->codec_id, r->priv, r->priv_len, r->width,
                        r->height);
        clear_track(r);
    } else if (id == ID_SIMPLE_TAG) {
        if (r->cb.tag && r->tag_name[0]) r->cb.tag(r->cb.user, r->tag_name, r->tag_value);
        r->tag_name[0] = r->tag_value[0] = '\0';
    }
}

static void pop(ebml_reader *r)
{
    r->depth--;
    finish(r, r->stack[r->depth].id);
}

static uint64_t be_uint(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void copy_str(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    if (n >= cap) n = cap - 1;
    memcpy(dst, p, n);
    dst[n] = '\0';
    dst[strnlen(dst, n)] = '\0';
}

static kerr_code leaf(ebml_reader *r, uint32_t id, const uint8_t *p, size_t n, uint64_t off,
                      kerr *err)
{
    switch (id) {
    case ID_TIMECODE_SCALE:
        r->timecode_scale = be_uint(p, n);
        if (!r->timecode_scale) r->timecode_scale = 1000000;
        break;
    case ID_TRACK_NUMBER: r->trk_number = be_uint(p, n); break;
    case ID_CODEC_ID: copy_str(r->codec_id, sizeof r->codec_id, p, n); break;
    case ID_CODEC_PRIVATE:
        free(r->priv);
        r->priv = malloc(n ? n : 1);
        if (!r->priv) return kerr_set(err, KERR_NOMEM, "out of memory");
        memcpy(r->priv, p, n);
        r->priv_len = n;
        break;
    case ID_PIXEL_WIDTH: r->width = (int)(be_uint(p, n) & 0xFFFF); break;
    case ID_PIXEL_HEIGHT: r->height = (int)(be_uint(p, n) & 0xFFFF); break;
    case ID_TAG_NAME: copy_str(r->tag_name, sizeof r->tag_name, p, n); break;
    case ID_TAG_STRING: copy_str(r->tag_value, sizeof r->tag_value, p, n); break;
    case ID_TIMECODE:
        if (r->cb.cluster_timecode) r->cb.cluster_timecode(r->cb.user, be_uint(p, n));
        break;
    case ID_SIMPLE_BLOCK:
    case ID_BLOCK: {
        uint64_t track;
        int tl = read_vint(p, n, false, &track, NULL);
        if (tl <= 0 || (size_t)tl + 3 > n)
            return kerr_set(err, KERR_INVALID, "EBML: malformed block at offset %llu",
                            (unsigned long long)off);
        int16_t rel = (int16_t)((p[tl] << 8) | p[tl + 1]);
        uint8_t flags = p[tl + 2];
        if (flags & 0x06)
            return kerr_set(err, KERR_INVALID, "EBML: laced block at offset %llu (not video)",
                            (unsigned long long)off);
        bool key = id == ID_SIMPLE_BLOCK ? (flags & 0x80) != 0 : false;
        if (r->cb.block) r->cb.block(r->cb.user, track, rel, key, p + tl + 3, n - (size_t)tl - 3);
        break;
    }
    default: break;
    }
    return KERR_OK;
}

static void pop_ended(ebml_reader *r)
{
    uint64_t off = r->base + r->pos;
    while (r->depth && r->stack[r->depth - 1].end != UINT64_MAX &&
           off >= r->stack[r->depth - 1].end)
        pop(r);
}

/* One step: pops ended masters, then reads the next element header (and a
 * wanted leaf's payload). KERR_AGAIN when more bytes are needed. */
static kerr_code step(ebml_reader *r, kerr *err)
{
    uint64_t off = r->base + r->pos;
    pop_ended(r);
    const uint8_t *p = r->buf + r->pos;
    size_t avail = r->len - r->pos;
    uint64_t id, size;
    bool unknown;
    int il = read_vint(p, avail, true, &id, NULL);
    if (il < 0 || il > 4)
        return kerr_set(err, KERR_INVALID, "EBML: bad element ID at offset %llu",
                        (unsigned long long)off);
    if (il == 0) return KERR_AGAIN;
    int sl = read_vint(p + il, avail - (size_t)il, false, &size, &unknown);
    if (sl < 0)
        return kerr_set(err, KERR_INVALID, "EBML: bad element size at offset %llu",
                        (unsigned long long)off);
    if (sl == 0) return KERR_AGAIN;
    uint32_t eid = (uint32_t)id;
    while (r->depth && r->stack[r->depth - 1].end == UINT64_MAX &&
           ends_unknown(r->stack[r->depth - 1].id, eid))
        pop(r);
    if (eid == ID_EBML) {
        while (r->depth)
            pop(r);
        if (r->cb.fragment) r->cb.fragment(r->cb.user);
        r->timecode_scale = 1000000;
    } else if (r->depth == 0 && eid != ID_SEGMENT) {
        return kerr_set(err, KERR_INVALID, "EBML: element 0x%X at offset %llu outside a Segment",
                        (unsigned)eid, (unsigned long long)off);
    }
    if (r->depth && !valid_child(r->stack[r->depth - 1].id, eid))
        return kerr_set(err, KERR_INVALID, "EBML: unexpected element 0x%X in 0x%X at offset %llu",
                        (unsigned)eid, (unsigned)r->stack[r->depth - 1].id,
                        (unsigned long long)off);
    size_t hl = (size_t)il + (size_t)sl;
    uint64_t body = off + hl;
    if (is_master(eid)) {
        if (r->depth == MAX_DEPTH)
            return kerr_set(err, KERR_INVALID, "EBML: nesting too deep at offset %llu",
                            (unsigned long long)off);
        uint64_t end = unknown ? UINT64_MAX : body + size;
        if (r->depth && r->stack[r->depth - 1].end != UINT64_MAX && end != UINT64_MAX &&
            end > r->stack[r->depth - 1].end)
            return kerr_set(err, KERR_INVALID, "EBML: element at offset %llu overruns its parent",
                            (unsigned long long)off);
        r->stack[r->depth++] = (open_el){eid, end};
        r->pos += hl;
        return KERR_OK;
    }
    if (unknown)
        return kerr_set(err, KERR_INVALID, "EBML: unknown size on element 0x%X at offset %llu",
                        (unsigned)eid, (unsigned long long)off);
    if (is_wanted_leaf(eid)) {
        bool block = eid == ID_SIMPLE_BLOCK || eid == ID_BLOCK;
        if (size > (block ? MAX_LEAF : MAX_META))
            return kerr_set(err, KERR_INVALID, "EBML: element 0x%X at offset %llu is too large",
                            (unsigned)eid, (unsigned long long)off);
        if (avail < hl + size) return KERR_AGAIN;
        kerr_code rc = leaf(r, eid, p + hl, (size_t)size, off, err);
        if (rc != KERR_OK) return rc;
        r->pos += hl + (size_t)size;
        return KERR_OK;
    }
    if (size > MAX_LEAF)
        return kerr_set(err, KERR_INVALID, "EBML: element 0x%X at offset %llu is too large",
                        (unsigned)eid, (unsigned long long)off);
    r->pos += hl;
    r->skip = size;
    return KERR_OK;
}

static kerr_code append(ebml_reader *r, const uint8_t *data, size_t len, kerr *err)
{
    if (r->pos) { /* drop what is consumed */
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->base += r->pos;
        r->pos = 0;
    }
    if (r->len + len > r->cap) {
        size_t nc = r->cap ? r->cap : 65536;
        while (nc < r->len + len)
            nc *= 2;
        uint8_t *nb = realloc(r->buf, nc);
        if (!nb) return kerr_set(err, KERR_NOMEM, "out of memory");
        r->buf = nb;
        r->cap = nc;
    }
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    return KERR_OK;
}

kerr_code ebml_reader_feed(ebml_reader *r, const uint8_t *data, size_t len, kerr *err)
{
    if (r->pos == r->len) { /* all consumed: skipped bytes need not enter the buffer */
        r->base += r->len;
        r->len = r->pos = 0;
    }
    while (len && r->skip) {
        size_t n = r->skip < len ? (size_t)r->skip : len;
        r->skip -= n;
        r->base += n;
        data += n;
        len -= n;
    }
    if (!len) return KERR_OK;
    kerr_code rc = append(r, data, len, err);
    while (rc == KERR_OK) {
        if (r->skip) {
            size_t n = r->len - r->pos;
            if (r->skip < n) n = (size_t)r->skip;
            r->pos += n;
            r->skip -= n;
            if (r->skip) break;
        }
        if (r->pos == r->len) break;
        rc = step(r, err);
        if (rc == KERR_OK) pop_ended(r); /* so a finished tag is reported now, not later */
    }
    if (rc == KERR_AGAIN) rc = KERR_OK;
    if (rc == KERR_OK && !r->skip) pop_ended(r);
    return rc;
}
