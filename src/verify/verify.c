/* The verification stage: per candidate box, a downscaled crop of its last
 * sighting and the evidence of its last sightings (verify.h). */
#include "verify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { CROP_PX = VERIFY_CROP * VERIFY_CROP, SHIFT = 3 };

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
    uint8_t luma[CROP_PX]; /* the last sighting */
    uint32_t seen;         /* bit i: sighted i analysed frames ago */
    int n, head;           /* sightings held in the ring below, next slot */
    float colour[VERIFY_MAX_WINDOW], area[VERIFY_MAX_WINDOW];
    float flicker[VERIFY_MAX_WINDOW], motion[VERIFY_MAX_WINDOW]; /* vs the sighting before */
    bool pair[VERIFY_MAX_WINDOW]; /* flicker/motion measured (not the first sighting) */
} slot;

struct verify_state {
    verify_conf conf;
    slot slots[VERIFY_MAX_BOXES];
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
 * a large box costs what a small one does); returns the share of the kind's
 * coloured pixels, and in *px the box's area within the frame. */
static float crop(const uint8_t *rgb, int stride, int w, int h, const detection *d,
                  verify_kind kind, uint8_t luma[CROP_PX], float *px)
{
    float x1 = inside(d->x1, 0, (float)(w - 1)), y1 = inside(d->y1, 0, (float)(h - 1));
    float bw = inside(d->x2, 0, (float)w) - x1, bh = inside(d->y2, 0, (float)h) - y1;
    if (bw < 1) bw = 1;
    if (bh < 1) bh = 1;
    *px = bw * bh;
    float cw = bw / VERIFY_CROP, ch = bh / VERIFY_CROP;
    int sx = cw > 4 ? 4 : cw < 1 ? 1 : (int)cw, sy = ch > 4 ? 4 : ch < 1 ? 1 : (int)ch;
    int coloured = 0;
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
            coloured += kind == VERIFY_KIND_SMOKE ? smoke_pixel(r, g, b) : fire_pixel(r, g, b);
        }
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
 * shifted by (dx, dy) had around each pixel. */
static float residual(const uint8_t *now, const uint8_t *lo, const uint8_t *hi, int dx, int dy,
                      float offset)
{
    float sum = 0;
    int n = 0;
    for (int y = SHIFT; y < VERIFY_CROP - SHIFT; y++)
        for (int x = SHIFT; x < VERIFY_CROP - SHIFT; x++, n++) {
            int k = (y + dy) * VERIFY_CROP + x + dx;
            float v = now[y * VERIFY_CROP + x] - offset;
            sum += v > hi[k] ? v - hi[k] : v < lo[k] ? lo[k] - v : 0;
        }
    return sum / n / 255.f;
}

/* flicker: change at the box's position, brightness included (a steady lamp
 * or sign has none; fire changes between key frames). motion: the change
 * no shift of the last crop explains, its brightness offset removed (a
 * helmet carried across, a lamp switching on align; flames do not). */
