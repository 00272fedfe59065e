/* The generic YOLO detector: letterbox -> ONNX Runtime -> layout decoding ->
 * class filter -> NMS -> frame pixels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../infer/infer.h"
#include "yolo_internal.h"

enum { NAMES_META = 0, NAMES_COCO, NAMES_LIST, NAMES_FILE };

typedef struct {
    char *model_path;
    yolo_layout layout;
    int names_kind;
    class_names names_list;
    char *names_file;
    char **classes;
    int nclasses;
    float nms_iou;
    int max_det;
    int bgr, normalize, center; /* -1: the layout's convention */
    int input_size;             /* for models with a dynamic input */
    const yolo_defaults *defs;
    /* rules after decoding */
    char **thr_names; /* class_thresholds: {name: threshold} */
    double *thr_values;
    int nthr;
    double min_area; /* share of the frame */
    int confirm_hits, confirm_window;
    char **map_from, **map_to; /* class_map: {model class: label} */
    int nmap;
    bool require_person;
} yolo_conf;

typedef struct {
    const yolo_conf *conf;
    model *m;
    yolo_layout layout;
    int in_w, in_h;
    class_names names;
    bool *allowed;
    preprocess_opts pre;
    det_list scratch;
    float *class_thr;    /* per class, -1: the detector's threshold */
    const char **labels; /* per class, after class_map */
    uint32_t *seen;      /* per class: bit i set = present i analysed frames ago */
    int person;          /* class index of "person" for require_person, -1 none */
} yolo_state;

#define YOLO_PARAMS                                                                                \
    "model", "model_path", "model_size", "layout", "class_names", "classes", "nms_iou",            \
        "max_detections", "input_color", "normalize", "letterbox", "input_size",                   \
        "class_thresholds", "min_area", "confirm", "class_map", "require_person",
static const char *const k_params[] = {YOLO_PARAMS NULL};
/* fire_smoke's params.verify is the pipeline's verification stage (src/verify) */
static const char *const k_params_verified[] = {YOLO_PARAMS "verify", NULL};

void yolo_free_conf(void *p)
{
    yolo_conf *c = p;
    if (!c) return;
    free(c->model_path);
    class_names_free(&c->names_list);
    free(c->names_file);
    for (int i = 0; i < c->nclasses; i++)
        free(c->classes[i]);
    free(c->classes);
    for (int i = 0; i < c->nthr; i++)
        free(c->thr_names[i]);
    free(c->thr_names);
    free(c->thr_values);
    for (int i = 0; i < c->nmap; i++)
        free(c->map_from[i]), free(c->map_to[i]);
    free(c->map_from);
    free(c->map_to);
    free(c);
}

/* class_thresholds: {smoke: 0.5, fire: 0.7} and class_map: {small_flame: fire} */
static void read_rules(yolo_conf *c, const ynode *P, const char *pp, cfg_diags *d)
{
    const ynode *t = ynode_get(P, "class_thresholds");
    if (t && cfg_expect_map(d, t, pp)) {
        c->thr_names = calloc(t->n + 1, sizeof *c->thr_names);
        c->thr_values = calloc(t->n + 1, sizeof *c->thr_values);
        for (size_t i = 0; c->thr_names && c->thr_values && i < t->n; i++) {
            double v;
            if (!cfg_read_double(d, t, t->keys[i], pp, 0.0, 1.0, &v)) continue;
            c->thr_names[c->nthr] = kstrdup(t->keys[i]);
            c->thr_values[c->nthr++] = v;
        }
    }
    const ynode *m = ynode_get(P, "class_map");
    if (m && cfg_expect_map(d, m, pp)) {
        c->map_from = calloc(m->n + 1, sizeof *c->map_from);
        c->map_to = calloc(m->n + 1, sizeof *c->map_to);
        for (size_t i = 0; c->map_from && c->map_to && i < m->n; i++) {
            char *to = NULL;
            if (!cfg_read_str(d, m, m->keys[i], pp, &to)) continue;
            c->map_from[c->nmap] = kstrdup(m->keys[i]);
            c->map_to[c->nmap++] = to;
        }
    }
    cfg_read_double(d, P, "min_area", pp, 0.0, 1.0, &c->min_area);
    const ynode *cf = ynode_get(P, "confirm");
    if (cf && cfg_expect_map(d, cf, pp)) {
        static const char *const keys[] = {"hits", "window", NULL};
        cfg_check_keys(d, cf, pp, keys);
        int64_t h = c->confirm_hits, w = c->confirm_window;
        cfg_read_int(d, cf, "hits", pp, 1, 32, &h);
        cfg_read_int(d, cf, "window", pp, 1, 32, &w);
        if (h > w)
            cfg_diag_add(d, cf, pp, "confirm: hits (%lld) cannot exceed window (%lld)",
                         (long long)h, (long long)w);
        c->confirm_hits = (int)h, c->confirm_window = (int)w;
    }
    cfg_read_bool(d, P, "require_person", pp, &c->require_person);
}

