/* docs/configuration.md against the parser, both ways.
 *
 * 1. Every row of the reference (`| \`key.path\` | type | default | \`example\` | meaning |`)
 *    becomes part of a configuration built from the examples; loading it (and
 *    configuring every detector in it) must give no diagnostic but "file not
 *    found" ones: a documented key the parser refuses, or an example of the
 *    wrong type, fails.
 * 2. Built with -Wl,--wrap for cfg_check_keys and the cfg_read_* readers, the
 *    test records every key the parser allows (the lists given to
 *    cfg_check_keys) and every key it reads while loading that configuration,
 *    together with the map they belong to; each must have a row. The sources'
 *    and publishers' key lists and the detector types are taken from their
 *    registries too. A new key, section, source, publisher or detector type
 *    therefore fails here until the reference has its row.
 * Maps whose keys are data (class_thresholds, class_map) are neither checked
 * with cfg_check_keys nor given rows of their own: their keys are not schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/app/app.h"
#include "../../src/config/config.h"
#include "../../src/detect/detect.h"
#include "../../src/publish/publish.h"
#include "../../src/source/source.h"

/* ---- what the parser asks for (the wrapped readers) ---- */

typedef struct {
    const ynode *map;
    char *path; /* the caller's path argument */
    char *key;
    bool allowed_list; /* from cfg_check_keys, not a read */
} key_use;

static key_use *g_uses;
static size_t g_nuse, g_capuse;
static bool g_recording;

static void note_use(const ynode *map, const char *path, const char *key, bool allowed_list)
{
    if (!g_recording || !map || map->kind != YNODE_MAP || !key) return;
    if (g_nuse == g_capuse) {
        g_capuse = g_capuse ? 2 * g_capuse : 256;
        g_uses = realloc(g_uses, g_capuse * sizeof *g_uses);
        assert_non_null(g_uses);
    }
    g_uses[g_nuse++] = (key_use){map, kstrdup(path ? path : ""), kstrdup(key), allowed_list};
}

static void uses_free(void)
{
    for (size_t i = 0; i < g_nuse; i++)
        free(g_uses[i].path), free(g_uses[i].key);
    free(g_uses);
    g_uses = NULL;
    g_nuse = g_capuse = 0;
}

void __real_cfg_check_keys(cfg_diags *d, const ynode *map, const char *path,
                           const char *const *allowed);
bool __real_cfg_read_str(cfg_diags *d, const ynode *map, const char *key, const char *path,
                         char **out);
bool __real_cfg_read_bool(cfg_diags *d, const ynode *map, const char *key, const char *path,
                          bool *out);
bool __real_cfg_read_int(cfg_diags *d, const ynode *map, const char *key, const char *path,
                         int64_t min, int64_t max, int64_t *out);
bool __real_cfg_read_double(cfg_diags *d, const ynode *map, const char *key, const char *path,
                            double min, double max, double *out);
void __wrap_cfg_check_keys(cfg_diags *d, const ynode *map, const char *path,
                           const char *const *allowed);
bool __wrap_cfg_read_str(cfg_diags *d, const ynode *map, const char *key, const char *path,
                         char **out);
bool __wrap_cfg_read_bool(cfg_diags *d, const ynode *map, const char *key, const char *path,
                          bool *out);
bool __wrap_cfg_read_int(cfg_diags *d, const ynode *map, const char *key, const char *path,
                         int64_t min, int64_t max, int64_t *out);
bool __wrap_cfg_read_double(cfg_diags *d, const ynode *map, const char *key, const char *path,
                            double min, double max, double *out);

void __wrap_cfg_check_keys(cfg_diags *d, const ynode *map, const char *path,
                           const char *const *allowed)
{
    for (size_t i = 0; allowed && allowed[i]; i++)
        note_use(map, path, allowed[i], true);
    __real_cfg_check_keys(d, map, path, allowed);
}

bool __wrap_cfg_read_str(cfg_diags *d, const ynode *map, const char *key, const char *path,
                         char **out)
{
    note_use(map, path, key, false);
    return __real_cfg_read_str(d, map, key, path, out);
}

