/* Sampling (fps_limit, skip_frames), frame slots that drop stale frames or
 * block, the bounded queue, and the Prometheus exposition. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/metrics/metrics.h"
#include "../../src/sched/sched.h"

static void sampler_fps_limit(void **state)
{
    (void)state;
    sampler s;
    sampler_init(&s, 5, 0); /* 25 fps input, 5 fps wanted */
    int taken = 0;
    for (int i = 0; i < 250; i++)
        taken += sampler_take(&s, i * 40);
    assert_int_equal(taken, 50);
    /* a loop restart (pts back to 0) keeps sampling */
    taken = 0;
    for (int i = 0; i < 25; i++)
        taken += sampler_take(&s, i * 40);
    assert_int_equal(taken, 5);
}

static void sampler_skip_frames(void **state)
{
    (void)state;
    sampler s;
    sampler_init(&s, 0, 2);
    bool got[7];
    for (int i = 0; i < 7; i++)
        got[i] = sampler_take(&s, -1);
    assert_true(got[0] && !got[1] && !got[2] && got[3] && !got[4] && !got[5] && got[6]);
    sampler_init(&s, 0, 0); /* no limits: every frame */
    for (int i = 0; i < 10; i++)
        assert_true(sampler_take(&s, i));
}

typedef struct {
    int seen;
    int64_t last_seq;
    bool ordered;
    int delay_ms;
} sink;

static void analyse(void *cam, kframe *f, int worker, void *user)
{
    (void)worker, (void)user;
    sink *s = cam;
    usleep((useconds_t)s->delay_ms * 1000);
    if (f->seq <= s->last_seq) s->ordered = false;
    s->last_seq = f->seq;
    s->seen++;
    frame_unref(f);
}

static void slot_drops_stale_frames(void **state)
{
    (void)state;
    sched *sc = sched_new(1, analyse, NULL);
    sink s = {.last_seq = -1, .ordered = true, .delay_ms = 20};
    sched_cam *c = sched_cam_add(sc, &s, 2, true);
    int dropped = 0;
    for (int i = 0; i < 50; i++) {
        kframe *f = frame_new(2, 2);
        f->seq = i;
        dropped += sched_push(c, f);
    }
    dropped += sched_cam_remove(c);
    sched_free(sc);
    assert_true(dropped > 30); /* a slow worker: most frames are dropped, never queued */
    assert_int_equal(s.seen + dropped, 50);
    assert_true(s.ordered);
    assert_int_equal(s.last_seq, 49); /* the newest is the one analysed last */
}

static void batch_slot_blocks_instead(void **state)
{
    (void)state;
    sched *sc = sched_new(2, analyse, NULL);
    sink a = {.last_seq = -1, .ordered = true, .delay_ms = 1};
    sink b = {.last_seq = -1, .ordered = true, .delay_ms = 1};
    sched_cam *ca = sched_cam_add(sc, &a, 2, false), *cb = sched_cam_add(sc, &b, 2, false);
    for (int i = 0; i < 40; i++) {
        kframe *f = frame_new(2, 2), *g = frame_new(2, 2);
        f->seq = g->seq = i;
        assert_int_equal(sched_push(ca, f), 0);
        assert_int_equal(sched_push(cb, g), 0);
    }
    sched_cam_remove(ca);
    sched_cam_remove(cb);
    sched_free(sc);
    assert_int_equal(a.seen, 40);
    assert_int_equal(b.seen, 40);
    assert_true(a.ordered && b.ordered); /* two workers, yet each camera stays in order */
}

typedef struct {
    sched_cam *c;
    int rc;
} pusher;

static void *push_one(void *arg)
{
    pusher *p = arg;
    kframe *f = frame_new(2, 2);
    f->seq = 100;
    p->rc = sched_push(p->c, f); /* blocks: the batch slot is full */
    return NULL;
}

/* After a signal (issue 26.9): a batch camera with a backlog of slow
 * analyses, its reader blocked on the full slot. sched_abandon lets the
 * reader go (its push refused), the worker finish only the frame it is on,
 * and sched_cam_remove return at once with the rest counted as dropped. */
