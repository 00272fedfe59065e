/* The ALPR building blocks on known inputs: DB post-processing on a drawn
 * probability map, the rotated and rectified crop, CTC greedy decoding with
 * runner-ups, plate formats with repair and priors, region presets, stacked
 * (two-line) plates, and quality-weighted voting across frames. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/app/app.h"
#include "../../src/config/config.h"
#include "../../src/detect/detect.h"
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

/* A dictionary of these lines, through a real file as the detector loads it. */
static void load_dict(const char *lines, ocr_dict *d)
{
    char path[] = "/tmp/kvs-dict-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, lines, strlen(lines)), (ssize_t)strlen(lines));
    close(fd);
    kerr err = {0};
    assert_int_equal(ocr_dict_load(path, d, &err), KERR_OK);
    unlink(path);
}

static void ctc_collapses_and_upcases(void **state)
{
    (void)state;
    ocr_dict d;
    load_dict("a\nB\n-\n7\n", &d);
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
    plate_formats *f = plate_formats_new(pats, NULL, 2, &err);
    assert_non_null(f);
    ocr_text t = text("ABC1234");
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_MAX), 0);
    t = text("8YG37I5"); /* B read as 8, 1 read as I */
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_MAX), 0);
    assert_string_equal(t.text, "BYG3715");
    assert_true(t.conf[0] < 0.9f && t.conf[1] == 0.9f);
    t = text("7XYZ12S");
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_MAX), 1);
    assert_string_equal(t.text, "7XYZ125");
    t = text("OBO1234"); /* an O where the format wants a letter stays an O */
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_MAX), 0);
    assert_string_equal(t.text, "OBO1234");
    t = text("HELLO");
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_MAX), -1);
    assert_string_equal(t.text, "HELLO");
    plate_formats_free(f);
    char *bad[] = {"^[A-Z"};
    assert_null(plate_formats_new(bad, NULL, 1, &err));
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

/* A plate seen from below and to the side: vertical stripes on a flat plate,
 * projected by a pinhole camera (a homography H with perspective terms, made
 * up here) into a trapezoid. Cropping the trapezoid must give the stripes
 * back upright and evenly spaced: each column one colour top to bottom, and
 * the stripe edges where the plate has them. An affine crop (three corners)
 * leaves them slanted and bunched towards the far side. */
static void project(double U, double V, double *x, double *y)
{
    double z = 1 + 0.5 * U + 0.2 * V; /* the plate's right side is farther away */
    *x = (40 + 200 * U + 20 * V) / z, *y = (20 + 15 * U + 60 * V) / z;
}

static void crop_rectifies_perspective(void **state)
{
    (void)state;
    int iw = 240, ih = 120;
    uint8_t *img = malloc((size_t)iw * ih * 3);
    memset(img, 255, (size_t)iw * ih * 3);
    for (int j = 0; j <= 1200; j++) /* splat the plate densely: 8 dark stripes */
        for (int i = 0; i <= 2400; i++) {
            double U = i / 2400.0, V = j / 1200.0, x, y;
            if ((int)(U * 16) % 2) continue;
            project(U, V, &x, &y);
            memset(img + ((size_t)(int)y * iw + (size_t)(int)x) * 3, 0, 3);
        }
    ocr_quad q;
    double c[4][2] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}};
    for (int k = 0; k < 4; k++) {
        double x, y;
        project(c[k][0], c[k][1], &x, &y);
        q.p[k] = (ocr_pt){(float)x, (float)y};
    }
    enum { DW = 160, DH = 40 };
    uint8_t out[DW * DH * 3];
    quad_crop(img, iw * 3, iw, ih, &q, out, DW, DH);
    /* the same crop through an affine map of three corners, for scale */
    uint8_t aff[DW * DH * 3];
    for (int y = 0; y < DH; y++)
        for (int x = 0; x < DW; x++) {
            float u = (x + 0.5f) / DW, v = (y + 0.5f) / DH;
            int sx = (int)(q.p[0].x + u * (q.p[1].x - q.p[0].x) + v * (q.p[3].x - q.p[0].x));
            int sy = (int)(q.p[0].y + u * (q.p[1].y - q.p[0].y) + v * (q.p[3].y - q.p[0].y));
            sx = sx < 0 ? 0 : sx >= iw ? iw - 1 : sx, sy = sy < 0 ? 0 : sy >= ih ? ih - 1 : sy;
            memcpy(aff + ((size_t)y * DW + x) * 3, img + ((size_t)sy * iw + sx) * 3, 3);
        }
    int wrong = 0, wrong_affine = 0;
    for (int x = 0; x < DW; x++) {
        double U = (x + 0.5) / DW, edge = fabs(U * 16 - floor(U * 16 + 0.5));
        if (edge < 0.15) continue; /* too near a stripe edge to call */
        bool want_dark = (int)(U * 16) % 2 == 0;
        for (int y = 2; y < DH - 2; y++) {
            wrong += (out[((size_t)y * DW + x) * 3] < 128) != want_dark;
            wrong_affine += (aff[((size_t)y * DW + x) * 3] < 128) != want_dark;
        }
    }
    print_message("perspective crop: %d pixels off, affine: %d\n", wrong, wrong_affine);
    assert_true(wrong < DW * (DH - 4) * 3 / 100);         /* under 3 % */
    assert_true(wrong_affine > DW * (DH - 4) * 15 / 100); /* what it corrects */
    free(img);
}