bool __wrap_cfg_read_bool(cfg_diags *d, const ynode *map, const char *key, const char *path,
                          bool *out)
{
    note_use(map, path, key, false);
    return __real_cfg_read_bool(d, map, key, path, out);
}

bool __wrap_cfg_read_int(cfg_diags *d, const ynode *map, const char *key, const char *path,
                         int64_t min, int64_t max, int64_t *out)
{
    note_use(map, path, key, false);
    return __real_cfg_read_int(d, map, key, path, min, max, out);
}

bool __wrap_cfg_read_double(cfg_diags *d, const ynode *map, const char *key, const char *path,
                            double min, double max, double *out)
{
    note_use(map, path, key, false);
    return __real_cfg_read_double(d, map, key, path, min, max, out);
}

/* ---- the reference's rows ---- */

enum { MAXTOK = 16, MAXVAL = 16 };

typedef struct {
    char base[64];
    bool list;     /* `x[]` or `x[k=...]` */
    char dkey[32]; /* discriminator: `x[type=a,b]` or `x{mode=a}`; "" none */
    char *dval[MAXVAL];
    int ndval;
} token;

typedef struct {
    char *path;    /* as written */
    char *norm;    /* discriminators dropped: cameras[].detectors[].params.model */
    char *example; /* NULL: a map or list whose members have rows */
    int line;
    token tok[MAXTOK];
    int ntok;
} row;

typedef struct {
    row *v;
    int n;
} rows;

static char *trim(char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static char *unquote(char *s)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '`' && s[n - 1] == '`') {
        s[n - 1] = '\0';
        return s + 1;
    }
    return s;
}

static bool parse_token(const char *t, token *tk, char *why, size_t wl)
{
    memset(tk, 0, sizeof *tk);
    size_t n = strcspn(t, "[{");
    if (n == 0 || n >= sizeof tk->base) return snprintf(why, wl, "bad segment \"%s\"", t), false;
    memcpy(tk->base, t, n);
    if (!t[n]) return true;
    char close = t[n] == '[' ? ']' : '}';
    tk->list = t[n] == '[';
    const char *in = t + n + 1, *end = strchr(in, close);
    if (!end || end[1]) return snprintf(why, wl, "bad segment \"%s\"", t), false;
    if (end == in) return tk->list ? true : (snprintf(why, wl, "empty {} in \"%s\"", t), false);
    const char *eq = memchr(in, '=', (size_t)(end - in));
    if (!eq || (size_t)(eq - in) >= sizeof tk->dkey)
        return snprintf(why, wl, "\"%s\": write [key=v1,v2] or {key=v1,v2}", t), false;
    memcpy(tk->dkey, in, (size_t)(eq - in));
    for (const char *v = eq + 1; v < end && tk->ndval < MAXVAL;) {
        size_t l = strcspn(v, ",]}");
        char *val = calloc(l + 1, 1);
        memcpy(val, v, l);
        tk->dval[tk->ndval++] = val;
        v += l + 1;
    }
    return true;
}

