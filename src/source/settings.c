/* A camera's `source:`: `mode:` picks the source (registry.c), which reads
 * its own keys; mode and reconnect_max_s are every source's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

static bool has_key(const char *const *keys, const char *key)
{
    for (int i = 0; keys && keys[i]; i++)
        if (strcmp(keys[i], key) == 0) return true;
    return false;
}

/* The source asked for: by `mode:`, else the one a key implies, else the default. */
static const source_ops *pick(const ynode *src, const char *mode)
{
    const source_ops *s;
    if (mode) return source_find(mode);
    for (int i = 0; (s = source_at(i)); i++)
        if (s->implied_by && ynode_get(src, s->implied_by)) return s;
    for (int i = 0; (s = source_at(i)); i++)
        if (s->is_default) return s;
    return NULL;
}

static void names(char *out, size_t len)
{
    const source_ops *s;
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; (s = source_at(i)) && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", s->name);
}

/* A key of another source gets a message that says so. */
static void check_keys(cfg_diags *d, const ynode *src, const char *path, const source_ops *ops)
{
    static const char *const common[] = {"mode", "reconnect_max_s", NULL};
    for (size_t i = 0; src && i < src->n; i++) {
        const char *k = src->keys[i];
        if (has_key(common, k) || has_key(ops->keys, k)) continue;
        const source_ops *other = NULL, *s;
        for (int j = 0; !other && (s = source_at(j)); j++)
            if (has_key(s->keys, k)) other = s;
        if (other)
            cfg_diag_add_pos(d, src->key_line[i], src->key_col[i], path,
                             "`%s` is a key of mode %s, not of mode %s", k, other->name, ops->name);
        else
            cfg_diag_add_pos(d, src->key_line[i], src->key_col[i], path, "unknown key `%s`", k);
    }
}

void cfg_source_read(cfg_diags *d, const config *cfg, const ynode *cam, const char *path,
                     cfg_camera *c)
{
    char p[512];
    snprintf(p, sizeof p, "%s.source", path);
    c->reconnect_max_s = 30;
    const ynode *src = ynode_get(cam, "source");
    if (src && !cfg_expect_map(d, src, p)) return;
    char *mode = NULL;
    int64_t rs;
    if (src) cfg_read_str(d, src, "mode", p, &mode);
    if (src && cfg_read_int(d, src, "reconnect_max_s", p, 1, 3600, &rs))
        c->reconnect_max_s = (int)rs;
    const source_ops *ops = pick(src, mode);
    if (!ops) {
        char known[256];
        names(known, sizeof known);
        cfg_diag_add(d, ynode_get(src, "mode"), p, "unknown mode \"%s\" (%s)", mode ? mode : "",
                     known);
        free(mode);
        return;
    }
    free(mode);
    check_keys(d, src, p, ops);
    source_read_ctx r = {d, cfg, cam, src, path, p, c};
    c->source = ops;
    c->source_conf = ops->read_conf(&r);
    c->source_conf_free = ops->conf_free;
    if (!c->source_conf)
        cfg_diag_add(d, src ? src : cam, p, "out of memory");
    else
        c->kvs_archive = ops->traits(c->source_conf) & SOURCE_KVS_ARCHIVE;
}
