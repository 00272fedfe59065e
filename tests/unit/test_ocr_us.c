/* US plate failure kinds on known inputs: a state name or slogan is never
 * joined to the number as a two-line plate; where reads that fit no format
 * are kept (the `us` preset), repair changes only characters the recogniser
 * doubted (a confident read of a personalised plate stays as it was read, an
 * unsure bolt at the edge still goes); no repair at all when it is off; and
 * the plate's confidence is its least sure character's, lowered when the
 * frames disagree; bolts and frame sides read as I or 1 at an end, set apart
 * from the number, are dropped; a small plate blown up for DB is resampled
 * bilinearly (pixel by pixel, DB found no line on it). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/ocr/ocr.h"

static ocr_text text(const char *s, float conf)
{
    ocr_text t = {0};
    t.n = (int)strlen(s);
    memcpy(t.text, s, (size_t)t.n);
    for (int i = 0; i < t.n; i++)
        t.conf[i] = conf;
    t.mean = conf;
    return t;
}

static ocr_quad box(float x1, float y1, float x2, float y2)
{
    return (ocr_quad){{{x1, y1}, {x2, y1}, {x2, y2}, {x1, y2}}, 1};
}

static void state_name_is_not_part_of_the_number(void **state)
{
    (void)state;
    ocr_quad number = box(10, 30, 190, 80);  /* "7ABC123", 50 high */
    ocr_quad name = box(60, 8, 140, 27);     /* "CALIFORNIA" over it, 19 high */
    ocr_quad slogan = box(40, 83, 160, 98);  /* "dmv.ca.gov" under it */
    ocr_quad second = box(20, 83, 180, 125); /* a two-line plate's second line */
    ocr_text tn = text("CALIF", 0.9f), tnum = text("7ABC123", 0.9f), out;
    assert_false(ocr_lines_stacked(&name, &number));
    assert_false(ocr_lines_stacked(&number, &slogan));
    assert_false(ocr_stack_lines(&name, &tn, &number, &tnum, &out));
    assert_true(ocr_lines_stacked(&number, &second)); /* lines of one size still join */
}

static plate_formats *us_formats(void)
{
    plate_preset p[64];
    char *pats[64];
    int n = plate_region("us", p, 64);
    assert_true(n > 0);
    for (int i = 0; i < n; i++)
        pats[i] = (char *)p[i].pattern;
    kerr err = {0};
    plate_formats *f = plate_formats_new(pats, NULL, n, &err);
    assert_non_null(f);
    return f;
}

static void open_region_repairs_only_doubted_characters(void **state)
{
    (void)state;
    assert_true(plate_region_open("us"));
    assert_false(plate_region_open("eu"));
    assert_false(plate_region_open("br"));
    plate_formats *f = us_formats();
    /* a personalised plate read surely: one confusion away from LLLNNNN, but
     * the recogniser had no doubt, so it is kept as read */
    ocr_text t = text("ABC1Z34", 0.95f);
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_UNSURE), -1);
    assert_string_equal(t.text, "ABC1Z34");
    /* the same with the Z unsure: repaired */
    t.conf[4] = 0.3f;
    assert_true(plate_formats_match(f, &t, PLATE_REPAIR_UNSURE) >= 0);
    assert_string_equal(t.text, "ABC1234");
    /* the recogniser's own runner-up close behind: repaired */
    t = text("ABC1Z34", 0.9f);
    t.alt[4] = '2', t.alt_conf[4] = 0.7f;
    assert_true(plate_formats_match(f, &t, PLATE_REPAIR_UNSURE) >= 0);
    assert_string_equal(t.text, "ABC1234");
    /* a bolt at the edge read as I: dropped when unsure, kept when sure */
    t = text("IABC1234", 0.9f);
    t.conf[0] = 0.4f;
    assert_true(plate_formats_match(f, &t, PLATE_REPAIR_UNSURE) >= 0);
    assert_string_equal(t.text, "ABC1234");
    t = text("IABC1234", 0.95f);
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_UNSURE), -1);
    assert_string_equal(t.text, "IABC1234");
    /* repair off (limit 0): only reads that fit as read */
    t = text("ABC1Z34", 0.3f);
    assert_int_equal(plate_formats_match(f, &t, 0), -1);
    assert_string_equal(t.text, "ABC1Z34");
    t = text("ABC1234", 0.3f);
    assert_true(plate_formats_match(f, &t, 0) >= 0);
    plate_formats_free(f);
}

