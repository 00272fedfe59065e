/* `alpr`: licence plates. Localisation: a plate YOLO model when given
 * (params.plate_model); else PaddleOCR's DB text detector on the vehicles a
 * COCO model finds (params.vehicle_model) or on the whole frame. Recognition:
 * PaddleOCR's CTC recogniser on each rotated text crop, letters and digits
 * upper-cased, then the configured plate formats (with confusion repair).
 * Voting across frames is the track book's side (track/track_events.c). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../infer/infer.h"
#include "../ocr/ocr.h"
#include "detect.h"
#include "yolo_internal.h"

enum { MAX_TEXT_BOXES = 8, REC_MIN_W = 320, REC_MAX_W = 640 };

typedef struct {
    char *det_model, *rec_model, *dict, *plate_model, *vehicle_model;
    char **format_names, **format_patterns;
    float *format_priors;
    int nformats;
    db_params db;
    int det_max_side;
    int min_chars, max_chars;
    bool require_format; /* with formats: a read that fits none is not a plate */
    bool fallback_db;    /* a frame whose plate boxes read nothing: DB over all of it */
    bool repair;         /* formats may change a read (false: only reads that fit as read) */
    bool open_formats;   /* the home region's formats are hints, not all its plates (us) */
    char **vehicle_classes;
    int nvehicle_classes;
} alpr_conf;

typedef struct {
    model *m;
    int in_w, in_h;
    yolo_layout layout;
    bool *allowed; /* NULL: every class */
    class_names names;
} yolo_lite;

typedef struct {
    const alpr_conf *conf;
    model *det, *rec;
    ocr_dict dict;
    int rec_classes;
    int rec_h; /* the recogniser's input height: 48 (PP-OCRv3/v4) or 32 (v2) */
    plate_formats *formats;
    yolo_lite plate, vehicle;
    bool has_plate, has_vehicle;
    float *buf; /* model input scratch */
    size_t buf_len;
    uint8_t *crop;
} alpr_state;

static const char *const k_params[] = {"det_model",
                                       "rec_model",
                                       "dict",
                                       "plate_model",
                                       "vehicle_model",
                                       "vehicle_classes",
                                       "formats",
                                       "det_max_side",
                                       "det_threshold",
                                       "box_threshold",
                                       "unclip_ratio",
                                       "min_chars",
                                       "max_chars",
                                       "region",
                                       "require_format",
                                       "whole_frame_fallback",
                                       "rectify",
                                       "repair",
                                       NULL};

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void alpr_free_conf(void *p)
{
    alpr_conf *c = p;
    if (!c) return;
    free(c->det_model), free(c->rec_model), free(c->dict), free(c->plate_model);
    free(c->vehicle_model);
    free_list(c->format_names, c->nformats);
    free_list(c->format_patterns, c->nformats);
    free(c->format_priors);
    free_list(c->vehicle_classes, c->nvehicle_classes);
    free(c);
}

static char *model_param(const ynode *P, const char *key, const char *pp, const detector_ctx *ctx,
                         cfg_diags *d, bool required, const char *what)
{
    char *raw = NULL;
    if (!cfg_read_str(d, P, key, pp, &raw)) {
        if (required) cfg_diag_add(d, P, pp, "alpr needs params.%s (%s)", key, what);
        return NULL;
    }
    char *path = cfg_resolve_model(ctx->config_file, ctx->models_dir, raw);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        cfg_diag_add(d, ynode_get(P, key), pp,
                     "%s \"%s\" not found (relative paths are tried in %s%sthe working directory, "
                     "then beside the config file)",
                     key, raw, ctx->models_dir ? ctx->models_dir : "",
                     ctx->models_dir ? " (models_dir or KVS_MODELS_DIR: mount the models there), "
                                     : "");
    free(raw);
    return path;
}

enum { MAX_FORMATS = 256 };

/* The first region listed is home: a plate that fits a later region's format
 * as read still goes home when that takes less than this much repair (about
 * one confident character swap). */
#define FOREIGN_PRIOR 0.6f

/* region: eu, or [sk, cz, pl]: the presets' formats after the user's own. */
static void read_region_presets(alpr_conf *c, const ynode *P, const char *pp, cfg_diags *d)
{
    const ynode *r = ynode_get(P, "region");
    if (!r) return;
    size_t n = r->kind == YNODE_SEQ ? r->n : 1;
    for (size_t i = 0; i < n; i++) {
        const ynode *it = r->kind == YNODE_SEQ ? r->items[i] : r;
        plate_preset p[MAX_FORMATS];
        int k = it->kind == YNODE_SCALAR ? plate_region(it->value, p, MAX_FORMATS) : -1;
        if (k < 0) {
            cfg_diag_add(d, it, pp, "region \"%s\" is not known; the presets are: %s",
                         it->kind == YNODE_SCALAR ? it->value : "?", plate_region_names());
            continue;
        }
        for (int j = 0; j < k && c->nformats < MAX_FORMATS; j++) {
            c->format_priors[c->nformats] = i ? FOREIGN_PRIOR : 0;
            c->format_names[c->nformats] = kstrdup(p[j].name);
            c->format_patterns[c->nformats++] = kstrdup(p[j].pattern);
        }
    }
}

