/* The one registry shape (src/core/registry.c) that sources, detectors and
 * publishers share: built-ins first, names unique, the table bounded, and a
 * refusal an error that is kept for the start-up check, never dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/core/core.h"
#include "../../src/detect/detect.h"
#include "../../src/publish/publish.h"
#include "../../src/source/source.h"

typedef struct {
    const char *name;
} thing;

static const char *name_of(const void *e)
{
    return ((const thing *)e)->name;
}

static const thing k_a = {"a"}, k_b = {"b"};
static const void *const k_builtin[] = {&k_a, &k_b, NULL};

static void builtins_then_extras(void **state)
{
    (void)state;
    registry r = REGISTRY_INIT("thing", k_builtin, name_of);
    thing c = {"c"};
    kerr err = {0};
    assert_int_equal(registry_add(&r, &c, &err), KERR_OK);
    assert_ptr_equal(registry_at(&r, 0), &k_a);
    assert_ptr_equal(registry_at(&r, 2), &c);
    assert_null(registry_at(&r, 3));
    assert_ptr_equal(registry_find(&r, "c"), &c);
    assert_null(registry_find(&r, "d"));
    char names[64];
    registry_names(&r, names, sizeof names);
    assert_string_equal(names, "a, b, c");
    assert_int_equal(registry_check(&r, &err), KERR_OK);
}

static void duplicates_and_overflow_are_errors(void **state)
{
    (void)state;
    registry r = REGISTRY_INIT("thing", k_builtin, name_of);
    thing dup = {"b"}, nameless = {""};
    kerr err = {0};
    assert_int_equal(registry_add(&r, &dup, &err), KERR_INVALID);
    assert_string_equal(err.msg, "thing \"b\" is registered twice");
    assert_int_equal(registry_add(&r, &nameless, &err), KERR_INVALID);
    static thing many[REGISTRY_MAX_EXTRA + 1];
    static char names[REGISTRY_MAX_EXTRA + 1][8];
    for (int i = 0; i <= REGISTRY_MAX_EXTRA; i++) {
        snprintf(names[i], sizeof names[i], "x%d", i);
        many[i].name = names[i];
        kerr_code rc = registry_add(&r, &many[i], &err);
        assert_int_equal(rc, i < REGISTRY_MAX_EXTRA ? KERR_OK : KERR_INVALID);
    }
    assert_non_null(strstr(err.msg, "no room"));
    /* the first refusal is what the start-up check reports */
    assert_int_equal(registry_check(&r, &err), KERR_INVALID);
    assert_string_equal(err.msg, "thing \"b\" is registered twice");
}

/* The three kinds go through it: a built-in's name cannot be taken again. */
static void the_three_kinds_refuse_taken_names(void **state)
{
    (void)state;
    kerr err = {0};
    source_ops s = *source_find("url");
    assert_int_equal(source_register(&s, &err), KERR_INVALID);
    assert_non_null(strstr(err.msg, "source \"url\""));
    detector_ops d = *detector_find("yolo");
    assert_int_equal(detector_register(&d, &err), KERR_INVALID);
    assert_non_null(strstr(err.msg, "detector \"yolo\""));
    publisher_ops p = *publisher_find("kinesis");
    assert_int_equal(publisher_register(&p, &err), KERR_INVALID);
    assert_non_null(strstr(err.msg, "publisher \"kinesis\""));
    assert_int_equal(detector_registry_check(&err), KERR_INVALID);
    /* a detector's capabilities come with it: the built-in plate reader says so */
    assert_true(detector_find("alpr")->caps & DET_READS_PLATES);
    assert_false(detector_find("yolo")->caps & DET_READS_PLATES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtins_then_extras),
        cmocka_unit_test(duplicates_and_overflow_are_errors),
        cmocka_unit_test(the_three_kinds_refuse_taken_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