/* models/yolov8n.onnx + model_size: s -> models/yolov8s.onnx: the size letter
 * that ends a YOLO model's stem (after its version digit) is swapped. */
static void pick_size(char **raw, char size)
{
    char *dot = strrchr(*raw, '.'), *slash = strrchr(*raw, '/');
    if (!dot || dot - *raw < 2 || (slash && dot < slash)) return;
    char *letter = dot - 1;
    if (!strchr("nsmlx", *letter) || !(letter[-1] >= '0' && letter[-1] <= '9')) return;
    *letter = size;
}

static void read_model_path(yolo_conf *c, const cfg_detector *cfg, const detector_ctx *ctx,
                            cfg_diags *d, const char *pp)
{
    char *raw = NULL, *size = NULL;
    const ynode *P = cfg->params;
    if (!cfg_read_str(d, P, "model", pp, &raw)) cfg_read_str(d, P, "model_path", pp, &raw);
    if (cfg_read_str(d, P, "model_size", pp, &size)) {
        if (strlen(size) != 1 || !strchr("nsmlx", size[0]))
            cfg_diag_add(d, ynode_get(P, "model_size"), pp, "model_size must be n, s, m, l or x");
    }
    if (!raw) {
        cfg_diag_add_pos(d, cfg->line, cfg->col, cfg->path, "%s needs params.model (an ONNX file)",
                         cfg->type);
        free(size);
        return;
    }
    char *tpl = strstr(raw, "{size}");
    if (tpl && size) { /* models/yolov8{size}.onnx + model_size: s */
        char buf[4096];
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(tpl - raw), raw, size, tpl + 6);
        free(raw);
        raw = kstrdup(buf);
    } else if (size && strlen(size) == 1) {
        pick_size(&raw, size[0]);
    }
    c->model_path = cfg_resolve_model(ctx->config_file, ctx->models_dir, raw);
    struct stat st;
    const ynode *at = ynode_get(P, "model") ? ynode_get(P, "model") : ynode_get(P, "model_path");
    if (stat(c->model_path, &st) != 0)
        cfg_diag_add(d, at, pp,
                     "model file \"%s\" not found (relative paths are tried in %s%sthe working "
                     "directory, then beside the config file)",
                     raw, ctx->models_dir ? ctx->models_dir : "",
                     ctx->models_dir ? " (models_dir or KVS_MODELS_DIR: mount the models there), "
                                     : "");
    else if (!S_ISREG(st.st_mode))
        cfg_diag_add(d, at, pp, "model \"%s\" is not a regular file", raw);
    free(raw);
    free(size);
}

