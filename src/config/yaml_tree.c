/* libyaml document -> ynode tree. We copy into our own tree so positions,
 * quoting and expanded values travel with each node, and so aliases are
 * bounded (a "billion laughs" file fails instead of eating memory). */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config.h"

enum { MAX_NODES = 200000, MAX_DEPTH = 64, MAX_BYTES = 4 << 20, MAX_INDENT = 512 };

typedef struct {
    yaml_document_t *doc;
    cfg_diags *d;
    size_t count;
    bool failed;
} builder;

void ynode_free(ynode *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) {
        ynode_free(n->items[i]);
        if (n->keys) free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->key_line);
    free(n->key_col);
    free(n->value);
    free(n);
}

/* C strings end at the first NUL, so "s3cr3t\u0000-rest" would silently
 * become "s3cr3t" (a weaker token, a different camera name): refuse it. */
static bool has_nul(builder *b, const yaml_node_t *s)
{
    if (strlen((const char *)s->data.scalar.value) == s->data.scalar.length) return false;
    cfg_diag_add_pos(b->d, (int)s->start_mark.line + 1, (int)s->start_mark.column + 1, "",
                     "a NUL character (\\0, \\x00, \\u0000) is not allowed in a string");
    return true;
}

static ynode *build(builder *b, yaml_node_t *src, int depth)
{
    if (b->failed) return NULL;
    if (++b->count > MAX_NODES || depth > MAX_DEPTH) {
        cfg_diag_add_pos(b->d, (int)src->start_mark.line + 1, (int)src->start_mark.column + 1, "",
                         "document too large or too deeply nested (aliases?)");
        b->failed = true;
        return NULL;
    }
    ynode *n = calloc(1, sizeof *n);
    if (!n) {
        b->failed = true;
        return NULL;
    }
    n->line = (int)src->start_mark.line + 1;
    n->col = (int)src->start_mark.column + 1;
    switch (src->type) {
    case YAML_SCALAR_NODE: {
        n->kind = YNODE_SCALAR;
        yaml_scalar_style_t st = src->data.scalar.style;
        n->quoted = st == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    st == YAML_DOUBLE_QUOTED_SCALAR_STYLE || st == YAML_LITERAL_SCALAR_STYLE ||
                    st == YAML_FOLDED_SCALAR_STYLE;
        /* the load fails; the part before the NUL stands in so no
         * follow-on error ("name is empty") hides the real one */
        if (has_nul(b, src)) {
            n->value = kstrdup((const char *)src->data.scalar.value);
            break;
        }
        char msg[300];
        n->expanded = strstr((const char *)src->data.scalar.value, "${") != NULL;
        n->value = cfg_expand_env((const char *)src->data.scalar.value, msg, sizeof msg);
        if (!n->value) {
            cfg_diag_add(b->d, n, "", "%s", msg);
            n->value = kstrdup("");
        }
        break;
    }
    case YAML_SEQUENCE_NODE: {
        n->kind = YNODE_SEQ;
        size_t cnt = (size_t)(src->data.sequence.items.top - src->data.sequence.items.start);
        n->items = calloc(cnt ? cnt : 1, sizeof *n->items);
        for (size_t i = 0; i < cnt && n->items; i++) {
            yaml_node_t *c = yaml_document_get_node(b->doc, src->data.sequence.items.start[i]);
            ynode *cn = c ? build(b, c, depth + 1) : NULL;
            if (!cn) break;
            n->items[n->n++] = cn;
        }
        break;
    }
    case YAML_MAPPING_NODE: {
        n->kind = YNODE_MAP;
        size_t cnt = (size_t)(src->data.mapping.pairs.top - src->data.mapping.pairs.start);
        n->items = calloc(cnt ? cnt : 1, sizeof *n->items);
        n->keys = calloc(cnt ? cnt : 1, sizeof *n->keys);
        n->key_line = calloc(cnt ? cnt : 1, sizeof(int));
        n->key_col = calloc(cnt ? cnt : 1, sizeof(int));
        for (size_t i = 0; i < cnt && n->items && n->keys && n->key_line && n->key_col; i++) {
            yaml_node_pair_t *pr = &src->data.mapping.pairs.start[i];
            yaml_node_t *k = yaml_document_get_node(b->doc, pr->key);
            yaml_node_t *v = yaml_document_get_node(b->doc, pr->value);
            if (!k || !v) break;
            if (k->type != YAML_SCALAR_NODE) {
                cfg_diag_add_pos(b->d, (int)k->start_mark.line + 1, (int)k->start_mark.column + 1,
                                 "", "keys must be plain strings");
                continue;
            }
            if (has_nul(b, k)) continue;
            const char *key = (const char *)k->data.scalar.value;
            for (size_t j = 0; j < n->n; j++) {
                if (strcmp(n->keys[j], key) == 0) {
                    cfg_diag_add_pos(b->d, (int)k->start_mark.line + 1,
                                     (int)k->start_mark.column + 1, key,
                                     "duplicate key (first at line %d)", n->key_line[j]);
                }
            }
            ynode *cv = build(b, v, depth + 1);
            if (!cv) break;
            n->keys[n->n] = kstrdup(key);
            n->key_line[n->n] = (int)k->start_mark.line + 1;
            n->key_col[n->n] = (int)k->start_mark.column + 1;
            n->items[n->n++] = cv;
        }
        break;
    }
    default: n->kind = YNODE_SCALAR; n->value = kstrdup("");
    }
    return n;
}

