/* Which packets are decoded for a given GOP and fps_limit (decode: auto |
 * all | keyframes), including the fallbacks: a stream without key frames for
 * long, irregular key frames, time going back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../src/sched/sched.h"

/* Feeds frames at fps with a key frame every gop frames (gop 0: only the
 * first), from frame `from` to `to`; returns how many were decoded. */
static int feed(decode_policy *p, double fps, int gop, int from, int to)
{
    int n = 0;
    for (int i = from; i < to; i++) {
        bool key = gop ? i % gop == 0 : i == 0;
        n += decode_policy_wants(p, key, (int64_t)(i * 1000.0 / fps));
    }
    return n;
}

static void auto_takes_key_frames_at_one_per_gop(void **state)
{
    (void)state;
    decode_policy p;
    decode_policy_init(&p, DECODE_AUTO, 0.5, 0); /* a frame every 2 s, GOP 2 s at 25 fps */
    /* Learning: key frames only from the start (hoping), confirmed by two
     * equal intervals. */
    assert_true(p.keys_only);
    assert_int_equal(feed(&p, 25, 50, 0, 101), 3); /* frames 0, 50, 100 */
    assert_true(p.keys_only);
    assert_int_equal(p.regular, 1);
    assert_int_equal(p.gop_ms, 2000);
    assert_int_equal(feed(&p, 25, 50, 101, 600), 9); /* frames 150, 200, ... 550 */
}

static void auto_decodes_all_when_more_frames_are_wanted(void **state)
{
    (void)state;
    decode_policy p;
    decode_policy_init(&p, DECODE_AUTO, 1, 0); /* every second, GOP 2 s */
    /* Hoping for key frames only until frame 27 (1080 ms after the key frame:
     * a frame is wanted), then the caller catches up (frames 1..26, kept) and
     * everything is decoded. */
    assert_int_equal(feed(&p, 25, 50, 0, 27), 1);
    assert_false(p.catch_up_now);
    assert_true(decode_policy_wants(&p, false, 27 * 40));
    assert_true(p.catch_up_now && !p.keys_only && !p.hoping);
    assert_int_equal(feed(&p, 25, 50, 28, 600), 600 - 28);
    assert_false(p.keys_only);                   /* the GOP, once known, confirms it */
    decode_policy_init(&p, DECODE_AUTO, 0.5, 2); /* skip_frames counts decoded frames */
    assert_int_equal(feed(&p, 25, 50, 0, 600), 600);
    decode_policy_init(&p, DECODE_AUTO, 0, 0); /* no fps_limit: every frame */
    assert_int_equal(feed(&p, 25, 50, 0, 600), 600);
    decode_policy_init(&p, DECODE_ALL, 0.1, 0);
    assert_int_equal(feed(&p, 25, 50, 0, 600), 600);
}

/* A clip with one key frame (a phone video, a short recording) analysed at 5
 * fps: the hope ends at the first wanted frame, nothing of it is lost. */
static void auto_catches_up_within_the_first_gop(void **state)
{
    (void)state;
    decode_policy p;
    decode_policy_init(&p, DECODE_AUTO, 5, 0);
    assert_true(p.hoping && p.keys_only);
    assert_int_equal(feed(&p, 50, 0, 0, 11), 1); /* 0 ms key, 20..200 ms hoping */
    assert_true(decode_policy_wants(&p, false, 220));
    assert_true(p.catch_up_now);
    assert_int_equal(feed(&p, 50, 0, 12, 250), 250 - 12);
    assert_false(p.fell_back); /* not the intra-refresh fallback: nothing to log */
}

static void keyframes_from_the_start(void **state)
{
    (void)state;
    decode_policy p;
    decode_policy_init(&p, DECODE_KEYFRAMES, 5, 0); /* keyframes even when more are wanted */
    assert_int_equal(feed(&p, 25, 50, 0, 600), 12);
}

static void no_key_frames_for_long_falls_back_once(void **state)
{
    (void)state;
    decode_policy p;
    decode_policy_init(&p, DECODE_KEYFRAMES, 0.5, 0);
    /* Intra refresh: one key frame, then none. 10 s of nothing decoded at most. */
    int n = feed(&p, 25, 0, 0, 250);
    assert_int_equal(n, 1);
    assert_true(decode_policy_wants(&p, false, 10040)); /* frame 251: past 10 s */
    assert_true(p.fell_back && p.fell_back_now);
    p.fell_back_now = false;
    assert_int_equal(feed(&p, 25, 0, 252, 400), 148);
    assert_false(p.fell_back_now);                     /* logged once */
    assert_int_equal(feed(&p, 25, 50, 400, 600), 200); /* stays on all */
}

static void irregular_key_frames_decode_all(void **state)
{
    (void)state;
    decode_policy p;
    decode_policy_init(&p, DECODE_AUTO, 0.2, 0);
    int n = 0;
    for (int i = 0; i < 1000; i++) { /* key frames 1 s, 3 s, 1 s, 3 s... apart */
        bool key = i % 100 == 0 || i % 100 == 25;
        n += decode_policy_wants(&p, key, i * 40);
    }
    /* Key frames 0 and 25 while hoping; the second interval differs from the
     * first: everything from frame 100 on. */
    assert_int_equal(n, 2 + 900);
    assert_false(p.keys_only);
}