static void read_names(yolo_conf *c, const ynode *P, const detector_ctx *ctx, cfg_diags *d,
                       const char *pp)
{
    const ynode *n = ynode_get(P, "class_names");
    if (!n) return;
    if (n->kind == YNODE_SEQ) {
        c->names_kind = NAMES_LIST;
        for (size_t i = 0; i < n->n; i++) {
            if (n->items[i]->kind != YNODE_SCALAR) {
                cfg_diag_add(d, n->items[i], pp, "class_names entries must be strings");
                continue;
            }
            char **nn = realloc(c->names_list.names, (i + 1) * sizeof *nn);
            if (!nn) return;
            c->names_list.names = nn;
            c->names_list.names[c->names_list.n++] = kstrdup(n->items[i]->value);
        }
    } else if (n->kind == YNODE_SCALAR && strcmp(n->value, "coco") == 0) {
        c->names_kind = NAMES_COCO;
    } else if (n->kind == YNODE_SCALAR) {
        c->names_kind = NAMES_FILE;
        c->names_file = cfg_resolve_model(ctx->config_file, ctx->models_dir, n->value);
        kerr err = {0};
        class_names tmp;
        if (class_names_from_file(c->names_file, &tmp, &err) != KERR_OK)
            cfg_diag_add(d, n, pp, "class_names: %s", err.msg);
        else
            class_names_free(&tmp);
    } else {
        cfg_diag_add(d, n, pp, "class_names: coco, a list of names or a file path");
    }
}

static void read_choice(cfg_diags *d, const ynode *P, const char *key, const char *pp,
                        const char *a, const char *b, int *out)
{
    char *v = NULL;
    if (!cfg_read_str(d, P, key, pp, &v)) return;
    if (strcmp(v, a) == 0)
        *out = 0;
    else if (strcmp(v, b) == 0)
        *out = 1;
    else
        cfg_diag_add(d, ynode_get(P, key), pp, "%s must be %s or %s", key, a, b);
    free(v);
}

void *yolo_configure_with(const cfg_detector *cfg, const detector_ctx *ctx, cfg_diags *d,
                          const yolo_defaults *defs)
{
    size_t before = d->n;
    yolo_conf *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->defs = defs;
    c->nms_iou = 0.45f;
    c->max_det = 100;
    c->bgr = c->normalize = c->center = -1;
    c->input_size = 640;
    if (defs) {
        c->confirm_hits = defs->confirm_hits, c->confirm_window = defs->confirm_window;
        c->min_area = defs->min_area;
    }
    char pp[600];
    snprintf(pp, sizeof pp, "%s.params", cfg->path);
    const ynode *P = cfg->params;
    cfg_check_keys(d, P, pp, defs && defs->verified ? k_params_verified : k_params);
    read_model_path(c, cfg, ctx, d, pp);
    char *layout = NULL;
    if (cfg_read_str(d, P, "layout", pp, &layout) && yolo_layout_parse(layout, &c->layout) != 0)
        cfg_diag_add(
            d, ynode_get(P, "layout"), pp,
            "unknown layout \"%s\" (auto, yolov5, yolov8, yolo11, yolox, end2end or yolov10)",
            layout);
    free(layout);
    read_names(c, P, ctx, d, pp);
    const ynode *cl = ynode_get(P, "classes");
    if (cl && cl->kind != YNODE_SEQ) cfg_diag_add(d, cl, pp, "classes must be a list of names");
    if (cl && cl->kind == YNODE_SEQ) {
        c->classes = calloc(cl->n + 1, sizeof *c->classes);
        for (size_t i = 0; c->classes && i < cl->n; i++)
            if (cl->items[i]->kind == YNODE_SCALAR)
                c->classes[c->nclasses++] = kstrdup(cl->items[i]->value);
    }
    double iou;
    if (cfg_read_double(d, P, "nms_iou", pp, 0.0, 1.0, &iou)) c->nms_iou = (float)iou;
    int64_t v;
    if (cfg_read_int(d, P, "max_detections", pp, 1, 10000, &v)) c->max_det = (int)v;
    if (cfg_read_int(d, P, "input_size", pp, 32, 4096, &v)) c->input_size = (int)v;
    read_choice(d, P, "input_color", pp, "rgb", "bgr", &c->bgr);
    read_choice(d, P, "letterbox", pp, "topleft", "center", &c->center);
    bool norm;
    if (cfg_read_bool(d, P, "normalize", pp, &norm)) c->normalize = norm;
    read_rules(c, P, pp, d);
    if (d->n > before) {
        yolo_free_conf(c);
        return NULL;
    }
    return c;
}

