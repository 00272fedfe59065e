#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"

static void add_v(cfg_diags *d, int line, int col, const char *path, const char *fmt, va_list ap)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        cfg_diag *ni = realloc(d->items, cap * sizeof *ni);
        if (!ni) return;
        d->items = ni;
        d->cap = cap;
    }
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    cfg_diag *g = &d->items[d->n++];
    g->file = kstrdup(d->file ? d->file : "<config>");
    g->line = line;
    g->col = col;
    g->path = kstrdup(path ? path : "");
    g->msg = kstrdup(msg);
}

void cfg_diag_add(cfg_diags *d, const ynode *at, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_v(d, at ? at->line : 1, at ? at->col : 1, path, fmt, ap);
    va_end(ap);
}

void cfg_diag_add_pos(cfg_diags *d, int line, int col, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_v(d, line, col, path, fmt, ap);
    va_end(ap);
}

void cfg_diags_free(cfg_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].file);
        free(d->items[i].path);
        free(d->items[i].msg);
    }
    free(d->items);
    d->items = NULL;
    d->n = d->cap = 0;
}

void cfg_diag_format(const cfg_diag *g, char *buf, size_t len)
{
    if (g->path && *g->path)
        snprintf(buf, len, "%s:%d:%d: %s: %s", g->file, g->line, g->col, g->path, g->msg);
    else
        snprintf(buf, len, "%s:%d:%d: %s", g->file, g->line, g->col, g->msg);
}