static void ctc_keeps_the_runner_up(void **state)
{
    (void)state;
    ocr_dict d;
    load_dict("0\nO\no\n1\n", &d);
    /* classes: 0 blank, 1 '0', 2 'O', 3 'o', 4 '1', 5 space */
    enum { T = 4, C = 6 };
    float p[T * C] = {0};
    p[0 * C + 1] = 0.5f, p[0 * C + 2] = 0.3f, p[0 * C + 3] = 0.2f;   /* O+o = 0.5: a tie */
    p[1 * C + 1] = 0.4f, p[1 * C + 2] = 0.35f, p[1 * C + 3] = 0.25f; /* O and o: 0.6 */
    p[2 * C + 0] = 1.0f;
    p[3 * C + 4] = 0.9f, p[3 * C + 0] = 0.1f;
    ocr_text t;
    ctc_greedy(p, T, C, &d, &t);
    assert_string_equal(t.text, "O1"); /* the two cases of a letter count as one symbol */
    assert_true(fabsf(t.conf[0] - 0.6f) < 1e-5f); /* its best step */
    assert_int_equal(t.alt[0], '0');
    assert_true(fabsf(t.alt_conf[0] - 0.5f) < 1e-5f);
    assert_int_equal(t.alt[1], 0); /* nothing else was likely */
    ocr_dict_free(&d);
}

static void formats_use_runner_ups_drops_and_priors(void **state)
{
    (void)state;
    kerr err = {0};
    /* a template format with counts, repaired from the recogniser's runner-up */
    char *de[] = {"^[A-Z]{1,3}[A-Z]{1,2}[0-9]{1,4}$"};
    plate_formats *f = plate_formats_new(de, NULL, 1, &err);
    assert_non_null(f);
    ocr_text t = text("MAB12Z4");
    t.alt[5] = '2', t.alt_conf[5] = 0.4f;
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_SOME), 0);
    assert_string_equal(t.text, "MAB1224");
    plate_formats_free(f);
    /* an unsure extra character at the edge (a bolt, the country band) drops */
    char *sk[] = {"^[A-Z]{2}[0-9]{3}[A-Z]{2}$"};
    f = plate_formats_new(sk, NULL, 1, &err);
    t = text("LLM633BD");
    t.conf[0] = 0.45f;
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_SOME), 0);
    assert_string_equal(t.text, "LM633BD");
    assert_int_equal(t.n, 7);
    t = text("LM6633BD"); /* an extra one inside does not: too costly */
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_SOME), -1);
    assert_string_equal(t.text, "LM6633BD");
    plate_formats_free(f);
    /* home first: a read that fits the foreign format as it is still goes
     * home when one likely swap gets it there */
    char *both[] = {"^[A-Z]{2}[0-9]{3}[A-Z]{2}$", "^[A-Z]{2}[0-9]{4}[A-Z]$"};
    float priors[] = {0, 0.6f};
    f = plate_formats_new(both, priors, 2, &err);
    t = text("BA2681M");
    t.alt[5] = 'I', t.alt_conf[5] = 0.33f;
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_SOME), 0);
    assert_string_equal(t.text, "BA268IM");
    t = text("WA56660"); /* but not when it takes two confident swaps */
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_SOME), -1);
    t = text("WA5663K"); /* a 3 is never a letter: foreign it is */
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_SOME), 1);
    plate_formats_free(f);
}

static void region_presets(void **state)
{
    (void)state;
    plate_preset p[64];
    assert_int_equal(plate_region("atlantis", p, 64), -1);
    assert_non_null(strstr(plate_region_names(), "us, eu, br, de"));
    int n = plate_region("br", p, 64);
    assert_int_equal(n, 2);
    char *pats[64];
    for (int i = 0; i < n; i++)
        pats[i] = (char *)p[i].pattern;
    kerr err = {0};
    plate_formats *f = plate_formats_new(pats, NULL, n, &err);
    ocr_text t = text("AY09034"); /* old Brazilian: O read as 0 */
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_SOME), 1);
    assert_string_equal(t.text, "AYO9034");
    assert_string_equal(p[1].name, "BR");
    t = text("BRA2E19"); /* Mercosul */
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_SOME), 0);
    assert_string_equal(p[0].name, "BR-Mercosul");
    plate_formats_free(f);
    /* every preset of every region (the table's own list) compiles and
     * expands into templates, and is named in the error message's list */
    int regions = 0;
    for (const char *name; (name = plate_region_at(regions)); regions++) {
        assert_non_null(strstr(plate_region_names(), name));
        n = plate_region(name, p, 64);
        assert_true(n > 0);
        for (int i = 0; i < n; i++)
            pats[i] = (char *)p[i].pattern;
        f = plate_formats_new(pats, NULL, n, &err);
        if (!f) fail_msg("%s: %s", name, err.msg);
        plate_formats_free(f);
    }
    assert_true(regions >= 19);
    n = plate_region("us", p, 64);
    for (int i = 0; i < n; i++)
        pats[i] = (char *)p[i].pattern;
    f = plate_formats_new(pats, NULL, n, &err);
    t = text("7XYZ123");
    assert_true(plate_formats_match(f, &t, PLATE_REPAIR_SOME) >= 0);
    assert_string_equal(p[plate_formats_match(f, &t, 0)].name, "US-NLLLNNN");
    plate_formats_free(f);
}