/* The names the config or the metadata give, read before the output shape:
 * their count tells an end-to-end [1, N, 6] from a one-class YOLOv5. */
static kerr_code given_names(const yolo_conf *c, const model_info *mi, class_names *out, kerr *err)
{
    memset(out, 0, sizeof *out);
    switch (c->names_kind) {
    case NAMES_COCO: class_names_coco(out); return KERR_OK;
    case NAMES_FILE: return class_names_from_file(c->names_file, out, err);
    case NAMES_LIST:
        out->names = calloc((size_t)c->names_list.n + 1, sizeof *out->names);
        for (int i = 0; out->names && i < c->names_list.n; i++)
            out->names[out->n++] = kstrdup(c->names_list.names[i]);
        return out->names ? KERR_OK : kerr_set(err, KERR_NOMEM, "out of memory");
    default: return mi->meta_names ? class_names_from_meta(mi->meta_names, out, err) : KERR_OK;
    }
}

/* nc: the classes the output carries (0: end-to-end, an index per box). */
static kerr_code check_names(const yolo_state *s, const model_info *mi, int nc, class_names *out,
                             kerr *err)
{
    if (out->n == 0 && nc == 80) {
        class_names_coco(out);
        return KERR_OK;
    }
    if (out->n == 0 && nc == 0)
        return kerr_set(err, KERR_INVALID,
                        "%s: an end2end output gives each box a class index, not the class "
                        "count, and the model has no class names in its metadata; set "
                        "params.class_names",
                        mi->path);
    if (out->n == 0)
        return kerr_set(err, KERR_INVALID,
                        "%s: the model has no class names in its metadata and %d classes; "
                        "set params.class_names",
                        mi->path, nc);
    if (nc > 0 && out->n != nc)
        return kerr_set(err, KERR_INVALID,
                        "%s: the model outputs %d classes but %d class names are configured "
                        "(output read as %s)",
                        mi->path, nc, out->n, yolo_layout_name(s->layout));
    return KERR_OK;
}

/* Per-class thresholds, labels (class_map) and the confirmation history. */
static kerr_code build_rules(yolo_state *s, kerr *err)
{
    const yolo_conf *c = s->conf;
    int n = s->names.n;
    s->class_thr = malloc(sizeof *s->class_thr * (size_t)n);
    s->labels = calloc((size_t)n, sizeof *s->labels);
    s->seen = calloc((size_t)n, sizeof *s->seen);
    if (!s->class_thr || !s->labels || !s->seen) return kerr_set(err, KERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        s->class_thr[i] = -1;
        s->labels[i] = s->names.names[i];
        if (c->defs && c->defs->default_label && c->defs->default_label(s->names.names[i]))
            s->labels[i] = c->defs->default_label(s->names.names[i]);
    }
    for (int i = 0; i < c->nthr; i++) {
        int hit = 0;
        for (int k = 0; k < n; k++) /* by model class name or by label */
            if (strcmp(s->names.names[k], c->thr_names[i]) == 0 ||
                strcmp(s->labels[k], c->thr_names[i]) == 0)
                s->class_thr[k] = (float)c->thr_values[i], hit++;
        if (!hit)
            return kerr_set(err, KERR_INVALID,
                            "params.class_thresholds: \"%s\" is not a class of %s", c->thr_names[i],
                            c->model_path);
    }
    for (int i = 0; i < c->nmap; i++) {
        int k = class_names_find(&s->names, c->map_from[i]);
        if (k < 0)
            return kerr_set(err, KERR_INVALID, "params.class_map: \"%s\" is not a class of %s",
                            c->map_from[i], c->model_path);
        s->labels[k] = c->map_to[i];
    }
    s->person = -1;
    if (c->require_person) {
        s->person = class_names_find(&s->names, "person");
        if (s->person < 0)
            return kerr_set(err, KERR_INVALID,
                            "params.require_person: %s has no \"person\" class to check against",
                            c->model_path);
        if (s->allowed) s->allowed[s->person] = true; /* seen, but only to gate the others */
    }
    return KERR_OK;
}