/* Whether the first region listed is one whose presets are hints. */
static bool home_region_is_open(const ynode *P)
{
    const ynode *r = ynode_get(P, "region");
    if (r && r->kind == YNODE_SEQ) r = r->n ? r->items[0] : NULL;
    return r && r->kind == YNODE_SCALAR && plate_region_open(r->value);
}

/* formats: ['^[A-Z]{3}[0-9]{4}$', ...] or [{name: US-WA, pattern: '...'}, ...] */
static void read_formats(alpr_conf *c, const ynode *P, const char *pp, cfg_diags *d)
{
    c->format_names = calloc(MAX_FORMATS + 1, sizeof *c->format_names);
    c->format_patterns = calloc(MAX_FORMATS + 1, sizeof *c->format_patterns);
    c->format_priors = calloc(MAX_FORMATS + 1, sizeof *c->format_priors);
    if (!c->format_names || !c->format_patterns || !c->format_priors) return;
    const ynode *f = ynode_get(P, "formats");
    if (f && f->kind != YNODE_SEQ) {
        cfg_diag_add(d, f, pp, "formats must be a list of regular expressions");
        f = NULL;
    }
    for (size_t i = 0; f && i < f->n && c->nformats < MAX_FORMATS; i++) {
        const ynode *it = f->items[i];
        char *name = NULL, *pat = NULL;
        if (it->kind == YNODE_SCALAR) {
            pat = kstrdup(it->value), name = kstrdup(it->value);
        } else if (it->kind == YNODE_MAP) {
            static const char *const keys[] = {"name", "pattern", NULL};
            cfg_check_keys(d, it, pp, keys);
            cfg_read_str(d, it, "name", pp, &name);
            if (!cfg_read_str(d, it, "pattern", pp, &pat))
                cfg_diag_add(d, it, pp, "a format needs `pattern`");
            if (!name && pat) name = kstrdup(pat);
        } else {
            cfg_diag_add(d, it, pp, "a format is a regular expression or {name, pattern}");
        }
        if (!pat) {
            free(name);
            continue;
        }
        c->format_names[c->nformats] = name;
        c->format_patterns[c->nformats++] = pat;
    }
    read_region_presets(c, P, pp, d);
    if (!c->nformats) return;
    kerr err = {0};
    plate_formats *pf = plate_formats_new(c->format_patterns, c->format_priors, c->nformats, &err);
    if (!pf) cfg_diag_add(d, f, pp, "%s", err.msg);
    plate_formats_free(pf);
}

static void *alpr_configure(const cfg_detector *cfg, const detector_ctx *ctx, cfg_diags *d)
{
    size_t before = d->n;
    alpr_conf *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    char pp[600];
    snprintf(pp, sizeof pp, "%s.params", cfg->path);
    const ynode *P = cfg->params;
    db_params_default(&c->db);
    c->det_max_side = 960;
    c->min_chars = 4;
    c->max_chars = 10;
    c->require_format = true;
    if (!P) {
        cfg_diag_add_pos(d, cfg->line, cfg->col, cfg->path,
                         "alpr needs params: det_model, rec_model and dict (PaddleOCR)");
        alpr_free_conf(c);
        return NULL;
    }
    cfg_check_keys(d, P, pp, k_params);
    c->det_model = model_param(P, "det_model", pp, ctx, d, true, "PaddleOCR DB text detector");
    c->rec_model = model_param(P, "rec_model", pp, ctx, d, true, "PaddleOCR recogniser");
    c->dict = model_param(P, "dict", pp, ctx, d, true, "the recogniser's dictionary");
    c->plate_model = model_param(P, "plate_model", pp, ctx, d, false, NULL);
    c->vehicle_model = model_param(P, "vehicle_model", pp, ctx, d, false, NULL);
    read_formats(c, P, pp, d);
    const ynode *vc = ynode_get(P, "vehicle_classes");
    const char *def[] = {"car", "truck", "bus", "motorcycle", "motorbike", NULL};
    int n = vc && vc->kind == YNODE_SEQ ? (int)vc->n : 5;
    c->vehicle_classes = calloc((size_t)n + 1, sizeof *c->vehicle_classes);
    for (int i = 0; c->vehicle_classes && i < n; i++) {
        const char *v = vc && vc->kind == YNODE_SEQ ? vc->items[i]->value : def[i];
        if (v) c->vehicle_classes[c->nvehicle_classes++] = kstrdup(v);
    }
    int64_t v;
    double x;
    if (cfg_read_int(d, P, "det_max_side", pp, 64, 4096, &v)) c->det_max_side = (int)v;
    if (cfg_read_double(d, P, "det_threshold", pp, 0.01, 0.99, &x)) c->db.bin_thresh = (float)x;
    if (cfg_read_double(d, P, "box_threshold", pp, 0.01, 0.99, &x)) c->db.box_thresh = (float)x;
    if (cfg_read_double(d, P, "unclip_ratio", pp, 0.5, 5, &x)) c->db.unclip_ratio = (float)x;
    if (cfg_read_int(d, P, "min_chars", pp, 1, PLATE_MAX_LEN, &v)) c->min_chars = (int)v;
    if (cfg_read_int(d, P, "max_chars", pp, 1, PLATE_MAX_LEN, &v)) c->max_chars = (int)v;
    c->repair = true;
    /* Where plates of formats no preset knows are common (vanity plates, fifty
     * states), a format is a hint: reads that fit none are kept. */
    c->open_formats = c->nformats && home_region_is_open(P);
    if (!cfg_read_bool(d, P, "require_format", pp, &c->require_format) && c->open_formats)
        c->require_format = false;
    cfg_read_bool(d, P, "repair", pp, &c->repair);
    cfg_read_bool(d, P, "whole_frame_fallback", pp, &c->fallback_db);
    cfg_read_bool(d, P, "rectify", pp, &c->db.quads);
    if (d->n > before) {
        alpr_free_conf(c);
        return NULL;
    }
    return c;
}

