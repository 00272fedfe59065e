/* config_source.c: what counts as a new config version. A file is read
 * again only when its mtime or size moved, and a text equal to the last one
 * (touched, rewritten alike) is no new version; force (SIGHUP) always gives
 * the text. An s3:// address must name a bucket and a key. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/app/app.h"

static char g_path[256];

static void write_text(const char *text, long mtime_s)
{
    FILE *f = fopen(g_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    struct timespec ts[2] = {{mtime_s, 0}, {mtime_s, 0}};
    assert_int_equal(utimensat(AT_FDCWD, g_path, ts, 0), 0);
}

static char *fetch(config_source *s, bool force)
{
    char *text = NULL;
    kerr err = {0};
    assert_int_equal(config_source_fetch(s, force, &text, &err), KERR_OK);
    return text;
}

static void test_file_versions(void **state)
{
    (void)state;
    snprintf(g_path, sizeof g_path, "/tmp/kvs-config-source-%d.yaml", (int)getpid());
    write_text("a: 1\n", 1000);
    config_source s;
    kerr err = {0};
    assert_int_equal(config_source_open(&s, g_path, &err), KERR_OK);
    assert_false(s.s3);
    char *t = fetch(&s, false);
    assert_string_equal(t, "a: 1\n");
    free(t);
    char v1[65];
    snprintf(v1, sizeof v1, "%s", config_source_version(&s));
    assert_int_equal(strlen(v1), 64);
    assert_null(fetch(&s, false)); /* nothing moved */
    write_text("a: 1\n", 2000);    /* touched, same text: no new version */
    assert_null(fetch(&s, false));
    assert_string_equal(config_source_version(&s), v1);
    write_text("a: 22\n", 2000); /* same mtime, other size: read */
    t = fetch(&s, false);
    assert_string_equal(t, "a: 22\n");
    free(t);
    assert_string_not_equal(config_source_version(&s), v1);
    t = fetch(&s, true); /* SIGHUP: the text even when unchanged */
    assert_string_equal(t, "a: 22\n");
    free(t);
    unlink(g_path);
    char *none = NULL;
    assert_int_not_equal(config_source_fetch(&s, false, &none, &err), KERR_OK);
    assert_null(none);
    config_source_close(&s);
}

static void test_s3_address(void **state)
{
    (void)state;
    config_source s;
    const char *bad[] = {"s3://", "s3://bucket", "s3://bucket/", "s3:///key"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kerr err = {0};
        assert_int_equal(config_source_open(&s, bad[i], &err), KERR_INVALID);
        assert_non_null(strstr(err.msg, "s3://BUCKET/KEY"));
    }
    assert_true(config_source_is_s3("s3://b/k"));
    assert_false(config_source_is_s3("/etc/kvs/s3://x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_versions),
        cmocka_unit_test(test_s3_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