static void time_going_back_keeps_what_was_learned(void **state)
{
    (void)state;
    decode_policy p;
    decode_policy_init(&p, DECODE_AUTO, 0.5, 0);
    feed(&p, 25, 50, 0, 600);
    assert_true(p.keys_only);
    /* A looped file: from 0 again, still key frames only (a loop used to
     * decode two whole GOPs again every time round). */
    assert_int_equal(feed(&p, 25, 50, 0, 600), 12);
    /* A reconnect to a stream whose GOP changed (1 s): the first differing
     * interval brings back decoding everything until the new one is learned
     * (two alike); at one frame per 2 s that is key frames only again. */
    assert_int_equal(feed(&p, 25, 25, 0, 26), 2); /* key frames at 0 and 25 (1 s) */
    assert_false(p.keys_only);
    assert_int_equal(feed(&p, 25, 25, 26, 200), 24 + 6); /* 26..49 whole, then 50, 75 ... 175 */
    assert_true(p.keys_only);
    assert_int_equal(p.gop_ms, 1000);
}

static void sampler_takes_a_key_frame_a_little_early(void **state)
{
    (void)state;
    sampler s;
    sampler_init(&s, 0.5, 0);
    s.tolerance_ms = 500;
    assert_true(sampler_take(&s, 0));
    assert_true(sampler_take(&s, 1960)); /* due at 2000: a key frame 40 ms early */
    assert_false(sampler_take(&s, 2000 + 1000));
    assert_true(sampler_take(&s, 3960));
    s.tolerance_ms = 0;
    assert_false(sampler_take(&s, 5960)); /* without tolerance it waits for 6000 */
}

/* A new owner resuming from a checkpoint analyses the frames the old owner
 * did: due times are multiples of the interval on the stream's timeline. */
static void sampler_follows_the_stream_timeline(void **state)
{
    (void)state;
    const int64_t t0 = 1765100000000 + 37; /* producer time of a KVS stream, 10 fps */
    sampler old, resumed;
    sampler_init(&old, 0.5, 0);
    sampler_init(&resumed, 0.5, 0);
    int same = 0;
    for (int i = 0; i < 600; i++) {
        int64_t t = t0 + i * 100;
        bool a = sampler_take(&old, t);
        if (i < 230) continue;
        bool b = sampler_take(&resumed, t); /* starts mid-stream, at a fragment */
        if (i == 230) {
            assert_true(b); /* its first frame, besides the schedule */
            continue;
        }
        assert_int_equal(a, b);
        same += a;
    }
    assert_int_equal(same, 18); /* every 2 s from 24 s to 60 s */
}

/* A replay read faster than real time stays behind until close to live; one
 * that stops gaining ends too: live when near (a source's live latency), else
 * analysis too slow to gain. */
static void catch_up_ends_when_live_or_not_gaining(void **state)
{
    (void)state;
    const int64_t p0 = 1765100000000;
    catch_up k;
    int64_t lag;
    catch_up_init(&k, false);
    assert_int_equal(catch_up_frame(&k, p0, p0 + 30000, &lag), CATCH_UP_OFF);
    assert_int_equal(lag, 30000); /* the gauge still gets it */
    /* 3x real time from 20 s behind: live after 10 s of wall time */
    catch_up_init(&k, true);
    int64_t now = p0 + 20000, t;
    for (t = 0; t < 20000; t += 300) {
        catch_up_state st = catch_up_frame(&k, p0 + 3 * t, now + t, &lag);
        if (st == CATCH_UP_LIVE) break;
        assert_int_equal(st, CATCH_UP_BEHIND);
    }
    assert_true(lag <= 1500);
    assert_in_range(t, 9000, 10000);
    assert_int_equal(catch_up_frame(&k, p0 + 3 * t, now + t, &lag), CATCH_UP_OFF);
    /* at real time, 20 s behind: two windows without gain end it */
    catch_up_init(&k, true);
    for (t = 0; t < 20000; t += 300) {
        catch_up_state st = catch_up_frame(&k, p0 + t, now + t, &lag);
        if (st == CATCH_UP_STILL) break;
        assert_int_equal(st, CATCH_UP_BEHIND);
    }
    assert_int_equal(lag, 20000);
    assert_in_range(t, 4000, 4500);
    /* slow at first (start-up), then gaining: a single still window is not the end */
    catch_up_init(&k, true);
    for (t = 0; t < 2400; t += 300)
        assert_int_equal(catch_up_frame(&k, p0 + t, now + t, &lag), CATCH_UP_BEHIND);
    for (; t < 4800; t += 300)
        assert_int_equal(catch_up_frame(&k, p0 + 2400 + 2 * (t - 2400), now + t, &lag),
                         CATCH_UP_BEHIND);
    /* gaining to 1.6 s behind, then no more (HLS: a fragment's latency): live */
    catch_up_init(&k, true);
    int64_t behind = 20000;
    for (t = 0; t < 20000; t += 300) {
        behind = behind - 900 > 1600 ? behind - 900 : 1600;
        catch_up_state st = catch_up_frame(&k, now + t - behind, now + t, &lag);
        if (st != CATCH_UP_BEHIND) {
            assert_int_equal(st, CATCH_UP_LIVE);
            break;
        }
    }
    assert_int_equal(lag, 1600);
    assert_true(t < 20000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(auto_takes_key_frames_at_one_per_gop),
        cmocka_unit_test(auto_decodes_all_when_more_frames_are_wanted),
        cmocka_unit_test(auto_catches_up_within_the_first_gop),
        cmocka_unit_test(keyframes_from_the_start),
        cmocka_unit_test(no_key_frames_for_long_falls_back_once),
        cmocka_unit_test(irregular_key_frames_decode_all),
        cmocka_unit_test(time_going_back_keeps_what_was_learned),
        cmocka_unit_test(sampler_takes_a_key_frame_a_little_early),
        cmocka_unit_test(sampler_follows_the_stream_timeline),
        cmocka_unit_test(catch_up_ends_when_live_or_not_gaining),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