/* ---- a YOLO model used inside ALPR (plates, vehicles) ---- */

static kerr_code lite_open(yolo_lite *y, const char *path, const detector_ctx *ctx,
                           char *const *want, int nwant, kerr *err)
{
    y->m = model_open(path, &ctx->infer, err);
    if (!y->m) return err->code;
    const model_info *mi = model_get_info(y->m);
    if (mi->input.ndims != 4)
        return kerr_set(err, KERR_INVALID, "%s: input must be [1, 3, H, W]", path);
    y->in_h = mi->input.dims[2] > 0 ? (int)mi->input.dims[2] : 640;
    y->in_w = mi->input.dims[3] > 0 ? (int)mi->input.dims[3] : 640;
    int nc = 0;
    kerr_code rc = KERR_OK;
    if (mi->meta_names) rc = class_names_from_meta(mi->meta_names, &y->names, err);
    if (rc) return rc;
    yolo_hints h;
    yolo_hints_read(mi, y->names.n, &h);
    rc = yolo_layout_detect(mi->outputs[0].dims, mi->outputs[0].ndims, y->in_w, y->in_h, &h,
                            &y->layout, &nc, err);
    if (rc) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return kerr_set(err, KERR_INVALID, "%s: %s", path, why);
    }
    if (!y->names.n && nc == 80) class_names_coco(&y->names);
    if (y->layout == YOLO_E2E && !y->names.n)
        return kerr_set(err, KERR_INVALID, "%s: an end2end model needs class names in its metadata",
                        path);
    if (!want || !y->names.n) return KERR_OK;
    y->allowed = calloc((size_t)y->names.n, sizeof *y->allowed);
    int found = 0;
    for (int i = 0; y->allowed && i < nwant; i++) {
        int k = class_names_find(&y->names, want[i]);
        if (k >= 0) y->allowed[k] = true, found++;
    }
    if (!found)
        return kerr_set(err, KERR_INVALID, "%s: none of its classes is a vehicle class", path);
    return KERR_OK;
}

static void lite_close(yolo_lite *y)
{
    model_release(y->m);
    free(y->allowed);
    class_names_free(&y->names);
    memset(y, 0, sizeof *y);
}

static bool reserve(alpr_state *s, size_t floats)
{
    if (floats <= s->buf_len) return true;
    float *nb = realloc(s->buf, floats * sizeof *nb);
    if (!nb) return false;
    s->buf = nb;
    s->buf_len = floats;
    return true;
}

static kerr_code lite_run(alpr_state *s, yolo_lite *y, const kframe *f, float thr, det_list *out,
                          kerr *err)
{
    if (!reserve(s, 3 * (size_t)y->in_w * (size_t)y->in_h))
        return kerr_set(err, KERR_NOMEM, "out of memory");
    bool yx = y->layout == YOLO_X;
    preprocess_opts pre = {yx, !yx, !yx};
    letterbox lb;
    kerr_code rc = letterbox_to_tensor(f, y->in_w, y->in_h, &pre, s->buf, &lb, err);
    if (rc) return rc;
    int64_t shape[4] = {1, 3, y->in_h, y->in_w};
    infer_output o;
    rc = model_run(y->m, s->buf, shape, 4, &o, err);
    if (rc) return rc;
    det_list tmp = {0};
    rc = yolo_decode(y->layout, o.data, o.dims, o.ndims, y->in_w, y->in_h, y->names.n, thr,
                     y->allowed, &tmp, err);
    infer_output_release(&o);
    nms(&tmp, 0.45f, false, 20);
    for (int i = 0; rc == KERR_OK && i < tmp.n; i++) {
        letterbox_unmap(&lb, &tmp.v[i], f->width, f->height);
        det_list_push(out, tmp.v[i]);
    }
    det_list_free(&tmp);
    return rc;
}