/* libyaml's scanner slows down with nesting (100,000 levels of [ took 31 s
 * to reject), so size, flow nesting and indentation are checked on the text
 * first: no real config comes near these bounds. Quotes are followed so
 * brackets inside strings do not count. */
static bool prescan(const char *text, size_t len, cfg_diags *d)
{
    if (len > MAX_BYTES) {
        cfg_diag_add_pos(d, 1, 1, "", "the file is %zu bytes: a config is at most %d MiB", len,
                         MAX_BYTES >> 20);
        return false;
    }
    int line = 1, col = 0, depth = 0, indent = 0;
    bool at_start = true;
    char quote = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        col++;
        if (c == '\n') {
            line++, col = 0, indent = 0, at_start = true;
            if (quote == '\'') quote = 0; /* a broken quote must not hide the rest */
            continue;
        }
        if (at_start && (c == ' ' || c == '-')) {
            if (++indent > MAX_INDENT) {
                cfg_diag_add_pos(d, line, col, "", "nested more than %d columns deep", MAX_INDENT);
                return false;
            }
            continue;
        }
        at_start = false;
        if (quote) {
            if (c == quote)
                quote = 0;
            else if (c == '\\' && quote == '"')
                i++, col++;
            continue;
        }
        if (c == '"' || c == '\'')
            quote = c;
        else if (c == '#' && (i == 0 || strchr(" \t\n", text[i - 1])))
            while (i + 1 < len && text[i + 1] != '\n')
                i++;
        else if ((c == '[' || c == '{') && ++depth > MAX_DEPTH) {
            cfg_diag_add_pos(d, line, col, "", "nested more than %d levels deep", MAX_DEPTH);
            return false;
        } else if ((c == ']' || c == '}') && depth > 0)
            depth--;
    }
    return true;
}

ynode *ynode_parse(const char *text, size_t len, cfg_diags *d)
{
    if (!prescan(text, len, d)) return NULL;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        cfg_diag_add_pos(d, 1, 1, "", "out of memory starting the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        int line = (int)parser.problem_mark.line + 1, col = (int)parser.problem_mark.column + 1;
        /* {key: ${VAR}} is not YAML: braces end a plain scalar in {...}. */
        bool flow_var = parser.context && strstr(parser.context, "flow") && strstr(text, "${");
        if (parser.context)
            cfg_diag_add_pos(d, line, col, "", "YAML syntax error: %s %s%s", parser.problem,
                             parser.context,
                             flow_var ? " (inside {...} or [...], quote ${VAR}: "
                                        "token: \"${KVS_UI_TOKEN}\")"
                                      : "");
        else
            cfg_diag_add_pos(d, line, col, "", "YAML syntax error: %s",
                             parser.problem ? parser.problem : "unknown");
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    ynode *out = NULL;
    if (!root) {
        cfg_diag_add_pos(d, 1, 1, "", "the file is empty: expected a mapping with `cameras:`");
    } else {
        builder b = {&doc, d, 0, false};
        out = build(&b, root, 0);
        if (b.failed) {
            ynode_free(out);
            out = NULL;
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return out;
}