static kerr_code build_filter(yolo_state *s, kerr *err)
{
    const yolo_conf *c = s->conf;
    s->allowed = calloc((size_t)s->names.n, sizeof *s->allowed);
    if (!s->allowed) return kerr_set(err, KERR_NOMEM, "out of memory");
    if (c->nclasses) {
        for (int i = 0; i < c->nclasses; i++) {
            int k = class_names_find(&s->names, c->classes[i]);
            if (k < 0)
                return kerr_set(err, KERR_INVALID, "params.classes: \"%s\" is not a class of %s",
                                c->classes[i], c->model_path);
            s->allowed[k] = true;
        }
        return KERR_OK;
    }
    if (!c->defs || !c->defs->default_classes) {
        free(s->allowed);
        s->allowed = NULL; /* every class */
        return KERR_OK;
    }
    int found = 0;
    for (int i = 0; c->defs->default_classes[i]; i++) {
        int k = class_names_find(&s->names, c->defs->default_classes[i]);
        if (k >= 0) s->allowed[k] = true, found++;
    }
    if (!found && c->defs->require_default_class)
        return kerr_set(err, KERR_INVALID,
                        "%s: none of the model's classes is a %s class; name them in "
                        "params.classes",
                        c->model_path, c->defs->kind);
    return KERR_OK;
}

/* Output dims may be symbolic: one run on a blank image gives the real shape. */
static kerr_code probe_output(yolo_state *s, int64_t *dims, int *nd, kerr *err)
{
    const model_info *mi = model_get_info(s->m);
    bool dynamic = false;
    for (int i = 0; i < mi->outputs[0].ndims; i++)
        dynamic |= mi->outputs[0].dims[i] <= 0;
    if (!dynamic) {
        *nd = mi->outputs[0].ndims;
        memcpy(dims, mi->outputs[0].dims, sizeof(int64_t) * (size_t)*nd);
        return KERR_OK;
    }
    float *zeros = calloc(3 * (size_t)s->in_w * (size_t)s->in_h, sizeof *zeros);
    if (!zeros) return kerr_set(err, KERR_NOMEM, "out of memory");
    int64_t shape[4] = {1, 3, s->in_h, s->in_w};
    infer_output out;
    kerr_code rc = model_run(s->m, zeros, shape, 4, &out, err);
    free(zeros);
    if (rc) return rc;
    *nd = out.ndims;
    memcpy(dims, out.dims, sizeof(int64_t) * (size_t)out.ndims);
    infer_output_release(&out);
    return KERR_OK;
}

