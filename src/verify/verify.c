/* The verification stage: per candidate box, a downscaled crop of its last
 * sighting and the evidence of its last sightings (verify.h). */
#include "verify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { CROP_PX = VERIFY_CROP * VERIFY_CROP, SHIFT = 3, HOLDS = -2 };

/* Smoke is compared with an older sighting too: a distant plume drifts a
 * pixel or two between key frames at fps_limit 2, under the noise floor,
 * but seconds apart its outline has moved and spread. The older crop is
 * renewed once it is SMOKE_SPAN sightings old (1..4 sightings back). */
enum { SMOKE_SPAN = 4 };

/* Fewest coloured pixels (of the 26x26 measured) a change is measured over */
enum { MASK_MIN = 24 };

/* Where a part's raw measure saturates, as a mean absolute luma change per
 * pixel (0..1): below the floor is sensor and codec noise. Fitted on the
 * synthetic sequences of test_verify and the dev clips (docs/detectors.md). */
#define FLICKER_FLOOR 0.01f
#define FLICKER_FULL 0.06f
#define MOTION_FLOOR 0.008f
#define MOTION_FULL 0.04f
#define SMOKE_CHANGE 0.5f
#define GROWTH_FULL 0.5f /* the coloured area grew by half */

typedef struct {
    bool used, verified;
    int cls;
    verify_kind kind;
    float box[4];
    uint8_t luma[CROP_PX];  /* the last sighting */
    uint8_t older[CROP_PX]; /* a sighting 1..SMOKE_SPAN ago (smoke) */
    int older_age;          /* sightings since older was taken */
    uint32_t seen;          /* bit i: sighted i analysed frames ago */
    uint32_t smoke_near;    /* bit i: the model's smoke class was near it then */
    int n, head;            /* sightings held in the ring below, next slot */
    float colour[VERIFY_MAX_WINDOW], area[VERIFY_MAX_WINDOW];
    float grey[VERIFY_MAX_WINDOW]; /* share of smoke-coloured pixels (any class) */
    float flicker[VERIFY_MAX_WINDOW], motion[VERIFY_MAX_WINDOW]; /* vs the sighting before */
    float slow_flicker[VERIFY_MAX_WINDOW], slow_motion[VERIFY_MAX_WINDOW]; /* vs older */
    bool pair[VERIFY_MAX_WINDOW]; /* flicker/motion measured (not the first sighting) */
} slot;

struct verify_state {
    verify_conf conf;
    slot slots[VERIFY_MAX_BOXES];
    verify_trace_fn trace;
    void *trace_ctx;
};

const char *verify_reject_name(verify_reject r)
{
    static const char *const names[] = {"history", "colour", "score"};
    return r >= 0 && r < VERIFY_REJ_N ? names[r] : "unknown";
}

verify_state *verify_new(const verify_conf *c)
{
    verify_state *s = calloc(1, sizeof *s);
    if (s) s->conf = *c;
    return s;
}

void verify_free(verify_state *s)
{
    free(s);
}

void verify_set_trace(verify_state *s, verify_trace_fn fn, void *ctx)
{
    s->trace = fn, s->trace_ctx = ctx;
}

size_t verify_state_bytes(void)
{
    return sizeof(verify_state);
}

