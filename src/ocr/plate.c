/* Plate formats with OCR-confusion repair, and voting across frames. */
#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocr.h"

/* A fixed-length template: the symbols (A-Z 0-9 as bits) each position takes. */
typedef struct {
    uint64_t *pos;
    int len, format;
} plate_template;

struct plate_formats {
    regex_t *re;
    char **pattern;
    bool *expanded; /* every string it matches is one of its templates */
    float *prior;   /* what reading a plate as this format costs up front */
    int n;
    plate_template *tpl;
    int ntpl, cap;
};

enum { MAX_TPL_LEN = OCR_MAX_TEXT, MAX_TPL_PER_FORMAT = 256 };

/* One [..] class or literal of a pattern as a set of symbols; NULL when the
 * pattern uses what templates cannot say (alternation, groups, '*', '+'). */
static const char *parse_atom(const char *p, uint64_t *set)
{
    *set = 0;
    if (*p == '[') {
        p++;
        bool neg = *p == '^';
        if (neg) p++;
        uint64_t in = 0;
        for (; *p && *p != ']'; p++) {
            char a = *p, b = a;
            if (p[1] == '-' && p[2] && p[2] != ']') b = p[2], p += 2;
            for (int c = (unsigned char)a; c <= (unsigned char)b; c++)
                if (ocr_sym((char)c) >= 0) in |= 1ull << ocr_sym((char)c);
        }
        if (*p != ']') return NULL;
        *set = neg ? ~in & ((1ull << PLATE_SYMBOLS) - 1) : in;
        return p + 1;
    }
    if (*p == '.') return *set = (1ull << PLATE_SYMBOLS) - 1, p + 1;
    if (ocr_sym(*p) >= 0) return *set = 1ull << ocr_sym(*p), p + 1;
    return NULL;
}

static const char *parse_count(const char *p, int *lo, int *hi)
{
    *lo = *hi = 1;
    if (*p == '?') return *lo = 0, p + 1;
    if (*p != '{') return p;
    char *e;
    *lo = *hi = (int)strtol(p + 1, &e, 10);
    if (*e == ',') *hi = (int)strtol(e + 1, &e, 10);
    if (*e != '}' || *lo < 0 || *hi < *lo || *hi > MAX_TPL_LEN) return NULL;
    return e + 1;
}

typedef struct {
    uint64_t set[MAX_TPL_LEN];
    int lo[MAX_TPL_LEN], hi[MAX_TPL_LEN], n;
} atoms;

static bool parse_pattern(const char *p, atoms *a)
{
    a->n = 0;
    if (*p == '^') p++;
    while (*p && !(*p == '$' && !p[1])) {
        if (a->n == MAX_TPL_LEN) return false;
        if (!(p = parse_atom(p, &a->set[a->n]))) return false;
        if (!(p = parse_count(p, &a->lo[a->n], &a->hi[a->n]))) return false;
        a->n++;
    }
    return true;
}

static bool add_template(plate_formats *f, const uint64_t *pos, int len, int format)
{
    if (f->ntpl == f->cap) {
        int cap = f->cap ? f->cap * 2 : 16;
        plate_template *nt = realloc(f->tpl, (size_t)cap * sizeof *nt);
        if (!nt) return false;
        f->tpl = nt, f->cap = cap;
    }
    plate_template *t = &f->tpl[f->ntpl];
    if (!(t->pos = malloc((size_t)(len ? len : 1) * sizeof *t->pos))) return false;
    memcpy(t->pos, pos, (size_t)len * sizeof *pos);
    t->len = len, t->format = format;
    f->ntpl++;
    return true;
}

/* Every combination of the atoms' counts, each one template. */
static int expand(plate_formats *f, const atoms *a, int i, uint64_t *pos, int len, int format,
                  int budget)
{
    if (i == a->n) return budget > 0 && add_template(f, pos, len, format) ? budget - 1 : -1;
    for (int k = a->lo[i]; k <= a->hi[i] && budget > 0; k++) {
        if (len + k > MAX_TPL_LEN) break;
        for (int j = 0; j < k; j++)
            pos[len + j] = a->set[i];
        budget = expand(f, a, i + 1, pos, len + k, format, budget);
    }
    return budget;
}

