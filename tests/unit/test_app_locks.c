/* The app's shared state, each part under its own lock: the configs in use
 * (config_keeper: swapped at a reload while the API reads), the camera list,
 * and a camera's view (its JPEG encoded with no lock held). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libavutil/frame.h>

#include "../../src/app/app.h"
#include "test_skip.h"

/* A config of two cameras named after its number k: a reader that sees the
 * two disagree read a config while it was freed or half swapped. */
static config *numbered(int k)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "defaults:\n"
             "  source: {mode: url, url: x}\n"
             "  detectors: [{type: yolo, params: {model: m.onnx}}]\n"
             "cameras: [{name: a-%d}, {name: b-%d}]\n",
             k, k);
    cfg_diags d = {0};
    config *c = config_load(&app_cfg_readers, "n.yaml", yaml, &d);
    if (!c) fail_msg("%s", d.n ? d.items[0].msg : "config");
    cfg_diags_free(&d);
    return c;
}

static int number_of(const config *c)
{
    return atoi(c->cams[0].name + 2);
}

static bool consistent(const config *c)
{
    char want[32];
    snprintf(want, sizeof want, "b-%d", number_of(c));
    return c->ncam == 2 && strcmp(c->cams[1].name, want) == 0;
}

typedef struct {
    config_keeper *k;
    atomic_bool stop;
    atomic_int reads, bad;
} readers;

static void *read_loop(void *p)
{
    readers *r = p;
    while (!atomic_load(&r->stop)) {
        config *c = config_keeper_current(r->k);
        if (!consistent(c)) atomic_fetch_add(&r->bad, 1);
        atomic_fetch_add(&r->reads, 1);
        config_keeper_release(r->k, c);
    }
    return NULL;
}

/* Four threads read the current config while the main thread swaps it 300
 * times: every read is whole, and afterwards only the current config is
 * held (each old one was freed by whoever let go of it last). */
static void swap_under_concurrent_reads(void **state)
{
    (void)state;
    config_keeper k;
    assert_true(config_keeper_init(&k, numbered(1)));
    readers r = {.k = &k};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, read_loop, &r), 0);
    for (int i = 2; i < 302; i++) {
        config *next = numbered(i);
        assert_true(config_keeper_hold(&k, next));
        config_keeper_swap(&k, next);
        if (i % 50 == 0) usleep(1000); /* let the readers in between */
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&r.bad), 0);
    assert_true(atomic_load(&r.reads) > 0);
    assert_int_equal(k.n, 1);
    assert_int_equal(number_of(k.current), 301);
    config_keeper_free(&k);
}

/* A reader's reference keeps the old config alive across a swap; the
 * reader's release frees it, not the swap. */
static void reference_outlives_the_swap(void **state)
{
    (void)state;
    config_keeper k;
    assert_true(config_keeper_init(&k, numbered(1)));
    config *old = config_keeper_current(&k);
    config *next = numbered(2);
    assert_true(config_keeper_hold(&k, next));
    config_keeper_swap(&k, next);
    assert_int_equal(k.n, 2); /* the old one, held by the reader only */
    assert_true(consistent(old));
    assert_int_equal(number_of(old), 1);
    config *now = config_keeper_current(&k);
    assert_ptr_equal(now, next);
    config_keeper_release(&k, now);
    config_keeper_release(&k, old);
    assert_int_equal(k.n, 1);
    config_keeper_free(&k);
}

/* ---- the lock split: one part's lock held does not stop the others ---- */
typedef struct {
    config_keeper *k;
    camera_view *v;
    atomic_bool done;
} other_parts;

static void *use_other_parts(void *p)
{
    other_parts *o = p;
    config *c = config_keeper_current(o->k); /* the API's config read */
    config_keeper_release(o->k, c);
    view_watch(o->v); /* a viewer asking for a camera's frame */
    atomic_store(&o->done, true);
    return NULL;
}

static bool wait_done(atomic_bool *done, int ms)
{
    for (int i = 0; i < ms / 5 && !atomic_load(done); i++)
        usleep(5000);
    return atomic_load(done);
}

/* The app once had one mutex for the camera list, the config swap and the UI
 * token: a reload stopping cameras under it held back every page request.
 * Now the camera list's lock, held, leaves the config and the views free. */
static void camera_list_lock_leaves_config_free(void **state)
{
    (void)state;
    config_keeper k;
    assert_true(config_keeper_init(&k, numbered(1)));
    camera_list l;
    camera_list_init(&l);
    other_parts o = {.k = &k, .v = view_new()};
    int n;
    camera_list_lock(&l, &n);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, use_other_parts, &o), 0);
    bool done = wait_done(&o.done, 2000);
    camera_list_unlock(&l);
    pthread_join(t, NULL);
    assert_true(done);
    view_release(o.v);
    camera_list_free(&l);
    config_keeper_free(&k);
}

/* And the config's lock, held (a swap in progress), leaves the camera list
 * free. */
static void *list_cameras(void *p)
{
    camera_list *l = ((void **)p)[0];
    atomic_bool *done = ((void **)p)[1];
    int n;
    camera_list_lock(l, &n);
    camera_list_unlock(l);
    atomic_store(done, true);
    return NULL;
}