static float clamp01(float x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

/* Fire: red-orange-yellow (R >= G > B), bright and saturated (Chen et al.'s
 * rule); a brake light's pure red (G about B) is not. */
static bool fire_pixel(int r, int g, int b)
{
    return r >= 130 && r >= g && g > b + 8 && (r - b) * 10 >= r * 3;
}

/* Smoke: greyish (little saturation), neither black nor blown out. */
static bool smoke_pixel(int r, int g, int b)
{
    int mx = r > g ? (r > b ? r : b) : (g > b ? g : b);
    int mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
    int y = (77 * r + 150 * g + 29 * b) >> 8;
    return mx - mn <= 30 && y >= 70 && y <= 235;
}

/* v within lo..hi; NaN is lo (every sample index stays in the picture). */
static float inside(float v, float lo, float hi)
{
    return !(v >= lo) ? lo : v > hi ? hi : v;
}

/* The box scaled to VERIFY_CROP^2 by averaging (at most 4x4 samples a cell:
 * a large box costs what a small one does); returns the share of fire-coloured
 * pixels, in *grey that of smoke-coloured ones and in *px the box's area
 * within the frame. */
static float crop(const uint8_t *rgb, int stride, int w, int h, const detection *d,
                  uint8_t luma[CROP_PX], uint8_t fire_mask[CROP_PX], uint8_t grey_mask[CROP_PX],
                  float *px, float *grey)
{
    float x1 = inside(d->x1, 0, (float)(w - 1)), y1 = inside(d->y1, 0, (float)(h - 1));
    float bw = inside(d->x2, 0, (float)w) - x1, bh = inside(d->y2, 0, (float)h) - y1;
    if (bw < 1) bw = 1;
    if (bh < 1) bh = 1;
    *px = bw * bh;
    float cw = bw / VERIFY_CROP, ch = bh / VERIFY_CROP;
    int sx = cw > 4 ? 4 : cw < 1 ? 1 : (int)cw, sy = ch > 4 ? 4 : ch < 1 ? 1 : (int)ch;
    int coloured = 0, greyish = 0;
    for (int j = 0; j < VERIFY_CROP; j++)
        for (int i = 0; i < VERIFY_CROP; i++) {
            int r = 0, g = 0, b = 0;
            for (int v = 0; v < sy; v++)
                for (int u = 0; u < sx; u++) {
                    int x = (int)(x1 + (i + (u + 0.5f) / sx) * cw);
                    int y = (int)(y1 + (j + (v + 0.5f) / sy) * ch);
                    x = x >= w ? w - 1 : x, y = y >= h ? h - 1 : y;
                    const uint8_t *p = rgb + (size_t)y * stride + 3 * (size_t)x;
                    r += p[0], g += p[1], b += p[2];
                }
            int k = sx * sy;
            r /= k, g /= k, b /= k;
            luma[j * VERIFY_CROP + i] = (uint8_t)((77 * r + 150 * g + 29 * b) >> 8);
            fire_mask[j * VERIFY_CROP + i] = fire_pixel(r, g, b);
            grey_mask[j * VERIFY_CROP + i] = smoke_pixel(r, g, b);
            coloured += fire_mask[j * VERIFY_CROP + i], greyish += grey_mask[j * VERIFY_CROP + i];
        }
    *grey = (float)greyish / CROP_PX;
    return (float)coloured / CROP_PX;
}

/* The 3x3 neighbourhood's lowest and highest luma of each pixel: a change
 * within them is the box's jitter (a pixel of shift or scale), not change. */
static void neighbourhood(const uint8_t *a, uint8_t *lo, uint8_t *hi)
{
    for (int y = 0; y < VERIFY_CROP; y++)
        for (int x = 0; x < VERIFY_CROP; x++) {
            int mn = 255, mx = 0;
            for (int v = y - 1; v <= y + 1; v++)
                for (int u = x - 1; u <= x + 1; u++) {
                    if (u < 0 || v < 0 || u >= VERIFY_CROP || v >= VERIFY_CROP) continue;
                    int p = a[v * VERIFY_CROP + u];
                    mn = p < mn ? p : mn, mx = p > mx ? p : mx;
                }
            lo[y * VERIFY_CROP + x] = (uint8_t)mn, hi[y * VERIFY_CROP + x] = (uint8_t)mx;
        }
}

static float mean_luma(const uint8_t *a)
{
    int sum = 0;
    for (int i = 0; i < CROP_PX; i++)
        sum += a[i];
    return (float)sum / CROP_PX;
}

/* Mean distance (0..1) of now, offset by `offset`, to what the last crop
 * shifted by (dx, dy) had around each pixel, over the pixels of mask (all
 * when NULL). */
static float residual(const uint8_t *now, const uint8_t *lo, const uint8_t *hi, int dx, int dy,
                      float offset, const uint8_t *mask)
{
    float sum = 0;
    int n = 0;
    for (int y = SHIFT; y < VERIFY_CROP - SHIFT; y++)
        for (int x = SHIFT; x < VERIFY_CROP - SHIFT; x++) {
            if (mask && !mask[y * VERIFY_CROP + x]) continue;
            n++;
            int k = (y + dy) * VERIFY_CROP + x + dx;
            float v = now[y * VERIFY_CROP + x] - offset;
            sum += v > hi[k] ? v - hi[k] : v < lo[k] ? lo[k] - v : 0;
        }
    return n ? sum / n / 255.f : 0;
}

/* The pixels of the kind's colour, when there are enough of them to
 * measure by: a small flame in a box of grass or sky changes a lot where it
 * is and nothing around it, and the mean over the whole box hides it.
 * NULL (all pixels) else. */
static const uint8_t *enough(const uint8_t *mask)
{
    int n = 0;
    for (int y = SHIFT; y < VERIFY_CROP - SHIFT; y++)
        for (int x = SHIFT; x < VERIFY_CROP - SHIFT; x++)
            n += mask[y * VERIFY_CROP + x];
    return n >= MASK_MIN ? mask : NULL;
}

/* flicker: change at the box's position, brightness included when lit (a
 * steady lamp or sign has none; fire changes between key frames). motion: the change
 * no shift of the last crop explains, its brightness offset removed (a
 * helmet carried across, a lamp switching on align; flames do not). */
static void changes(const uint8_t *now, const uint8_t *before, const uint8_t *mask, bool lit,
                    float *flicker, float *motion)
{
    uint8_t lo[CROP_PX], hi[CROP_PX];
    neighbourhood(before, lo, hi);
    mask = enough(mask);
    float offset = mean_luma(now) - mean_luma(before), best = 1;
    *flicker = residual(now, lo, hi, 0, 0, lit ? 0 : offset, mask);
    for (int dy = -SHIFT; dy <= SHIFT; dy++)
        for (int dx = -SHIFT; dx <= SHIFT; dx++) {
            float r = residual(now, lo, hi, dx, dy, offset, mask);
            best = r < best ? r : best;
        }
    *motion = best;
}

static float box_iou4(const float *a, const detection *d)
{
    float ix = fminf(a[2], d->x2) - fmaxf(a[0], d->x1),
          iy = fminf(a[3], d->y2) - fmaxf(a[1], d->y1);
    if (ix <= 0 || iy <= 0) return 0;
    float inter = ix * iy;
    float ua = (a[2] - a[0]) * (a[3] - a[1]) + (d->x2 - d->x1) * (d->y2 - d->y1) - inter;
    return ua > 0 ? inter / ua : 0;
}

/* Frames since the slot's last sighting; a free slot is the stalest. */
static int staleness(const slot *t)
{
    if (!t->used) return 99;
    return t->seen ? __builtin_ctz(t->seen) : 98;
}

/* The slot following this box: same class, most overlap. Fire and smoke
 * boxes jump between key frames (a flame's box one frame, the whole blaze
 * the next): a centre within the last box grown by half its size on each
 * side is enough. A free or the stalest slot else. */
static slot *match(verify_state *s, const detection *d, const bool *taken)
{
    slot *best = NULL;
    float best_fit = 0;
    float cx = (d->x1 + d->x2) / 2, cy = (d->y1 + d->y2) / 2;
    for (int i = 0; i < VERIFY_MAX_BOXES; i++) {
        slot *t = &s->slots[i];
        if (!t->used || taken[i] || t->cls != d->cls) continue;
        float mx = (t->box[2] - t->box[0]) / 2, my = (t->box[3] - t->box[1]) / 2;
        bool near = cx >= t->box[0] - mx && cx <= t->box[2] + mx && cy >= t->box[1] - my &&
                    cy <= t->box[3] + my;
        float fit = box_iou4(t->box, d) + (near ? 0.01f : 0);
        if (fit < 0.2f && !near) continue;
        if (fit > best_fit) best = t, best_fit = fit;
    }
    if (best) return best;
    for (int i = 0; i < VERIFY_MAX_BOXES; i++) /* the stalest: its last sighting the oldest */
        if (!taken[i] && (!best || staleness(&s->slots[i]) > staleness(best))) best = &s->slots[i];
    if (best) memset(best, 0, sizeof *best);
    return best;
}

/* The kind a slot is judged as: the model's, except that a "fire" box whose
 * pixels are greyish rather than fire-coloured may be judged as smoke (the
 * model often calls a grey plume fire; a fire-coloured box stays fire), when
 * the evidence says smoke: its pixels alone (mostly grey, rejudge_grey, with
 * next to no fire colour, a fifth of min_colour), or the model itself saw
 * smoke around it in the window (a fire at the foot of its plume, boxed with
 * some of it). A box with a little grey and a little fire colour (people,
 * bicycles and street lamps at dusk, lit shop fronts, warm clothes on grey
 * pavement) is neither: it stays fire and fails the colour gate. */
static verify_kind judged_kind(const verify_state *s, const slot *t, float colour, float grey)
{
    const verify_conf *c = &s->conf;
    if (t->kind == VERIFY_KIND_SMOKE) return VERIFY_KIND_SMOKE;
    if (colour >= c->min_colour || grey < c->min_grey) return VERIFY_KIND_FIRE;
    bool grey_alone = grey >= c->rejudge_grey && colour < c->min_colour / 5;
    return grey_alone || t->smoke_near ? VERIFY_KIND_SMOKE : VERIFY_KIND_FIRE;
}

static float part(float raw, float soft, float floor, float full)
{
    return clamp01((raw / soft - floor) / (full - floor));
}

/* The evidence of a slot's sightings (the ring), as the event explains it. */
static box_evidence evidence(const verify_state *s, const slot *t)
{
    const verify_conf *c = &s->conf;
    box_evidence e = {.has = true};
    int npair = 0, oldest = (t->head - t->n + VERIFY_MAX_WINDOW) % VERIFY_MAX_WINDOW;
    float colour = 0, grey = 0;
    for (int k = 0; k < t->n; k++) {
        int i = (oldest + k) % VERIFY_MAX_WINDOW;
        colour += t->colour[i] / t->n, grey += t->grey[i] / t->n;
    }
    bool smoke = judged_kind(s, t, colour, grey) == VERIFY_KIND_SMOKE;
    e.colour = smoke ? grey : colour;
    e.fire_share = colour, e.grey_share = grey;
    /* smoke is soft and low in contrast: its changes count double, and a
     * change seconds apart counts as much as one between key frames */
    float soft = smoke ? SMOKE_CHANGE : 1.f;
    for (int k = 0; k < t->n; k++) {
        int i = (oldest + k) % VERIFY_MAX_WINDOW;
        if (!t->pair[i]) continue;
        float fl = t->flicker[i], mo = t->motion[i];
        if (smoke) fl = fmaxf(fl, t->slow_flicker[i]), mo = fmaxf(mo, t->slow_motion[i]);
        e.flicker += part(fl, soft, FLICKER_FLOOR, FLICKER_FULL);
        e.motion += part(mo, soft, MOTION_FLOOR, MOTION_FULL);
        npair++;
    }
    if (npair) e.flicker /= npair, e.motion /= npair;
    int last = (t->head - 1 + VERIFY_MAX_WINDOW) % VERIFY_MAX_WINDOW;
    float first = t->area[oldest] * (smoke ? t->grey[oldest] : t->colour[oldest]),
          now = t->area[last] * (smoke ? t->grey[last] : t->colour[last]);
    e.growth = clamp01((now - first) / (first > 1 ? first : 1) / GROWTH_FULL);
    e.persistence = (float)__builtin_popcount(t->seen) / c->window;
    double wsum = c->w_flicker + c->w_motion + c->w_growth;
    e.score =
        wsum > 0
            ? (float)((c->w_flicker * e.flicker + c->w_motion * e.motion + c->w_growth * e.growth) /
                      wsum)
            : 1.f;
    e.smoke = smoke;
    return e;
}

/* Records this sighting in the slot and judges it; returns HOLDS when the
 * box is an alarm already, VERIFY_VERIFIED when it becomes one now, else the
 * reason it does not. */
static int see(verify_state *s, slot *t, const uint8_t *rgb, int stride, int w, int h, detection *d,
               verify_kind kind, bool smoke_near)
{
    const verify_conf *c = &s->conf;
    uint8_t luma[CROP_PX], fire_mask[CROP_PX], grey_mask[CROP_PX];
    float px, grey;
    float colour = crop(rgb, stride, w, h, d, luma, fire_mask, grey_mask, &px, &grey);
    int i = t->head;
    t->pair[i] = t->used;
    if (t->used) {
        changes(luma, t->luma, fire_mask, true, &t->flicker[i], &t->motion[i]);
        /* seconds apart, fog lifting or a camera's exposure changes the
         * brightness of the whole box: smoke is what changes beyond it */
        changes(luma, t->older, grey_mask, false, &t->slow_flicker[i], &t->slow_motion[i]);
    }
    t->colour[i] = colour, t->grey[i] = grey;
    t->area[i] = px;
    t->head = (i + 1) % VERIFY_MAX_WINDOW;
    if (t->n < c->window) t->n++;
    if (!t->used || ++t->older_age >= SMOKE_SPAN) {
        memcpy(t->older, t->used ? t->luma : luma, sizeof luma);
        t->older_age = t->used ? 1 : 0;
    }
    memcpy(t->luma, luma, sizeof luma);
    t->used = true, t->cls = d->cls, t->kind = kind;
    t->box[0] = d->x1, t->box[1] = d->y1, t->box[2] = d->x2, t->box[3] = d->y2;
    t->seen |= 1u;
    t->smoke_near |= smoke_near ? 1u : 0u;
    d->ev = evidence(s, t);
    d->ev.verified = t->verified;
    if (t->verified) return HOLDS; /* an alarm stays one while its box is followed */
    if (__builtin_popcount(t->seen) < c->min_frames) return VERIFY_REJ_HISTORY;
    if (d->ev.colour < (d->ev.smoke ? c->min_grey : c->min_colour)) return VERIFY_REJ_COLOUR;
    if (d->ev.score < c->min_score) return VERIFY_REJ_SCORE;
    t->verified = d->ev.verified = true;
    return VERIFY_VERIFIED;
}

/* Whether a box of the model's smoke class is near d this frame: its box,
 * grown by half its size on each side, holds d's centre (a fire sits at the
 * foot of its plume, the boxes need not overlap). */
static bool smoke_box_near(const det_list *dets, const detection *d,
                           verify_kind (*kind_of)(void *ctx, int cls), void *ctx)
{
    float cx = (d->x1 + d->x2) / 2, cy = (d->y1 + d->y2) / 2;
    for (int k = 0; k < dets->n; k++) {
        const detection *o = &dets->v[k];
        if (kind_of(ctx, o->cls) != VERIFY_KIND_SMOKE) continue;
        float mx = (o->x2 - o->x1) / 2, my = (o->y2 - o->y1) / 2;
        if (cx >= o->x1 - mx && cx <= o->x2 + mx && cy >= o->y1 - my && cy <= o->y2 + my)
            return true;
    }
    return false;
}

void verify_frame(verify_state *s, const uint8_t *rgb, int stride, int w, int h, det_list *dets,
                  verify_kind (*kind_of)(void *ctx, int cls), void *ctx, int rejected[VERIFY_REJ_N])
{
    uint32_t mask = s->conf.window >= 32 ? 0xFFFFFFFFu : (1u << s->conf.window) - 1;
    for (int i = 0; i < VERIFY_MAX_BOXES; i++) {
        s->slots[i].seen = (s->slots[i].seen << 1) & mask;
        s->slots[i].smoke_near = (s->slots[i].smoke_near << 1) & mask;
    }
    /* judged before any box is removed: the smoke boxes are all still there
     * (bit k: box k has one near; past the 64th, too many boxes to get a
     * slot anyway, none) */
    uint64_t near = 0;
    for (int k = 0; k < dets->n && k < 64; k++)
        if (kind_of(ctx, dets->v[k].cls) == VERIFY_KIND_FIRE &&
            smoke_box_near(dets, &dets->v[k], kind_of, ctx))
            near |= 1ull << k;
    bool taken[VERIFY_MAX_BOXES] = {0};
    int kept = 0;
    for (int k = 0; k < dets->n; k++) {
        detection d = dets->v[k];
        /* a corner that is not a number (a broken model) leaves nothing to judge by */
        bool finite = isfinite(d.x1) && isfinite(d.y1) && isfinite(d.x2) && isfinite(d.y2);
        slot *t = rgb && w > 0 && h > 0 && finite ? match(s, &d, taken) : NULL;
        if (!t) { /* no picture, no box, or all slots taken this frame: nothing to judge by */
            rejected[VERIFY_REJ_HISTORY]++;
            continue;
        }
        taken[t - s->slots] = true;
        int why = see(s, t, rgb, stride, w, h, &d, kind_of(ctx, d.cls), k < 64 && (near >> k & 1));
        if (why >= 0) {
            rejected[why]++;
            if (s->trace) s->trace(s->trace_ctx, &d, why);
            continue;
        }
        if (why == VERIFY_VERIFIED && s->trace) s->trace(s->trace_ctx, &d, why);
        dets->v[kept++] = d;
    }
    dets->n = kept;
    for (int i = 0; i < VERIFY_MAX_BOXES; i++)
        if (s->slots[i].used && s->slots[i].seen == 0) memset(&s->slots[i], 0, sizeof s->slots[i]);
}