/* ---- DB text detection on a region ---- */

static size_t plane_bytes(int w, int h)
{
    return (size_t)w * (size_t)h * 3;
}

/* Region (x, y, w, h) of the frame -> text quads in frame pixels. */
static kerr_code find_text(alpr_state *s, const kframe *f, int rx, int ry, int rw, int rh,
                           ocr_quad *quads, int *nq, kerr *err)
{
    *nq = 0;
    int side = rw > rh ? rw : rh;
    double scale = side > s->conf->det_max_side ? (double)s->conf->det_max_side / side : 1.0;
    if (side * scale < 320) scale = 320.0 / side; /* small plates read better a little larger */
    int tw = (int)lround(rw * scale / 32) * 32, th = (int)lround(rh * scale / 32) * 32;
    if (tw < 32) tw = 32;
    if (th < 32) th = 32;
    if (!reserve(s, 3 * (size_t)tw * (size_t)th)) return kerr_set(err, KERR_NOMEM, "out of memory");
    uint8_t *rgb = realloc(s->crop, plane_bytes(tw, th));
    if (!rgb) return kerr_set(err, KERR_NOMEM, "out of memory");
    s->crop = rgb;
    db_input(f->rgb, f->stride, f->width, f->height, rx, ry, rw, rh, rgb, s->buf, tw, th);
    int64_t shape[4] = {1, 3, th, tw};
    infer_output o;
    kerr_code rc = model_run(s->det, s->buf, shape, 4, &o, err);
    if (rc) return rc;
    if (o.ndims != 4 || o.dims[2] != th || o.dims[3] != tw) {
        infer_output_release(&o);
        return kerr_set(err, KERR_INVALID,
                        "det_model: output must be the [1, 1, H, W] probability map of its input");
    }
    *nq = db_boxes(o.data, tw, th, &s->conf->db, quads, MAX_TEXT_BOXES);
    infer_output_release(&o);
    for (int i = 0; i < *nq; i++)
        for (int k = 0; k < 4; k++) {
            quads[i].p[k].x = rx + quads[i].p[k].x * (float)rw / (float)tw;
            quads[i].p[k].y = ry + quads[i].p[k].y * (float)rh / (float)th;
        }
    return KERR_OK;
}

/* ---- recognition ---- */