static kerr_code open_model(yolo_state *s, const detector_ctx *ctx, kerr *err)
{
    const yolo_conf *c = s->conf;
    s->m = model_open(c->model_path, &ctx->infer, err);
    if (!s->m) return err ? err->code : KERR_INVALID;
    const model_info *mi = model_get_info(s->m);
    const tensor_info *in = &mi->input;
    if (in->ndims != 4 || (in->dims[1] > 0 && in->dims[1] != 3))
        return kerr_set(err, KERR_INVALID,
                        "%s: input %s must be [1, 3, H, W] (an image), it has %d dims", mi->path,
                        in->name, in->ndims);
    s->in_h = in->dims[2] > 0 ? (int)in->dims[2] : c->input_size;
    s->in_w = in->dims[3] > 0 ? (int)in->dims[3] : c->input_size;
    int64_t dims[INFER_MAX_DIMS];
    int nd = 0, nc = 0;
    kerr_code rc = probe_output(s, dims, &nd, err);
    if (rc) return rc;
    rc = given_names(c, mi, &s->names, err);
    if (rc) return rc;
    yolo_hints h;
    yolo_hints_read(mi, s->names.n, &h);
    s->layout = c->layout;
    if (c->layout == YOLO_AUTO)
        rc = yolo_layout_detect(dims, nd, s->in_w, s->in_h, &h, &s->layout, &nc, err);
    else /* a layout the user set reads the shape its own way */
        rc = yolo_layout_classes(c->layout, dims, nd, &nc, err);
    if (rc) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return kerr_set(err, KERR_INVALID, "%s: %s", mi->path, why);
    }
    rc = check_names(s, mi, nc, &s->names, err);
    if (rc) return rc;
    bool yx = s->layout == YOLO_X;
    s->pre.bgr = c->bgr >= 0 ? c->bgr : yx;
    s->pre.normalize = c->normalize >= 0 ? c->normalize : !yx;
    s->pre.center = c->center >= 0 ? c->center : !yx;
    rc = build_filter(s, err);
    return rc ? rc : build_rules(s, err);
}

kerr_code yolo_open(const void *conf, const detector_ctx *ctx, void **state,
                    detector_model *model_out, kerr *err)
{
    yolo_state *s = calloc(1, sizeof *s);
    if (!s) return kerr_set(err, KERR_NOMEM, "out of memory");
    s->conf = conf;
    kerr_code rc = open_model(s, ctx, err);
    if (rc) {
        yolo_close(s);
        return rc;
    }
    const model_info *mi = model_get_info(s->m);
    const char *base = strrchr(mi->path, '/');
    snprintf(model_out->name, sizeof model_out->name, "%s", base ? base + 1 : mi->path);
    memcpy(model_out->sha256, mi->sha256, sizeof model_out->sha256);
    size_t used = 0;
    for (int i = 0; i < s->names.n && used + 2 < sizeof model_out->classes; i++) {
        if (s->allowed && !s->allowed[i]) continue;
        int w = snprintf(model_out->classes + used, sizeof model_out->classes - used, "%s%s",
                         used ? "," : "", s->labels[i]);
        if (w > 0) used += (size_t)w;
    }
    *state = s;
    return KERR_OK;
}

/* require_person: a weapon counts only where it touches a person; the persons
 * themselves are reported only when the user asked for them. */
static void apply_person_rule(yolo_state *s)
{
    if (s->person < 0) return;
    det_list *l = &s->scratch;
    bool keep_persons = false;
    for (int i = 0; i < s->conf->nclasses; i++)
        keep_persons |= strcmp(s->conf->classes[i], "person") == 0;
    int kept = 0;
    for (int i = 0; i < l->n; i++) {
        detection d = l->v[i];
        bool ok = d.cls == s->person ? keep_persons : false;
        for (int k = 0; !ok && d.cls != s->person && k < l->n; k++) {
            const detection *p = &l->v[k];
            if (p->cls != s->person) continue;
            float mx = (p->x2 - p->x1) * 0.1f, my = (p->y2 - p->y1) * 0.1f;
            ok = d.x1 < p->x2 + mx && d.x2 > p->x1 - mx && d.y1 < p->y2 + my && d.y2 > p->y1 - my;
        }
        if (ok) l->v[kept++] = d;
    }
    l->n = kept;
}

/* confirm: a class is reported once it was present in `hits` of the last
 * `window` analysed frames (single-frame fire and weapon hits are noise). */
