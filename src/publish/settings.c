/* A camera's `publishers:`, read by the publishers themselves: each takes its
 * own keys (publisher_ops.keys, .read); what no publisher claims is an error,
 * as everywhere in the config. Every publisher also has a section named after
 * it, `<name>: {k: v, when: ..., cooldown_seconds: ...}`: its keys are the
 * publisher's `<name>_k` (so `kinesis: {stream_name: s}` is
 * `kinesis_stream_name: s`), its routing keys are read here for all alike
 * (route.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publish.h"
#include "route.h"

bool pub_read_keys(cfg_diags *d, const ynode *pubs, const char *path, const char *const *keys,
                   cfg_pub *s)
{
    bool any = false;
    for (int i = 0; pubs && keys[i]; i++) {
        char *v = NULL;
        if (!cfg_read_str(d, pubs, keys[i], path, &v)) continue;
        if (!cfg_pub_set(s, keys[i], v)) cfg_diag_add(d, pubs, path, "out of memory");
        free(v);
        any = true;
    }
    return any;
}

static bool claimed(const char *key)
{
    if (publisher_find(key)) return true; /* its section */
    const publisher_ops *ops;
    for (int i = 0; (ops = publisher_at(i)); i++)
        for (int k = 0; ops->keys && ops->keys[k]; k++)
            if (strcmp(ops->keys[k], key) == 0) return true;
    return false;
}

static void check_keys(cfg_diags *d, const ynode *pubs, const char *path)
{
    for (size_t i = 0; pubs && i < pubs->n; i++) {
        if (claimed(pubs->keys[i])) continue;
        char known[1024] = "";
        size_t used = 0;
        const publisher_ops *ops;
        for (int p = 0; (ops = publisher_at(p)); p++)
            for (int k = 0; ops->keys && ops->keys[k] && used < sizeof known; k++)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                         used ? ", " : "", ops->keys[k]);
        for (int p = 0; (ops = publisher_at(p)) && used < sizeof known; p++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                     p ? ", " : "; sections: ", ops->name);
        cfg_diag_add_pos(d, pubs->key_line[i], pubs->key_col[i], path,
                         "unknown key `%s` (publisher keys: %s)", pubs->keys[i], known);
    }
}

static void free_settings(cfg_pub *s)
{
    for (int k = 0; k < s->n; k++)
        free(s->kv[k].key), free(s->kv[k].value);
    free(s->kv);
}

static bool has_key(const char *const *keys, const char *key)
{
    for (int k = 0; keys && keys[k]; k++)
        if (strcmp(keys[k], key) == 0) return true;
    return false;
}

/* The flat view the publishers read: pubs's own entries, and each section's
 * keys as `<name>_k` entries pointing at the same nodes (positions kept). The
 * nodes are borrowed: view_free frees only the view. */
static void view_add(ynode *v, const char *key, const ynode *item, int line, int col)
{
    char *k = kstrdup(key);
    ynode **items = realloc(v->items, (v->n + 1) * sizeof *items);
    if (items) v->items = items;
    char **keys = realloc(v->keys, (v->n + 1) * sizeof *keys);
    if (keys) v->keys = keys;
    int *kl = realloc(v->key_line, (v->n + 1) * sizeof *kl);
    if (kl) v->key_line = kl;
    int *kc = realloc(v->key_col, (v->n + 1) * sizeof *kc);
    if (kc) v->key_col = kc;
    if (!k || !items || !keys || !kl || !kc) {
        free(k);
        return;
    }
    v->items[v->n] = (ynode *)item;
    v->keys[v->n] = k;
    v->key_line[v->n] = line;
    v->key_col[v->n] = col;
    v->n++;
}

static void view_free(ynode *v)
{
    for (size_t i = 0; v && i < v->n; i++)
        free(v->keys[i]);
    if (v) free(v->items), free(v->keys), free(v->key_line), free(v->key_col);
    free(v);
}

static void section_keys_hint(const publisher_ops *ops, char *out, size_t len)
{
    size_t used = 0, pre = strlen(ops->name) + 1;
    out[0] = '\0';
    for (int k = 0; ops->keys && ops->keys[k] && used < len; k++)
        if (strncmp(ops->keys[k], ops->name, pre - 1) == 0 && ops->keys[k][pre - 1] == '_')
            used += (size_t)snprintf(out + used, len - used, "%s, ", ops->keys[k] + pre);
    if (used < len) snprintf(out + used, len - used, "when, cooldown_seconds");
}

static void add_section(cfg_diags *d, ynode *v, const ynode *pubs, const publisher_ops *ops,
                        const ynode *sec, const char *path)
{
    char p[512];
    snprintf(p, sizeof p, "%s.%s", path, ops->name);
    if (!cfg_expect_map(d, sec, p)) return;
    /* The section itself too: a publisher whose keys all have defaults
     * (`eventbridge: {}`) can tell it was asked for. */
    view_add(v, ops->name, sec, sec->line, sec->col);
    for (size_t i = 0; i < sec->n; i++) {
        if (route_is_key(sec->keys[i])) continue;
        char flat[256], hint[1024];
        snprintf(flat, sizeof flat, "%s_%s", ops->name, sec->keys[i]);
        if (!has_key(ops->keys, flat)) {
            section_keys_hint(ops, hint, sizeof hint);
            cfg_diag_add_pos(d, sec->key_line[i], sec->key_col[i], p,
                             "unknown key `%s` (%s keys: %s)", sec->keys[i], ops->name, hint);
        } else if (ynode_get(pubs, flat))
            cfg_diag_add_pos(d, sec->key_line[i], sec->key_col[i], p,
                             "`%s` is also given as `%s`: keep one", sec->keys[i], flat);
        else
            view_add(v, flat, sec->items[i], sec->key_line[i], sec->key_col[i]);
    }
}

