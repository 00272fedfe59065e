/* Edge strokes: a plate's bolts, screws and the sides of its frame read as a
 * narrow stroke (I or 1) at an end of the number. They stand apart from the
 * number by more than its characters stand apart from each other, which the
 * recogniser's own time steps show. */
#include <stdlib.h>
#include <string.h>

#include "ocr.h"

/* How far apart (in character pitches) an edge stroke must be to go. */
#define EDGE_GAP_PITCHES 2.0f

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static bool stroke(char c)
{
    return c == 'I' || c == '1';
}

static void drop(ocr_text *t, int i)
{
    int tail = t->n - i - 1;
    memmove(t->text + i, t->text + i + 1, (size_t)tail + 1); /* with the terminator */
    memmove(t->conf + i, t->conf + i + 1, sizeof(float) * (size_t)tail);
    memmove(t->alt + i, t->alt + i + 1, (size_t)tail);
    memmove(t->alt_conf + i, t->alt_conf + i + 1, sizeof(float) * (size_t)tail);
    memmove(t->pos + i, t->pos + i + 1, sizeof(float) * (size_t)tail);
    t->n--;
    double sum = 0;
    for (int k = 0; k < t->n; k++)
        sum += t->conf[k];
    t->mean = t->n ? (float)(sum / t->n) : 0;
}

int ocr_trim_edge_strokes(ocr_text *t)
{
    if (t->n < 5) return 0;
    /* the pitch: the median gap between the characters inside the ends */
    float gaps[OCR_MAX_TEXT];
    int ng = 0;
    for (int i = 1; i + 2 < t->n; i++)
        gaps[ng++] = t->pos[i + 1] - t->pos[i];
    qsort(gaps, (size_t)ng, sizeof *gaps, cmp_float);
    float pitch = gaps[ng / 2];
    if (pitch <= 0) return 0;
    int dropped = 0;
    if (stroke(t->text[t->n - 1]) && t->pos[t->n - 1] - t->pos[t->n - 2] > EDGE_GAP_PITCHES * pitch)
        drop(t, t->n - 1), dropped++;
    if (stroke(t->text[0]) && t->pos[1] - t->pos[0] > EDGE_GAP_PITCHES * pitch)
        drop(t, 0), dropped++;
    return dropped;
}