/* What consider() does on `us`: repair of doubted characters, then O/0 and
 * I/1 swaps at any confidence where those alone make the read fit. */
static int us_repair(const plate_formats *f, ocr_text *t)
{
    int m = plate_formats_match(f, t, PLATE_REPAIR_UNSURE);
    return m >= 0 ? m : plate_formats_match_lookalikes(f, t);
}

static void california_o_read_as_zero_is_swapped(void **state)
{
    (void)state;
    plate_formats *f = us_formats();
    /* California's font draws O and 0 alike: the recogniser is sure of 0 */
    ocr_text t = text("4C0V126", 0.97f);
    assert_int_equal(plate_formats_match(f, &t, PLATE_REPAIR_UNSURE), -1);
    assert_true(plate_formats_match_lookalikes(f, &t) >= 0);
    assert_string_equal(t.text, "4COV126");
    assert_true(t.conf[2] < 0.97f); /* a repair is less sure */
    t = text("4R0W485", 0.95f);
    assert_true(us_repair(f, &t) >= 0);
    assert_string_equal(t.text, "4ROW485");
    /* and 1 for I the same way */
    t = text("5J1U305", 0.95f);
    assert_true(us_repair(f, &t) >= 0);
    assert_string_equal(t.text, "5JIU305");
    plate_formats_free(f);
}

static void lookalike_swaps_never_force_a_format(void **state)
{
    (void)state;
    plate_formats *f = us_formats();
    /* a personalised plate that fits no format after the swaps stays as read */
    const char *vanity[] = {"C00LDUD", "RIDE0N", "L0VE1T", "ABC1Z34"};
    for (size_t i = 0; i < sizeof vanity / sizeof vanity[0]; i++) {
        ocr_text t = text(vanity[i], 0.95f);
        assert_int_equal(us_repair(f, &t), -1);
        assert_string_equal(t.text, vanity[i]);
    }
    /* letters are never made digits: these personalised plates are one O or
     * I away from NJ's LNNLLL or Florida's LLLNLL */
    const char *words[] = {"COOPAH", "ELVISV", "SHEILL", "IABC123"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        ocr_text t = text(words[i], 0.95f);
        assert_int_equal(us_repair(f, &t), -1);
        assert_string_equal(t.text, words[i]);
    }
    /* right reads that fit as read are not touched, whatever O/0 or I/1
     * they hold */
    const char *right[] = {"4COV126", "ABC1234", "7IOK100", "OIL1234"};
    for (size_t i = 0; i < sizeof right / sizeof right[0]; i++) {
        ocr_text t = text(right[i], 0.95f);
        assert_true(us_repair(f, &t) >= 0);
        assert_string_equal(t.text, right[i]);
        assert_int_equal(plate_formats_match_lookalikes(f, &t), -1);
        assert_string_equal(t.text, right[i]);
    }
    plate_formats_free(f);
}

static void confidence_is_the_least_sure_character(void **state)
{
    (void)state;
    plate_votes v = {0};
    ocr_text a = text("ABC1234", 0.98f);
    a.conf[3] = 0.6f; /* one doubtful character */
    plate_votes_add(&v, &a);
    plate_votes_add(&v, &a);
    ocr_text best;
    assert_int_equal(plate_votes_best(&v, &best), 2);
    assert_true(fabsf(best.mean - 0.6f) < 1e-5f);
    /* frames that read another length are disagreement too */
    plate_votes w = {0};
    ocr_text sure = text("ABC1234", 0.96f), part = text("BC1234", 0.96f);
    for (int i = 0; i < 3; i++)
        plate_votes_add(&w, &sure);
    plate_votes_add(&w, &part);
    assert_int_equal(plate_votes_best(&w, &best), 3);
    assert_string_equal(best.text, "ABC1234");
    assert_true(fabsf(best.mean - 0.96f * 0.75f) < 1e-5f);
}

