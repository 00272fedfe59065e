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

/* ---- what tracked objects raise (track_events.c) ---- */

static detection plate_det(float x, const char *text, float conf)
{
    detection d = DET(x, 100, x + 80, 130, conf, 0);
    d.plate.has = true;
    d.plate.n = (int)strlen(text);
    memcpy(d.plate.text, text, (size_t)d.plate.n);
    for (int i = 0; i < d.plate.n; i++)
        d.plate.conf[i] = conf;
    d.plate.mean = conf;
    d.plate.format = -1;
    return d;
}

static int see(track_book *b, int64_t id, bool confirmed, detection d, kframe *f, int64_t t,
               track_event *ev)
{
    int n = track_book_see(b, id, confirmed, &d, f, NULL, 0, t, ev);
    return n;
}

static void release(track_event *ev, int n)
{
    for (int i = 0; i < n; i++)
        if (ev[i].frame) frame_unref(ev[i].frame);
}

static void one_event_then_summary_and_updates(void **state)
{
    (void)state;
    tracker none;
    tracker_init(&none, 0.3f, 2, 1500); /* no tracks: every record has ended */
    track_policy p = {.updates = true, .summary = true};
    track_book b;
    track_book_init(&b, &p);
    kframe *f = frame_new(320, 240);
    track_event ev[4];
    assert_int_equal(see(&b, 1, false, DET(10, 10, 50, 90, 0.5f, 0), f, 0, ev),
                     0); /* not confirmed */
    assert_int_equal(see(&b, 1, true, DET(12, 10, 52, 90, 0.6f, 0), f, 100, ev), 1);
    assert_int_equal(ev[0].kind, TRACK_EVENT_OBJECT);
    assert_int_equal(ev[0].track_id, 1);
    release(ev, 1);
    assert_int_equal(see(&b, 1, false, DET(14, 10, 54, 90, 0.65f, 0), f, 200, ev), 0);
    assert_int_equal(see(&b, 1, false, DET(16, 10, 56, 90, 0.9f, 0), f, 1000, ev), 0); /* < 2 s */
    assert_int_equal(see(&b, 1, false, DET(18, 10, 58, 90, 0.9f, 0), f, 2200, ev), 1);
    assert_int_equal(ev[0].kind, TRACK_EVENT_UPDATE); /* seen far more surely */
    assert_true(ev[0].det.score > 0.89f && ev[0].det.score < 0.91f);
    release(ev, 1);
    assert_int_equal(track_book_end(&b, &none, false, ev, 4), 1);
    assert_int_equal(ev[0].kind, TRACK_EVENT_END);
    assert_int_equal(ev[0].sightings, 5);
    assert_int_equal(ev[0].first_ms, 0);
    assert_int_equal(ev[0].last_ms, 2200);
    release(ev, 1);
    assert_int_equal(track_book_end(&b, &none, false, ev, 4), 0);
    track_book_free(&b);
    tracker_free(&none);
    frame_unref(f);
}

/* Memory (issue 12.2): a track holds a full-size frame only while it may
 * still need it, and its event's frame and box always come from one sighting. */
static void tracks_let_go_of_frames_they_no_longer_need(void **state)
{
    (void)state;
    track_policy p = {0};
    track_book b;
    track_book_init(&b, &p);
    kframe *f1 = frame_new(320, 240), *f2 = frame_new(320, 240), *f3 = frame_new(320, 240);
    f1->pts_ms = 0, f2->pts_ms = 2000, f3->pts_ms = 4000;
    track_event ev[4];
    assert_true(track_book_oldest_pending(&b) == INT64_MAX); /* no track: nothing held */
    assert_int_equal(see(&b, 1, false, DET(10, 10, 50, 90, 0.9f, 0), f1, 0, ev), 0);
    track_book_frame_done(&b, 0);
    assert_int_equal(atomic_load(&f1->refs), 2); /* seen in it: kept */
    /* the clip ring keeps the pre-roll of the frame an unreported track holds */
    assert_true(track_book_oldest_pending(&b) == 0);
    see(&b, 2, false, DET(100, 10, 150, 90, 0.5f, 0), f2, 2000, ev); /* another object only */
    track_book_frame_done(&b, 2000);
    assert_int_equal(atomic_load(&f1->refs), 1);        /* track 1 unseen in f2: lets go of f1 */
    assert_true(track_book_oldest_pending(&b) == 2000); /* only track 2's f2 is held now */
    /* Seen again, less surely: its event takes this sighting, frame and box together. */
    assert_int_equal(see(&b, 1, true, DET(20, 10, 60, 90, 0.6f, 0), f3, 4000, ev), 1);
    assert_ptr_equal(ev[0].frame, f3);
    assert_true(ev[0].det.x1 == 20 && ev[0].det.score < 0.61f);
    release(ev, 1);
    assert_int_equal(atomic_load(&f3->refs), 1); /* reported, no updates or summary: let go */
    assert_true(track_book_oldest_pending(&b) == 2000); /* track 1 reported: not held */
    track_book_free(&b);
    frame_unref(f1), frame_unref(f2), frame_unref(f3);
}

