/* camera_gate: per-camera backoff in a publisher's delivery loop. Order is
 * the point: a camera's newer event never overtakes one that was passed over,
 * and passed-over events are always handed out again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../src/publish/camera_gate.h"

/* Found by it_disk_full under load: A failed, B was passed over, and a newer
 * event C read after the retry time went out before A and B were handed out
 * again; C's success then forgot that A and B waited, and they never came back. */
static void newer_event_waits_for_the_rewind(void **state)
{
    (void)state;
    camera_gate *g = camera_gate_new();
    bool rewind;
    assert_int_equal(camera_gate_fail(g, "cam", 1000, 100), 100); /* A failed */
    assert_true(camera_gate_closed(g, "cam", 1000));              /* A held back */
    assert_true(camera_gate_closed(g, "cam", 1050));              /* B passed over */
    assert_false(camera_gate_closed(g, "other", 1050));           /* others go on */
    assert_int_equal(camera_gate_due(g, 1060, &rewind), 40);
    assert_false(rewind);
    assert_true(camera_gate_closed(g, "cam", 1200)); /* C, after the retry time: still held */
    assert_int_equal(camera_gate_due(g, 1200, &rewind), -1); /* nothing more to wait for */
    assert_true(rewind); /* A, B and C are handed out again, in order */
    assert_false(camera_gate_closed(g, "cam", 1201));
    camera_gate_ok(g, "cam");
    assert_int_equal(camera_gate_due(g, 1202, &rewind), -1);
    assert_false(rewind);
    camera_gate_free(g);
}

static void success_before_the_rewind_keeps_the_rewind(void **state)
{
    (void)state;
    camera_gate *g = camera_gate_new();
    bool rewind;
    camera_gate_fail(g, "cam", 0, 100);
    assert_true(camera_gate_closed(g, "cam", 10)); /* passed over */
    camera_gate_ok(g, "cam");                      /* (another of its events went out) */
    camera_gate_due(g, 30, &rewind);
    assert_true(rewind); /* what was passed over comes back */
    assert_int_equal(camera_gate_due(g, 31, &rewind), -1);
    assert_false(rewind);
    /* A new failure starts the backoff from the beginning again. */
    assert_int_equal(camera_gate_fail(g, "cam", 40, 100), 100);
    camera_gate_free(g);
}

static void backoff_doubles_to_the_cap(void **state)
{
    (void)state;
    camera_gate *g = camera_gate_new();
    int64_t w = 0;
    for (int i = 0; i < 10; i++)
        w = camera_gate_fail(g, "cam", 0, 100);
    assert_int_equal(w, CAMERA_GATE_MAX_MS);
    camera_gate_ok(g, "cam");
    assert_int_equal(camera_gate_fail(g, "cam", 0, 100), 100);
    camera_gate_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(newer_event_waits_for_the_rewind),
        cmocka_unit_test(success_before_the_rewind_keeps_the_rewind),
        cmocka_unit_test(backoff_doubles_to_the_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
