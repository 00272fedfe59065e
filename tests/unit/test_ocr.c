/* The ALPR building blocks on known inputs: DB post-processing on a drawn
 * probability map, the rotated crop, CTC greedy decoding, plate formats with
 * confusion repair, and voting across frames. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/ocr/ocr.h"

/* A text kernel: a w x h rectangle at (cx, cy) turned by deg degrees. */
static void draw(float *map, int mw, int mh, float cx, float cy, float w, float h, float deg,
                 float p)
{
    float a = deg * (float)M_PI / 180.f, ux = cosf(a), uy = sinf(a);
    for (int y = 0; y < mh; y++)
        for (int x = 0; x < mw; x++) {
            float dx = (float)x - cx, dy = (float)y - cy;
            float u = dx * ux + dy * uy, v = -dx * uy + dy * ux;
            if (fabsf(u) <= w / 2 && fabsf(v) <= h / 2) map[y * mw + x] = p;
        }
}

static void db_finds_rotated_text(void **state)
{
    (void)state;
    int mw = 240, mh = 120;
    float *map = calloc((size_t)(mw * mh), sizeof *map);
    draw(map, mw, mh, 100, 50, 80, 20, 10, 0.9f);
    draw(map, mw, mh, 200, 100, 20, 6, 0, 0.9f);  /* a second, smaller line */
    draw(map, mw, mh, 30, 100, 12, 12, 0, 0.35f); /* above the pixel threshold, below box_thresh */
    db_params p;
    db_params_default(&p);
    ocr_quad q[4];
    int n = db_boxes(map, mw, mh, &p, q, 4);
    assert_int_equal(n, 2);
    float w, h;
    quad_size(&q[0], &w, &h); /* largest first; unclipped by 80*20*1.5/200 = 12 a side */
    assert_true(fabsf(w - 104) < 4 && fabsf(h - 44) < 4);
    float angle =
        atan2f(q[0].p[1].y - q[0].p[0].y, q[0].p[1].x - q[0].p[0].x) * 180.f / (float)M_PI;
    assert_true(fabsf(angle - 10) < 2);
    assert_true(q[0].p[0].x < q[0].p[1].x && q[0].p[0].y < q[0].p[3].y); /* top-left first */
    assert_true(q[0].score > 0.8f);
    free(map);
}

static void crop_follows_the_quad(void **state)
{
    (void)state;
    int iw = 64, ih = 32;
    uint8_t *img = calloc((size_t)(iw * ih * 3), 1);
    for (int y = 8; y < 16; y++)
        for (int x = 16; x < 48; x++)
            img[(y * iw + x) * 3] = 200; /* a red bar */
    ocr_quad q = {{{16, 8}, {48, 8}, {48, 16}, {16, 16}}, 1};
    uint8_t out[32 * 8 * 3];
    quad_crop(img, iw * 3, iw, ih, &q, out, 32, 8);
    for (int i = 0; i < 32 * 8; i++)
        assert_true(out[i * 3] >= 190 && out[i * 3 + 1] == 0);
    free(img);
}

static void ctc_collapses_and_upcases(void **state)
{
    (void)state;
    char path[] = "/tmp/kvs-dict-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "a\nB\n-\n7\n", 8), 8);
    close(fd);
    ocr_dict d;
    kerr err = {0};
    assert_int_equal(ocr_dict_load(path, &d, &err), KERR_OK);
    unlink(path);
    assert_int_equal(d.n, 4);
    /* classes: 0 blank, 1 a, 2 B, 3 -, 4 7, 5 space */
    int seq[] = {1, 1, 0, 1, 3, 2, 5, 4, 4};
    int T = 9, C = 6;
    float probs[9 * 6] = {0};
    for (int t = 0; t < T; t++)
        probs[t * C + seq[t]] = 0.9f, probs[t * C + (seq[t] + 1) % C] = 0.1f;
    ocr_text out;
    ctc_greedy(probs, T, C, &d, &out);
    assert_string_equal(out.text,
                        "AAB7"); /* repeats merged, blank splits, dash and space dropped */
    assert_int_equal(out.n, 4);
    assert_true(fabsf(out.mean - 0.9f) < 1e-5f);
    ocr_dict_free(&d);
}

static ocr_text text(const char *s)
{
    ocr_text t = {0};
    t.n = (int)strlen(s);
    memcpy(t.text, s, (size_t)t.n);
    for (int i = 0; i < t.n; i++)
        t.conf[i] = 0.9f;
    t.mean = 0.9f;
    return t;
}

static void formats_repair_only_where_needed(void **state)
{
    (void)state;
    char *pats[] = {"^[A-Z]{3}[0-9]{4}$", "^[0-9][A-Z]{3}[0-9]{3}$"};
    kerr err = {0};
    plate_formats *f = plate_formats_new(pats, 2, &err);
    assert_non_null(f);
    ocr_text t = text("ABC1234");
    assert_int_equal(plate_formats_match(f, &t), 0);
    t = text("8YG37I5"); /* B read as 8, 1 read as I */
    assert_int_equal(plate_formats_match(f, &t), 0);
    assert_string_equal(t.text, "BYG3715");
    assert_true(t.conf[0] < 0.9f && t.conf[1] == 0.9f);
    t = text("7XYZ12S");
    assert_int_equal(plate_formats_match(f, &t), 1);
    assert_string_equal(t.text, "7XYZ125");
    t = text("OBO1234"); /* an O where the format wants a letter stays an O */
    assert_int_equal(plate_formats_match(f, &t), 0);
    assert_string_equal(t.text, "OBO1234");
    t = text("HELLO");
    assert_int_equal(plate_formats_match(f, &t), -1);
    assert_string_equal(t.text, "HELLO");
    plate_formats_free(f);
    char *bad[] = {"^[A-Z"};
    assert_null(plate_formats_new(bad, 1, &err));
    assert_non_null(strstr(err.msg, "plate format 0"));
}

static void votes_pick_each_character(void **state)
{
    (void)state;
    plate_votes v = {0};
    ocr_text a = text("ABC1234"), b = text("A8C1234"), c = text("ABC1284"), d = text("BC1234");
    plate_votes_add(&v, &a);
    plate_votes_add(&v, &b);
    plate_votes_add(&v, &c);
    plate_votes_add(&v, &d); /* a partial read (plate entering the frame) */
    ocr_text best;
    assert_int_equal(plate_votes_best(&v, &best), 3);
    assert_string_equal(best.text, "ABC1234"); /* no single read had to be right everywhere */
    assert_true(best.conf[1] < 0.7f && best.conf[0] > 0.85f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(db_finds_rotated_text),
        cmocka_unit_test(crop_follows_the_quad),
        cmocka_unit_test(ctc_collapses_and_upcases),
        cmocka_unit_test(formats_repair_only_where_needed),
        cmocka_unit_test(votes_pick_each_character),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