static void templates_of(plate_formats *f, int format)
{
    atoms a;
    uint64_t pos[MAX_TPL_LEN];
    int before = f->ntpl;
    if (!parse_pattern(f->pattern[format], &a)) return;
    if (expand(f, &a, 0, pos, 0, format, MAX_TPL_PER_FORMAT) < 0) {
        for (int i = before; i < f->ntpl; i++) /* too many: regexec search only */
            free(f->tpl[i].pos);
        f->ntpl = before;
        return;
    }
    f->expanded[format] = true;
}

plate_formats *plate_formats_new(char *const *patterns, const float *priors, int n, kerr *err)
{
    plate_formats *f = calloc(1, sizeof *f);
    if (!f || !(f->re = calloc((size_t)n + 1, sizeof *f->re)) ||
        !(f->pattern = calloc((size_t)n + 1, sizeof *f->pattern)) ||
        !(f->expanded = calloc((size_t)n + 1, sizeof *f->expanded)) ||
        !(f->prior = calloc((size_t)n + 1, sizeof *f->prior))) {
        plate_formats_free(f);
        kerr_set(err, KERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        int rc = regcomp(&f->re[i], patterns[i], REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char msg[200];
            regerror(rc, &f->re[i], msg, sizeof msg);
            plate_formats_free(f);
            kerr_set(err, KERR_INVALID, "plate format %d \"%s\": %s", i, patterns[i], msg);
            return NULL;
        }
        f->pattern[i] = kstrdup(patterns[i]);
        f->prior[i] = priors ? priors[i] : 0;
        f->n++;
        templates_of(f, i);
    }
    return f;
}

void plate_formats_free(plate_formats *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++)
        regfree(&f->re[i]), free(f->pattern[i]);
    for (int i = 0; i < f->ntpl; i++)
        free(f->tpl[i].pos);
    free(f->tpl);
    free(f->re);
    free(f->pattern);
    free(f->expanded);
    free(f->prior);
    free(f);
}

int plate_formats_count(const plate_formats *f)
{
    return f ? f->n : 0;
}

/* What a character is often misread as (and back). */
static const char *swaps(char c)
{
    switch (c) {
    case 'O': return "0";
    case 'D': return "0";
    case 'Q': return "0";
    case '0': return "OD";
    case 'I': return "1";
    case 'L': return "1";
    case '1': return "I";
    case 'B': return "8";
    case '8': return "B";
    case 'S': return "5";
    case '5': return "S";
    case 'Z': return "2";
    case '2': return "Z";
    case 'G': return "6";
    case '6': return "G";
    case 'T': return "7";
    case '7': return "T";
    case 'A': return "4";
    case '4': return "A";
    default: return NULL;
    }
}

static int matches(const plate_formats *f, const char *s)
{
    for (int i = 0; i < f->n; i++)
        if (regexec(&f->re[i], s, 0, NULL, 0) == 0) return i;
    return -1;
}

/* The costs of a repair, in units of character confidence. Dropping a
 * character costs more than replacing one: a read of the right length is
 * the likelier one. */
#define COST_DROP 0.3f

/* The cheapest symbol of `want` for character i, and its cost; -1 none. */
static float char_cost(const ocr_text *t, int i, uint64_t want, char *out)
{
    char c = t->text[i];
    if (ocr_sym(c) >= 0 && (want >> ocr_sym(c) & 1)) return *out = c, 0;
    float best = -1;
    if (t->alt[i] && (want >> ocr_sym(t->alt[i]) & 1))
        best = fmaxf(0.f, t->conf[i] - t->alt_conf[i]) + 0.01f, *out = t->alt[i];
    for (const char *s = swaps(c); s && *s; s++) {
        float cost = 0.5f * t->conf[i] + 0.05f;
        if ((want >> ocr_sym(*s) & 1) && (best < 0 || cost < best)) best = cost, *out = *s;
    }
    return best;
}

/* The cost of reading t as template p with character `drop` left out (-1:
 * none); the repaired text in out. */
