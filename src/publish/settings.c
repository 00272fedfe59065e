/* A camera's `publishers:`, read by the publishers themselves: each takes its
 * own keys (publisher_ops.keys, .read); what no publisher claims is an error,
 * as everywhere in the config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publish.h"

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

/* Reads one publisher's part; keeps it when the camera uses it. */
static bool read_one(cfg_diags *d, const publisher_ops *ops, const ynode *pubs, const char *path,
                     bool as_default, cfg_publishers *out)
{
    cfg_pub s = {0};
    bool used = ops->read(d, pubs, path, as_default, &s);
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
    const publisher_ops *ops;
    bool region = false;
    for (int i = 0; (ops = publisher_at(i)); i++)
        if (read_one(d, ops, pubs, path, false, out)) region |= ops->caps & PUB_NEEDS_REGION;
    for (int i = 0; out->n == 0 && (ops = publisher_at(i)); i++)
        if (ops->caps & PUB_DEFAULT) read_one(d, ops, pubs, path, true, out);
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
