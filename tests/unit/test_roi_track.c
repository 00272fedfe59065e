/* ROI geometry and semantics, and the tracker's one-event-per-object rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/roi/roi.h"
#include "../../src/track/track.h"

/* A box with no plate read: x1, y1, x2, y2, score, class. */
#define DET(a, b, c, d, e, f)                                                                      \
    ((detection){.x1 = (a), .y1 = (b), .x2 = (c), .y2 = (d), .score = (e), .cls = (f)})

static void point_in_polygon(void **state)
{
    (void)state;
    const double sq[4][2] = {{0.1, 0.1}, {0.5, 0.1}, {0.5, 0.5}, {0.1, 0.5}};
    assert_true(roi_contains(sq, 4, 0.3, 0.3));
    assert_false(roi_contains(sq, 4, 0.6, 0.3));
    assert_false(roi_contains(sq, 4, 0.3, 0.05));
    /* concave "L": the notch is outside */
    const double L[6][2] = {{0, 0}, {1, 0}, {1, 0.4}, {0.4, 0.4}, {0.4, 1}, {0, 1}};
    assert_true(roi_contains(L, 6, 0.2, 0.8));
    assert_true(roi_contains(L, 6, 0.8, 0.2));
    assert_false(roi_contains(L, 6, 0.8, 0.8));
}

static void include_and_exclude(void **state)
{
    (void)state;
    double left[4][2] = {{0, 0}, {0.5, 0}, {0.5, 1}, {0, 1}};
    double door[4][2] = {{0.1, 0.1}, {0.2, 0.1}, {0.2, 0.2}, {0.1, 0.2}};
    double right[4][2] = {{0.5, 0}, {1, 0}, {1, 1}, {0.5, 1}};
    cfg_roi rois[3] = {
        {"left", left, 4, false}, {"door", door, 4, true}, {"right", right, 4, false}};
    cfg_camera cam = {.rois = rois, .nroi = 3};
    char *only_left[] = {"left"};
    cfg_detector limited = {.roi = only_left, .nroi = 1};
    cfg_detector whole = {0};
    roi_filter fl, fw;
    roi_filter_init(&fl, &cam, &limited);
    roi_filter_init(&fw, &cam, &whole);
    const char *z[4];
    int nz;
    assert_true(roi_filter_accept(&fl, 0.3, 0.5, z, 4, &nz));
    assert_int_equal(nz, 1);
    assert_string_equal(z[0], "left");
    assert_false(roi_filter_accept(&fl, 0.7, 0.5, z, 4, &nz));   /* outside its zone */
    assert_false(roi_filter_accept(&fl, 0.15, 0.15, z, 4, &nz)); /* exclusion wins */
    assert_false(roi_filter_accept(&fw, 0.15, 0.15, z, 4, &nz)); /* ...for every detector */
    assert_true(roi_filter_accept(&fw, 0.7, 0.5, z, 4, &nz));    /* no roi: whole frame */
    assert_int_equal(nz, 1);
    assert_string_equal(z[0], "right");
    roi_filter_free(&fl);
    roi_filter_free(&fw);
}

static void tracker_one_event_per_object(void **state)
{
    (void)state;
    tracker t;
    tracker_init(&t, 0.3f, 2, 1000);
    det_list l = {0};
    int64_t ids[8];
    bool fresh[8];
    int events = 0;
    /* one object walking right for 20 frames at 5 fps */
    for (int i = 0; i < 20; i++) {
        l.n = 0;
        float x = 10.0f + 3.0f * (float)i;
        det_list_push(&l, DET(x, 10, x + 30, 70, 0.8f, 0));
        tracker_update(&t, &l, i * 200, ids, fresh);
        events += fresh[0];
        assert_int_equal(ids[0], 1);
    }
    assert_int_equal(events, 1);
    /* a second object appears: one more event, on its second sighting */
    l.n = 0;
    det_list_push(&l, DET(300, 10, 330, 70, 0.9f, 0));
    tracker_update(&t, &l, 4000, ids, fresh);
    assert_false(fresh[0]);
    tracker_update(&t, &l, 4200, ids, fresh);
    assert_true(fresh[0]);
    assert_int_equal(ids[0], 2);
    /* gone longer than max_age: a comeback is a new object */
    tracker_update(&t, &l, 9000, ids, fresh);
    assert_int_equal(ids[0], 3);
    /* different classes never share a track */
    l.n = 0;
    det_list_push(&l, DET(300, 10, 330, 70, 0.9f, 1));
    tracker_update(&t, &l, 9200, ids, fresh);
    assert_int_equal(ids[0], 4);
    det_list_free(&l);
    tracker_free(&t);
}

static void tracker_follows_fast_objects(void **state)
{
    (void)state;
    /* a 30 px wide person moving 32 px between sampled frames: consecutive
     * boxes do not overlap at all, the velocity prediction keeps the track */
    tracker t;
    tracker_init(&t, 0.3f, 2, 1500);
    det_list l = {0};
    int64_t ids[2];
    bool fresh[2];
    int events = 0;
    for (int i = 0; i < 15; i++) {
        l.n = 0;
        float x = 400.0f - 32.0f * (float)i;
        det_list_push(&l, DET(x, 170, x + 30, 240, 0.8f, 0));
        /* a second, still person far away */
        det_list_push(&l, DET(700, 50, 730, 120, 0.7f, 0));
        tracker_update(&t, &l, i * 400, ids, fresh);
        events += fresh[0] + fresh[1];
        assert_int_equal(ids[0], 1);
        assert_int_equal(ids[1], 2);
    }
    assert_int_equal(events, 2);
    /* a different-sized box near the prediction is another object */
    l.n = 0;
    det_list_push(&l, DET(400 - 32 * 15, 100, 400 - 32 * 15 + 120, 300, 0.8f, 0));
    tracker_update(&t, &l, 15 * 400, ids, fresh);
    assert_int_equal(ids[0], 3);
    det_list_free(&l);
    tracker_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(point_in_polygon),
        cmocka_unit_test(include_and_exclude),
        cmocka_unit_test(tracker_one_event_per_object),
        cmocka_unit_test(tracker_follows_fast_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