static float template_cost(const ocr_text *t, const plate_template *p, int drop, float limit,
                           char *out)
{
    /* A plate's edges carry bolts, frames and country bands that read as a
     * character: an extra one there is cheaper to drop than one inside. */
    bool edge = drop == 0 || drop == t->n - 1;
    float cost = drop < 0 ? 0 : edge ? 0.5f * t->conf[drop] + 0.1f : t->conf[drop] + COST_DROP;
    for (int i = 0, j = 0; i < t->n && cost <= limit; i++) {
        if (i == drop) continue;
        float c = char_cost(t, i, p->pos[j], &out[j]);
        if (c < 0) return -1;
        cost += c, j++;
    }
    out[p->len] = '\0';
    return cost <= limit ? cost : -1;
}

static void apply(ocr_text *t, const char *s, int drop)
{
    ocr_text r = *t;
    r.n = 0;
    double sum = 0;
    for (int i = 0; i < t->n; i++) {
        if (i == drop) continue;
        r.text[r.n] = s[r.n];
        r.conf[r.n] = t->conf[i] * (s[r.n] != t->text[i] ? 0.9f : 1.f); /* a repair is less sure */
        r.alt[r.n] = t->alt[i], r.alt_conf[r.n] = t->alt_conf[i], r.pos[r.n] = t->pos[i];
        sum += r.conf[r.n++];
    }
    r.text[r.n] = '\0';
    r.mean = r.n ? (float)(sum / r.n) : 0;
    *t = r;
}

/* The cheapest template reading, the format's prior included; ties go to the
 * earlier format. `exact` is a format the text fits as it is (-1: none). */
static int match_templates(const plate_formats *f, ocr_text *t, float limit, int exact)
{
    float best = exact >= 0 ? f->prior[exact] : -1;
    int fmt = exact, best_drop = -1;
    char s[OCR_MAX_TEXT + 1], keep[OCR_MAX_TEXT + 1];
    for (int k = 0; k < f->ntpl; k++) {
        const plate_template *p = &f->tpl[k];
        int first = p->len == t->n ? -1 : 0, last = p->len == t->n ? -1 : t->n - 1;
        if (p->len != t->n && p->len != t->n - 1) continue;
        for (int drop = first; drop <= last; drop++) {
            float c = template_cost(t, p, drop, limit - f->prior[p->format], s);
            if (c >= 0) c += f->prior[p->format];
            if (c >= 0 && (best < 0 || c < best || (c == best && p->format < fmt)) &&
                regexec(&f->re[p->format], s, 0, NULL, 0) == 0)
                best = c, fmt = p->format, best_drop = drop, memcpy(keep, s, sizeof s);
        }
    }
    if (fmt >= 0 && fmt != exact) apply(t, keep, best_drop);
    return fmt;
}

/* Formats that are not templates: the known confusions, fewest first. */
static int try_swaps(const plate_formats *f, char *s, const int *pos, int npos, int from, int k)
{
    if (k == 0) {
        int m = matches(f, s);
        return m >= 0 && !f->expanded[m] ? m : -1;
    }
    for (int i = from; i <= npos - k; i++) {
        char orig = s[pos[i]];
        for (const char *alt = swaps(orig); alt && *alt; alt++) {
            s[pos[i]] = *alt;
            int m = try_swaps(f, s, pos, npos, i + 1, k - 1);
            if (m >= 0) return m;
        }
        s[pos[i]] = orig;
    }
    return -1;
}

static bool all_expanded(const plate_formats *f)
{
    for (int i = 0; i < f->n; i++)
        if (!f->expanded[i]) return false;
    return true;
}

int plate_formats_match(const plate_formats *f, ocr_text *t, float max_cost)
{
    if (!f || !f->n || !t->n) return -1;
    int m = matches(f, t->text);
    if (m >= 0 && f->prior[m] == 0) return m;
    if ((m = match_templates(f, t, max_cost, m)) >= 0 || all_expanded(f)) return m;
    int max_swaps = (int)(max_cost / 0.55f); /* what a confident swap costs */
    int pos[OCR_MAX_TEXT], npos = 0;
    for (int i = 0; i < t->n; i++)
        if (swaps(t->text[i])) pos[npos++] = i;
    char s[OCR_MAX_TEXT + 1];
    memcpy(s, t->text, sizeof s);
    for (int k = 1; k <= npos && k <= max_swaps; k++) {
        m = try_swaps(f, s, pos, npos, 0, k);
        if (m >= 0) {
            apply(t, s, -1);
            return m;
        }
    }
    return -1;
}