static void config_lock_leaves_camera_list_free(void **state)
{
    (void)state;
    config_keeper k;
    assert_true(config_keeper_init(&k, numbered(1)));
    camera_list l;
    camera_list_init(&l);
    atomic_bool done = false;
    void *args[2] = {&l, &done};
    pthread_mutex_lock(&k.mu);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, list_cameras, args), 0);
    bool ok = wait_done(&done, 2000);
    pthread_mutex_unlock(&k.mu);
    pthread_join(t, NULL);
    assert_true(ok);
    camera_list_free(&l);
    config_keeper_free(&k);
}

static void camera_list_adds_finds_and_removes(void **state)
{
    (void)state;
    camera_list l;
    camera_list_init(&l);
    cfg_camera ca = {.name = "a"}, cb = {.name = "b"};
    camera a = {.cfg = &ca}, b = {.cfg = &cb};
    assert_true(camera_list_add(&l, &a));
    assert_true(camera_list_add(&l, &b));
    int n, at = -1;
    camera **v = camera_list_lock(&l, &n);
    assert_int_equal(n, 2);
    assert_ptr_equal(camera_list_find(v, n, "b", &at), &b);
    assert_int_equal(at, 1);
    assert_null(camera_list_find(v, n, "c", NULL));
    camera_list_unlock(&l);
    assert_true(camera_list_remove(&l, &a));
    assert_false(camera_list_remove(&l, &a));
    v = camera_list_lock(&l, &n);
    assert_int_equal(n, 1);
    assert_ptr_equal(v[0], &b);
    camera_list_unlock(&l);
    camera_list_free(&l);
}

/* ---- the view: a JPEG made with no lock held, from a view that outlives
 * its camera while a request holds it ---- */
/* A decoded-like grey picture (YUV 4:2:0), as a camera's frames are. */
static kframe *grey(int w, int h)
{
    AVFrame *pic = av_frame_alloc();
    assert_non_null(pic);
    pic->width = w, pic->height = h, pic->format = AV_PIX_FMT_YUV420P;
    assert_int_equal(av_frame_get_buffer(pic, 0), 0);
    for (int p = 0; p < 3; p++)
        memset(pic->data[p], 128, (size_t)pic->linesize[p] * (size_t)(p ? h / 2 : h));
    kerr err = {0};
    kframe *f = frame_from_picture(pic, &err);
    av_frame_free(&pic);
    if (!f) fail_msg("%s", err.msg);
    return f;
}

static void view_jpeg_outlives_its_camera_and_is_kept(void **state)
{
    (void)state;
    camera_view *v = view_new();
    unsigned char *jpeg = NULL, *again = NULL;
    unsigned long len = 0, len2 = 0;
    kerr err = {0};
    assert_int_equal(view_jpeg(v, &jpeg, &len, &err), KERR_AGAIN); /* nothing kept yet */
    assert_true(view_watched(v)); /* asking is watching: the next frame is kept */
    kframe *f = grey(320, 240);
    ui_box box = {.x1 = 10, .y1 = 10, .x2 = 100, .y2 = 80, .text = "person 90%"};
    view_offer(v, f, &box, 1);
    frame_unref(f);
    view_hold(v);    /* a request holds it... */
    view_release(v); /* ...and its camera is freed meanwhile */
    assert_int_equal(view_jpeg(v, &jpeg, &len, &err), KERR_OK);
    assert_true(len > 100);
    assert_int_equal(jpeg[0], 0xFF);
    assert_int_equal(jpeg[1], 0xD8);
    assert_int_equal(v->jpeg_seq, v->seq); /* kept for the other viewers */
    assert_int_equal(view_jpeg(v, &again, &len2, &err), KERR_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(again, jpeg, len);
    free(again);
    /* The mutex is free after each call: nothing is left locked. */
    assert_int_equal(pthread_mutex_trylock(&v->mu), 0);
    pthread_mutex_unlock(&v->mu);
    free(jpeg);
    view_release(v);
}

/* The JPEG is made of the newest frame offered, and kept under its number
 * (keep_jpeg keeps none for a frame already replaced). */
static void jpeg_is_of_the_newest_frame(void **state)
{
    (void)state;
    camera_view *v = view_new();
    view_watch(v);
    kframe *f = grey(64, 48);
    view_offer(v, f, NULL, 0);
    int64_t first = v->seq;
    view_offer(v, f, NULL, 0);
    frame_unref(f);
    unsigned char *jpeg = NULL;
    unsigned long len = 0;
    kerr err = {0};
    assert_int_equal(view_jpeg(v, &jpeg, &len, &err), KERR_OK);
    assert_int_equal(v->jpeg_seq, first + 1);
    free(jpeg);
    view_release(v);
}

int main(void)
{
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(swap_under_concurrent_reads),
        cmocka_unit_test(reference_outlives_the_swap),
        cmocka_unit_test(camera_list_lock_leaves_config_free),
        cmocka_unit_test(config_lock_leaves_camera_list_free),
        cmocka_unit_test(camera_list_adds_finds_and_removes),
        cmocka_unit_test(view_jpeg_outlives_its_camera_and_is_kept),
        cmocka_unit_test(jpeg_is_of_the_newest_frame),
    };
    return test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