static void region_in_config(void **state)
{
    (void)state;
    cfg_diags d = {0};
    config *c = config_load(&app_cfg_readers, "r.yaml",
                            "cameras:\n  - name: a\n    source: {mode: url, url: x}\n"
                            "    detectors:\n      - type: alpr\n        params:\n"
                            "          det_model: d.onnx\n          rec_model: r.onnx\n"
                            "          dict: k.txt\n          region: [sk, narnia]\n",
                            &d);
    assert_non_null(c);
    detector_ctx ctx = {.config_file = "r.yaml"};
    assert_false(detector_check(&c->cams[0].dets[0], &ctx, &d));
    bool found = false;
    for (size_t i = 0; i < d.n; i++)
        if (strstr(d.items[i].msg, "region \"narnia\" is not known") &&
            strstr(d.items[i].msg, "us, eu, br"))
            found = true, assert_int_equal(d.items[i].line, 10);
    assert_true(found);
    cfg_diags_free(&d);
    config_free(c);
}

static ocr_quad box(float x1, float y1, float x2, float y2)
{
    return (ocr_quad){{{x1, y1}, {x2, y1}, {x2, y2}, {x1, y2}}, 1};
}

static void stacked_lines_read_top_then_bottom(void **state)
{
    (void)state;
    ocr_text top = text("LZW"), bottom = text("9715"), out;
    top.conf[0] = 0.5f, top.mean = 0.8f;
    ocr_quad a = box(20, 10, 80, 30), b = box(10, 34, 90, 60);
    assert_true(ocr_stack_lines(&a, &top, &b, &bottom, &out));
    assert_string_equal(out.text, "LZW9715");
    assert_int_equal(out.n, 7);
    assert_true(out.conf[0] == 0.5f && out.conf[3] == 0.9f);
    assert_true(fabsf(out.mean - (0.8f * 3 + 0.9f * 4) / 7) < 1e-5f);
    assert_false(ocr_stack_lines(&b, &bottom, &a, &top, &out)); /* bottom is not on top */
    ocr_quad side = box(100, 12, 160, 30);                      /* side by side: one line */
    assert_false(ocr_stack_lines(&a, &top, &side, &bottom, &out));
    ocr_quad far = box(20, 120, 80, 140); /* far below: another text */
    assert_false(ocr_stack_lines(&a, &top, &far, &bottom, &out));
    ocr_quad shifted = box(75, 34, 140, 60); /* barely under it */
    assert_false(ocr_stack_lines(&a, &top, &shifted, &bottom, &out));
}

static void votes_trust_the_best_frames(void **state)
{
    (void)state;
    plate_votes v = {0};
    ocr_text blur = text("ABC1284"), sharp = text("ABC1234"), part = text("BC1234");
    blur.quality = 0.15f, part.quality = 0.2f, sharp.quality = 0.9f;
    for (int i = 0; i < 4; i++)
        plate_votes_add(&v, &blur); /* four small, blurred sightings */
    plate_votes_add(&v, &part);
    plate_votes_add(&v, &part);
    plate_votes_add(&v, &sharp); /* one close, sharp one */
    ocr_text best;
    assert_int_equal(plate_votes_best(&v, &best), 5);
    assert_string_equal(best.text, "ABC1234");
    /* sharpness: a hard edge against the same edge blurred */
    enum { W = 32, H = 16 };
    uint8_t crisp[W * H * 3], soft[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            memset(crisp + (y * W + x) * 3, (x / 4) % 2 ? 255 : 0, 3);
            memset(soft + (y * W + x) * 3, 128 + (int)(40 * sinf((float)x * 0.2f)), 3);
        }
    assert_true(ocr_sharpness(crisp, W, H) > 0.9f);
    assert_true(ocr_sharpness(soft, W, H) < 0.1f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(db_finds_rotated_text),
        cmocka_unit_test(crop_follows_the_quad),
        cmocka_unit_test(ctc_collapses_and_upcases),
        cmocka_unit_test(formats_repair_only_where_needed),
        cmocka_unit_test(votes_pick_each_character),
        cmocka_unit_test(crop_rectifies_perspective),
        cmocka_unit_test(ctc_keeps_the_runner_up),
        cmocka_unit_test(formats_use_runner_ups_drops_and_priors),
        cmocka_unit_test(region_presets),
        cmocka_unit_test(region_in_config),
        cmocka_unit_test(stacked_lines_read_top_then_bottom),
        cmocka_unit_test(votes_trust_the_best_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
