/* DB (differentiable binarisation) post-processing as PaddleOCR does it:
 * threshold the probability map, take each connected text region, fit the
 * minimum-area rotated rectangle around it, score it by the mean probability
 * inside, and grow it by area * ratio / perimeter on every side ("unclip"),
 * since DB predicts a shrunk text kernel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ocr.h"

void db_params_default(db_params *p)
{
    p->bin_thresh = 0.3f;
    p->box_thresh = 0.6f;
    p->unclip_ratio = 1.5f;
    p->min_size = 3;
    p->quads = false;
}

void quad_size(const ocr_quad *q, float *w, float *h)
{
    *w = hypotf(q->p[1].x - q->p[0].x, q->p[1].y - q->p[0].y);
    *h = hypotf(q->p[3].x - q->p[0].x, q->p[3].y - q->p[0].y);
}

static float cross(ocr_pt o, ocr_pt a, ocr_pt b)
{
    return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

static int cmp_pt(const void *a, const void *b)
{
    const ocr_pt *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return p->y < q->y ? -1 : p->y > q->y;
}

/* Andrew's monotone chain; hull written into h (capacity n + 1), returns its size. */
static int convex_hull(ocr_pt *pts, int n, ocr_pt *h)
{
    qsort(pts, (size_t)n, sizeof *pts, cmp_pt);
    int k = 0;
    for (int i = 0; i < n; i++) {
        while (k >= 2 && cross(h[k - 2], h[k - 1], pts[i]) <= 0)
            k--;
        h[k++] = pts[i];
    }
    for (int i = n - 2, t = k + 1; i >= 0; i--) {
        while (k >= t && cross(h[k - 2], h[k - 1], pts[i]) <= 0)
            k--;
        h[k++] = pts[i];
    }
    return k > 1 ? k - 1 : k;
}

typedef struct {
    float cx, cy, w, h, angle; /* angle of the width side, radians, within (-pi/4, pi/4] */
} rrect;

/* Rotating calipers: the smallest rectangle has a side on a hull edge. */
static rrect min_area_rect(const ocr_pt *h, int n)
{
    rrect best = {h[0].x, h[0].y, 0, 0, 0};
    float best_area = INFINITY;
    for (int i = 0; i < n; i++) {
        ocr_pt a = h[i], b = h[(i + 1) % n];
        float ex = b.x - a.x, ey = b.y - a.y, len = hypotf(ex, ey);
        if (len < 1e-6f) continue;
        float ux = ex / len, uy = ey / len;
        float minu = INFINITY, maxu = -INFINITY, minv = INFINITY, maxv = -INFINITY;
        for (int j = 0; j < n; j++) {
            float u = h[j].x * ux + h[j].y * uy, v = -h[j].x * uy + h[j].y * ux;
            minu = fminf(minu, u), maxu = fmaxf(maxu, u);
            minv = fminf(minv, v), maxv = fmaxf(maxv, v);
        }
        float area = (maxu - minu) * (maxv - minv);
        if (area < best_area) {
            best_area = area;
            float cu = (minu + maxu) / 2, cv = (minv + maxv) / 2;
            best = (rrect){cu * ux - cv * uy, cu * uy + cv * ux, maxu - minu, maxv - minv,
                           atan2f(uy, ux)};
        }
    }
    if (n == 1) best.w = best.h = 1;
    /* Bring the width side near horizontal so corner 0 is the top-left. */
    const float q = (float)M_PI / 4;
    while (best.angle > q) {
        best.angle -= (float)M_PI / 2;
        float t = best.w;
        best.w = best.h, best.h = t;
    }
    while (best.angle <= -q) {
        best.angle += (float)M_PI / 2;
        float t = best.w;
        best.w = best.h, best.h = t;
    }
    return best;
}

static ocr_quad to_quad(const rrect *r)
{
    float ux = cosf(r->angle), uy = sinf(r->angle), vx = -uy, vy = ux;
    float hw = r->w / 2, hh = r->h / 2;
    ocr_quad q;
    q.p[0] = (ocr_pt){r->cx - hw * ux - hh * vx, r->cy - hw * uy - hh * vy};
    q.p[1] = (ocr_pt){r->cx + hw * ux - hh * vx, r->cy + hw * uy - hh * vy};
    q.p[2] = (ocr_pt){r->cx + hw * ux + hh * vx, r->cy + hw * uy + hh * vy};
    q.p[3] = (ocr_pt){r->cx - hw * ux + hh * vx, r->cy - hw * uy + hh * vy};
    q.score = 0;
    return q;
}

/* The text's own quadrilateral: the hull point nearest each corner of its
 * minimum-area rectangle, moved out by the unclip distance d along the
 * rectangle's axes. A plate seen from the side is a parallelogram or a
 * trapezoid; cropping this quad (a perspective warp) straightens its
 * characters, where the rectangle would keep them slanted. */
static ocr_quad hull_quad(const rrect *r, const ocr_pt *hull, int nh, float d)
{
    ocr_quad rect = to_quad(r), q;
    float ux = cosf(r->angle), uy = sinf(r->angle), vx = -uy, vy = ux;
    static const float su[4] = {-1, 1, 1, -1}, sv[4] = {-1, -1, 1, 1};
    for (int k = 0; k < 4; k++) {
        int best = 0;
        float bd = INFINITY;
        for (int i = 0; i < nh; i++) {
            float dx = hull[i].x - rect.p[k].x, dy = hull[i].y - rect.p[k].y;
            if (dx * dx + dy * dy < bd) bd = dx * dx + dy * dy, best = i;
        }
        q.p[k] = (ocr_pt){hull[best].x + d * (su[k] * ux + sv[k] * vx),
                          hull[best].y + d * (su[k] * uy + sv[k] * vy)};
    }
    q.score = 0;
    return q;
}

