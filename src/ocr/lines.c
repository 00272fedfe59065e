/* Two text lines of one plate read as one: stacked (two-line) plates, common
 * on motorcycles, trucks and in many countries' square formats, are found by
 * DB as two lines; the plate number is the top line followed by the bottom. */
#include <math.h>
#include <string.h>

#include "ocr.h"

/* The smaller line of a two-line plate against the larger (DB's boxes, whose
 * height grows with the characters'). */
#define STACK_MIN_HEIGHT_RATIO 0.6f

bool ocr_lines_stacked(const ocr_quad *a, const ocr_quad *b)
{
    float ab[4], bb[4];
    quad_bounds(a, ab), quad_bounds(b, bb);
    float ax1 = ab[0], ay1 = ab[1], ax2 = ab[2], ay2 = ab[3];
    float bx1 = bb[0], by1 = bb[1], bx2 = bb[2], by2 = bb[3];
    float ah = ay2 - ay1, bh = by2 - by1;
    /* b starts below a's middle and ends below a: one line under the other */
    if (by1 < ay1 + ah * 0.6f || by2 <= ay2) return false;
    /* characters of about one size: a two-line plate's lines are, while a
     * state name or slogan over or under a number is much smaller print */
    if (fminf(ah, bh) < STACK_MIN_HEIGHT_RATIO * fmaxf(ah, bh)) return false;
    /* not far apart: the gap is under a line's height */
    if (by1 - ay2 > fmaxf(ah, bh)) return false;
    /* they share most of the narrower line's width */
    float overlap = fminf(ax2, bx2) - fmaxf(ax1, bx1);
    return overlap >= 0.5f * fminf(ax2 - ax1, bx2 - bx1);
}

bool ocr_stack_lines(const ocr_quad *a, const ocr_text *ta, const ocr_quad *b, const ocr_text *tb,
                     ocr_text *out)
{
    if (!ta->n || !tb->n || ta->n + tb->n > OCR_MAX_TEXT || !ocr_lines_stacked(a, b)) return false;
    *out = *ta;
    memcpy(out->text + ta->n, tb->text, (size_t)tb->n);
    memcpy(out->conf + ta->n, tb->conf, sizeof(float) * (size_t)tb->n);
    memcpy(out->alt + ta->n, tb->alt, (size_t)tb->n);
    memcpy(out->alt_conf + ta->n, tb->alt_conf, sizeof(float) * (size_t)tb->n);
    for (int i = 0; i < tb->n; i++) /* the second line after the first */
        out->pos[ta->n + i] = (ta->n ? ta->pos[ta->n - 1] + 1 : 0) + tb->pos[i];
    out->n = ta->n + tb->n;
    out->text[out->n] = '\0';
    out->mean = (ta->mean * (float)ta->n + tb->mean * (float)tb->n) / (float)out->n;
    out->quality = fminf(ta->quality, tb->quality);
    return true;
}