static void rows_free(rows *r)
{
    for (int i = 0; i < r->n; i++) {
        free(r->v[i].path), free(r->v[i].norm), free(r->v[i].example);
        for (int t = 0; t < r->v[i].ntok; t++)
            for (int k = 0; k < r->v[i].tok[t].ndval; k++)
                free(r->v[i].tok[t].dval[k]);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* Appends to a growing report. */
static void say(char **rep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(char **rep, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t old = *rep ? strlen(*rep) : 0;
    *rep = realloc(*rep, old + strlen(line) + 2);
    memcpy(*rep + old, line, strlen(line));
    strcpy(*rep + old + strlen(line), "\n");
}

/* Rows are table lines whose first cell is a backquoted key path. */
static void parse_rows(const char *text, rows *out, char **rep)
{
    int line = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        line++;
        if (len > 3 && strncmp(p, "| `", 3) == 0) {
            char *buf = calloc(len + 1, 1);
            memcpy(buf, p, len);
            char *cell[6] = {0};
            int nc = 0;
            for (char *c = buf + 1; nc < 6 && c;) {
                char *bar = strchr(c, '|');
                if (bar) *bar = '\0';
                cell[nc++] = trim(c);
                c = bar ? bar + 1 : NULL;
            }
            if (nc < 5) {
                say(rep,
                    "docs/configuration.md:%d: a key row needs 5 cells: | `key` | type | "
                    "default | `example` | meaning |",
                    line);
            } else {
                row r = {.line = line};
                r.path = kstrdup(unquote(cell[0]));
                char *ex = unquote(cell[3]);
                r.example = *ex ? kstrdup(ex) : NULL;
                char norm[512] = "", why[256] = "";
                char *segs = kstrdup(r.path), *save = NULL;
                bool ok = true;
                for (char *s = strtok_r(segs, ".", &save); s && ok;
                     s = strtok_r(NULL, ".", &save)) {
                    if (r.ntok == MAXTOK) ok = false;
                    ok = ok && parse_token(s, &r.tok[r.ntok], why, sizeof why);
                    if (!ok) break;
                    token *t = &r.tok[r.ntok++];
                    size_t u = strlen(norm);
                    snprintf(norm + u, sizeof norm - u, "%s%s%s", u ? "." : "", t->base,
                             t->list ? "[]" : "");
                }
                free(segs);
                r.norm = kstrdup(norm);
                if (!ok) say(rep, "docs/configuration.md:%d: key `%s`: %s", line, r.path, why);
                out->v = realloc(out->v, (size_t)(out->n + 1) * sizeof *out->v);
                out->v[out->n++] = r;
            }
            free(buf);
        }
        p += len + (nl ? 1 : 0);
    }
}

/* A row whose path continues (a map or list with member rows). */
static bool has_members(const rows *rs, const row *r)
{
    size_t l = strlen(r->norm);
    for (int i = 0; i < rs->n; i++)
        if (strncmp(rs->v[i].norm, r->norm, l) == 0 &&
            (rs->v[i].norm[l] == '.' || strncmp(rs->v[i].norm + l, "[].", 3) == 0))
            return true;
    return false;
}

/* ---- the configuration built from the examples ---- */

typedef struct gnode gnode;
struct gnode {
    char *key;   /* NULL for list items */
    char *value; /* leaves: the example */
    int docline;
    bool list, fixed; /* fixed: set by the item's variant, rows do not override it */
    gnode **kid;
    int n;
    /* list items: the variant they stand for (dkey of the list or a map inside) */
    char *vkey, *vval;
};

static void gfree(gnode *g)
{
    if (!g) return;
    for (int i = 0; i < g->n; i++)
        gfree(g->kid[i]);
    free(g->kid), free(g->key), free(g->value), free(g->vkey), free(g->vval), free(g);
}

static gnode *gadd(gnode *parent, const char *key)
{
    gnode *g = calloc(1, sizeof *g);
    g->key = key ? kstrdup(key) : NULL;
    parent->kid = realloc(parent->kid, (size_t)(parent->n + 1) * sizeof *parent->kid);
    parent->kid[parent->n++] = g;
    return g;
}

static gnode *gfind(gnode *parent, const char *key)
{
    for (int i = 0; i < parent->n; i++)
        if (parent->kid[i]->key && strcmp(parent->kid[i]->key, key) == 0) return parent->kid[i];
    return NULL;
}

/* The list token a discriminator at token t belongs to: itself for
 * `x[k=..]`, the nearest list above for `x{k=..}`; -1 none. */
static int disc_list(const row *r, int t)
{
    if (r->tok[t].list) return t;
    for (int i = t - 1; i >= 0; i--)
        if (r->tok[i].list) return i;
    return -1;
}

/* The normalised path of tokens 0..t. */
static void norm_upto(const row *r, int t, char *out, size_t len)
{
    out[0] = '\0';
    for (int i = 0; i <= t; i++) {
        size_t u = strlen(out);
        snprintf(out + u, len - u, "%s%s%s", i ? "." : "", r->tok[i].base,
                 r->tok[i].list ? "[]" : "");
    }
}

/* The variant key inside an item of the list at token l, from a
 * discriminator at token t: "type", or "source.mode". */
static void variant_key(const row *r, int l, int t, char *out, size_t len)
{
    out[0] = '\0';
    for (int i = l + 1; i <= t; i++) {
        size_t u = strlen(out);
        snprintf(out + u, len - u, "%s.", r->tok[i].base);
    }
    size_t u = strlen(out);
    snprintf(out + u, len - u, "%s", r->tok[t].dkey);
}

/* Items of a new list: one per value any row's discriminator names for it. */
static void make_items(gnode *list, const rows *rs, const char *listnorm)
{
    char vkey[256] = "";
    const char *vals[64];
    int nv = 0;
    for (int i = 0; i < rs->n; i++) {
        const row *r = &rs->v[i];
        for (int t = 0; t < r->ntok; t++) {
            if (!r->tok[t].dkey[0]) continue;
            int l = disc_list(r, t);
            char ln[512];
            if (l < 0) continue;
            norm_upto(r, l, ln, sizeof ln);
            if (strcmp(ln, listnorm) != 0) continue;
            variant_key(r, l, t, vkey, sizeof vkey);
            for (int k = 0; k < r->tok[t].ndval; k++) {
                bool seen = false;
                for (int j = 0; j < nv; j++)
                    seen |= strcmp(vals[j], r->tok[t].dval[k]) == 0;
                if (!seen && nv < 64) vals[nv++] = r->tok[t].dval[k];
            }
        }
    }
    if (!nv) {
        gadd(list, NULL);
        return;
    }
    for (int j = 0; j < nv; j++) {
        gnode *it = gadd(list, NULL);
        it->vkey = kstrdup(vkey);
        it->vval = kstrdup(vals[j]);
        gnode *at = it; /* source.mode: a map source holding mode */
        char *ks = kstrdup(vkey), *save = NULL;
        char *seg = strtok_r(ks, ".", &save);
        for (char *next; seg; seg = next) {
            next = strtok_r(NULL, ".", &save);
            gnode *g = gfind(at, seg);
            if (!g) g = gadd(at, seg);
            if (!next) g->value = kstrdup(vals[j]), g->fixed = true;
            at = g;
        }
        free(ks);
    }
}

/* Whether the row belongs in this item: its discriminator for the list at
 * token l (if any) names the item's value. */
static bool row_fits(const row *r, int l, const gnode *item)
{
    for (int t = 0; t < r->ntok; t++) {
        if (!r->tok[t].dkey[0] || disc_list(r, t) != l) continue;
        if (!item->vval) return true;
        for (int k = 0; k < r->tok[t].ndval; k++)
            if (strcmp(r->tok[t].dval[k], item->vval) == 0) return true;
        return false;
    }
    return true;
}

static void insert(gnode *map, const rows *rs, const row *r, int i)
{
    const token *tk = &r->tok[i];
    gnode *g = gfind(map, tk->base);
    bool fresh = !g;
    if (!g) g = gadd(map, tk->base);
    if (i == r->ntok - 1) {
        if (!g->fixed && !g->value) g->value = kstrdup(r->example ? r->example : "{}");
        if (!g->fixed) g->docline = r->line;
        return;
    }
    if (!tk->list) {
        insert(g, rs, r, i + 1);
        return;
    }
    g->list = true;
    if (fresh) {
        char ln[512];
        norm_upto(r, i, ln, sizeof ln);
        make_items(g, rs, ln);
    }
    for (int k = 0; k < g->n; k++)
        if (row_fits(r, i, g->kid[k])) insert(g->kid[k], rs, r, i + 1);
}

/* Lists of several items get distinct names (cameras must). */
static void unique_names(gnode *g)
{
    for (int i = 0; i < g->n; i++) {
        gnode *k = g->kid[i];
        if (g->list && g->n > 1) {
            gnode *name = gfind(k, "name");
            if (name && name->value) {
                char buf[256];
                snprintf(buf, sizeof buf, "%s-%d", name->value, i);
                free(name->value);
                name->value = kstrdup(buf);
            }
        }
        unique_names(k);
    }
}

typedef struct {
    char *text;
    int *docline; /* per generated line */
    int nline;
} yaml_out;

static void emit_line(yaml_out *y, int docline, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void emit_line(yaml_out *y, int docline, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t old = y->text ? strlen(y->text) : 0;
    y->text = realloc(y->text, old + strlen(line) + 2);
    strcpy(y->text + old, line);
    strcat(y->text, "\n");
    y->docline = realloc(y->docline, (size_t)(y->nline + 2) * sizeof *y->docline);
    y->docline[++y->nline] = docline; /* lines are 1-based */
}

static void emit(yaml_out *y, const gnode *map, int indent)
{
    for (int i = 0; i < map->n; i++) {
        const gnode *g = map->kid[i];
        if (g->value && !g->n) {
            emit_line(y, g->docline, "%*s%s: %s", indent, "", g->key, g->value);
        } else if (g->list) {
            emit_line(y, 0, "%*s%s:", indent, "", g->key);
            for (int k = 0; k < g->n; k++) {
                emit_line(y, 0, "%*s-", indent + 2, "");
                emit(y, g->kid[k], indent + 4);
            }
        } else {
            emit_line(y, 0, "%*s%s:", indent, "", g->key);
            emit(y, g, indent + 2);
        }
    }
}

/* ---- checking ---- */

/* Where a map sits in the tree: "cameras[0].detectors[1].params". */
static bool find_path(const ynode *at, const ynode *target, char *buf, size_t len)
{
    if (at == target) return true;
    size_t u = strlen(buf);
    for (size_t i = 0; i < at->n; i++) {
        if (at->kind == YNODE_MAP)
            snprintf(buf + u, len - u, "%s%s", u ? "." : "", at->keys[i]);
        else
            snprintf(buf + u, len - u, "[%zu]", i);
        if (find_path(at->items[i], target, buf, len)) return true;
        buf[u] = '\0';
    }
    return false;
}

/* Indices dropped, `defaults` read as a camera; the camera and detector indices kept aside. */
static void normalise(const char *real, char *out, size_t len, int *cam, int *det)
{
    *cam = *det = -1;
    sscanf(real, "cameras[%d]", cam);
    const char *dp = strstr(real, ".detectors[");
    if (dp) sscanf(dp, ".detectors[%d]", det);
    if (strncmp(real, "defaults", 8) == 0 && (real[8] == '\0' || real[8] == '.')) {
        snprintf(out, len, "cameras[]%s", real + 8);
        return;
    }
    size_t o = 0;
    for (const char *p = real; *p && o + 3 < len; p++) {
        if (*p == '[') {
            out[o++] = '[', out[o++] = ']';
            while (*p && *p != ']')
                p++;
            if (!*p) break;
            continue;
        }
        out[o++] = *p;
    }
    out[o] = '\0';
}

/* A row for norm whose discriminators accept this detector type and source mode. */
static const row *documented_as(const rows *rs, const char *norm, const char *type,
                                const char *mode);

/* Publishers' keys have two spellings, and the reference gives each key once:
 * a key `<name>_<k>` read in the flat view of a section is the section's
 * `<name>.<k>` row (src/publish/settings.c), and the routing keys every
 * publisher takes (`when.*`, `cooldown_seconds`) are documented once, in the
 * webhook's section. */
static const row *documented(const rows *rs, const char *norm, const char *type, const char *mode)
{
    const row *r = documented_as(rs, norm, type, mode);
    const char *pre = "cameras[].publishers.";
    if (r || strncmp(norm, pre, strlen(pre)) != 0) return r;
    const char *rest = norm + strlen(pre), *dot = strchr(rest, '.');
    char alias[600];
    if (dot && (strncmp(dot + 1, "when", 4) == 0 || strcmp(dot + 1, "cooldown_seconds") == 0)) {
        snprintf(alias, sizeof alias, "%swebhook.%s", pre, dot + 1);
        return documented_as(rs, alias, type, mode);
    }
    const publisher_ops *p;
    for (int i = 0; !dot && (p = publisher_at(i)); i++) {
        size_t n = strlen(p->name);
        if (strncmp(rest, p->name, n) != 0 || rest[n] != '_') continue;
        snprintf(alias, sizeof alias, "%s%s.%s", pre, p->name, rest + n + 1);
        if ((r = documented_as(rs, alias, type, mode))) return r;
    }
    return NULL;
}

static const row *documented_as(const rows *rs, const char *norm, const char *type,
                                const char *mode)
{
    for (int i = 0; i < rs->n; i++) {
        const row *r = &rs->v[i];
        if (strcmp(r->norm, norm) != 0) continue;
        bool ok = true;
        for (int t = 0; t < r->ntok && ok; t++) {
            const token *tk = &r->tok[t];
            const char *want = strcmp(tk->dkey, "type") == 0   ? type
                               : strcmp(tk->dkey, "mode") == 0 ? mode
                                                               : NULL;
            if (!tk->dkey[0] || !want) continue;
            ok = false;
            for (int k = 0; k < tk->ndval; k++)
                ok |= strcmp(tk->dval[k], want) == 0;
        }
        if (ok) return r;
    }
    return NULL;
}

static bool is_leaf_row(const rows *rs, const char *norm)
{
    for (int i = 0; i < rs->n; i++)
        if (strcmp(rs->v[i].norm, norm) == 0 && !has_members(rs, &rs->v[i])) return true;
    return false;
}

static void join_key(char *out, size_t len, const char *norm, const char *key)
{
    snprintf(out, len, "%s%s%s", norm, *norm ? "." : "", key);
}

static void undocumented(char **rep, const char *full, const char *type, const char *mode,
                         const char *how)
{
    char disc[128] = "";
    if (type) snprintf(disc, sizeof disc, " (detector type %s)", type);
    if (mode) snprintf(disc + strlen(disc), sizeof disc - strlen(disc), " (source mode %s)", mode);
    char row_path[512] = "", *at; /* the row to write names the type or mode */
    snprintf(row_path, sizeof row_path, "%s", full);
    if (type && (at = strstr(row_path, "detectors[]"))) {
        char tail[512];
        snprintf(tail, sizeof tail, "%s", at + 11);
        snprintf(at, sizeof row_path - (size_t)(at - row_path), "detectors[type=%s]%s", type, tail);
    }
    if (mode && (at = strstr(row_path, "source."))) {
        char tail[512];
        snprintf(tail, sizeof tail, "%s", at + 6);
        snprintf(at, sizeof row_path - (size_t)(at - row_path), "source{mode=%s}%s", mode, tail);
    }
    char line[1400];
    snprintf(line, sizeof line,
             "`%s`%s is %s but has no row in docs/configuration.md: add one row "
             "| `%s` | type | default | `example` | meaning |",
             full, disc, how, row_path);
    if (!*rep || !strstr(*rep, line)) say(rep, "%s", line); /* once per key */
}

/* Every key the parser allowed or read while loading must have a row. */
static void check_uses(const config *cfg, const rows *rs, char **rep)
{
    for (size_t i = 0; i < g_nuse; i++) {
        const key_use *u = &g_uses[i];
        char real[512] = "", norm[512], full[600];
        if (!find_path(cfg->root, u->map, real, sizeof real))
            snprintf(real, sizeof real, "%s", u->path);
        int ci, di;
        normalise(real, norm, sizeof norm, &ci, &di);
        const char *type = NULL, *mode = NULL;
        if (ci >= 0 && ci < cfg->ncam) {
            const cfg_camera *c = &cfg->cams[ci];
            /* only where they pick the keys: under source: and a detector's params */
            if (strncmp(norm, "cameras[].source", 16) == 0 && c->source) mode = c->source->name;
            if (strstr(norm, ".params") && di >= 0 && di < c->ndet) type = c->dets[di].type;
        }
        bool checked = false; /* a schema map: its keys come with an allowed list */
        for (size_t j = 0; j < g_nuse && !checked; j++)
            checked = g_uses[j].map == u->map && g_uses[j].allowed_list;
        if (!u->allowed_list && !checked && is_leaf_row(rs, norm)) continue; /* data keys */
        join_key(full, sizeof full, norm, u->key);
        bool again = false;
        for (size_t j = 0; j < i && !again; j++)
            again = g_uses[j].map == u->map && strcmp(g_uses[j].key, u->key) == 0 &&
                    strcmp(g_uses[j].path, u->path) == 0;
        if (!again && !documented(rs, full, type, mode))
            undocumented(rep, full, type, mode,
                         u->allowed_list ? "accepted by the parser" : "read by the parser");
    }
}

/* The registries: sources' and publishers' keys, detector types. */
static void check_registries(const rows *rs, char **rep)
{
    const source_ops *s;
    char full[256];
    for (int i = 0; (s = source_at(i)); i++)
        for (int k = 0; s->keys && s->keys[k]; k++) {
            snprintf(full, sizeof full, "cameras[].source.%s", s->keys[k]);
            if (!documented(rs, full, NULL, s->name))
                undocumented(rep, full, NULL, s->name, "a key of a registered source");
        }
    const publisher_ops *p;
    for (int i = 0; (p = publisher_at(i)); i++)
        for (int k = 0; p->keys && p->keys[k]; k++) {
            snprintf(full, sizeof full, "cameras[].publishers.%s", p->keys[k]);
            if (!documented(rs, full, NULL, NULL))
                undocumented(rep, full, NULL, NULL, "a key of a registered publisher");
        }
    char names[512], *save = NULL;
    detector_names(names, sizeof names);
    for (char *t = strtok_r(names, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        bool found = false;
        for (int i = 0; i < rs->n && !found; i++)
            for (int k = 0; k < rs->v[i].ntok; k++)
                if (strcmp(rs->v[i].tok[k].base, "detectors") == 0 &&
                    strcmp(rs->v[i].tok[k].dkey, "type") == 0)
                    for (int j = 0; j < rs->v[i].tok[k].ndval; j++)
                        found |= strcmp(rs->v[i].tok[k].dval[j], t) == 0;
        if (!found)
            say(rep,
                "detector type `%s` is registered but docs/configuration.md has no "
                "`cameras[].detectors[type=%s].params.KEY` row: add one row per param",
                t, t);
    }
}

/* Diagnostics that say a file of the example is missing here are fine; any
 * other means a documented key or example the parser refuses. */
static void check_diags(const cfg_diags *d, const yaml_out *y, char **rep)
{
    for (size_t i = 0; i < d->n; i++) {
        const cfg_diag *g = &d->items[i];
        if (strstr(g->msg, "not found") || strstr(g->msg, "is not a folder")) continue;
        int doc = g->line > 0 && g->line <= y->nline ? y->docline[g->line] : 0;
        say(rep,
            "docs/configuration.md:%d: the parser refuses this row's key or example "
            "(generated line %d: %s: %s): fix the row, or remove it if the key is gone",
            doc, g->line, g->path, g->msg);
    }
}

static char *g_source_dir;

/* Checks a reference text; returns the report (NULL: no problem). */
static char *check_reference(const char *text)
{
    char *rep = NULL;
    rows rs = {0};
    parse_rows(text, &rs, &rep);
    if (rs.n < 40) say(&rep, "docs/configuration.md: only %d key rows found", rs.n);
    gnode root = {0};
    for (int i = 0; i < rs.n; i++)
        if (rs.v[i].ntok && !has_members(&rs, &rs.v[i])) insert(&root, &rs, &rs.v[i], 0);
    unique_names(&root);
    yaml_out y = {0};
    emit(&y, &root, 0);
    char file[4096];
    snprintf(file, sizeof file, "%s/docs-configuration.yaml", g_source_dir);
    cfg_diags d = {0};
    g_recording = true;
    config *cfg = y.text ? config_load_all(&app_cfg_readers, file, y.text, &d) : NULL;
    if (!cfg) {
        say(&rep, "the configuration built from docs/configuration.md does not parse:\n%s",
            y.text ? y.text : "(empty)");
    } else {
        detector_ctx ctx = {.config_file = cfg->file, .models_dir = cfg->models_dir};
        for (int c = 0; c < cfg->ncam; c++)
            for (int k = 0; k < cfg->cams[c].ndet; k++)
                detector_check(&cfg->cams[c].dets[k], &ctx, &d);
        g_recording = false;
        check_diags(&d, &y, &rep);
        check_uses(cfg, &rs, &rep);
    }
    g_recording = false;
    check_registries(&rs, &rep);
    if (rep && getenv("KVS_DOCS_VERBOSE")) fprintf(stderr, "generated:\n%s", y.text);
    config_free(cfg);
    cfg_diags_free(&d);
    uses_free();
    for (int i = 0; i < root.n; i++)
        gfree(root.kid[i]);
    free(root.kid);
    free(y.text), free(y.docline);
    rows_free(&rs);
    return rep;
}

static char *reference_text(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/configuration.md", g_source_dir);
    kerr err = {0};
    size_t len = 0;
    char *t = read_file(path, &len, &err);
    if (!t) fail_msg("%s", err.msg);
    return t;
}

static void test_reference_matches_parser(void **state)
{
    (void)state;
    char *text = reference_text();
    char *rep = check_reference(text);
    if (rep) fprintf(stderr, "%s", rep);
    assert_null(rep);
    free(text);
}

/* The check itself can fail: a row for a key that does not exist... */
static void test_unknown_row_is_reported(void **state)
{
    (void)state;
    char *text = reference_text();
    const char *extra =
        "\n| `cameras[].source{mode=url}.no_such_key` | bool | `false` | `true` | x |\n"
        "| `spool.no_such_key` | int | `1` | `1` | x |\n";
    char *t = malloc(strlen(text) + strlen(extra) + 1);
    strcpy(t, text);
    strcat(t, extra);
    char *rep = check_reference(t);
    assert_non_null(rep);
    assert_non_null(strstr(rep, "no_such_key"));
    assert_non_null(strstr(rep, "spool.no_such_key"));
    free(rep), free(t), free(text);
}

/* ...and keys the parser accepts whose rows are gone: a top-level section's
 * member, a source's key, a detector param and a publisher key. */
static void test_missing_rows_are_reported(void **state)
{
    (void)state;
    char *text = reference_text();
    const char *gone[] = {"| `spool.fsync` |", "| `cameras[].source{mode=hls}.expires_s` |",
                          "| `cameras[].detectors[type=yolo,weapon,fire_smoke].params.nms_iou` |",
                          "| `cameras[].publishers.s3_sse` |",
                          "| `cameras[].detectors[type=alpr].params.formats[].pattern` |"};
    const char *key[] = {"`spool.fsync`", "`cameras[].source.expires_s`",
                         "`cameras[].detectors[].params.nms_iou`", "`cameras[].publishers.s3_sse`",
                         "`cameras[].detectors[].params.formats[].pattern`"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        char *t = kstrdup(text);
        char *at = strstr(t, gone[i]);
        assert_non_null(at);
        char *eol = strchr(at, '\n');
        memmove(at, eol + 1, strlen(eol + 1) + 1);
        char *rep = check_reference(t);
        if (!rep || !strstr(rep, key[i])) fail_msg("removing %s went unnoticed: %s", gone[i], rep);
        free(rep), free(t);
    }
    free(text);
}

int main(void)
{
    const char *src = getenv("KVS_SOURCE_DIR");
    g_source_dir = kstrdup(src && *src ? src : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_matches_parser),
        cmocka_unit_test(test_unknown_row_is_reported),
        cmocka_unit_test(test_missing_rows_are_reported),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(g_source_dir);
    return rc;
}
