/* docs/metrics.md against the metrics table: the generated table between its
 * markers must be what the registry renders now (name, type, help of every
 * family, in order), and the hand-written labels table must name every family
 * and no other. KVS_WRITE_DOCS=1 (scripts/gen-metrics-doc.sh) rewrites the
 * generated table instead of comparing it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/metrics/metrics.h"

static const char k_begin[] =
    "<!-- BEGIN generated metrics table: scripts/gen-metrics-doc.sh -->\n";
static const char k_end[] = "<!-- END generated metrics table -->\n";

static void append(char **s, size_t *len, const char *t)
{
    size_t l = strlen(t);
    *s = realloc(*s, *len + l + 1);
    memcpy(*s + *len, t, l + 1);
    *len += l;
}

/* The table as the registry renders it: every `# HELP` with its `# TYPE`. */
static char *expected_table(void)
{
    metrics_reset();
    char *text = metrics_render(), *out = NULL;
    size_t len = 0;
    append(&out, &len, "| Metric | Type | Meaning |\n|---|---|---|\n");
    char *save = NULL, *help = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "# HELP ", 7) == 0) {
            help = l + 7;
            continue;
        }
        if (strncmp(l, "# TYPE ", 7) != 0 || !help) continue;
        char *name = l + 7, *type = strchr(name, ' ');
        if (!type) continue;
        *type++ = '\0';
        const char *h = help + strlen(name) + 1;
        char row[2048];
        size_t o = (size_t)snprintf(row, sizeof row, "| `%s` | %s | ", name, type);
        for (; *h && o + 4 < sizeof row; h++) { /* a | in a help text would split the cell */
            if (*h == '|') row[o++] = '\\';
            row[o++] = *h;
        }
        snprintf(row + o, sizeof row - o, " |\n");
        append(&out, &len, row);
        help = NULL;
    }
    free(text);
    return out;
}

static char *doc_path(void)
{
    const char *src = getenv("KVS_SOURCE_DIR");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/docs/metrics.md", src && *src ? src : ".");
    return kstrdup(buf);
}

static void test_generated_table_is_current(void **state)
{
    (void)state;
    char *path = doc_path(), *want = expected_table();
    kerr err = {0};
    size_t len = 0;
    char *doc = read_file(path, &len, &err);
    if (!doc) fail_msg("%s", err.msg);
    char *b = strstr(doc, k_begin), *e = b ? strstr(b, k_end) : NULL;
    if (!b || !e) fail_msg("%s: the markers of the generated table are missing", path);
    b += strlen(k_begin);
    if (getenv("KVS_WRITE_DOCS")) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "%.*s%s%s", (int)(b - doc), doc, want, e);
        assert_int_equal(fclose(f), 0);
    } else if (strlen(want) != (size_t)(e - b) || strncmp(b, want, strlen(want)) != 0) {
        fail_msg("%s is out of date with src/metrics/registry.c: run scripts/gen-metrics-doc.sh "
                 "(and describe any new metric's labels below the table). Expected:\n%s",
                 path, want);
    }
    free(doc), free(want), free(path);
}

/* Every family has a row in the labels table ("| `name` | labels |" after the
 * "## Labels" heading), and every row there is a family. */
static void test_labels_table_names_every_family(void **state)
{
    (void)state;
    char *path = doc_path(), *want = expected_table();
    kerr err = {0};
    size_t len = 0;
    char *doc = read_file(path, &len, &err);
    if (!doc) fail_msg("%s", err.msg);
    char *labels = strstr(doc, "\n## Labels");
    if (!labels) fail_msg("%s: no \"## Labels\" section", path);
    char *next = strstr(labels + 1, "\n## ");
    if (next) *next = '\0';
    int problems = 0;
    char *save = NULL, *rows = kstrdup(want); /* strtok_r cuts its copy */
    for (char *l = strtok_r(rows, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "| `", 3) != 0) continue;
        char *name = l + 3, *q = strchr(name, '`');
        *q = '\0';
        char key[256];
        snprintf(key, sizeof key, "| `%s` |", name);
        if (!strstr(labels, key)) {
            fprintf(stderr, "%s: %s has no row under \"## Labels\": add | `%s` | labels |\n", path,
                    name, name);
            problems++;
        }
        *q = '`';
    }
    for (char *l = strstr(labels, "\n| `"); l; l = strstr(l + 1, "\n| `")) {
        char name[256];
        if (sscanf(l, "\n| `%255[^`]`", name) != 1) continue;
        char key[300];
        snprintf(key, sizeof key, "| `%s` |", name);
        if (!strstr(want, key)) {
            fprintf(stderr, "%s: \"## Labels\" lists %s, which the registry does not have\n", path,
                    name);
            problems++;
        }
    }
    assert_int_equal(problems, 0);
    free(rows), free(doc), free(want), free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_table_is_current),
        cmocka_unit_test(test_labels_table_names_every_family),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