static void apply_confirmation(yolo_state *s)
{
    int hits = s->conf->confirm_hits, window = s->conf->confirm_window;
    if (hits <= 1 && window <= 1) return;
    uint32_t mask = window >= 32 ? 0xFFFFFFFFu : ((1u << window) - 1);
    for (int c = 0; c < s->names.n; c++)
        s->seen[c] = (s->seen[c] << 1) & mask;
    for (int i = 0; i < s->scratch.n; i++)
        s->seen[s->scratch.v[i].cls] |= 1u;
    int kept = 0;
    for (int i = 0; i < s->scratch.n; i++)
        if (__builtin_popcount(s->seen[s->scratch.v[i].cls]) >= hits)
            s->scratch.v[kept++] = s->scratch.v[i];
    s->scratch.n = kept;
}

kerr_code yolo_detect(void *state, const kframe *f, float threshold, det_list *out, kerr *err)
{
    yolo_state *s = state;
    /* The input lives for one call: a camera's detector waits between frames,
     * and 64 cameras' idle 416x416 inputs were 130 MB. */
    float *input = malloc(sizeof(float) * 3 * (size_t)s->in_w * (size_t)s->in_h);
    if (!input) return kerr_set(err, KERR_NOMEM, "out of memory");
    letterbox lb;
    kerr_code rc = letterbox_to_tensor(f, s->in_w, s->in_h, &s->pre, input, &lb, err);
    int64_t shape[4] = {1, 3, s->in_h, s->in_w};
    infer_output o;
    if (rc == KERR_OK) rc = model_run_batched(s->m, input, shape, 4, &o, err);
    free(input);
    if (rc) return rc;
    s->scratch.n = 0;
    float lowest = threshold;
    for (int i = 0; i < s->names.n; i++)
        if (s->class_thr[i] >= 0 && s->class_thr[i] < lowest) lowest = s->class_thr[i];
    rc = yolo_decode(s->layout, o.data, o.dims, o.ndims, s->in_w, s->in_h, s->names.n, lowest,
                     s->allowed, &s->scratch, err);
    infer_output_release(&o);
    if (rc) return rc;
    /* an end-to-end model has suppressed its boxes itself: only sort and cap */
    nms(&s->scratch, s->layout == YOLO_E2E ? 2.f : s->conf->nms_iou, true, s->conf->max_det);
    int kept = 0;
    for (int i = 0; i < s->scratch.n; i++) {
        detection d = s->scratch.v[i];
        letterbox_unmap(&lb, &d, f->width, f->height);
        if (d.x2 - d.x1 < 1.f || d.y2 - d.y1 < 1.f) continue;
        float thr = s->class_thr[d.cls] >= 0 ? s->class_thr[d.cls] : threshold;
        if (d.score < thr) continue;
        double area = (double)(d.x2 - d.x1) * (d.y2 - d.y1) / ((double)f->width * f->height);
        if (area < s->conf->min_area && d.cls != s->person) continue;
        s->scratch.v[kept++] = d;
    }
    s->scratch.n = kept;
    apply_person_rule(s);
    apply_confirmation(s);
    for (int i = 0; i < s->scratch.n; i++)
        det_list_push(out, s->scratch.v[i]);
    return KERR_OK;
}

const char *yolo_label(void *state, int cls)
{
    yolo_state *s = state;
    return cls >= 0 && cls < s->names.n ? s->labels[cls] : "unknown";
}

void yolo_close(void *state)
{
    yolo_state *s = state;
    if (!s) return;
    model_release(s->m);
    class_names_free(&s->names);
    free(s->allowed);
    free(s->class_thr);
    free(s->labels);
    free(s->seen);
    det_list_free(&s->scratch);
    free(s);
}

static void *yolo_configure(const cfg_detector *cfg, const detector_ctx *ctx, cfg_diags *d)
{
    return yolo_configure_with(cfg, ctx, d, NULL);
}

const detector_ops detector_yolo = {
    .name = "yolo",
    .default_threshold = 0.4f,
    .configure = yolo_configure,
    .free_conf = yolo_free_conf,
    .open = yolo_open,
    .detect = yolo_detect,
    .label = yolo_label,
    .close = yolo_close,
};