/* Mean probability over the map pixels inside the rectangle. */
static float box_score(const float *prob, int w, int h, const rrect *r)
{
    float ux = cosf(r->angle), uy = sinf(r->angle);
    float ext = (fabsf(r->w * ux) + fabsf(r->h * uy)) / 2,
          eyt = (fabsf(r->w * uy) + fabsf(r->h * ux)) / 2;
    int x0 = (int)fmaxf(0, floorf(r->cx - ext)), x1 = (int)fminf((float)w - 1, ceilf(r->cx + ext));
    int y0 = (int)fmaxf(0, floorf(r->cy - eyt)), y1 = (int)fminf((float)h - 1, ceilf(r->cy + eyt));
    double sum = 0;
    long n = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float dx = (float)x - r->cx, dy = (float)y - r->cy;
            float u = dx * ux + dy * uy, v = -dx * uy + dy * ux;
            if (fabsf(u) <= r->w / 2 + 0.5f && fabsf(v) <= r->h / 2 + 0.5f)
                sum += prob[y * w + x], n++;
        }
    return n ? (float)(sum / (double)n) : 0;
}

typedef struct {
    int *stack, *rowmin, *rowmax;
    ocr_pt *pts, *hull;
} db_scratch;

/* Flood-fills one region from (sx, sy), clearing it from mask; fills the
 * per-row extremes (all a convex hull needs). Returns the pixel count. */
static int region(uint8_t *mask, int w, int h, int sx, int sy, db_scratch *s, int *ymin, int *ymax)
{
    int top = 0, count = 0;
    *ymin = *ymax = sy;
    s->stack[top++] = sy * w + sx;
    mask[sy * w + sx] = 0;
    while (top) {
        int i = s->stack[--top], x = i % w, y = i / w;
        count++;
        if (y < *ymin) *ymin = y;
        if (y > *ymax) *ymax = y;
        if (x < s->rowmin[y]) s->rowmin[y] = x;
        if (x > s->rowmax[y]) s->rowmax[y] = x;
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int nx = x + dx, ny = y + dy;
                if (nx < 0 || ny < 0 || nx >= w || ny >= h || !mask[ny * w + nx]) continue;
                mask[ny * w + nx] = 0;
                s->stack[top++] = ny * w + nx;
            }
    }
    return count;
}

static int by_area(const void *a, const void *b)
{
    float wa, ha, wb, hb;
    quad_size(a, &wa, &ha);
    quad_size(b, &wb, &hb);
    return wa * ha > wb * hb ? -1 : wa * ha < wb * hb;
}

int db_boxes(const float *prob, int w, int h, const db_params *p, ocr_quad *out, int max)
{
    size_t n = (size_t)w * (size_t)h;
    uint8_t *mask = malloc(n);
    db_scratch s = {malloc(n * sizeof(int)), malloc((size_t)h * sizeof(int)),
                    malloc((size_t)h * sizeof(int)), malloc((size_t)(2 * h + 2) * sizeof(ocr_pt)),
                    malloc((size_t)(2 * h + 4) * sizeof(ocr_pt))};
    int found = 0;
    if (!mask || !s.stack || !s.rowmin || !s.rowmax || !s.pts || !s.hull) goto done;
    for (size_t i = 0; i < n; i++)
        mask[i] = prob[i] > p->bin_thresh;
    for (int y = 0; y < h; y++)
        s.rowmin[y] = w, s.rowmax[y] = -1;
    for (int sy = 0; sy < h; sy++)
        for (int sx = 0; sx < w; sx++) {
            if (!mask[sy * w + sx]) continue;
            int y0, y1;
            int count = region(mask, w, h, sx, sy, &s, &y0, &y1);
            int np = 0;
            for (int y = y0; y <= y1; y++) {
                if (s.rowmax[y] >= 0) {
                    s.pts[np++] = (ocr_pt){(float)s.rowmin[y], (float)y};
                    if (s.rowmax[y] != s.rowmin[y])
                        s.pts[np++] = (ocr_pt){(float)s.rowmax[y], (float)y};
                }
                s.rowmin[y] = w, s.rowmax[y] = -1;
            }
            if (count < 4) continue;
            int nh = convex_hull(s.pts, np, s.hull);
            rrect r = min_area_rect(s.hull, nh);
            if (fminf(r.w, r.h) < (float)p->min_size) continue;
            float score = box_score(prob, w, h, &r);
            if (score < p->box_thresh) continue;
            float d = r.w * r.h * p->unclip_ratio / (2 * (r.w + r.h));
            ocr_quad q = p->quads ? hull_quad(&r, s.hull, nh, d) : (ocr_quad){0};
            r.w += 2 * d, r.h += 2 * d;
            if (fminf(r.w, r.h) < (float)p->min_size + 2) continue;
            if (!p->quads) q = to_quad(&r);
            q.score = score;
            if (found < max) {
                out[found++] = q;
                continue;
            }
            int small = 0; /* full: the largest boxes win */
            float ws, hs, wq, hq;
            for (int i = 1; i < max; i++)
                if (by_area(&out[i], &out[small]) > 0) small = i;
            quad_size(&out[small], &ws, &hs);
            quad_size(&q, &wq, &hq);
            if (wq * hq > ws * hs) out[small] = q;
        }
done:
    qsort(out, (size_t)found, sizeof *out, by_area);
    free(mask), free(s.stack), free(s.rowmin), free(s.rowmax), free(s.pts), free(s.hull);
    return found;
}
