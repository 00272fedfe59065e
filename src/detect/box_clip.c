/* Boxes clipped to the frame, for every detector (built-in or plugin): text
 * boxes grow past the picture when DB unclips them and plugins may return
 * anything, but an event's bbox and fractions must lie in the frame. */
#include "detect.h"

static float clip(float v, float hi)
{
    return v < 0 ? 0 : v > hi ? hi : v; /* NaN stays NaN: compared false */
}

static void clip4(float *x1, float *y1, float *x2, float *y2, float w, float h)
{
    *x1 = clip(*x1, w), *x2 = clip(*x2, w);
    *y1 = clip(*y1, h), *y2 = clip(*y2, h);
}

void det_list_clip(det_list *l, int frame_w, int frame_h)
{
    float w = (float)frame_w, h = (float)frame_h;
    for (int i = 0; i < l->n; i++) {
        detection *d = &l->v[i];
        clip4(&d->x1, &d->y1, &d->x2, &d->y2, w, h);
        if (d->plate.has)
            clip4(&d->plate.box[0], &d->plate.box[1], &d->plate.box[2], &d->plate.box[3], w, h);
    }
}