static ynode *flat_view(cfg_diags *d, const ynode *pubs, const char *path)
{
    ynode *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = YNODE_MAP, v->line = pubs->line, v->col = pubs->col;
    if (pubs->kind != YNODE_MAP) return v;
    for (size_t i = 0; i < pubs->n; i++) {
        const publisher_ops *ops = publisher_find(pubs->keys[i]);
        if (ops)
            add_section(d, v, pubs, ops, pubs->items[i], path);
        else
            view_add(v, pubs->keys[i], pubs->items[i], pubs->key_line[i], pubs->key_col[i]);
    }
    return v;
}

/* A section's `when` and `cooldown_seconds`, into the settings of a
 * publisher the camera uses. */
static void read_route(cfg_diags *d, const publisher_ops *ops, const ynode *pubs, const char *path,
                       bool used, cfg_pub *s)
{
    const ynode *sec = ynode_get(pubs, ops->name);
    if (!sec || sec->kind != YNODE_MAP) return;
    char p[512];
    snprintf(p, sizeof p, "%s.%s", path, ops->name);
    cfg_pub scratch = {0};
    if (route_read(d, sec, p, used ? s : &scratch) && !used)
        cfg_diag_add(d, sec, p, "`when`/`cooldown_seconds` for %s, which is not set up here",
                     ops->name);
    for (int k = 0; k < scratch.n; k++)
        free(scratch.kv[k].key), free(scratch.kv[k].value);
    free(scratch.kv);
}

/* What the publisher's read reported about a key written in its section
 * names that key as written: `publishers.mqtt.qos`, not `publishers.mqtt_qos`. */
static void section_paths(cfg_diags *d, size_t from, const publisher_ops *ops, const ynode *pubs,
                          const char *path)
{
    const ynode *sec = ynode_get(pubs, ops->name);
    size_t plen = strlen(path), nlen = strlen(ops->name);
    for (size_t i = from; sec && sec->kind == YNODE_MAP && i < d->n; i++) {
        const char *p = d->items[i].path;
        if (!p || strncmp(p, path, plen) != 0 || p[plen] != '.' ||
            strncmp(p + plen + 1, ops->name, nlen) != 0 || p[plen + 1 + nlen] != '_')
            continue;
        const char *k = p + plen + nlen + 2;
        if (!ynode_get(sec, k) || ynode_get(pubs, p + plen + 1)) continue;
        char *fixed = malloc(plen + nlen + strlen(k) + 3);
        if (!fixed) continue;
        sprintf(fixed, "%s.%s.%s", path, ops->name, k);
        free(d->items[i].path);
        d->items[i].path = fixed;
    }
}

/* Reads one publisher's part; keeps it when the camera uses it. */
static bool read_one(cfg_diags *d, const publisher_ops *ops, const ynode *pubs, const ynode *view,
                     const char *path, bool as_default, cfg_publishers *out)
{
    cfg_pub s = {0};
    size_t before = d->n;
    bool used = ops->read(d, view, path, as_default, &s);
    section_paths(d, before, ops, pubs, path);
    if (!as_default) read_route(d, ops, pubs, path, used, &s);
    cfg_pub *slot = used ? cfg_publishers_add(out, ops->name) : NULL;
    if (!slot) {
        free_settings(&s);
        if (used) cfg_diag_add(d, pubs, path, "out of memory");
        return false;
    }
    slot->kv = s.kv;
    slot->n = s.n;
    return true;
}

void cfg_publishers_read(cfg_diags *d, const config *cfg, const ynode *pubs, const char *path,
                         cfg_publishers *out)
{
    check_keys(d, pubs, path);
    ynode *view = pubs ? flat_view(d, pubs, path) : NULL;
    if (pubs && !view) {
        cfg_diag_add(d, pubs, path, "out of memory");
        return;
    }
    const publisher_ops *ops;
    bool region = false;
    for (int i = 0; (ops = publisher_at(i)); i++)
        if (read_one(d, ops, pubs, view, path, false, out)) region |= ops->caps & PUB_NEEDS_REGION;
    for (int i = 0; out->n == 0 && (ops = publisher_at(i)); i++)
        if (ops->caps & PUB_DEFAULT) read_one(d, ops, pubs, view, path, true, out);
    view_free(view);
    if (region && cfg && !cfg->aws_region)
        cfg_diag_add(d, pubs, path,
                     "the AWS publishers need a region: aws_region at the top, AWS_REGION, "
                     "AWS_DEFAULT_REGION or the profile's region");
}

const publisher_ops *publisher_naming_images(const cfg_publishers *ps)
{
    const publisher_ops *best = NULL;
    for (int i = 0; i < ps->n; i++) {
        const publisher_ops *ops = publisher_find(ps->items[i].publisher);
        if (ops && (ops->caps & PUB_STORES_IMAGES) && (!best || ops->image_rank < best->image_rank))
            best = ops;
    }
    return best;
}