static void abandon_drops_the_backlog(void **state)
{
    (void)state;
    sched *sc = sched_new(1, analyse, NULL);
    sink s = {.last_seq = -1, .ordered = true, .delay_ms = 200};
    sched_cam *c = sched_cam_add(sc, &s, 8, false);
    for (int i = 0; i < 9; i++) { /* one in analysis, eight queued */
        kframe *f = frame_new(2, 2);
        f->seq = i;
        assert_int_equal(sched_push(c, f), 0);
        if (i == 0) usleep(50000); /* the worker takes the first */
    }
    assert_true(sched_cam_pending(c) >= 8); /* 9 unless the first analysis already ended */
    pusher p = {c, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, push_one, &p), 0);
    usleep(50000);
    int64_t t0 = clock_mono_ns();
    sched_abandon(sc);
    pthread_join(t, NULL);
    assert_int_equal(p.rc, -1);
    int dropped = sched_cam_remove(c);
    int64_t ms = (clock_mono_ns() - t0) / 1000000;
    sched_free(sc);
    assert_int_equal(s.seen + dropped, 9);
    assert_true(s.seen <= 2); /* the one in analysis (and, on a slow machine, the next) */
    assert_true(ms < 1000);   /* not the eight queued analyses of 200 ms each */
}

/* More work than capacity (issue 12.4): one worker, eight live cameras that
 * always have a frame waiting. Cameras are served oldest-waiting first, so
 * each gets its share and none starves; each analysis is of the camera's
 * newest frame. */
static void every_camera_gets_its_share(void **state)
{
    (void)state;
    sched *sc = sched_new(1, analyse, NULL);
    enum { N = 8 };
    sink s[N];
    sched_cam *c[N];
    for (int i = 0; i < N; i++) {
        s[i] = (sink){.last_seq = -1, .ordered = true, .delay_ms = 2};
        c[i] = sched_cam_add(sc, &s[i], 2, true);
    }
    int dropped = 0;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < N; i++) {
            kframe *f = frame_new(2, 2);
            f->seq = round;
            dropped += sched_push(c[i], f);
        }
        usleep(2000);
    }
    for (int i = 0; i < N; i++)
        dropped += sched_cam_remove(c[i]);
    sched_free(sc);
    int lo = s[0].seen, hi = s[0].seen, total = 0;
    for (int i = 0; i < N; i++) {
        lo = s[i].seen < lo ? s[i].seen : lo, hi = s[i].seen > hi ? s[i].seen : hi;
        total += s[i].seen;
        assert_true(s[i].ordered);
    }
    assert_int_equal(total + dropped, 200 * N);
    assert_true(dropped > 0); /* the worker could not keep up */
    assert_true(lo >= 10);
    assert_true(hi - lo <= 3); /* round robin: within a frame or so of each other */
    for (int i = 0; i < N; i++)
        assert_int_equal(s[i].last_seq, 199);
}

static void prometheus_text(void **state)
{
    (void)state;
    metrics_reset();
    char l[256];
    mlabels(l, sizeof l, "camera", "a\"b\\c", NULL);
    assert_string_equal(l, "camera=\"a\\\"b\\\\c\"");
    metric_add(M_FRAMES_PROCESSED, l, 3);
    metric_add(M_FRAMES_PROCESSED, l, 2);
    metric_observe(M_INFERENCE_SECONDS, "detector=\"yolo\"", 0.02);
    metric_observe(M_INFERENCE_SECONDS, "detector=\"yolo\"", 0.2);
    assert_true(metric_get(M_FRAMES_PROCESSED, l) == 5);
    char *text = metrics_render();
    assert_non_null(strstr(text, "# TYPE kvs_infer_frames_processed_total counter\n"));
    assert_non_null(strstr(text, "kvs_infer_frames_processed_total{camera=\"a\\\"b\\\\c\"} 5\n"));
    assert_non_null(
        strstr(text, "kvs_infer_inference_seconds_bucket{detector=\"yolo\",le=\"0.025\"} 1\n"));
    assert_non_null(
        strstr(text, "kvs_infer_inference_seconds_bucket{detector=\"yolo\",le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(text, "kvs_infer_inference_seconds_count{detector=\"yolo\"} 2\n"));
    assert_non_null(strstr(text, "# TYPE kvs_infer_stream_errors_total counter\n"));
    free(text);
    metrics_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sampler_fps_limit),           cmocka_unit_test(sampler_skip_frames),
        cmocka_unit_test(slot_drops_stale_frames),     cmocka_unit_test(batch_slot_blocks_instead),
        cmocka_unit_test(every_camera_gets_its_share), cmocka_unit_test(prometheus_text),
        cmocka_unit_test(abandon_drops_the_backlog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