static void changes(const uint8_t *now, const uint8_t *before, float *flicker, float *motion)
{
    uint8_t lo[CROP_PX], hi[CROP_PX];
    neighbourhood(before, lo, hi);
    *flicker = residual(now, lo, hi, 0, 0, 0);
    float offset = mean_luma(now) - mean_luma(before), best = 1;
    for (int dy = -SHIFT; dy <= SHIFT; dy++)
        for (int dx = -SHIFT; dx <= SHIFT; dx++) {
            float r = residual(now, lo, hi, dx, dy, offset);
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

/* The evidence of a slot's sightings (the ring), as the event explains it. */
static box_evidence evidence(const verify_state *s, const slot *t)
{
    const verify_conf *c = &s->conf;
    box_evidence e = {.has = true};
    /* smoke is soft and low in contrast: its changes count double */
    float soft = t->kind == VERIFY_KIND_SMOKE ? SMOKE_CHANGE : 1.f;
    int npair = 0, oldest = (t->head - t->n + VERIFY_MAX_WINDOW) % VERIFY_MAX_WINDOW;
    for (int k = 0; k < t->n; k++) {
        int i = (oldest + k) % VERIFY_MAX_WINDOW;
        e.colour += t->colour[i] / t->n;
        if (!t->pair[i]) continue;
        e.flicker +=
            clamp01((t->flicker[i] / soft - FLICKER_FLOOR) / (FLICKER_FULL - FLICKER_FLOOR));
        e.motion += clamp01((t->motion[i] / soft - MOTION_FLOOR) / (MOTION_FULL - MOTION_FLOOR));
        npair++;
    }
    if (npair) e.flicker /= npair, e.motion /= npair;
    int last = (t->head - 1 + VERIFY_MAX_WINDOW) % VERIFY_MAX_WINDOW;
    float first = t->area[oldest], now = t->area[last];
    e.growth = clamp01((now - first) / (first > 1 ? first : 1) / GROWTH_FULL);
    e.persistence = (float)__builtin_popcount(t->seen) / c->window;
    double wsum = c->w_flicker + c->w_motion + c->w_growth;
    e.score =
        wsum > 0
            ? (float)((c->w_flicker * e.flicker + c->w_motion * e.motion + c->w_growth * e.growth) /
                      wsum)
            : 1.f;
    return e;
}

/* Records this sighting in the slot and judges it; returns -1 when the box
 * holds, else the reason it does not. */
static int see(verify_state *s, slot *t, const uint8_t *rgb, int stride, int w, int h, detection *d,
               verify_kind kind)
{
    const verify_conf *c = &s->conf;
    uint8_t luma[CROP_PX];
    float px;
    float colour = crop(rgb, stride, w, h, d, kind, luma, &px);
    int i = t->head;
    t->pair[i] = t->used;
    if (t->used) changes(luma, t->luma, &t->flicker[i], &t->motion[i]);
    t->colour[i] = colour;
    t->area[i] = colour * px;
    t->head = (i + 1) % VERIFY_MAX_WINDOW;
    if (t->n < c->window) t->n++;
    memcpy(t->luma, luma, sizeof luma);
    t->used = true, t->cls = d->cls, t->kind = kind;
    t->box[0] = d->x1, t->box[1] = d->y1, t->box[2] = d->x2, t->box[3] = d->y2;
    t->seen |= 1u;
    d->ev = evidence(s, t);
    d->ev.verified = t->verified;
    if (t->verified) return -1; /* an alarm stays one while its box is followed */
    if (__builtin_popcount(t->seen) < c->min_frames) return VERIFY_REJ_HISTORY;
    if (d->ev.colour < (kind == VERIFY_KIND_SMOKE ? c->min_grey : c->min_colour))
        return VERIFY_REJ_COLOUR;
    if (d->ev.score < c->min_score) return VERIFY_REJ_SCORE;
    t->verified = d->ev.verified = true;
    return -1;
}

void verify_frame(verify_state *s, const uint8_t *rgb, int stride, int w, int h, det_list *dets,
                  verify_kind (*kind_of)(void *ctx, int cls), void *ctx, int rejected[VERIFY_REJ_N])
{
    uint32_t mask = s->conf.window >= 32 ? 0xFFFFFFFFu : (1u << s->conf.window) - 1;
    for (int i = 0; i < VERIFY_MAX_BOXES; i++)
        s->slots[i].seen = (s->slots[i].seen << 1) & mask;
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
        int why = see(s, t, rgb, stride, w, h, &d, kind_of(ctx, d.cls));
        if (why >= 0) {
            rejected[why]++;
            continue;
        }
        dets->v[kept++] = d;
    }
    dets->n = kept;
    for (int i = 0; i < VERIFY_MAX_BOXES; i++)
        if (s->slots[i].used && s->slots[i].seen == 0) memset(&s->slots[i], 0, sizeof s->slots[i]);
}