static void cooldown_keeps_a_refound_object_quiet(void **state)
{
    (void)state;
    tracker none;
    tracker_init(&none, 0.3f, 2, 1500);
    track_policy p = {.cooldown_ms = 10000};
    track_book b;
    track_book_init(&b, &p);
    kframe *f = frame_new(320, 240);
    track_event ev[4];
    assert_int_equal(see(&b, 1, true, DET(10, 10, 50, 90, 0.6f, 0), f, 0, ev), 1);
    release(ev, 1);
    assert_int_equal(track_book_end(&b, &none, false, ev, 4), 0);
    /* lost, then found again in the same place as a new track: quiet */
    assert_int_equal(see(&b, 2, true, DET(12, 10, 52, 90, 0.6f, 0), f, 5000, ev), 0);
    /* another object elsewhere is not affected */
    assert_int_equal(see(&b, 3, true, DET(200, 10, 240, 90, 0.6f, 0), f, 5000, ev), 1);
    release(ev, 1);
    /* the same place after the cooldown: a new alert */
    assert_int_equal(see(&b, 4, true, DET(12, 10, 52, 90, 0.6f, 0), f, 16000, ev), 1);
    release(ev, 1);
    track_book_free(&b);
    tracker_free(&none);
    frame_unref(f);
}

static void plates_settle_by_votes(void **state)
{
    (void)state;
    tracker none;
    tracker_init(&none, 0.3f, 2, 1500);
    track_policy p = {.plates = true, .plate_min_reads = 3};
    track_book b;
    track_book_init(&b, &p);
    kframe *f = frame_new(320, 240);
    track_event ev[4];
    assert_int_equal(see(&b, 1, true, plate_det(10, "ABC1234", 0.9f), f, 0, ev), 0);
    assert_int_equal(see(&b, 1, false, plate_det(20, "A8C1234", 0.8f), f, 200, ev), 0);
    assert_int_equal(see(&b, 1, false, plate_det(30, "ABC1234", 0.9f), f, 400, ev), 1);
    assert_string_equal(ev[0].det.plate.text, "ABC1234"); /* voted, not the last read */
    release(ev, 1);
    assert_int_equal(see(&b, 1, false, plate_det(40, "ABC1234", 0.9f), f, 600, ev), 0);
    /* a vehicle read only twice still gets its one event when its track ends */
    assert_int_equal(see(&b, 2, true, plate_det(200, "XYZ999", 0.9f), f, 0, ev), 0);
    assert_int_equal(see(&b, 2, false, plate_det(210, "XYZ999", 0.9f), f, 200, ev), 0);
    assert_int_equal(track_book_end(&b, &none, false, ev, 4), 1);
    assert_int_equal(ev[0].track_id, 2);
    assert_string_equal(ev[0].det.plate.text, "XYZ999");
    release(ev, 1);
    track_book_free(&b);
    tracker_free(&none);
    frame_unref(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_event_then_summary_and_updates),
        cmocka_unit_test(cooldown_keeps_a_refound_object_quiet),
        cmocka_unit_test(tracks_let_go_of_frames_they_no_longer_need),
        cmocka_unit_test(plates_settle_by_votes),
        cmocka_unit_test(point_in_polygon),
        cmocka_unit_test(include_and_exclude),
        cmocka_unit_test(tracker_one_event_per_object),
        cmocka_unit_test(tracker_follows_fast_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
