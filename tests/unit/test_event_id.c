/* Event ids derived from the stream (event_id.c): the same event re-raised by
 * a replay gets the same id; anything that tells two events apart changes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/event/event.h"

/* RFC 9562 appendix B.2: SHA-256 of the DNS namespace and "www.example.com". */
static void uuid_v8_matches_the_rfc_example(void **state)
{
    (void)state;
    unsigned char name[16 + 15] = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
                                   0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
    memcpy(name + 16, "www.example.com", 15);
    char id[37];
    assert_true(uuid_v8_name(name, sizeof name, id));
    assert_string_equal(id, "5c146b14-3c52-8afd-938a-375d0df1fbf6");
}

static event sample(void)
{
    static char cam[] = "gate", det[] = "yolo", label[] = "person";
    event e = {.camera_name = cam,
               .detector = det,
               .label = label,
               .producer_ts_ms = 1765100000123,
               .x1 = 100,
               .y1 = 200,
               .x2 = 180,
               .y2 = 400,
               .frame_w = 1280,
               .frame_h = 720};
    strcpy(e.kind, "object");
    return e;
}

static void differs(const event *e, const char *base)
{
    char id[37];
    assert_true(event_id_derive(e, 0, id));
    assert_string_not_equal(id, base);
}

static void same_event_same_id(void **state)
{
    (void)state;
    event e = sample();
    char a[37], b[37];
    assert_true(event_id_derive(&e, 0, a));
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '8');
    assert_non_null(strchr("89ab", a[19]));
    /* what a replay changes: a fresh tracker id, other scores, a few pixels
     * of box, the worker, the wall clock */
    e.track_id = 77, e.confidence = 0.91, e.x1 += 3, e.y2 -= 4, e.detected_at_ms = 42;
    snprintf(e.worker_id, sizeof e.worker_id, "w2");
    assert_true(event_id_derive(&e, 0, b));
    assert_string_equal(a, b);
}

static void each_part_changes_the_id(void **state)
{
    (void)state;
    event base = sample();
    char a[37];
    assert_true(event_id_derive(&base, 0, a));
    event e = base;
    e.camera_name = "yard";
    differs(&e, a);
    e = base, e.detector = "alpr";
    differs(&e, a);
    e = base, snprintf(e.model_sha256, sizeof e.model_sha256, "%s", "e8af07"); /* a second yolo */
    differs(&e, a);
    e = base, e.label = "car";
    differs(&e, a);
    e = base, strcpy(e.kind, "track_end");
    differs(&e, a);
    e = base, e.producer_ts_ms += 100; /* the next frame */
    differs(&e, a);
    e = base, e.x1 += 200, e.x2 += 200; /* another object beside it */
    differs(&e, a);
    e = base, e.y1 += 200, e.y2 += 200;
    differs(&e, a);
    char b[37];
    assert_true(event_id_derive(&base, 1, b)); /* a second event alike in every part */
    assert_string_not_equal(a, b);
}

static void no_producer_time_no_derived_id(void **state)
{
    (void)state;
    event e = sample();
    char id[37];
    e.producer_ts_ms = -1; /* a file or RTSP source: media time restarts */
    assert_false(event_id_derive(&e, 0, id));
    e = sample(), e.frame_w = e.frame_h = 0; /* unknown size: one cell, still an id */
    assert_true(event_id_derive(&e, 0, id));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uuid_v8_matches_the_rfc_example),
        cmocka_unit_test(same_event_same_id),
        cmocka_unit_test(each_part_changes_the_id),
        cmocka_unit_test(no_producer_time_no_derived_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