static kerr_code recognise(alpr_state *s, const kframe *f, const ocr_quad *q, ocr_text *out,
                           kerr *err)
{
    float qw, qh;
    quad_size(q, &qw, &qh);
    if (qh < 4 || qw < 4) {
        memset(out, 0, sizeof *out);
        return KERR_OK;
    }
    int w = (int)ceilf((float)s->rec_h * qw / qh);
    if (w > REC_MAX_W * s->rec_h / 48) w = REC_MAX_W * s->rec_h / 48;
    /* Padded to a few fixed widths: every new input shape costs the runtime a new plan. */
    int pw = w < REC_MIN_W ? REC_MIN_W : (w + 159) / 160 * 160;
    uint8_t *crop = realloc(s->crop, (size_t)w * s->rec_h * 3);
    if (!crop || !reserve(s, 3 * (size_t)pw * s->rec_h)) {
        free(crop == s->crop ? NULL : crop);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    s->crop = crop;
    quad_crop(f->rgb, f->stride, f->width, f->height, q, crop, w, s->rec_h);
    size_t plane = (size_t)pw * s->rec_h;
    memset(s->buf, 0, 3 * plane * sizeof *s->buf);
    for (int y = 0; y < s->rec_h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) /* BGR, (v/255 - 0.5) / 0.5 */
                s->buf[(size_t)c * plane + (size_t)y * pw + x] =
                    (float)crop[((size_t)y * w + x) * 3 + 2 - c] / 127.5f - 1.f;
    int64_t shape[4] = {1, 3, s->rec_h, pw};
    infer_output o;
    kerr_code rc = model_run(s->rec, s->buf, shape, 4, &o, err);
    if (rc) return rc;
    if (o.ndims != 3 || o.dims[2] != s->rec_classes) {
        infer_output_release(&o);
        return kerr_set(err, KERR_INVALID,
                        "rec_model: output must be [1, T, %d] (blank + %d dictionary symbols + "
                        "space)",
                        s->rec_classes, s->dict.n);
    }
    ctc_greedy(o.data, (int)o.dims[1], (int)o.dims[2], &s->dict, out);
    infer_output_release(&o);
    ocr_trim_edge_strokes(out); /* bolts and frame sides beside the number */
    /* characters of 32 pixels and more read as well as any: the vote's weight */
    out->quality = fminf(1.f, qh / 32.f) * ocr_sharpness(crop, w, s->rec_h);
    return KERR_OK;
}

/* The plate among a region's text lines: with formats, one that fits (unless
 * require_format is off); else one with a digit (state names and slogans have
 * none), or any text inside a box the plate model found (vanity plates). The
 * tallest text (plate numbers are the largest characters on a plate) and the
 * surest read win ties. -1: not a plate. */
static float candidate_score(const alpr_state *s, const ocr_text *t, int format, float height,
                             float tallest, bool on_plate)
{
    if (t->n < s->conf->min_chars || t->n > s->conf->max_chars) return -1;
    if (plate_formats_count(s->formats) && format < 0 && (s->conf->require_format || !on_plate))
        return -1;
    bool digit = false, alpha = false;
    for (int i = 0; i < t->n; i++)
        digit |= isdigit((unsigned char)t->text[i]) != 0,
            alpha |= isalpha((unsigned char)t->text[i]) != 0;
    if (format < 0 && !digit && !on_plate) return -1;
    /* kept without a format (personalised plates): words are, numbers alone
     * (dates, clocks, prices) are not */
    if (format < 0 && plate_formats_count(s->formats) && !alpha) return -1;
    return t->mean + (format >= 0 ? 2.f : 0.f) + (digit && alpha ? 0.25f : 0.f) +
           (tallest > 0 ? height / tallest : 0);
}

/* How far a read that fits none of the configured formats is trusted: kept
 * (personalised plates, formats no preset knows) but less sure, so that the
 * published confidence says so and format-fitting reads outvote it. */
#define FORMAT_MISS_TRUST 0.8f

static void to_read(const alpr_state *s, const ocr_text *t, int format, const ocr_quad *q,
                    plate_read *r)
{
    memset(r, 0, sizeof *r);
    r->has = true;
    r->n = t->n > PLATE_MAX_LEN ? PLATE_MAX_LEN : t->n;
    memcpy(r->text, t->text, (size_t)r->n);
    float trust = format < 0 && plate_formats_count(s->formats) ? FORMAT_MISS_TRUST : 1.f;
    for (int i = 0; i < r->n; i++)
        r->conf[i] = t->conf[i] * trust;
    r->mean = t->mean;
    r->format = format;
    r->quality = t->quality;
    quad_bounds(q, r->box);
}

/* One recognised text line of a region. */
typedef struct {
    ocr_text t;
    ocr_quad q;
    float h;
} line_read;

/* How much of DB's line height the main-line band keeps (DB grows a line by
 * about 0.6 of its characters' height on each side). */
#define MAIN_LINE_BAND 0.75f

/* The plate box itself as a quad, a little larger: DB can clip the first or
 * last character of a plate, or find nothing on an unusual one. */
static ocr_quad box_quad(const detection *p)
{
    float mx = (p->x2 - p->x1) * 0.04f, my = (p->y2 - p->y1) * 0.08f;
    float x1 = p->x1 - mx, y1 = p->y1 - my, x2 = p->x2 + mx, y2 = p->y2 + my;
    return (ocr_quad){{{x1, y1}, {x2, y1}, {x2, y2}, {x1, y2}}, p->score};
}

/* The y of the line through a and b at x (a's y when the line is upright). */
static float line_y_at(ocr_pt a, ocr_pt b, float x)
{
    return fabsf(b.x - a.x) < 1e-3f ? a.y : a.y + (b.y - a.y) * (x - a.x) / (b.x - a.x);
}

/* The plate box's width at the height of DB's main line `m`, which has the
 * largest characters on the plate (the number): DB can clip its first or last
 * character, but the whole box would also read the state name, slogan or
 * bolts over and under it. The band follows the line's slant and is drawn a
 * little in from DB's grown outline. */
static ocr_quad main_line_band(const detection *p, const ocr_quad *m)
{
    ocr_quad b = box_quad(p);
    float x[2] = {b.p[0].x, b.p[1].x};
    for (int k = 0; k < 2; k++) {
        float top = line_y_at(m->p[0], m->p[1], x[k]), bot = line_y_at(m->p[3], m->p[2], x[k]);
        float c = 0.5f * (top + bot), half = 0.5f * (bot - top) * MAIN_LINE_BAND;
        b.p[k].y = c - half;     /* p0 top-left, p1 top-right */
        b.p[3 - k].y = c + half; /* p3 bottom-left, p2 bottom-right */
    }
    return b;
}

/* Whether DB found small print (a state name, a slogan: under 0.7 of the
 * main line's height) wholly over or under the main line m. Only then is the
 * box read at the main line's height: elsewhere the whole box reads the
 * characters DB clipped at either end best (on the eu set the band alone lost
 * four plates). */
static bool small_print_over_or_under(const ocr_quad *q, int n, int m, float tallest)
{
    float mb[4], b[4], w, h;
    quad_bounds(&q[m], mb);
    for (int i = 0; i < n; i++) {
        quad_size(&q[i], &w, &h);
        if (i == m || h >= tallest * 0.7f) continue;
        quad_bounds(&q[i], b);
        float cy = 0.5f * (b[1] + b[3]);
        bool beside = b[2] < mb[0] || b[0] > mb[2];
        if (!beside &&
            (cy < mb[1] + 0.25f * (mb[3] - mb[1]) || cy > mb[3] - 0.25f * (mb[3] - mb[1])))
            return true;
    }
    return false;
}

/* Whether small line i sits over or under one of the tall ones. */
static bool stacks_with_tall(const ocr_quad *q, int n, int i, float tallest)
{
    float w, h;
    for (int j = 0; j < n; j++) {
        quad_size(&q[j], &w, &h);
        if (j != i && h >= tallest * 0.7f &&
            (ocr_lines_stacked(&q[i], &q[j]) || ocr_lines_stacked(&q[j], &q[i])))
            return true;
    }
    return false;
}

/* Scores one candidate and keeps it: every one (whole frame) or the best. */
static void consider(alpr_state *s, line_read *c, float tallest, bool all, bool on_plate,
                     plate_read *reads, int *nreads, float *best)
{
    /* Where the formats are only the common shapes (us: many per state,
     * personalised plates), a format fit is weak evidence: only characters
     * the recogniser itself doubted are changed. Where they are all of the
     * region's plates (eu countries, br), a confident O read where the format
     * has a digit is still a 0. */
    float limit = !s->conf->repair          ? 0
                  : s->conf->open_formats   ? PLATE_REPAIR_UNSURE
                  : s->conf->require_format ? PLATE_REPAIR_MAX
                                            : PLATE_REPAIR_SOME;
    char raw[OCR_MAX_TEXT * 12 + 1] = "";
    if (log_enabled(LOG_DEBUG))
        for (int i = 0, k = 0; i < c->t.n && k < (int)sizeof raw - 12; i++)
            k += snprintf(raw + k, sizeof raw - (size_t)k, "%c%.2f/%c%.2f ", c->t.text[i],
                          c->t.conf[i], c->t.alt[i] ? c->t.alt[i] : '-', c->t.alt_conf[i]);
    int format = plate_formats_match(s->formats, &c->t, limit);
    /* ...but a 0 or 1 where the format has a letter (O and I, which some
     * states' fonts draw alike) is swapped at any confidence when that alone
     * makes the read fit (us only). */
    if (format < 0 && s->conf->repair && s->conf->open_formats)
        format = plate_formats_match_lookalikes(s->formats, &c->t);
    float sc = candidate_score(s, &c->t, format, c->h, tallest, on_plate);
    log_debug("alpr: read %s-> %s format %d score %.2f", raw, c->t.text, format, sc);
    if (sc < 0) return;
    if (all && *nreads < MAX_TEXT_BOXES)
        to_read(s, &c->t, format, &c->q, &reads[(*nreads)++]);
    else if (!all && sc > *best)
        *best = sc, to_read(s, &c->t, format, &c->q, &reads[0]), *nreads = 1;
}

/* Reads the plates in a region: all of them (whole frame) or the best one.
 * On a plate the model found, the candidates are each text line, the plate
 * box as a whole, and two stacked lines read as one (two-line plates). */
static kerr_code read_region(alpr_state *s, const kframe *f, int rx, int ry, int rw, int rh,
                             bool all, const detection *plate, plate_read *reads, int *nreads,
                             kerr *err)
{
    ocr_quad quads[MAX_TEXT_BOXES];
    line_read lines[MAX_TEXT_BOXES + 1];
    int nq = 0, nl = 0;
    *nreads = 0;
    kerr_code rc = find_text(s, f, rx, ry, rw, rh, quads, &nq, err);
    float best = -1, tallest = 0, qw, qh;
    int top_line = -1;
    for (int i = 0; i < nq; i++) {
        quad_size(&quads[i], &qw, &qh);
        if (qh > tallest) tallest = qh, top_line = i;
    }
    for (int i = 0; rc == KERR_OK && i < nq && i < (all ? MAX_TEXT_BOXES : 4); i++) {
        quad_size(&quads[i], &qw, &qh);
        /* small print is not the number, unless it is a two-line plate's top
         * or bottom line */
        if (!all && qh < tallest * 0.7f && !(plate && stacks_with_tall(quads, nq, i, tallest)))
            continue;
        line_read *l = &lines[nl];
        l->q = quads[i], l->h = qh;
        if ((rc = recognise(s, f, &l->q, &l->t, err)) != KERR_OK) break;
        nl++;
    }
    int ndb = nl;
    for (int i = 0; rc == KERR_OK && i < ndb; i++) {
        if (!all && lines[i].h < tallest * 0.7f) continue;
        line_read c = lines[i];
        consider(s, &c, tallest, all, plate != NULL, reads, nreads, &best);
    }
    for (int i = 0; rc == KERR_OK && plate && i < ndb; i++)
        for (int j = 0; j < ndb; j++) {
            line_read c;
            if (i == j ||
                !ocr_stack_lines(&lines[i].q, &lines[i].t, &lines[j].q, &lines[j].t, &c.t))
                continue;
            c.q = lines[i].q, c.h = fmaxf(lines[i].h, lines[j].h);
            for (int k = 2; k < 4; k++) /* the pair's outline: top line's top, bottom's bottom */
                c.q.p[k] = lines[j].q.p[k];
            consider(s, &c, tallest, all, true, reads, nreads, &best);
        }
    /* The box itself, unless a line already reads surely as one of the formats. */
    bool sure = *nreads && reads[0].format >= 0 && reads[0].mean >= 0.9f;
    if (rc == KERR_OK && plate && !sure) {
        line_read *l = &lines[nl];
        bool print = top_line >= 0 && small_print_over_or_under(quads, nq, top_line, tallest);
        l->q = print ? main_line_band(plate, &quads[top_line]) : box_quad(plate);
        if ((rc = recognise(s, f, &l->q, &l->t, err)) == KERR_OK) {
            quad_size(&l->q, &qw, &qh);
            l->h = tallest > 0 ? tallest * 0.95f : qh; /* DB's own lines win ties */
            consider(s, l, tallest > 0 ? tallest : qh, all, true, reads, nreads, &best);
        }
    }
    return rc;
}

/* A read as the detection it reports: the plate, or the vehicle with it. */
static void push_read(const plate_read *rd, const detection *region, det_list *out)
{
    detection d = {.score = rd->mean, .plate = *rd, .cls = 0};
    if (region) { /* the event is the vehicle, with its plate */
        d.x1 = region->x1, d.y1 = region->y1, d.x2 = region->x2, d.y2 = region->y2;
    } else {
        d.x1 = rd->box[0], d.y1 = rd->box[1], d.x2 = rd->box[2], d.y2 = rd->box[3];
    }
    det_list_push(out, d);
}

static kerr_code alpr_detect(void *state, const kframe *f, float threshold, det_list *out,
                             kerr *err)
{
    alpr_state *s = state;
    /* Text finding and reading sample the full-size picture many times over. */
    if (!frame_rgb(f, err)) return err->code;
    det_list regions = {0};
    kerr_code rc = KERR_OK;
    yolo_lite *loc = s->has_plate ? &s->plate : s->has_vehicle ? &s->vehicle : NULL;
    if (loc)
        rc = lite_run(s, loc, f, 0.3f, &regions, err);
    else
        det_list_push(
            &regions,
            (detection){.x2 = (float)f->width, .y2 = (float)f->height, .score = 1, .cls = -1});
    bool vehicles = s->has_vehicle && !s->has_plate;
    int before = out->n;
    for (int i = 0; rc == KERR_OK && i < regions.n; i++) {
        detection r = regions.v[i];
        float mx = s->has_plate ? (r.x2 - r.x1) * 0.1f : 0,
              my = s->has_plate ? (r.y2 - r.y1) * 0.2f : 0;
        int rx = (int)fmaxf(0, r.x1 - mx), ry = (int)fmaxf(0, r.y1 - my);
        int rw = (int)fminf((float)f->width, r.x2 + mx) - rx,
            rh = (int)fminf((float)f->height, r.y2 + my) - ry;
        if (rw < 8 || rh < 8) continue;
        plate_read reads[MAX_TEXT_BOXES];
        int n = 0;
        rc = read_region(s, f, rx, ry, rw, rh, !loc, s->has_plate ? &r : NULL, reads, &n, err);
        for (int k = 0; rc == KERR_OK && k < n; k++) {
            if (reads[k].mean < threshold) continue;
            /* On a plate the model boxed, that box: steady from frame to frame
             * whichever text line read best, so the plate stays one track. */
            if (s->has_plate) {
                reads[k].box[0] = r.x1, reads[k].box[1] = r.y1;
                reads[k].box[2] = r.x2, reads[k].box[3] = r.y2;
            }
            push_read(&reads[k], vehicles ? &r : NULL, out);
        }
    }
    /* Nothing read where the model looked: the plate may be one it does not
     * know (small, tilted, another country's design). */
    if (rc == KERR_OK && loc && s->conf->fallback_db && out->n == before) {
        plate_read reads[MAX_TEXT_BOXES];
        int n = 0;
        rc = read_region(s, f, 0, 0, f->width, f->height, true, NULL, reads, &n, err);
        for (int k = 0; rc == KERR_OK && k < n; k++)
            if (reads[k].mean >= threshold) push_read(&reads[k], NULL, out);
    }
    det_list_free(&regions);
    return rc;
}

static const char *alpr_label(void *state, int cls)
{
    alpr_state *s = state;
    (void)cls;
    return s->has_vehicle && !s->has_plate ? "vehicle" : "plate";
}

static void alpr_close(void *state)
{
    alpr_state *s = state;
    if (!s) return;
    model_release(s->det);
    model_release(s->rec);
    ocr_dict_free(&s->dict);
    plate_formats_free(s->formats);
    lite_close(&s->plate);
    lite_close(&s->vehicle);
    free(s->buf);
    free(s->crop);
    free(s);
}

static kerr_code check_models(alpr_state *s, kerr *err)
{
    const model_info *d = model_get_info(s->det), *r = model_get_info(s->rec);
    if (d->input.ndims != 4 || (d->input.dims[1] > 0 && d->input.dims[1] != 3))
        return kerr_set(err, KERR_INVALID, "det_model %s: input must be [1, 3, H, W]", d->path);
    int64_t rh = r->input.ndims == 4 && r->input.dims[2] > 0 ? r->input.dims[2] : 48;
    if (r->input.ndims != 4 || (rh != 48 && rh != 32))
        return kerr_set(err, KERR_INVALID,
                        "rec_model %s: input must be [1, 3, 48, W] (PP-OCRv3/v4 recogniser) or "
                        "[1, 3, 32, W] (PP-OCR v2, e.g. en_number_mobile_v2.0)",
                        r->path);
    s->rec_h = (int)rh;
    int64_t c = r->outputs[0].ndims == 3 ? r->outputs[0].dims[2] : -2;
    if (c > 0 && c != s->dict.n + 1 && c != s->dict.n + 2)
        return kerr_set(err, KERR_INVALID,
                        "rec_model %s outputs %lld classes but dict has %d symbols (expected %d "
                        "or %d)",
                        r->path, (long long)c, s->dict.n, s->dict.n + 1, s->dict.n + 2);
    if (c == -2)
        return kerr_set(err, KERR_INVALID, "rec_model %s: output must be [1, T, classes]", r->path);
    s->rec_classes = c > 0 ? (int)c : s->dict.n + 2;
    s->dict.space = s->rec_classes == s->dict.n + 2;
    return KERR_OK;
}

static kerr_code alpr_open(const void *conf, const detector_ctx *ctx, void **state,
                           detector_model *mo, kerr *err)
{
    const alpr_conf *c = conf;
    alpr_state *s = calloc(1, sizeof *s);
    if (!s) return kerr_set(err, KERR_NOMEM, "out of memory");
    s->conf = c;
    kerr_code rc = KERR_OK;
    if (!(s->det = model_open(c->det_model, &ctx->infer, err)) ||
        !(s->rec = model_open(c->rec_model, &ctx->infer, err)))
        rc = err->code ? err->code : KERR_INVALID;
    if (rc == KERR_OK) rc = ocr_dict_load(c->dict, &s->dict, err);
    if (rc == KERR_OK) rc = check_models(s, err);
    if (rc == KERR_OK && c->nformats &&
        !(s->formats = plate_formats_new(c->format_patterns, c->format_priors, c->nformats, err)))
        rc = err->code;
    if (rc == KERR_OK && c->plate_model) {
        s->has_plate = true;
        rc = lite_open(&s->plate, c->plate_model, ctx, NULL, 0, err);
    }
    if (rc == KERR_OK && c->vehicle_model) {
        s->has_vehicle = true;
        rc = lite_open(&s->vehicle, c->vehicle_model, ctx, c->vehicle_classes, c->nvehicle_classes,
                       err);
    }
    if (rc != KERR_OK) {
        alpr_close(s);
        return rc;
    }
    const model_info *mi = model_get_info(s->rec);
    const char *base = strrchr(mi->path, '/');
    snprintf(mo->name, sizeof mo->name, "%s", base ? base + 1 : mi->path);
    memcpy(mo->sha256, mi->sha256, sizeof mo->sha256);
    snprintf(mo->classes, sizeof mo->classes, "%s",
             s->has_vehicle ? "vehicles with their plates" : "plate");
    *state = s;
    return KERR_OK;
}

/* The name of a format for events (its pattern when it has no name). */
static const char *alpr_format_name(const void *conf, int i)
{
    const alpr_conf *c = conf;
    return c && i >= 0 && i < c->nformats ? c->format_names[i] : NULL;
}

const detector_ops detector_alpr = {
    .name = "alpr",
    .caps = DET_READS_PLATES,
    .default_threshold = 0.5f,
    .configure = alpr_configure,
    .free_conf = alpr_free_conf,
    .open = alpr_open,
    .detect = alpr_detect,
    .label = alpr_label,
    .close = alpr_close,
    .format_name = alpr_format_name,
};