/* Characters at steps: a read whose i-th character sits at pos[i]. */
static ocr_text at(const char *s, const float *pos)
{
    ocr_text t = text(s, 0.95f);
    memcpy(t.pos, pos, sizeof(float) * (size_t)t.n);
    return t;
}

static void bolts_at_the_edges_are_dropped(void **state)
{
    (void)state;
    /* a bolt 12 steps left of a number whose pitch is 4, and a frame side
     * 10 steps right of it */
    float p1[] = {1, 13, 17, 21, 27, 31, 35, 39, 49};
    ocr_text t = at("IABC1234I", p1);
    assert_int_equal(ocr_trim_edge_strokes(&t), 2);
    assert_string_equal(t.text, "ABC1234");
    assert_true(t.pos[0] == 13 && t.pos[6] == 39);
    /* a number starting with 1 at the usual pitch keeps it; so does an I set
     * apart that is no stroke-shaped edge read (an X) */
    float p2[] = {5, 9, 13, 17, 21, 25, 29};
    t = at("1ABC234", p2);
    assert_int_equal(ocr_trim_edge_strokes(&t), 0);
    assert_string_equal(t.text, "1ABC234");
    float p3[] = {1, 13, 17, 21, 27, 31, 35, 39};
    t = at("XABC1234", p3);
    assert_int_equal(ocr_trim_edge_strokes(&t), 0);
    /* the gap between a number's groups (ABC 1234) is inside: kept */
    float p4[] = {5, 9, 13, 23, 27, 31, 35};
    t = at("ABC1234", p4);
    assert_int_equal(ocr_trim_edge_strokes(&t), 0);
    /* too short to know a pitch */
    float p5[] = {1, 13, 17, 21};
    t = at("IABC", p5);
    assert_int_equal(ocr_trim_edge_strokes(&t), 0);
}

/* Found, no read: a plate some 50 pixels wide is blown up five times for DB.
 * Pixel by pixel (nearest) its strokes became blocks and DB found no line on
 * it; resampled bilinearly, an edge is a ramp. A black | white step, 4 x 2
 * pixels, blown up to 20 x 10: the grey goes up across the step through
 * values between black and white, in more than two steps. */
static void small_plate_blown_up_smoothly_for_db(void **state)
{
    (void)state;
    uint8_t rgb[2 * 4 * 3] = {0};
    for (int y = 0; y < 2; y++)
        for (int x = 2; x < 4; x++)
            for (int c = 0; c < 3; c++)
                rgb[(y * 4 + x) * 3 + c] = 255;
    uint8_t scratch[20 * 10 * 3];
    float out[3 * 20 * 10];
    db_input(rgb, 4 * 3, 4, 2, 0, 0, 4, 2, scratch, out, 20, 10);
    /* the blue plane comes first (BGR); back to 0..255 */
    float prev = -1;
    int levels = 0, between = 0;
    for (int x = 0; x < 20; x++) {
        float v = (out[5 * 20 + x] * 0.229f + 0.485f) * 255.f;
        assert_true(v >= prev - 0.5f); /* never down */
        if (v > prev + 0.5f) levels++;
        if (v > 10 && v < 245) between++;
        prev = v;
    }
    assert_true(out[5 * 20] * 0.229f + 0.485f < 0.02f);      /* black at the left */
    assert_true(out[5 * 20 + 19] * 0.229f + 0.485f > 0.98f); /* white at the right */
    assert_true(levels > 3);
    assert_true(between >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_name_is_not_part_of_the_number),
        cmocka_unit_test(open_region_repairs_only_doubted_characters),
        cmocka_unit_test(california_o_read_as_zero_is_swapped),
        cmocka_unit_test(lookalike_swaps_never_force_a_format),
        cmocka_unit_test(confidence_is_the_least_sure_character),
        cmocka_unit_test(bolts_at_the_edges_are_dropped),
        cmocka_unit_test(small_plate_blown_up_smoothly_for_db),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
