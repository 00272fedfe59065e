/* Typed access to YAML nodes with diagnostics, shared by the config loader and
 * by detectors validating their own params. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"

static const char *kind_name(const ynode *n)
{
    return n->kind == YNODE_MAP ? "a mapping" : n->kind == YNODE_SEQ ? "a list" : "a scalar";
}

static void join(char *buf, size_t len, const char *path, const char *key)
{
    if (path && *path)
        snprintf(buf, len, "%s.%s", path, key);
    else
        snprintf(buf, len, "%s", key);
}

const ynode *ynode_get(const ynode *map, const char *key)
{
    if (!map || map->kind != YNODE_MAP) return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0) return map->items[i];
    return NULL;
}

static bool is_null(const ynode *v)
{
    return v->kind == YNODE_SCALAR && !v->quoted &&
           (v->value[0] == '\0' || strcmp(v->value, "~") == 0 || strcmp(v->value, "null") == 0);
}

bool cfg_read_str(cfg_diags *d, const ynode *map, const char *key, const char *path, char **out)
{
    const ynode *v = ynode_get(map, key);
    if (!v || is_null(v)) return false;
    char p[512];
    join(p, sizeof p, path, key);
    if (v->kind != YNODE_SCALAR) {
        cfg_diag_add(d, v, p, "expected a string, got %s", kind_name(v));
        return false;
    }
    free(*out);
    *out = kstrdup(v->value);
    return true;
}

bool cfg_read_bool(cfg_diags *d, const ynode *map, const char *key, const char *path, bool *out)
{
    const ynode *v = ynode_get(map, key);
    if (!v || is_null(v)) return false;
    char p[512];
    join(p, sizeof p, path, key);
    if (v->kind == YNODE_SCALAR && (!v->quoted || v->expanded)) {
        const char *s = v->value;
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") || !strcmp(s, "yes") ||
            !strcmp(s, "on")) {
            *out = true;
            return true;
        }
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE") || !strcmp(s, "no") ||
            !strcmp(s, "off")) {
            *out = false;
            return true;
        }
    }
    cfg_diag_add(d, v, p, "expected true or false, got %s%s%s", v->kind == YNODE_SCALAR ? "\"" : "",
                 v->kind == YNODE_SCALAR ? v->value : kind_name(v),
                 v->kind == YNODE_SCALAR ? "\"" : "");
    return false;
}

static bool parse_number(const ynode *v, double *out)
{
    if (v->kind != YNODE_SCALAR || v->value[0] == '\0') return false;
    if (v->quoted && !v->expanded) return false; /* "5" is a string */
    char *end;
    errno = 0;
    double x = strtod(v->value, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(x)) return false;
    *out = x;
    return true;
}

bool cfg_read_double(cfg_diags *d, const ynode *map, const char *key, const char *path, double min,
                     double max, double *out)
{
    const ynode *v = ynode_get(map, key);
    if (!v || is_null(v)) return false;
    char p[512];
    join(p, sizeof p, path, key);
    double x;
    if (!parse_number(v, &x)) {
        cfg_diag_add(d, v, p, "expected a number, got %s%s%s", v->kind == YNODE_SCALAR ? "\"" : "",
                     v->kind == YNODE_SCALAR ? v->value : kind_name(v),
                     v->kind == YNODE_SCALAR ? "\"" : "");
        return false;
    }
    if (x < min || x > max) {
        cfg_diag_add(d, v, p, "%g is out of range [%g, %g]", x, min, max);
        return false;
    }
    *out = x;
    return true;
}

bool cfg_read_int(cfg_diags *d, const ynode *map, const char *key, const char *path, int64_t min,
                  int64_t max, int64_t *out)
{
    const ynode *v = ynode_get(map, key);
    if (!v || is_null(v)) return false;
    char p[512];
    join(p, sizeof p, path, key);
    double x;
    if (!parse_number(v, &x) || x != floor(x) || fabs(x) > 9.0e15) {
        cfg_diag_add(
            d, v, p, "expected an integer, got %s%s%s", v->kind == YNODE_SCALAR ? "\"" : "",
            v->kind == YNODE_SCALAR ? v->value : kind_name(v), v->kind == YNODE_SCALAR ? "\"" : "");
        return false;
    }
    if (x < (double)min || x > (double)max) {
        cfg_diag_add(d, v, p, "%lld is out of range [%lld, %lld]", (long long)x, (long long)min,
                     (long long)max);
        return false;
    }
    *out = (int64_t)x;
    return true;
}

void cfg_check_keys(cfg_diags *d, const ynode *map, const char *path, const char *const *allowed)
{
    if (!map || map->kind != YNODE_MAP) return;
    for (size_t i = 0; i < map->n; i++) {
        bool ok = false;
        for (size_t j = 0; allowed[j]; j++)
            if (strcmp(map->keys[i], allowed[j]) == 0) ok = true;
        if (ok) continue;
        char p[512], hint[512] = "";
        join(p, sizeof p, path, map->keys[i]);
        size_t hl = 0;
        for (size_t j = 0; allowed[j] && hl + 40 < sizeof hint; j++)
            hl += (size_t)snprintf(hint + hl, sizeof hint - hl, "%s%s", j ? ", " : "", allowed[j]);
        cfg_diag_add_pos(d, map->key_line[i], map->key_col[i], p, "unknown key (allowed: %s)",
                         hint);
    }
}

bool cfg_expect_map(cfg_diags *d, const ynode *n, const char *path)
{
    if (n && n->kind == YNODE_MAP) return true;
    if (n) cfg_diag_add(d, n, path, "expected a mapping, got %s", kind_name(n));
    return false;
}

char *cfg_resolve_path(const char *config_file, const char *p)
{
    struct stat st;
    if (!p) return NULL;
    if (p[0] == '/' || stat(p, &st) == 0 || !config_file) return kstrdup(p);
    const char *slash = strrchr(config_file, '/');
    if (!slash) return kstrdup(p);
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%.*s/%s", (int)(slash - config_file), config_file, p);
    if (stat(buf, &st) == 0) return kstrdup(buf);
    return kstrdup(p);
}

char *cfg_resolve_model(const char *config_file, const char *models_dir, const char *p)
{
    struct stat st;
    if (p && p[0] != '/' && models_dir) {
        char buf[PATH_MAX];
        snprintf(buf, sizeof buf, "%s/%s", models_dir, p);
        if (stat(buf, &st) == 0) return kstrdup(buf);
    }
    return cfg_resolve_path(config_file, p);
}