/* The letter a font may draw exactly like digit c (0 and O, 1 and I), or 0.
 * Only that way: personalised plates are mostly letters, and a letter O or I
 * turned digit rewrote three of them into a preset's shape on the us set
 * (COOPAH as NJ's C00PAH, ELVISV and SHEILL as Florida's LLLNLL). */
static char lookalike(char c)
{
    switch (c) {
    case '0': return 'O';
    case '1': return 'I';
    default: return 0;
    }
}

/* Swaps of lookalikes alone that make t fit template p (out: the text);
 * -1 when some other character does not fit. */
static int lookalike_swaps(const ocr_text *t, const plate_template *p, char *out)
{
    int n = 0;
    for (int i = 0; i < t->n; i++) {
        char c = t->text[i], l = lookalike(c);
        if (ocr_sym(c) >= 0 && (p->pos[i] >> ocr_sym(c) & 1))
            out[i] = c;
        else if (l && (p->pos[i] >> ocr_sym(l) & 1))
            out[i] = l, n++;
        else
            return -1;
    }
    out[t->n] = '\0';
    return n;
}

int plate_formats_match_lookalikes(const plate_formats *f, ocr_text *t)
{
    if (!f || !t->n || matches(f, t->text) >= 0) return -1;
    int best = -1, fmt = -1;
    char s[OCR_MAX_TEXT + 1], keep[OCR_MAX_TEXT + 1];
    for (int k = 0; k < f->ntpl; k++) { /* templates are in format order: ties go earlier */
        const plate_template *p = &f->tpl[k];
        if (p->len != t->n) continue;
        int n = lookalike_swaps(t, p, s);
        if (n > 0 && (best < 0 || n < best) && regexec(&f->re[p->format], s, 0, NULL, 0) == 0)
            best = n, fmt = p->format, memcpy(keep, s, sizeof s);
    }
    if (fmt >= 0) apply(t, keep, -1);
    return fmt;
}

void plate_votes_add(plate_votes *v, const ocr_text *t)
{
    if (t->n < 1 || t->n > PLATE_MAX_LEN) return;
    for (int i = 0; i < t->n; i++)
        if (ocr_sym(t->text[i]) < 0) return;
    float q = t->quality > 0 ? fminf(t->quality, 1.f) : 1.f;
    for (int i = 0; i < t->n; i++)
        v->w[t->n][i][ocr_sym(t->text[i])] += t->conf[i] * q;
    v->q[t->n] += q;
    v->reads[t->n]++;
    v->total++;
}

int plate_votes_best(const plate_votes *v, ocr_text *out)
{
    memset(out, 0, sizeof *out);
    int len = 0;
    for (int l = 1; l <= PLATE_MAX_LEN; l++)
        if (v->reads[l] && (!len || v->q[l] > v->q[len])) len = l;
    if (!len) return 0;
    for (int i = 0; i < len; i++) {
        int best = 0;
        for (int s = 1; s < PLATE_SYMBOLS; s++)
            if (v->w[len][i][s] > v->w[len][i][best]) best = s;
        out->text[i] = ocr_sym_char(best);
        out->conf[i] = v->w[len][i][best] / v->q[len];
    }
    out->n = len;
    out->text[len] = '\0';
    /* The plate is as sure as its least sure character: one doubtful
     * character makes the whole number doubtful. */
    float all = 0;
    for (int l = 1; l <= PLATE_MAX_LEN; l++)
        all += v->q[l];
    out->mean = out->conf[0];
    for (int i = 1; i < len; i++)
        out->mean = fminf(out->mean, out->conf[i]);
    out->mean *= v->q[len] / all;
    return v->reads[len];
}

float ocr_sharpness(const uint8_t *rgb, int w, int h)
{
    if (w < 3 || h < 3) return 0;
    double sum = 0, sq = 0;
    int n = 0;
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            const uint8_t *p = rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;
            size_t row = (size_t)w * 3;
            /* grey as the green channel: enough for edges, and cheap */
            double lap = 4.0 * p[1] - p[1 - 3] - p[1 + 3] - p[1 - row] - p[1 + row];
            sum += lap, sq += lap * lap, n++;
        }
    double mean = sum / n, var = sq / n - mean * mean;
    return (float)(var / (var + 300.0));
}
